"""nbflow's JupyterLab extension (labextension/) in a real JupyterLab, in headless Chromium.

The quickstart notebook is run twice with the toolbar's Run flow (the second time with another
`n_samples`): its step cells get badges that turn done, the nbflow side panel lists the runs
and draws the newest one's graph, and two ticked runs are compared with the changed parameter
marked. Other notebooks show a step with an unknown parent (the error on its badge), a step
that fails and is resumed, a live run, the step dialog, a value holding `<script>` (shown as
characters), and the speed figures: the side panel listing 1,000 runs, and JupyterLab's load
with the extension enabled and disabled (printed; only gross limits are asserted).
Screenshots go to tests/browser/screenshots/ (or $NBFLOW_SCREENSHOTS).
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labtools import Lab, make_notebook, new_page, screenshot_dir, use_theme
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
CODE_CELLS = f"{PANEL} .jp-Notebook .jp-CodeCell"
SIDEBAR = "#nbflow-sidebar"
QUICKSTART_STEPS = ["load", "train", "pick", "report"]


# ---------------------------------------------------------------- helpers


def shot(page: Any, name: str, target: Any = None) -> Path:
    path = screenshot_dir() / f"labextension_{name}.png"
    (target or page).screenshot(path=str(path))
    return path


def open_notebook(page: Any, lab: Lab, name: str) -> None:
    """Open `name` alone and wait until its kernel is idle."""
    page.goto(lab.notebook_url(name))
    page.locator(CODE_CELLS).first.wait_for(timeout=60_000)
    page.wait_for_function(
        """(panel) => {
          const status = document.querySelector(`${panel} .jp-Notebook-ExecutionIndicator`);
          const kernel = document.querySelector(`${panel} .jp-KernelName`);
          return status && status.getAttribute('data-status') === 'idle' &&
                 kernel && kernel.textContent.includes('Python');
        }""",
        arg=PANEL,
        timeout=60_000,
    )


def badge(page: Any, step: str) -> Any:
    return page.locator(f"{PANEL} [data-testid='nbflow-badge'][data-step='{step}']")


def wait_badges(page: Any, statuses: dict[str, str], timeout: float = 60_000) -> None:
    """Until each step's badge shows its expected status."""
    page.wait_for_function(
        """([panel, wanted]) => Object.entries(wanted).every(([step, status]) => {
          const b = document.querySelector(
            `${panel} [data-testid='nbflow-badge'][data-step='${step}']`);
          return b && b.dataset.status === status;
        })""",
        arg=[PANEL, statuses],
        timeout=timeout,
    )


def first_cell_started(page: Any, timeout: float, before: str = "") -> bool:
    """Until the first cell's prompt shows [*] or a count, other than `before` (a run again)."""
    try:
        page.wait_for_function(
            """([selector, before]) => {
              const p = document.querySelector(`${selector} .jp-InputPrompt`);
              return p && /\\[(\\*|\\d+)\\]/.test(p.textContent) && p.textContent !== before;
            }""",
            arg=[CODE_CELLS, before],
            timeout=timeout,
        )
    except Exception:
        return False
    return True


def click_run_flow(page: Any) -> None:
    """The toolbar's Run flow. As tests/browser/test_browser_widgets.py's run_all says, a
    fresh kernel now and then loses the first execute request; the click is made once more
    then (nothing ran, so nothing runs twice). Run All starts after a round trip to the
    kernel (the Run flow mode), so a run again is seen by the first prompt's change."""
    for attempt in range(2):
        before = page.locator(CODE_CELLS).first.locator(".jp-InputPrompt").inner_text()
        page.locator(f"{PANEL} [data-testid='nbflow-run-flow']").click()
        if first_cell_started(page, 8_000, before):
            return
        print(f"\nRun flow: the first cell did not start (attempt {attempt + 1})")
    raise AssertionError("Run flow did not start the first cell, twice")


def wait_idle(page: Any, timeout: float = 90_000) -> None:
    """Until no code cell shows [*]."""
    page.wait_for_function(
        """(selector) => [...document.querySelectorAll(`${selector} .jp-InputPrompt`)]
             .every(p => !p.textContent.includes('*'))""",
        arg=CODE_CELLS,
        timeout=timeout,
    )


def set_cell_source(page: Any, index: int, source: str) -> None:
    """Replace code cell `index`'s text as typed (inserted, so no auto-closed brackets)."""
    editor = page.locator(CODE_CELLS).nth(index).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(source)
    page.keyboard.press("Escape")


def cell_source(page: Any, index: int) -> str:
    lines = page.locator(CODE_CELLS).nth(index).locator(".cm-line").all_inner_texts()
    return "\n".join(lines)


def open_sidebar(page: Any) -> Any:
    """The nbflow side panel, opened from its tab if it is not shown yet."""
    sidebar = page.locator(SIDEBAR)
    if not sidebar.is_visible():
        page.locator(".jp-SideBar li[data-id='nbflow-sidebar']").click()
    sidebar.wait_for(state="visible", timeout=10_000)
    return sidebar


