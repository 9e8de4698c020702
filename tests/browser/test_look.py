"""How nbflow looks in JupyterLab: every view in the light, the dark and the high-contrast
theme, screenshotted (tests/browser/screenshots/look_*.png) and checked by legibility.py for
text contrast (nothing within 3:1 of its background) and size (nothing under 11 px), with the
side panel at its default width; and how its views behave at that width: a wide graph scrolls
instead of shrinking, its nodes open their tasks, list cells keep their whole text in a
tooltip, a comparison opens as a document tab (from the panel and from `%flow compare`) that
reads at a narrow width, with wide previews collapsed to a line, and each badge says what it
means in its tooltip.

The flow `wide` has four branches after `start` (one a foreach, joined), so its graph is wider
than the panel, and a DataFrame of 20 columns; two runs of it are made headless with another
`width`. Real JupyterLab, real kernels, Debian's Chromium.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from labtools import Lab, make_notebook, new_page, screenshot_dir, use_theme
from legibility import assert_legible
from playwright.sync_api import expect
from test_browser_widgets import cell, run_cell, wait_executed
from test_labextension import (
    CODE_CELLS,
    PANEL,
    SIDEBAR,
    badge,
    open_notebook,
    open_sidebar,
    run_rows,
    set_cell_source,
    wait_badges,
)

pytestmark = pytest.mark.browser

LIGHT, DARK, HIGH_CONTRAST = "JupyterLab Light", "JupyterLab Dark", "JupyterLab Dark High Contrast"
THEMES = {"light": LIGHT, "dark": DARK, "contrast": HIGH_CONTRAST}
LONG_LABEL = "a parameter value far too long for the side panel's default width"
WIDE_CELLS = [
    "%load_ext nbflow\n%flow name wide\nimport pandas as pd",
    f"%%params\nwidth = 20\nlabel = {LONG_LABEL!r}",
    "%%step start\nframe = pd.DataFrame({f'column_{i}': range(8) for i in range(width)})\n"
    "xs = [1, 2, 3]",
    "%%step left --after start\nscore = 0.5",
    "%%step middle --after start --foreach xs\ny = item * width",
    "%%step middle_sum --after middle --join\ntotal = sum(i.y for i in inputs)",
    "%%step right --after start\nscore = 0.7",
    "%%step far_right --after start\nscore = 0.9",
    "%%step recap --after left middle_sum right far_right\n"
    "best = max(inputs.left.score, inputs.right.score, inputs.far_right.score)",
]
WIDE_STEPS = ["start", "left", "middle", "middle_sum", "right", "far_right", "recap"]
WIDGET_CELLS = [
    "%load_ext nbflow",
    "%flow show wide/2",
    "%flow runs wide",
    "%flow compare wide/1 wide/2",
]
SHOW, RUNS, COMPARE = 1, 2, 3
TAB = "#jp-main-dock-panel .nbflow-compare-panel"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def wide_runs(lab: Lab, nbflow_cli: str) -> Lab:
    """Runs wide/1 (width 20) and wide/2 (width 12), made headless."""
    make_notebook(lab.root / "wide.ipynb", WIDE_CELLS)
    for width in ("20", "12"):
        subprocess.run(
            [nbflow_cli, "run", "wide.ipynb", "-p", "width", width],
            check=True, cwd=lab.root, env=lab.env, timeout=180, capture_output=True,
        )  # fmt: skip
    return lab


@pytest.fixture(scope="module")
def wide(wide_runs: Lab, chromium: Any) -> Iterator[Any]:
    """wide.ipynb open, its badges done, the side panel open at its default width."""
    context, page, _ = new_page(chromium)
    try:
        open_notebook(page, wide_runs, "wide.ipynb")
        wait_badges(page, dict.fromkeys(WIDE_STEPS, "done"), timeout=30_000)
        open_sidebar(page)
        page.locator(f"{SIDEBAR} [data-testid='nbflow-graph']").wait_for(timeout=15_000)
        yield page
    except Exception:
        page.screenshot(path=str(screenshot_dir() / "look_failure.png"))
        raise
    finally:
        context.close()


@pytest.fixture
def themed(request: pytest.FixtureRequest) -> Iterator[str]:
    """The name of the theme of the test's parameter; the test switches to it and puts the
    light theme back (the choice is a setting of the test server)."""
    yield THEMES[request.param]


def switched(page: Any, theme: str) -> None:
    use_theme(page, theme)
    page.wait_for_timeout(300)


def close_compare_tabs(page: Any) -> None:
    for _ in range(5):
        tabs = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Compare")
        if not tabs.count():
            return
        tabs.first.locator(".lm-TabBar-tabCloseIcon").click()


def open_compare_from_sidebar(page: Any) -> Any:
    sidebar = page.locator(SIDEBAR)
    for run_id in ("wide/2", "wide/1"):
        box = sidebar.locator(f"[data-testid='nbflow-run-row'][data-run='{run_id}'] input")
        if not box.is_checked():
            box.check()
    button = sidebar.locator("[data-testid='nbflow-compare-button']")
    expect(button).to_have_text("Compare 2")
    button.click()
    tab = page.locator(TAB)
    tab.locator("[data-testid='nbflow-compare']").wait_for(timeout=15_000)
    return tab


# ---------------------------------------------------------------- every view, every theme


@pytest.mark.parametrize("themed", list(THEMES), indirect=True)
def test_the_lab_views_read_in_each_theme(wide: Any, themed: str, request: Any) -> None:
    """Badges and toolbar, the runs list with the graph, a step's tasks, the compare tab: each
    screenshotted and checked in the theme."""
    page, name = wide, request.node.callspec.id
    switched(page, themed)
    try:
        close_compare_tabs(page)
        page.locator(f"{PANEL} .jp-Notebook").evaluate("(n) => n.scrollTo(0, 0)")
        assert_legible(
            page,
            f"{PANEL} .nbflow-badge, {PANEL} .jp-NotebookPanel-toolbar",
            f"badges_and_toolbar_{name}",
        )
        page.locator(PANEL).screenshot(path=str(screenshot_dir() / f"look_notebook_{name}.png"))
        sidebar = page.locator(SIDEBAR)
        sidebar.locator(".nbflow-detail").evaluate("(n) => n.scrollTo(0, 0)")
        assert_legible(page, SIDEBAR, f"sidebar_runs_and_graph_{name}")
        sidebar.locator("g.nbflow-step[data-step='start']").click()
        tasks = sidebar.locator("[data-testid='nbflow-tasks']")
        tasks.locator("[data-testid='nbflow-task']").first.wait_for(timeout=10_000)
        assert_legible(page, SIDEBAR, f"sidebar_graph_and_tasks_{name}")
        assert_legible(page, f"{SIDEBAR} [data-testid='nbflow-tasks']", f"task_panel_{name}")
        open_compare_from_sidebar(page)
        assert_legible(page, TAB, f"compare_tab_{name}")
        # The whole window, for a look: JupyterLab's own editor colours are not nbflow's.
        page.screenshot(path=str(screenshot_dir() / f"look_lab_with_compare_tab_{name}.png"))
    finally:
        close_compare_tabs(page)
        use_theme(page, LIGHT)


# ---------------------------------------------------------------- the side panel at its width


def test_a_wide_graph_scrolls_sideways_at_its_own_size(wide: Any) -> None:
    sidebar = wide.locator(SIDEBAR)
    fit = sidebar.locator(".nbflow-picture").evaluate(
        """(box) => {
          const svg = box.querySelector('svg');
          return {drawn: svg.getBoundingClientRect().width, own: Number(svg.getAttribute('width')),
                  box: box.clientWidth, scrolls: box.scrollWidth > box.clientWidth,
                  panel: document.querySelector('#nbflow-sidebar').getBoundingClientRect().width};
        }"""
    )
    print(f"\nthe graph of wide/2 in the side panel: {fit}")
    assert fit["own"] > fit["panel"], "the flow is wider than the panel"
    assert abs(fit["drawn"] - fit["own"]) < 1, "drawn at its own size, not shrunk"
    assert fit["scrolls"]
    # The header above the graph names the run; the picture does not repeat it.
    header = sidebar.locator("[data-testid='nbflow-run-header']")
    assert "wide/2" in header.inner_text()
    texts = sidebar.locator("[data-testid='nbflow-graph'] text").evaluate_all(
        "(texts) => texts.map(t => t.textContent)"
    )
    assert not [t for t in texts if "wide/2" in t], texts


def test_a_click_on_a_graph_node_opens_its_tasks(wide: Any) -> None:
    sidebar = wide.locator(SIDEBAR)
    node = sidebar.locator("[data-testid='nbflow-graph'] g.nbflow-step[data-step='right']")
    node.scroll_into_view_if_needed()
    node.click()
    tasks = sidebar.locator("[data-testid='nbflow-tasks']")
    expect(tasks.locator("h3")).to_have_text("Tasks of right", timeout=10_000)
    assert "score" in tasks.locator("[data-testid='nbflow-task']").first.inner_text()
    expect(node).to_have_class(re.compile("nbflow-selected"))
    row = sidebar.locator("[data-testid='nbflow-step'][data-step='right']")
    expect(row).to_have_class(re.compile("nbflow-open"))
    # By keyboard too: a node is a button.
    middle = sidebar.locator("[data-testid='nbflow-graph'] g.nbflow-step[data-step='middle']")
    middle.focus()
    wide.keyboard.press("Enter")
    expect(tasks.locator("h3")).to_have_text("Tasks of middle", timeout=10_000)
    expect(tasks.locator("[data-testid='nbflow-task']")).to_have_count(3)


def test_a_cut_runs_list_cell_has_its_whole_text_in_its_tooltip(wide: Any, lab: Lab) -> None:
    row = run_rows(wide).first
    cell_ = row.locator(".nbflow-params")
    cut = cell_.evaluate("(td) => td.scrollWidth > td.clientWidth")
    assert cut, "at the default width the long label is cut"
    title = cell_.get_attribute("title")
    assert LONG_LABEL in title and "width=12" in title, title
    results = lab.api("/nbflow/api/flows/wide/runs")["runs"][0]["results"] or {}
    for name in results:
        assert f"{name}=" in title.split("results: ", 1)[1], (name, title)
    header = wide.locator(f"{SIDEBAR} [data-testid='nbflow-run-header'] .nbflow-params")
    assert LONG_LABEL in header.get_attribute("title")


def test_the_panel_uses_jupyterlabs_own_controls(wide: Any) -> None:
    sidebar = wide.locator(SIDEBAR)
    assert sidebar.locator(".jp-Toolbar.nbflow-toolbar").count() == 1
    select = sidebar.locator(".jp-HTMLSelect select[data-testid='nbflow-flow']")
    expect(select).to_have_value("wide")
    refresh = sidebar.locator("[data-testid='nbflow-refresh']")
    assert refresh.locator(".jp-ToolbarButtonComponent").count() == 1
    assert refresh.locator("[data-icon='ui-components:refresh']").count() == 1
    assert "↻" not in sidebar.locator(".nbflow-toolbar").inner_text()
    before = sidebar.locator("[data-testid='nbflow-runs'] tbody").get_attribute("data-listing")
    refresh.click()
    wide.wait_for_function(
        "(before) => document.querySelector(\"#nbflow-sidebar [data-testid='nbflow-runs'] "
        'tbody").dataset.listing !== before',
        arg=before,
    )


# ---------------------------------------------------------------- the compare tab


def test_compare_opens_as_a_tab_that_reads_at_a_narrow_width(wide: Any) -> None:
    page = wide
    close_compare_tabs(page)
    try:
        tab = open_compare_from_sidebar(page)
        label = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Compare")
        expect(label).to_have_text(re.compile(r"Compare wide/2, 1"))
        assert tab.get_attribute("data-runs") == "wide/2,wide/1"
        param = tab.locator("[data-testid='nbflow-param'][data-name='width']")
        assert param.get_attribute("data-differs") == "true"
        # Narrow: the tab does not get wider than its room; the tables scroll inside it.
        page.set_viewport_size({"width": 1000, "height": 900})
        page.wait_for_timeout(300)
        fit = tab.evaluate(
            """(panel) => ({width: panel.clientWidth, content: panel.scrollWidth,
                 height: panel.scrollHeight,
                 wide: [...panel.querySelectorAll('.nbflow-wide')]
                   .filter(b => !b.parentElement.closest('.nbflow-wide')).map(
                   b => b.getBoundingClientRect().right <= panel.getBoundingClientRect().right + 1),
                 frames: panel.querySelectorAll('details.nbflow-collapsed:not([open])').length})"""
        )
        print(f"\nthe compare tab at a 1000 px wide window: {fit}")
        assert fit["content"] <= fit["width"] + 1, fit
        assert all(fit["wide"]), fit
        assert fit["frames"] >= 2, "the DataFrame previews of both runs are collapsed"
        assert fit["height"] < 2000, "not thousands of pixels tall"
        frame_row = tab.locator("[data-testid='nbflow-artifact-row'][data-name='frame']")
        summary = frame_row.locator("details.nbflow-collapsed > summary").first
        assert "DataFrame 8 × " in summary.inner_text()
        summary.click()
        expect(frame_row.locator("[data-testid='nbflow-frame']").first).to_be_visible()
        assert_legible(page, TAB, "compare_tab_narrow_frame_open_light")
        # Compare on the same runs again brings the same tab to the front.
        page.locator(f"{CODE_CELLS}").first.click()
        page.locator(f"{SIDEBAR} [data-testid='nbflow-compare-button']").click()
        expect(
            page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Compare")
        ).to_have_count(1)
    finally:
        page.set_viewport_size({"width": 1500, "height": 1000})
        close_compare_tabs(page)


# ---------------------------------------------------------------- badges


def test_a_badge_says_what_it_means_in_its_tooltip(wide: Any) -> None:
    page = wide
    title = badge(page, "middle").get_attribute("title")
    assert re.fullmatch(r"done: ran in run wide/2, 3 tasks, \S+ m?s", title), title
    assert (
        badge(page, "start").get_attribute("title").startswith("done: ran in run wide/2, 1 task,")
    )
    source = "%%step left --after start\nscore = 0.55"
    set_cell_source(page, 3, source)
    try:
        wait_badges(page, {"left": "stale"}, timeout=15_000)
        stale = badge(page, "left").get_attribute("title")
        assert stale.startswith("stale: the code changed since it ran in run wide/2"), stale
    finally:
        set_cell_source(page, 3, WIDE_CELLS[3])
        wait_badges(page, {"left": "done"}, timeout=15_000)


# ---------------------------------------------------------------- the notebook widgets


@pytest.fixture(scope="module")
def widgets(wide_runs: Lab, chromium: Any) -> Iterator[Any]:
    """looks.ipynb: %flow show, %flow runs and %flow compare of the wide runs, run cell by cell."""
    make_notebook(wide_runs.root / "looks.ipynb", WIDGET_CELLS)
    context, page, _ = new_page(chromium)
    page.set_viewport_size({"width": 1500, "height": 1600})  # the compare widget, whole
    try:
        from test_browser_widgets import open_notebook as open_widget_notebook

        open_widget_notebook(page, wide_runs, "looks.ipynb")
        for index in range(len(WIDGET_CELLS)):
            run_cell(page, index)
            wait_executed(page, index, timeout=60_000)
        cell(page, COMPARE).locator("[data-testid='compare-view']").wait_for(timeout=30_000)
        yield page
    except Exception:
        page.screenshot(path=str(screenshot_dir() / "look_widgets_failure.png"))
        raise
    finally:
        context.close()


@pytest.mark.parametrize("themed", ["light", "dark"], indirect=True)
def test_the_notebook_widgets_read_in_each_theme(widgets: Any, themed: str, request: Any) -> None:
    page, name = widgets, request.node.callspec.id
    switched(page, themed)
    try:
        for index, view, testid in [
            (SHOW, "graph", "graph"),
            (RUNS, "runs_browser", "run-browser"),
            (COMPARE, "compare", "compare-view"),
        ]:
            target = cell(page, index).locator(f"[data-testid='{testid}']")
            target.scroll_into_view_if_needed()
            # The one widget checked: marked, so the check's selector names it alone.
            target.evaluate("(n) => n.setAttribute('data-look', 'checked')")
            try:
                assert_legible(page, "[data-look='checked']", f"widget_{view}_{name}")
            finally:
                target.evaluate("(n) => n.removeAttribute('data-look')")
    finally:
        use_theme(page, LIGHT)


def test_flow_compare_output_opens_in_a_tab(widgets: Any) -> None:
    page = widgets
    button = cell(page, COMPARE).locator("[data-testid='compare-open-tab']")
    expect(button).to_have_text("Open in a tab")
    button.click()
    tab = page.locator(TAB)
    tab.locator("[data-testid='nbflow-compare']").wait_for(timeout=15_000)
    assert tab.get_attribute("data-runs") == "wide/1,wide/2"
    assert (
        tab.locator("[data-testid='nbflow-param'][data-name='width']").get_attribute("data-differs")
        == "true"
    )
    close_compare_tabs(page)
