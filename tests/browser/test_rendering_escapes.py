"""Markup from the store shows as text: in the notebook widgets, the JupyterLab side panel and
the HTML report, in headless Chromium.

One run of flow `escapes` is made where every place a user's text can reach holds markup that
would act if parsed: a parameter value, a repr, stdout and stderr, an HTML display, a foreach
element and an exception message each carry `<img src=x onerror=alert(..)>`, an element with
id `injected-<place>` and a `<script>`. (Artifact and step names cannot: they are
identifiers.) For each surface the test asserts that no dialog fired, that no injected element
exists in the DOM, and that the markup is there as visible characters.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labtools import Lab, make_notebook, new_page, screenshot_dir
from test_browser_widgets import cell, open_notebook, run_cell, wait_executed
from test_labextension import open_sidebar, run_rows, widen_sidebar

pytestmark = pytest.mark.browser

PLACES = ("param", "repr", "log", "stderr", "display", "item", "error")


def hostile(place: str) -> str:
    """Markup that, parsed as HTML, would fire a dialog and add an element `#injected-place`."""
    # The element first: tables cut long values, and it is what the test looks for as text.
    return (
        f'<b id="injected-{place}">{place}</b><img src=x onerror="alert(\'{place}\')">'
        f"<script>alert('{place}')</script>"
    )


RUN_CELLS = [
    "%flow name escapes",
    f"class Shady:\n    def __repr__(self):\n        return {hostile('repr')!r}",
    f"%%params\nlabel = {hostile('param')!r}",
    "%%step start\nimport sys\nfrom IPython.display import HTML, display\nshady = Shady()\n"
    f"items = [{hostile('item')!r}]\nprint({hostile('log')!r})\n"
    f"print({hostile('stderr')!r}, file=sys.stderr)\ndisplay(HTML({hostile('display')!r}))",
    "%%step each --after start --foreach items\nlength = len(item)",
    f"%%step boom --after start\nraise ValueError({hostile('error')!r})",  # the run fails here
]
# Run in a process of its own (the lab's environment: its datastore), cells given as JSON.
MAKE_RUN = textwrap.dedent(
    """
    import json, sys
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from nbflow.kernel.magics import load_ipython_extension

    shell = InteractiveShell.instance()
    load_ipython_extension(shell)
    cells = json.loads(sys.argv[1])
    with capture_output():
        for number, source in enumerate(cells):
            failed = shell.run_cell(source).error_in_exec is not None
            assert failed == (number == len(cells) - 1), source
    """
)
NOTEBOOK = [
    "%load_ext nbflow\n%flow name escapes",
    "%flow show 1",
    "%flow runs",
    "from nbflow import Run\nRun('escapes/1').report()",
]
SHOW, RUNS, REPORT = 1, 2, 3
NB_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def assert_inert(page: Any, dialogs: list[str], scope: str = "body") -> None:
    """No dialog fired, nothing injected: no `#injected-*`, no `<img src=x>`, no script of
    ours, in the page and in every frame of it."""
    page.wait_for_timeout(300)  # a dialog or an onerror, were one to fire, has had its chance
    assert dialogs == [], dialogs
    for frame in page.frames:
        found = frame.evaluate(
            """(scope) => {
              const root = document.querySelector(scope) || document.body;
              return {
                injected: root.querySelectorAll("[id^='injected-']").length,
                images: root.querySelectorAll("img[src='x']").length,
                scripts: [...root.querySelectorAll('script')]
                  .filter(s => s.textContent.includes('alert(')).length,
              };
            }""",
            scope,
        )
        assert found == {"injected": 0, "images": 0, "scripts": 0}, (frame.url, found)


def assert_shown_as_text(text: str, places: tuple[str, ...]) -> None:
    for place in places:
        assert f'<b id="injected-{place}">{place}</b>' in text, (place, text[:2000])


@pytest.fixture(scope="module")
def escapes(lab: Lab) -> Lab:
    subprocess.run(
        [sys.executable, "-c", MAKE_RUN, json.dumps(RUN_CELLS)],
        check=True, cwd=lab.root, env=lab.env, timeout=120,
    )  # fmt: skip
    return lab


class Notebook:
    def __init__(self, page: Any, dialogs: list[str]) -> None:
        self.page, self.dialogs = page, dialogs


@pytest.fixture(scope="module")
def notebook(escapes: Lab, chromium: Any) -> Iterator[Notebook]:
    """escapes.ipynb, run: the graph widget, the run browser and the report in its cells."""
    make_notebook(escapes.root / "escapes.ipynb", NOTEBOOK)
    context, page, dialogs = new_page(chromium)
    try:
        open_notebook(page, escapes, "escapes.ipynb")
        # Cell by cell (each start is checked and retried: see run_all on lost requests).
        for index in range(len(NOTEBOOK)):
            run_cell(page, index)
            wait_executed(page, index, timeout=60_000)
        page.wait_for_selector("[data-testid='graph'] [data-testid^='step-']", timeout=30_000)
    except Exception:
        page.screenshot(path=str(screenshot_dir() / "escapes_failure.png"), full_page=True)
        context.close()
        raise
    try:
        yield Notebook(page, dialogs)
    finally:
        context.close()


def test_the_graph_widget_shows_every_hostile_text_as_text(notebook: Notebook) -> None:
    page = notebook.page
    graph = cell(page, SHOW).locator("[data-testid='graph']")
    panel = graph.locator("[data-testid='step-panel']")
    shown = {}
    for step, waits_for in [
        ("start", "[data-testid='artifact-shady']"),
        ("each", "[data-testid='artifact-length']"),
        ("boom", "[data-testid^='task-']"),
    ]:
        graph.locator(f"[data-testid='step-{step}']").click()
        panel.locator(waits_for).first.wait_for(timeout=15_000)
        page.wait_for_function(  # the panel shows the clicked step's tasks, not the last one's
            "([p, s]) => document.querySelector(p) && "
            "document.querySelector(p).innerText.includes(s)",
            arg=[f"{NB_PANEL} [data-testid='step-panel']", step],
        )
        shown[step] = panel.inner_text()
        assert_inert(page, notebook.dialogs)
    page.screenshot(path=str(screenshot_dir() / "escapes_widget_panel.png"))
    assert_shown_as_text(shown["start"], ("repr", "log", "stderr", "display", "item"))
    assert_shown_as_text(shown["each"], ("item",))
    assert_shown_as_text(shown["boom"], ("error",))


def test_the_run_browser_shows_a_parameter_value_as_text(notebook: Notebook) -> None:
    browser = cell(notebook.page, RUNS).locator("[data-testid='run-browser']")
    browser.wait_for(timeout=15_000)
    assert_shown_as_text(browser.inner_text(), ("param",))
    assert_inert(notebook.page, notebook.dialogs)


def test_the_report_shown_in_the_notebook_runs_nothing(notebook: Notebook) -> None:
    frame = cell(notebook.page, REPORT).frame_locator("iframe[title^='nbflow report']")
    body = frame.locator("body")
    body.wait_for(timeout=15_000)
    assert_shown_as_text(body.inner_text(), ("param", "repr", "log", "error"))
    assert_inert(notebook.page, notebook.dialogs)


def test_the_side_panel_shows_every_hostile_text_as_text(notebook: Notebook) -> None:
    page = notebook.page
    sidebar = open_sidebar(page)
    widen_sidebar(page)
    row = run_rows(page).first
    row.wait_for(timeout=15_000)
    assert row.get_attribute("data-run") == "escapes/1"
    assert_shown_as_text(row.inner_text(), ("param",))
    tasks = sidebar.locator("[data-testid='nbflow-tasks']")
    shown = {}
    for step in ("start", "each", "boom"):
        sidebar.locator(f"[data-testid='nbflow-step'][data-step='{step}']").click()
        ids = tasks.locator("[data-testid='nbflow-task'] code").filter(has_text=f"/{step}/")
        ids.first.wait_for(timeout=10_000)
        shown[step] = tasks.inner_text()
        assert_inert(page, notebook.dialogs, "#nbflow-sidebar")
    page.screenshot(path=str(screenshot_dir() / "escapes_sidebar.png"))
    assert_shown_as_text(shown["start"], ("repr", "log", "stderr"))
    assert_shown_as_text(shown["each"], ("item",))
    assert_shown_as_text(shown["boom"], ("error",))
    assert_inert(page, notebook.dialogs)


def test_an_exported_report_opened_in_chromium_runs_nothing(
    escapes: Lab, chromium: Any, tmp_path: Path
) -> None:
    saved = tmp_path / "saved.html"
    script = f"from nbflow import Run\nRun('escapes/1').report().save({str(saved)!r})"
    subprocess.run([sys.executable, "-c", script], check=True, env=escapes.env, timeout=60)
    printed = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "show", "--html", "escapes/1"],
        check=True, env=escapes.env, timeout=60, capture_output=True,
    ).stdout  # fmt: skip
    (tmp_path / "printed.html").write_bytes(printed)
    for page_file in (saved, tmp_path / "printed.html"):
        context, page, dialogs = new_page(chromium)
        try:
            context.set_offline(True)
            page.goto(page_file.as_uri())
            text = page.locator("body").inner_text()
            assert_shown_as_text(text, ("param", "repr", "log", "stderr", "display", "item"))
            assert_shown_as_text(text, ("error",))
            assert_inert(page, dialogs)
            page.screenshot(path=str(screenshot_dir() / f"escapes_{page_file.stem}.png"))
        finally:
            context.close()
