"""What a run's status and numbers mean, as JupyterLab shows them (nbflow's extension in a real
JupyterLab, in headless Chromium): a cell fixed and run by hand after a failed Run flow makes an
`incomplete` run, never `✓ done` with steps missing, and Resume stays on for it; every run's
graph shows every step of the flow (those it did not run as `not run`), the sidebar's "k/n
steps" counts the badges' n; a step that never ran is never `stale`. The task panel shows a
numpy score as `0.9534`, on one line, its type unbroken. Screenshots in the light and the dark
theme go to tests/browser/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest
from labtools import Lab, make_notebook, new_page, use_theme
from playwright.sync_api import expect
from test_labextension import (
    CODE_CELLS,
    PANEL,
    SIDEBAR,
    badge,
    click_run_flow,
    open_notebook,
    open_sidebar,
    run_rows,
    set_cell_source,
    shot,
    wait_badges,
    wait_idle,
)

pytestmark = pytest.mark.browser

BROKEN = "%%step score --after start\nraise RuntimeError('score: not written yet')"
FIXED = "%%step score --after start\nimport numpy as np\nscore = np.float64(0.9534)"
CELLS = [
    "%load_ext nbflow\n%flow name recovery",
    "%%step start\nxs = [1, 2, 3]",
    BROKEN,
    "%%step report --after score\nsummary = f'score {score:.2f}'",
    "%%step end --after report\ndone_ = True",
]
STEPS = ["start", "score", "report", "end"]


def run_cell(page: Any, index: int) -> None:
    """Run one cell by hand (Shift+Enter in it), as the user would after fixing it."""
    page.locator(CODE_CELLS).nth(index).locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")


def graph_steps(page: Any) -> dict[str, str]:
    """The sidebar graph's step list: name -> status."""
    rows = page.locator(f"{SIDEBAR} [data-testid='nbflow-step']")
    return {r.get_attribute("data-step"): r.get_attribute("data-status") for r in rows.all()}


def run_header(page: Any) -> str:
    return page.locator(f"{SIDEBAR} .nbflow-run-header").inner_text()


def themed_shots(page: Any, name: str, target: Any = None) -> None:
    shot(page, f"{name}_light", target)
    use_theme(page, "JupyterLab Dark")
    try:
        shot(page, f"{name}_dark", target)
    finally:
        use_theme(page, "JupyterLab Light")


def test_a_cell_fixed_by_hand_after_a_failed_run_flow_leaves_an_incomplete_run(
    lab: Lab, chromium: Any
) -> None:
    make_notebook(lab.root / "recovery.ipynb", CELLS)
    context, page, _ = new_page(chromium)
    try:
        open_notebook(page, lab, "recovery.ipynb")
        click_run_flow(page)
        wait_idle(page)
        wait_badges(page, {"start": "done", "score": "failed"})
        # The steps below the failure did not run in that run: not run, never stale.
        for step in ("report", "end"):
            expect(badge(page, step)).to_have_attribute("data-status", "none")
            expect(badge(page, step)).to_have_attribute("data-stale", "false")
            assert "stale" not in badge(page, step).inner_text()
        open_sidebar(page)
        page.locator(f"{SIDEBAR} [data-testid='nbflow-step'][data-step='end']").wait_for()
        assert graph_steps(page) == {
            "start": "done",
            "score": "failed",
            "report": "not_run",
            "end": "not_run",
        }
        assert "1/4 steps" in run_header(page), run_header(page)
        failed = lab.api("/nbflow/api/runs/recovery/latest")
        assert failed["status"] == "failed"
        assert "not run" in failed["svg"]
        themed_shots(page, "failed_run_not_run_steps")

        # The user fixes the cell and runs it by hand: a new run lacking report and end.
        set_cell_source(page, 2, FIXED)
        run_cell(page, 2)
        wait_idle(page)
        expect(run_rows(page).first).to_have_attribute("data-status", "incomplete")
        wait_badges(page, {"start": "cached", "score": "done", "report": "none", "end": "none"})
        resume = page.locator(f"{PANEL} [data-testid='nbflow-resume-flow'] button")
        expect(resume).to_be_enabled(timeout=15_000)
        incomplete = lab.api("/nbflow/api/runs/recovery/latest")
        assert incomplete["status"] == "incomplete", incomplete["status"]
        assert [s["name"] for s in incomplete["steps"]] == STEPS
        page.locator(f"{SIDEBAR} [data-testid='nbflow-run-row']").first.click()
        expect(page.locator(f"{SIDEBAR} .nbflow-run-header")).to_contain_text("incomplete")
        assert "2/4 steps" in run_header(page), run_header(page)
        themed_shots(page, "incomplete_run")

        resume.click()
        toast = page.locator(".jp-Notification-Toast-success", has_text="Resume")
        toast.wait_for(timeout=60_000)
        assert "incomplete" in toast.inner_text(), toast.inner_text()
        wait_badges(page, {"start": "cached", "score": "cached", "report": "done", "end": "done"})
        resumed = lab.api("/nbflow/api/runs/recovery/latest")
        assert resumed["status"] == "done"
        expect(resume).to_be_disabled(timeout=15_000)
    finally:
        context.close()
