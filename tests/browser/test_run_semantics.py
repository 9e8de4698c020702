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
FIXED = (
    "%%step score --after start\nimport numpy as np\nfrom collections import OrderedDict\n"
    "score = np.float64(0.9534)\n"
    "options = OrderedDict(n_estimators=150, max_depth=None, criterion='gini')\n"
    "note = 'the best forest of the search, by held-out accuracy on the test split'"
)
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


def check_task_panel(page: Any) -> None:
    """The score step's task in the sidebar at its default width: the numpy score reads
    `0.9534` on one line, type names are never broken, and a long value wraps between words
    (never one character a line)."""
    page.locator(f"{SIDEBAR} [data-testid='nbflow-step'][data-step='score']").click()
    table = page.locator(f"{SIDEBAR} [data-testid='nbflow-task'] .nbflow-artifacts")
    table.wait_for(timeout=10_000)
    rows = {
        row.locator("th").inner_text(): row
        for row in table.locator("[data-testid='nbflow-artifact']").all()
    }
    assert rows["score"].locator("td").nth(1).inner_text() == "0.9534"
    assert rows["score"].locator("td").nth(0).inner_text() == "numpy.float64"
    layout = {
        name: row.evaluate(
            """(tr) => {
              // The lines a cell's text takes: the distinct tops of its text's line boxes.
              const lines = (cell) => {
                const tops = new Set();
                const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
                for (let text = walker.nextNode(); text; text = walker.nextNode()) {
                  const range = document.createRange();
                  range.selectNodeContents(text);
                  for (const r of range.getClientRects()) {
                    if (r.width > 0) tops.add(Math.round(r.top));
                  }
                }
                return tops.size;
              };
              const [type, value] = tr.querySelectorAll('td');
              return {typeLines: lines(type), valueLines: lines(value),
                      valueWidth: value.getBoundingClientRect().width,
                      chars: value.textContent.length};
            }"""
        )
        for name, row in rows.items()
    }
    print(f"\nthe task panel's artifact rows at the default width: {layout}")
    assert layout["score"]["valueLines"] == 1, layout
    for name, found in layout.items():
        assert found["typeLines"] == 1, (name, found)  # one line: never broken
        # Wrapped between words: far fewer lines than characters, and room for a word.
        assert found["valueLines"] <= max(1, found["chars"] // 8), (name, found)
        assert found["valueWidth"] >= 60, (name, found)
    toasts = (
        "(shown) => document.querySelectorAll('.Toastify')"
        ".forEach(t => { t.style.display = shown ? '' : 'none'; })"
    )
    page.evaluate(toasts, False)  # the "Run flow failed" toast covers the panel's foot
    try:
        themed_shots(
            page, "task_panel_values", page.locator(f"{SIDEBAR} [data-testid='nbflow-task']")
        )
    finally:
        page.evaluate(toasts, True)


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
        score = page.locator(f"{SIDEBAR} [data-testid='nbflow-step'][data-step='score']")
        expect(score).to_have_attribute("data-status", "failed", timeout=15_000)
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
        check_task_panel(page)

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


def test_no_404_in_the_console_before_and_during_the_first_run(lab: Lab, chromium: Any) -> None:
    """A flow that never ran: opening it, editing a step and pressing Run flow ask nbflow's API
    nothing it answers 404 (the badges and the sidebar wait until a run is listed)."""
    make_notebook(lab.root / "firstrun.ipynb", [
        "%load_ext nbflow\n%flow name firstrun", "%%step start\nxs = [1, 2]",
        "%%step total --after start\ns = sum(xs)",
    ])  # fmt: skip
    context, page, _ = new_page(chromium)
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    try:
        open_notebook(page, lab, "firstrun.ipynb")
        open_sidebar(page)
        set_cell_source(page, 2, "%%step total --after start\ns = sum(xs) * 2")
        page.wait_for_timeout(1500)  # the badges' debounced check and the sidebar's listing
        click_run_flow(page)
        wait_idle(page)
        wait_badges(page, {"start": "done", "total": "done"})
        expect(run_rows(page).first).to_have_attribute("data-status", "done")
        assert [url for url in missing if "/nbflow/" in url] == []
    finally:
        context.close()


def test_run_flow_says_at_once_that_a_run_is_starting_never_the_previous_one(
    lab: Lab, chromium: Any
) -> None:
    """Run flow on a notebook whose imports take 20 s before the first step: the sidebar says a
    run is starting as soon as the button is pressed (the time it took is printed, never
    asserted: speed lives in bench/), does not show (or mark) the previous run meanwhile, and
    shows the new run's graph once its first step starts."""
    make_notebook(lab.root / "slowimports.ipynb", [
        "%load_ext nbflow\n%flow name slowimports", "import time\ntime.sleep(20)  # slow imports",
        "%%step start\nxs = [1, 2]", "%%step total --after start\ns = sum(xs)",
    ])  # fmt: skip
    context, page, _ = new_page(chromium)
    try:
        open_notebook(page, lab, "slowimports.ipynb")
        open_sidebar(page)
        click_run_flow(page)
        wait_idle(page)
        expect(page.locator(f"{SIDEBAR} .nbflow-run-header")).to_contain_text("slowimports/1")
        # The first run is going until its last update lands (slow on a loaded machine); a
        # click before that is ignored, as it should be: one click, one run.
        run_button = page.locator(f"{PANEL} [data-testid='nbflow-run-flow'] button")
        expect(run_button).to_be_enabled(timeout=30_000)
        run_button.click()
        pressed = page.evaluate("performance.now()")
        starting = page.locator(f"{SIDEBAR} [data-testid='nbflow-starting']")
        # At once on a quiet machine (22 ms); CI's three test workers on two cores have made
        # it take more than 4 s. The slack stays inside the slow cell.
        starting.wait_for(timeout=15_000)
        shown_after = page.evaluate("performance.now()") - pressed
        print(f"\nRun flow pressed: 'starting' shown after {shown_after:.0f} ms")
        page.wait_for_timeout(1_000)  # still in the slow cell: no run yet, no old graph
        assert starting.is_visible()
        assert page.locator(f"{SIDEBAR} .nbflow-run-header").count() == 0
        # The previous run's row is listed but not marked as the one shown.
        assert page.locator(f"{SIDEBAR} tr.nbflow-shown").count() == 0
        shot(page, "sidebar_run_starting", page.locator(SIDEBAR))
        expect(page.locator(f"{SIDEBAR} .nbflow-run-header")).to_contain_text(
            "slowimports/2", timeout=30_000
        )
        wait_idle(page)
        expect(run_rows(page).first).to_have_attribute("data-status", "done")
    finally:
        context.close()