def widen_sidebar(page: Any, width: int = 640) -> None:
    """Drag the right side panel's edge so tables fit, as a user would."""
    handles = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle:not(.lm-mod-hidden)")
    box = max((h.bounding_box() for h in handles.all()), key=lambda b: b["x"] if b else -1)
    page.mouse.move(box["x"] + 1, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(1500 - width, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()


def run_rows(page: Any) -> Any:
    return page.locator(f"{SIDEBAR} [data-testid='nbflow-run-row']")


def python(lab: Lab, script: str) -> None:
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        check=True,
        cwd=lab.root,
        env=lab.env,
        timeout=120,
    )


# ---------------------------------------------------------------- the frontend reads as the kernel

LABEXTENSION = REPO / "labextension"
STEP_LINES = [
    "%%step load",
    "%%step train --after load --foreach alphas --as alpha",
    "%%step pick --after train --join",
    "%%step j --after a b --retry 2 --when 'x > 1' --no-cache",
    "%%step c --after=a,b --timeout 5",
    "%%step d --transient conn --after a --out 'x,y'",
    "\n%%step e\nx = 1",
]


def frontend(function: str, *arguments: Any) -> Any:
    """Call a function of the built labextension/lib/stepline.js in node."""
    module = LABEXTENSION / "lib" / "stepline.js"
    assert module.exists(), "labextension/lib is not built: run `make` first"
    script = (
        f"import * as m from {json.dumps(module.as_uri())};"
        f"console.log(JSON.stringify(m[{json.dumps(function)}](...{json.dumps(arguments)})));"
    )
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def kernel_step(line: str) -> dict[str, Any]:
    from nbflow.core.stepline import parse_step_line

    first = line.strip().splitlines()[0]
    spec = parse_step_line(first.removeprefix("%%step"), "")
    return {"name": spec.name, "after": list(spec.parents), "foreach": spec.foreach,
            "as": spec.foreach_as, "join": spec.join, "when": spec.when, "retry": spec.retry,
            "timeout": spec.timeout, "cache": spec.cache, "transient": sorted(spec.transient),
            "out": sorted(spec.out or [])}  # fmt: skip


@pytest.mark.parametrize("line", STEP_LINES)
def test_the_frontend_reads_and_writes_step_lines_as_the_kernel_does(line: str) -> None:
    step = frontend("parseStepLine", line)
    expected = kernel_step(line)
    assert step["name"] == expected["name"]
    assert step["after"] == expected["after"]
    assert step["foreach"] == expected["foreach"]
    assert (step["as"] or "item") == expected["as"]
    assert step["join"] == expected["join"]
    # Written back (as the step dialog does), the kernel reads the very same step.
    written = frontend("formatStepLine", step)
    assert kernel_step(written) == expected, written
    assert frontend("setStepLine", line, step).count("%%step") == 1


def test_plain_cells_and_removing_a_step_line() -> None:
    assert frontend("parseStepLine", "x = 1") is None
    assert frontend("parseStepLine", "%%stepper\nx = 1") is None
    assert frontend("removeStepLine", "%%step a --after b\nx = 1") == "x = 1"
    step = {"name": "b", "after": ["a"], "foreach": None, "as": None, "join": False, "rest": []}
    assert frontend("setStepLine", "x = 1", step) == "%%step b --after a\nx = 1"


def test_the_frontend_names_the_flow_as_the_kernel_does() -> None:
    assert frontend("flowName", ["x = 1", "%load_ext nbflow\n%flow name sales"], "a.ipynb") == (
        "sales"
    )
    for path, expected in [("dir/analysis.ipynb", "analysis"), ("my notes.ipynb", "flow"),
                           ("2024.ipynb", "flow"), ("données.ipynb", "données")]:  # fmt: skip
        assert frontend("flowName", ["x = 1"], path) == expected
        assert expected == (Path(path).stem if Path(path).stem.isidentifier() else "flow")


def test_status_colours_and_glyphs_are_those_of_the_svg_pictures() -> None:
    """Each status's hue is the SVG pictures' stroke; its fill and ink are no fixed colours (a
    pale fill glares in a dark theme) but mixed from that hue and the theme's variables, once
    for every status (test_look.py checks that they read in each theme)."""
    from nbflow.render.svg import STATUS_STYLES

    css = (LABEXTENSION / "style" / "base.css").read_text()
    glyphs = (LABEXTENSION / "src" / "status.ts").read_text()
    for status, style in STATUS_STYLES.items():
        block = re.search(rf"\[data-status='{status}'\][^{{]*{{([^}}]*)}}", css)
        assert block, f"no colours for {status} in base.css"
        colours = dict(re.findall(r"--nbflow-(fill|stroke|ink):\s*(#[0-9a-f]+)", block.group(1)))
        assert colours == {"stroke": style.stroke}, status
        assert f"{status}: '{style.glyph}'" in glyphs, status
    mixed = re.search(r"\[data-status\] {([^}]*)}", css)
    assert mixed, "no fill and ink mixed for every status"
    assert re.search(
        r"--nbflow-fill: color-mix\(.*var\(--nbflow-stroke\).*--jp-layout-color1", mixed[1]
    )
    assert re.search(
        r"--nbflow-ink: color-mix\(.*var\(--nbflow-stroke\).*--jp-ui-font-color0", mixed[1]
    )


# ---------------------------------------------------------------- the quickstart, twice


class Quickstart:
    def __init__(self, page: Any, dialogs: list[str]) -> None:
        self.page, self.dialogs = page, dialogs


@pytest.fixture(scope="module")
def quickstart(lab: Lab, chromium: Any) -> Iterator[Quickstart]:
    """notebooks/quickstart.ipynb, run with Run flow, then again with n_samples = 300."""
    shutil.copy(REPO / "notebooks" / "quickstart.ipynb", lab.root / "quickstart.ipynb")
    context, page, dialogs = new_page(chromium)
    try:
        open_notebook(page, lab, "quickstart.ipynb")
        wait_badges(page, dict.fromkeys(QUICKSTART_STEPS, "none"), timeout=30_000)
        shot(page, "quickstart_before_run")
        click_run_flow(page)
        wait_idle(page)
        wait_badges(page, dict.fromkeys(QUICKSTART_STEPS, "done"))
        run_rows(page).first.wait_for(timeout=30_000)
        shot(page, "quickstart_after_run_flow")
    except Exception:
        page.screenshot(path=str(screenshot_dir() / "labextension_quickstart_failure.png"))
        context.close()
        raise
    try:
        yield Quickstart(page, dialogs)
    finally:
        context.close()


def test_run_flow_turns_every_step_badge_done(quickstart: Quickstart, lab: Lab) -> None:
    page = quickstart.page
    texts = {step: badge(page, step).inner_text() for step in QUICKSTART_STEPS}
    assert "after load" in texts["train"] and "foreach alphas" in texts["train"]
    assert "5/5 tasks" in texts["train"], texts["train"]
    assert "join" in texts["pick"] and "root step" in texts["load"]
    # The badge tells what the latest run of the server's API holds.
    latest = lab.api("/nbflow/api/runs/quickstart/latest")
    assert latest["status"] == "done"
    assert {s["name"]: s["status"] for s in latest["steps"]} == dict.fromkeys(
        QUICKSTART_STEPS, "done"
    )
    # Each step's output is in its own cell, as with Run All.
    outputs = page.locator(CODE_CELLS).nth(3).locator(".jp-OutputArea-output").all_inner_texts()
    assert any("400 samples" in text for text in outputs), outputs


def test_sidebar_lists_the_run_and_draws_its_graph(quickstart: Quickstart) -> None:
    page = quickstart.page
    sidebar = open_sidebar(page)
    row = run_rows(page).first
    assert row.get_attribute("data-status") == "done"
    assert "n_samples=400" in row.inner_text()
    graph = sidebar.locator("[data-testid='nbflow-graph']")
    graph.wait_for(timeout=10_000)
    # Inline (so the theme reaches it), one clickable node per step.
    nodes = graph.locator("g.nbflow-step[role='button']")
    assert nodes.evaluate_all("(gs) => gs.map(g => g.dataset.step)") == QUICKSTART_STEPS
    steps = sidebar.locator("[data-testid='nbflow-step']")
    assert steps.evaluate_all("(rows) => rows.map(r => r.dataset.step)") == QUICKSTART_STEPS
    assert "5/5" in sidebar.locator("[data-testid='nbflow-step'][data-step='train']").inner_text()
    # A click on a step lists its tasks with their artifacts.
    sidebar.locator("[data-testid='nbflow-step'][data-step='pick']").click()
    task = sidebar.locator("[data-testid='nbflow-task']").first
    task.wait_for(timeout=10_000)
    assert "best_alpha" in task.inner_text()
    shot(page, "sidebar_graph_and_tasks")


def test_second_run_with_another_parameter_compares_with_the_first(
    quickstart: Quickstart, lab: Lab
) -> None:
    page = quickstart.page
    params = "%%params\nn_samples = 300\nnoise = 0.5\nalphas = [0.01, 0.1, 1.0, 10.0, 100.0]"
    set_cell_source(page, 1, params)
    assert "n_samples = 300" in cell_source(page, 1)
    before = lab.api("/nbflow/api/flows/quickstart/runs")["total"]
    click_run_flow(page)
    wait_idle(page)
    wait_badges(page, dict.fromkeys(QUICKSTART_STEPS, "done"))
    after = lab.api("/nbflow/api/flows/quickstart/runs")
    assert after["total"] == before + 1, "Run flow makes exactly one new run"
    assert after["runs"][0]["params"]["n_samples"] == 300

    sidebar = open_sidebar(page)
    page.wait_for_function(
        "(n) => document.querySelectorAll(\"#nbflow-sidebar [data-testid='nbflow-run-row']\")"
        ".length >= n",
        arg=2,
        timeout=15_000,
    )
    newest, previous = after["runs"][0]["id"], after["runs"][1]["id"]
    for run_id in (newest, previous):
        sidebar.locator(f"[data-testid='nbflow-run-row'][data-run='{run_id}'] input").check()
    button = sidebar.locator("[data-testid='nbflow-compare-button']")
    assert button.inner_text() == "Compare 2"
    button.click()
    # A document tab of the main area, not the narrow panel.
    tab = page.locator("#jp-main-dock-panel [data-testid='nbflow-compare-tab']")
    compared = tab.locator("[data-testid='nbflow-compare']")
    compared.wait_for(timeout=15_000)
    param = compared.locator("[data-testid='nbflow-param'][data-name='n_samples']")
    assert param.get_attribute("data-differs") == "true"
    assert "≠" in param.inner_text() and "300" in param.inner_text()
    same = compared.locator("[data-testid='nbflow-param'][data-name='noise']")
    assert same.get_attribute("data-differs") == "false"
    changed = compared.locator("[data-testid='nbflow-artifact-row'][data-changed='true']")
    assert "X" in changed.evaluate_all("(rows) => rows.map(r => r.dataset.name)")
    timeline = compared.locator("[data-testid='nbflow-timeline']")
    assert timeline.locator("rect.nbflow-bar").count() == 2 * len(QUICKSTART_STEPS)
    shot(page, "compare_tab")
    assert not quickstart.dialogs


def test_editing_a_step_cell_marks_its_badge_stale(quickstart: Quickstart) -> None:
    page = quickstart.page
    report = cell_source(page, 6)
    assert report.startswith("%%step report")
    set_cell_source(page, 6, report + "\nprint('edited')")
    wait_badges(page, {"report": "stale", "pick": "done"}, timeout=15_000)
    assert badge(page, "report").get_attribute("data-stale") == "true"
    assert "stale (was done)" in badge(page, "report").inner_text()
    shot(page, "badge_stale", page.locator(CODE_CELLS).nth(6))


def test_run_flow_is_in_the_run_menu_and_the_palette(quickstart: Quickstart) -> None:
    page = quickstart.page
    page.locator(CODE_CELLS).first.locator(".jp-InputPrompt").click()
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    items = page.locator("li.lm-Menu-item[data-command^='nbflow:']")
    commands = items.evaluate_all("(items) => items.map(i => i.dataset.command)")
    assert commands == ["nbflow:run-flow", "nbflow:resume-flow"]
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Shift+c")
    page.keyboard.insert_text("run flow")
    found = page.locator(".lm-CommandPalette-item[data-command='nbflow:run-flow']")
    found.wait_for(timeout=5_000)
    page.keyboard.press("Escape")


# ---------------------------------------------------------------- the settings schema

NOTEBOOK_PANEL = "@jupyterlab/notebook-extension:panel"  # the Notebook toolbar's settings


def put_settings(lab: Lab, plugin: str, values: dict[str, Any]) -> None:
    """User settings of `plugin`, as the Settings editor saves them (the settings REST API)."""
    request = urllib.request.Request(
        f"{lab.url}/lab/api/settings/{plugin}",
        data=json.dumps({"raw": json.dumps(values)}).encode(),
        method="PUT",
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204


def toolbar_names(page: Any) -> list[str]:
    items = page.locator(f"{PANEL} .jp-NotebookPanel-toolbar > .jp-Toolbar-item")
    return list(items.evaluate_all("(items) => items.map(i => i.dataset.jpItemName)"))


def open_menu_items(page: Any) -> list[list[str]]:
    """The nbflow items of the menu just opened, as [command, label], hidden ones left out;
    the menu is closed again."""
    items = page.locator(".lm-Menu li.lm-Menu-item[data-command^='nbflow:']")
    items.first.wait_for(timeout=5_000)
    shown = items.evaluate_all(
        """(items) => items.filter(i => !i.classList.contains('lm-mod-hidden'))
             .map(i => [i.dataset.command, i.textContent.trim()])"""
    )
    page.keyboard.press("Escape")
    return list(shown)


def test_toolbar_menu_and_context_menu_items_come_from_the_settings_schema(
    lab: Lab, chromium: Any
) -> None:
    """The schema (labextension/schema/plugin.json) places Run flow and Resume flow after the
    cell type on the notebook toolbar, in the Run menu, and the step items in a code cell's
    context menu."""
    schema = lab.api("/lab/api/settings/nbflow:plugin")["schema"]
    assert [item["name"] for item in schema["jupyter.lab.toolbars"]["Notebook"]] == [
        "nbflow-run-flow",
        "nbflow-resume-flow",
    ]
    make_notebook(
        lab.root / "schema.ipynb",
        ["%load_ext nbflow\n%flow name schema", "%%step first\nx = 1", "y = x"],
    )
    context, page, dialogs = new_page(chromium)
    try:
        open_notebook(page, lab, "schema.ipynb")
        wait_badges(page, {"first": "none"}, timeout=30_000)
        names = toolbar_names(page)
        at = names.index("cellType")
        assert names[at + 1 : at + 3] == ["nbflow-run-flow", "nbflow-resume-flow"], names
        toolbar = page.locator(f"{PANEL} .jp-NotebookPanel-toolbar")
        run_flow = toolbar.locator("[data-testid='nbflow-run-flow']")
        assert "Run flow" in run_flow.inner_text()
        assert run_flow.locator("svg").count() == 1  # its icon
        resume = toolbar.locator("[data-testid='nbflow-resume-flow']")
        assert resume.count() == 1
        shot(page, "toolbar_light", toolbar)
        use_theme(page, "JupyterLab Dark")
        try:
            shot(page, "toolbar_dark", toolbar)
        finally:
            use_theme(page, "JupyterLab Light")

        page.locator(CODE_CELLS).first.locator(".jp-InputPrompt").click()
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        assert open_menu_items(page) == [
            ["nbflow:run-flow", "Run flow"],
            ["nbflow:resume-flow", "Resume flow"],
        ]
        # The context menu: a step cell has both items, a plain cell only "Make this a step…".
        page.locator(CODE_CELLS).nth(1).locator(".cm-content").click(button="right")
        assert open_menu_items(page) == [
            ["nbflow:edit-step", "Edit step…"],
            ["nbflow:remove-step", "Remove step (make it a plain cell)"],
        ]
        page.locator(CODE_CELLS).nth(2).locator(".cm-content").click(button="right")
        assert open_menu_items(page) == [["nbflow:edit-step", "Make this a step…"]]

        assert dialogs == []
    finally:
        context.close()


def test_a_user_setting_hides_a_toolbar_button(lab: Lab, chromium: Any) -> None:
    """Settings > Notebook Panel > toolbar: `{"name": "nbflow-resume-flow", "disabled": true}`
    (written through the settings REST API, as the Settings editor does) hides Resume flow."""
    make_notebook(lab.root / "hide.ipynb", ["%load_ext nbflow\n%flow name hide", "%%step a\nx = 1"])
    hidden = {"toolbar": [{"name": "nbflow-resume-flow", "disabled": True}]}
    put_settings(lab, NOTEBOOK_PANEL, hidden)
    context, page, dialogs = new_page(chromium)
    try:
        open_notebook(page, lab, "hide.ipynb")
        toolbar = page.locator(f"{PANEL} .jp-NotebookPanel-toolbar")
        toolbar.locator("[data-testid='nbflow-run-flow']").wait_for(timeout=30_000)
        names = toolbar_names(page)
        assert "nbflow-run-flow" in names and "nbflow-resume-flow" not in names, names
        assert toolbar.locator("[data-testid='nbflow-resume-flow']").count() == 0
        shot(page, "toolbar_resume_hidden", toolbar)
        assert dialogs == []
    finally:
        context.close()
        put_settings(lab, NOTEBOOK_PANEL, {})


# ---------------------------------------------------------------- Run flow again: reuse


def step_statuses(run: Any) -> dict[str, set[str]]:
    return {step.name: {t.status for t in step.tasks()} for step in run}


def cell_output(page: Any, index: int) -> str:
    areas = page.locator(CODE_CELLS).nth(index).locator(".jp-OutputArea-output")
    return "\n".join(areas.all_inner_texts())


def run_flow_until(page: Any, statuses: dict[str, str]) -> None:
    click_run_flow(page)
    wait_idle(page)
    wait_badges(page, statuses)


def twice_notebook(lab: Lab) -> Any:
    """The quickstart as twice.ipynb, flow `twice`; its runs, read with the client."""
    import nbformat

    from nbflow import Flow
    from nbflow.config import Config
    from nbflow.store.stores import open_store

    notebook = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
    first_code = next(c for c in notebook.cells if c.cell_type == "code")
    first_code.source = first_code.source.replace("%flow name quickstart", "%flow name twice")
    nbformat.write(notebook, lab.root / "twice.ipynb")
    return Flow("twice", store=open_store(Config(datastore=str(lab.datastore))))


def test_run_flow_twice_reuses_the_unchanged_tasks(lab: Lab, chromium: Any) -> None:
    """The quickstart (as flow `twice`) run with Run flow, its report cell edited, and Run
    flow again: every unchanged task is reused as `%flow run` would (`cached`, its cell says
    from which run), the edited step runs; a step cell run by hand afterwards runs again.
    Screenshots of the notebook after the second Run flow, light and dark."""
    flow = twice_notebook(lab)
    context, page, dialogs = new_page(chromium)
    try:
        open_notebook(page, lab, "twice.ipynb")
        run_flow_until(page, dict.fromkeys(QUICKSTART_STEPS, "done"))
        first = flow.latest_run
        assert step_statuses(first) == {step: {"done"} for step in QUICKSTART_STEPS}

        report = cell_source(page, 6)
        assert report.startswith("%%step report")
        set_cell_source(page, 6, report + "\nprint('run again')")
        wait_badges(page, {"report": "stale"}, timeout=15_000)
        run_flow_until(page, {"load": "cached", "train": "cached", "pick": "cached",
                              "report": "done"})  # fmt: skip
        second = flow.latest_run
        assert second.pathspec != first.pathspec and second.status == "done"
        assert step_statuses(second) == {"load": {"cached"}, "train": {"cached"},
                                         "pick": {"cached"}, "report": {"done"}}  # fmt: skip
        trains = second["train"].tasks()
        assert len(trains) == 5 and {t.origin.pathspec.rsplit("/", 2)[0] for t in trains} == {
            first.pathspec
        }
        assert second.data.best_alpha == first.data.best_alpha
        assert "5/5 tasks" in badge(page, "train").inner_text()

        # Each cell tells it reused, and shows what the task printed when it ran.
        train = cell_output(page, 4)
        assert f"✓ train · 5 tasks · cached from {first.pathspec} · " in train, train
        assert "reused from" in train and "alpha=0.01" in train, train
        assert f"✓ load · 1 task · cached from {first.pathspec} · " in cell_output(page, 3)
        assert f"✓ pick · 1 task · cached from {first.pathspec} · " in cell_output(page, 5)
        assert "run again" in cell_output(page, 6) and "cached" not in cell_output(page, 6)

        step = open_sidebar(page).locator("[data-testid='nbflow-step'][data-step='train']")
        expect(step).to_have_attribute("data-status", "cached", timeout=15_000)
        # The train cell at the top: its reused tasks' output, then pick and report.
        page.locator(CODE_CELLS).nth(4).evaluate("(cell) => cell.scrollIntoView()")
        shot(page, "run_flow_again_cached_light")
        use_theme(page, "JupyterLab Dark")
        try:
            shot(page, "run_flow_again_cached_dark")
        finally:
            use_theme(page, "JupyterLab Light")

        # The mode is off again: the train cell run by hand runs its tasks.
        page.locator(CODE_CELLS).nth(4).locator(".jp-InputPrompt").click()
        page.keyboard.press("Control+Enter")
        wait_badges(page, {"train": "done"})
        by_hand = flow.latest_run
        assert by_hand.pathspec not in (first.pathspec, second.pathspec)
        assert step_statuses(by_hand)["train"] == {"done"}
        assert "cached" not in cell_output(page, 4)
        assert not dialogs, dialogs
    except Exception:
        page.screenshot(path=str(screenshot_dir() / "labextension_run_flow_again_failure.png"))
        raise
    finally:
        context.close()


# ---------------------------------------------------------------- bad input


def test_an_unknown_parent_shows_on_the_offending_cells_badge(lab: Lab, chromium: Any) -> None:
    make_notebook(
        lab.root / "broken.ipynb",
        [
            "%load_ext nbflow\n%flow name broken",
            "%%step first\nx = 1",
            "%%step second --after nope\ny = x + 1",
        ],
    )
    context, page, _ = new_page(chromium)
    try:
        open_notebook(page, lab, "broken.ipynb")
        wait_badges(page, {"second": "error"}, timeout=30_000)
        message = badge(page, "second").locator("[data-testid='nbflow-badge-error']").inner_text()
        assert "nope" in message, message
        assert badge(page, "first").get_attribute("data-status") != "error"
        shot(page, "badge_unknown_parent", page.locator(f"{PANEL} .jp-Notebook"))
        # Fixing the line clears the error: the source is the single truth.
        set_cell_source(page, 2, "%%step second --after first\ny = x + 1")
        wait_badges(page, {"second": "none"}, timeout=15_000)
    finally:
        context.close()


def test_a_script_value_shows_as_characters(lab: Lab, chromium: Any) -> None:
    make_notebook(
        lab.root / "evil.ipynb",
        [
            "%load_ext nbflow\n%flow name evil",
            '%%step start\nevil = "<script>alert(1)</script>"\nnote = "<b>bold</b>"',
            "%%step finish --after start\nshout = evil.upper()",
        ],
    )
    context, page, dialogs = new_page(chromium)
    try:
        open_notebook(page, lab, "evil.ipynb")
        click_run_flow(page)
        wait_idle(page)
        wait_badges(page, {"start": "done", "finish": "done"})
        sidebar = open_sidebar(page)
        sidebar.locator("[data-testid='nbflow-step'][data-step='start']").click()
        tasks = sidebar.locator("[data-testid='nbflow-tasks']")
        tasks.locator("[data-testid='nbflow-task']").first.wait_for(timeout=10_000)
        assert "<script>alert(1)</script>" in tasks.inner_text()
        assert "<b>bold</b>" in tasks.inner_text()
        assert sidebar.locator("script, b").count() == 0
        shot(page, "sidebar_script_as_text", sidebar)
        assert not dialogs, dialogs
    finally:
        context.close()


# ---------------------------------------------------------------- the files a task read

DATA_CSV = "deck,archetype\n1,aggro\n2,control\n3,combo\n"
READS_CELLS = [
    "%load_ext nbflow\n%flow name reads",
    "%%step start\nwith open('data.csv') as f:\n    rows = f.read().splitlines()",
    "%%step count --after start\nn = len(rows)",
]


def test_the_task_panel_lists_the_files_a_task_read(lab: Lab, chromium: Any) -> None:
    """Under the artifacts: the file's path (cut from the left to the panel's default width,
    the file name in view, the whole path its tooltip), its size and its hash's start; in the
    light and the dark theme. A task that read nothing has no such section."""
    import xxhash

    data = lab.root / "data.csv"
    data.write_text(DATA_CSV)
    make_notebook(lab.root / "reads.ipynb", READS_CELLS)
    context, page, _ = new_page(chromium)
    try:
        open_notebook(page, lab, "reads.ipynb")
        click_run_flow(page)
        wait_idle(page)
        wait_badges(page, {"start": "done", "count": "done"})
        sidebar = open_sidebar(page)
        sidebar.locator("[data-testid='nbflow-step'][data-step='count']").click()
        expect(sidebar.locator("[data-testid='nbflow-task']")).to_have_count(1)
        expect(sidebar.locator("[data-testid='nbflow-task-reads']")).to_have_count(0)

        sidebar.locator("[data-testid='nbflow-step'][data-step='start']").click()
        reads = sidebar.locator("[data-testid='nbflow-task-reads']")
        reads.wait_for(timeout=10_000)
        line = reads.locator("[data-testid='nbflow-task-read']")
        expect(line).to_have_count(1)
        path = line.locator(".nbflow-read-path")
        assert path.get_attribute("title") == str(data.resolve())
        assert path.inner_text() == str(data.resolve())
        text = line.inner_text()
        assert f"{len(DATA_CSV)} bytes" in text, text
        digest = xxhash.xxh3_128_hexdigest(DATA_CSV.encode())
        assert digest[:12] in text and digest[12:] not in text, text
        assert "files read" in reads.inner_text()
        # At the default width the path is cut, not wrapped, and the line stays in the panel
        # with the file name in view.
        fit = line.evaluate(
            """(li) => {
              const path = li.querySelector('.nbflow-read-path');
              const box = path.getBoundingClientRect(), row = li.getBoundingClientRect();
              const panel = document.querySelector('#nbflow-sidebar').getBoundingClientRect();
              const text = path.querySelector('bdi').firstChild;
              const range = document.createRange();
              range.setStart(text, text.length - 'data.csv'.length);
              range.setEnd(text, text.length);
              const name = range.getBoundingClientRect();
              return {cut: path.scrollWidth > path.clientWidth,
                      oneLine: row.height < 2 * box.height,
                      inPanel: row.right <= panel.right + 0.5,
                      nameShown: name.left >= box.left - 0.5 && name.right <= box.right + 0.5};
            }"""
        )
        print(f"\nthe files-read line at the side panel's default width: {fit}")
        assert fit["oneLine"] and fit["inPanel"] and fit["nameShown"], fit
        shot(page, "task_files_read_light", sidebar)
        use_theme(page, "JupyterLab Dark")
        try:
            expect(line).to_be_visible()
            shot(page, "task_files_read_dark", sidebar)
        finally:
            use_theme(page, "JupyterLab Light")
    finally:
        context.close()


# ---------------------------------------------------------------- editing steps


def test_make_this_a_step_writes_the_step_line_and_remove_takes_it_out(
    lab: Lab, chromium: Any
) -> None:
    make_notebook(
        lab.root / "edit.ipynb",
        [
            "%load_ext nbflow\n%flow name edit",
            "%%step first\nxs = [1, 2]",
            "y = sum(xs)",
            "%%step below --after first\nz = 1",
        ],
    )
    context, page, _ = new_page(chromium)
    try:
        open_notebook(page, lab, "edit.ipynb")
        wait_badges(page, {"first": "none"}, timeout=30_000)
        plain = page.locator(CODE_CELLS).nth(2)
        plain.locator(".cm-content").click(button="right")
        page.locator("li.lm-Menu-item[data-command='nbflow:edit-step']").click()
        dialog = page.locator(".jp-Dialog")
        dialog.locator("[data-testid='nbflow-step-name']").fill("second")
        assert dialog.locator("[data-testid='nbflow-parent-first']").is_checked()
        # Only the steps above the cell can be its parents.
        parents = dialog.locator("[data-testid^='nbflow-parent-']")
        assert parents.evaluate_all("(boxes) => boxes.map(b => b.value)") == ["first"]
        dialog.locator("[data-testid='nbflow-step-foreach']").fill("xs")
        dialog.locator("[data-testid='nbflow-step-as']").fill("x")
        shot(page, "step_dialog", dialog.locator(".jp-Dialog-content"))
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        page.wait_for_function(
            """(selector) => {
              const cell = document.querySelectorAll(selector)[2];
              return cell.querySelector('.cm-line').textContent.startsWith('%%step');
            }""",
            arg=CODE_CELLS,
        )
        assert cell_source(page, 2) == (
            "%%step second --after first --foreach xs --as x\ny = sum(xs)"
        )
        wait_badges(page, {"second": "none"}, timeout=15_000)
        assert "foreach xs" in badge(page, "second").inner_text()

        plain.locator(".cm-content").click(button="right")
        page.locator("li.lm-Menu-item[data-command='nbflow:remove-step']").click()
        page.wait_for_function(
            "(selector) => !document.querySelectorAll(selector)[2]"
            ".querySelector(\"[data-testid='nbflow-badge']\")",
            arg=CODE_CELLS,
            timeout=15_000,
        )
        assert cell_source(page, 2) == "y = sum(xs)"
    finally:
        context.close()


# ---------------------------------------------------------------- live run, failure, resume


def watch_until_total_fails(page: Any) -> list[str]:
    """The side panel's step `slow` (status and text) each time it changed, until the badge
    of step `total` says failed; a screenshot of the live run as it goes."""
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state, total = page.evaluate(
            """(panel) => {
              const run = document.querySelector("#nbflow-sidebar [data-testid='nbflow-run']");
              const slow = run && run.querySelector("[data-step='slow']");
              const total = document.querySelector(
                `${panel} [data-testid='nbflow-badge'][data-step='total']`);
              return [slow ? `${slow.dataset.status} ${slow.lastChild.textContent}` : '',
                      total && total.dataset.status];
            }""",
            PANEL,
        )
        if state and (not seen or seen[-1] != state):
            seen.append(state)
            if state.startswith("running") and len(seen) < 3:
                shot(page, "sidebar_live_run")
        if total == "failed":
            break
        time.sleep(0.1)
    return seen


def test_a_failed_run_is_resumed_from_the_toolbar(lab: Lab, chromium: Any) -> None:
    """The graph in the side panel grows while the run goes on, and Run flow is off (a second
    click makes no second run); a failed step enables Resume; the user fixes the cell in the
    editor, without running it, and Resume runs the fixed cell as a new run."""
    make_notebook(
        lab.root / "resumable.ipynb",
        [
            "%load_ext nbflow\n%flow name resumable\nimport time\nfrom pathlib import Path",
            "%%step start\nxs = [1, 2, 3]",
            "%%step slow --after start --foreach xs\ntime.sleep(0.8)\ny = item * 2",
            "%%step total --after slow --join\nraise RuntimeError('total: not written yet')",
        ],
    )
    context, page, _ = new_page(chromium)
    try:
        open_notebook(page, lab, "resumable.ipynb")
        resume = page.locator(f"{PANEL} [data-testid='nbflow-resume-flow'] button")
        assert resume.is_disabled()
        click_run_flow(page)
        run_button = page.locator(f"{PANEL} [data-testid='nbflow-run-flow'] button")
        expect(run_button).to_be_disabled(timeout=5_000)  # one click, one run
        run_button.click(force=True)  # as an impatient second click: nothing happens
        seen = watch_until_total_fails(page)
        print(f"\nthe side panel's step 'slow' while the run went on: {seen}")
        assert any(s.startswith("running") for s in seen), seen
        wait_badges(page, {"start": "done", "slow": "done", "total": "failed"})
        expect(resume).to_be_enabled(timeout=15_000)
        page.locator(f"{SIDEBAR} [data-testid='nbflow-step'][data-step='total']").wait_for()
        expect(run_rows(page).first).to_have_attribute("data-status", "failed")
        shot(page, "failed_run_resume_enabled")
        failed = lab.api("/nbflow/api/runs/resumable/latest")
        assert failed["status"] == "failed" and failed["run_id"] == 1  # the second click: none
        expect(run_button).to_be_enabled()

        # Fixed in the editor, not run: Resume runs the cell as it now stands.
        fixed = "%%step total --after slow --join\ntotal = sum(i.y for i in inputs)"
        set_cell_source(page, 3, fixed)
        resume.click()
        toast = page.locator(".jp-Notification-Toast-success", has_text="Resume")
        toast.wait_for(timeout=60_000)
        assert "resuming run resumable/" in toast.inner_text()
        # What finished is taken over from the failed run (cached), not run again.
        wait_badges(page, {"start": "cached", "slow": "cached", "total": "done"})
        resumed = lab.api("/nbflow/api/runs/resumable/latest")
        assert resumed["status"] == "done" and resumed["run_id"] == failed["run_id"] + 1
        assert {s["name"]: s["tasks"]["cached"] for s in resumed["steps"]} == {
            "start": 1,
            "slow": 3,
            "total": 0,
        }
        shot(page, "resumed_run")
        expect(resume).to_be_disabled(timeout=15_000)
        from nbflow import Run
        from nbflow.config import Config
        from nbflow.store.stores import open_store

        store = open_store(Config(datastore=str(lab.datastore)))
        assert Run("resumable/2", store=store).data.total == 12  # the fixed code's answer
    finally:
        context.close()


# ---------------------------------------------------------------- speed figures

MANY_RUNS = 1000
MAKE_MANY_RUNS = """
    from nbflow.store.stores import open_store

    meta = open_store().meta
    for i in range({runs}):
        run = meta.create_run("runs1000", {{"lr": i / 1000, "layers": i % 4, "tag": f"r{{i}}"}})
        meta.finish_run("runs1000", run.run_id, "failed" if i % 9 == 0 else "done")
"""


SIDEBAR_PAGE = 50  # runs the side panel lists at once (PAGE in labextension/src/sidebar.ts)


def test_speed_of_the_sidebar_listing_1000_runs(lab: Lab, chromium: Any) -> None:
    """A flow of 1,000 runs: the panel lists its newest page at once, names the total, and
    lists the next page when the end of the list scrolls into view."""
    started = time.perf_counter()
    python(lab, MAKE_MANY_RUNS.format(runs=MANY_RUNS))
    print(f"\nmade {MANY_RUNS:,} run records in {time.perf_counter() - started:.1f} s")
    make_notebook(lab.root / "runs1000.ipynb", ["%load_ext nbflow\n%flow name runs1000"])
    context, page, _ = new_page(chromium)
    try:
        open_notebook(page, lab, "runs1000.ipynb")
        # Seconds from the click until the rows of a new listing are in the page (the list's
        # tbody counts its listings in data-listing); -1 if not within 30 s.
        listed = """async (count) => {
          const t0 = window.nbflowT0;
          const body = document.querySelector("#nbflow-sidebar [data-testid='nbflow-runs'] tbody");
          for (;;) {
            const rows = body.querySelectorAll("[data-testid='nbflow-run-row']");
            if (Number(body.dataset.listing || 0) > window.nbflowListing && rows.length === count)
              return (performance.now() - t0) / 1000;
            if (performance.now() - t0 > 30000) return -1;
            await new Promise(requestAnimationFrame);
          }
        }"""
        start = """() => {
          const body = document.querySelector("#nbflow-sidebar [data-testid='nbflow-runs'] tbody");
          window.nbflowListing = Number(body.dataset.listing || 0);
          window.nbflowT0 = performance.now();
        }"""
        figures = []
        # First: a click on the panel's tab (its first look at the flow); then ↻, three times.
        for target in [".jp-SideBar li[data-id='nbflow-sidebar']"] + [
            f"{SIDEBAR} [data-testid='nbflow-refresh']"
        ] * 3:
            page.evaluate(start)
            page.locator(target).click()
            figures.append(page.evaluate(listed, SIDEBAR_PAGE))
        assert all(f > 0 for f in figures), f"a listing of the first page never came: {figures}"
        expect(page.locator(f"{SIDEBAR} [data-testid='nbflow-status']")).to_have_text(
            f"{MANY_RUNS:,} runs of runs1000"
        )
        more = page.locator(f"{SIDEBAR} [data-testid='nbflow-more']")
        expect(more).to_have_text(f"More runs ({SIDEBAR_PAGE} of {MANY_RUNS:,} listed)")
        shot(page, "sidebar_1000_runs")
        # Scrolling to the end lists the next page below the first, newest first throughout.
        t0 = time.perf_counter()
        more.scroll_into_view_if_needed()
        rows = page.locator(f"{SIDEBAR} [data-testid='nbflow-run-row']")
        expect(rows).to_have_count(2 * SIDEBAR_PAGE, timeout=30_000)
        next_page = time.perf_counter() - t0
        ids = [
            int(i) for i in rows.evaluate_all("rows => rows.map(r => r.dataset.run.split('/')[1])")
        ]
        assert ids == list(range(MANY_RUNS, MANY_RUNS - 2 * SIDEBAR_PAGE, -1)), ids[:5]
        # The server's share: the same request made outside the browser.
        server = []
        for _ in range(3):
            t0 = time.perf_counter()
            answer = lab.api(f"/nbflow/api/flows/runs1000/runs?limit={SIDEBAR_PAGE}")
            server.append(time.perf_counter() - t0)
        assert answer["total"] == MANY_RUNS
    finally:
        context.close()
    print(
        f"SPEED nbflow side panel, a flow of {MANY_RUNS:,} runs, first page of {SIDEBAR_PAGE} "
        f"(request + rows drawn): first open {figures[0] * 1000:.0f} ms, refreshed "
        + ", ".join(f"{f * 1000:.0f} ms" for f in figures[1:])
        + f"; the next page on scrolling {next_page * 1000:.0f} ms"
        + f"; the API request alone {min(server) * 1000:.0f} ms"
    )


def _load_seconds(chromium: Any, lab: Lab) -> tuple[float, bool]:
    """A fresh browser context (cold cache) opening load.ipynb: seconds from navigation
    start to the restored app showing the notebook's cells, and whether Run flow is there."""
    context, page, _ = new_page(chromium)
    try:
        page.goto(lab.notebook_url("load.ipynb"))
        page.locator(CODE_CELLS).first.wait_for(timeout=60_000)
        page.wait_for_function(
            "() => !document.querySelector('#jupyterlab-splash') && "
            "document.querySelector('#jp-main-dock-panel')",
            timeout=60_000,
        )
        seconds = float(page.evaluate("() => performance.now()")) / 1000
        page.wait_for_timeout(500)  # time enough for the extension to add its button
        return seconds, page.locator(f"{PANEL} [data-testid='nbflow-run-flow']").count() > 0
    finally:
        context.close()


def _labextension(lab: Lab, action: str) -> None:
    # In the test server's own config dir ($JUPYTER_CONFIG_DIR), read on every page load.
    subprocess.run(
        [str(Path(sys.executable).parent / "jupyter"), "labextension", action, "nbflow"],
        check=True,
        env=lab.env,
        capture_output=True,
        timeout=60,
    )


def test_load_time_with_and_without_the_extension(lab: Lab, chromium: Any) -> None:
    make_notebook(
        lab.root / "load.ipynb",
        ["%load_ext nbflow\n%flow name load", "%%step a\nx = 1", "%%step b --after a\ny = x"],
    )
    figures: dict[str, list[float]] = {"enabled": [], "disabled": []}
    try:
        _load_seconds(chromium, lab)  # the first load warms the server (kernel, caches)
        for _ in range(3):
            for state in ("disabled", "enabled"):
                _labextension(lab, "disable" if state == "disabled" else "enable")
                seconds, present = _load_seconds(chromium, lab)
                assert present == (state == "enabled"), f"the extension was not {state}"
                figures[state].append(seconds)
    finally:
        _labextension(lab, "enable")
    on, off = statistics.median(figures["enabled"]), statistics.median(figures["disabled"])
    print(
        f"\nSPEED JupyterLab load to a notebook's cells, median of 3: with nbflow {on:.2f} s, "
        f"without {off:.2f} s, difference {on - off:+.2f} s "
        f"(with {json.dumps([round(f, 2) for f in figures['enabled']])}, "
        f"without {json.dumps([round(f, 2) for f in figures['disabled']])})"
    )
    assert on < 30 and on - off < 5
