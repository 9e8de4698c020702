"""nbflow's notebook widgets in JupyterLab, in headless Chromium (Debian's, via Playwright).

One notebook (`demo.ipynb`) is run with Run All while the live graph of its `%flow run` is
sampled; the tests then look at its outputs: the graph of `%flow show`, a click on a step,
an artifact holding `<script>alert(1)</script>`, the run browser's compare, and the same
notebook exported with nbconvert and opened offline. A second notebook times `%flow show`
of a 200-step run and `%flow runs` over 1,000 runs (printed, not asserted).
Screenshots go to tests/browser/screenshots/ (or $NBFLOW_SCREENSHOTS).
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import textwrap
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labtools import Lab, make_notebook, new_page, screenshot_dir, use_theme

pytestmark = pytest.mark.browser

SLOW_ELEMENTS = 6
DEMO_CELLS = [
    "%load_ext nbflow\n%flow name demo\nimport time",
    "%%params\nlr = 0.1\ndelay = 0.0",
    '%%step start\nxs = list(range(6))\nevil = "<script>alert(1)</script>"\nnote = "hello"',
    "%%step slow --after start --foreach xs\ntime.sleep(delay)\ny = item * 2",
    "%%step total --after slow --join\ntotal = sum(i.y for i in inputs)\nacc = total * lr",
    "%flow run -p lr=0.3 -p delay=0.6",  # 5: the live graph; 6 elements of 0.6 s
    "%flow show",  # 6
    "%flow runs",  # 7
]
LIVE, SHOW, RUNS = 5, 6, 7
# The notebook in the current tab (JupyterLab may restore others in hidden tabs).
NB_CELLS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell"
STEP_BOXES = "[data-testid^='step-'][data-status]"  # not the side panel, `step-panel`


# ---------------------------------------------------------------- helpers


def shot(page: Any, name: str, target: Any = None) -> Path:
    path = screenshot_dir() / f"{name}.png"
    (target or page).screenshot(path=str(path))
    return path


def open_notebook(page: Any, lab: Lab, name: str) -> None:
    page.goto(lab.notebook_url(name))
    page.locator(NB_CELLS).first.wait_for(timeout=60_000)
    # The kernel is up once the toolbar's status says idle.
    page.wait_for_function(
        """() => {
          const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
          return status && status.getAttribute('data-status') === 'idle';
        }""",
        timeout=60_000,
    )


def cell(page: Any, index: int) -> Any:
    return page.locator(NB_CELLS).nth(index)


def started(page: Any, index: int, timeout: float) -> bool:
    """Whether cell `index` shows `[*]` or `[n]` within `timeout` ms."""
    try:
        page.wait_for_function(
            """(i) => {
              const cells = document.querySelectorAll(
                '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell');
              const p = cells[i] && cells[i].querySelector('.jp-InputPrompt');
              return p && /\\[(\\*|\\d+)\\]/.test(p.textContent);
            }""",
            arg=index,
            timeout=timeout,
        )
    except Exception:
        return False
    return True


def run_all(page: Any) -> None:
    """Run > Run All Cells, once the notebook is the current widget (else the item is
    disabled and a click on it does nothing).

    Seen here about once in five fresh notebooks: JupyterLab reports the kernel idle, takes
    the request, and the first cell never starts (its prompt stays `[ ]`, no [*]), apparently
    an execute request lost while the kernel's websocket is re-established. Nothing ran then,
    so the request is made once more; a second loss fails the test."""
    for attempt in range(2):
        cell(page, 0).locator(".jp-InputPrompt").click()  # focus the notebook
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator('li.lm-Menu-item[data-command="runmenu:run-all"]:not(.lm-mod-disabled)').click(
            timeout=10_000
        )
        if started(page, 0, 8_000):
            return
        print(f"\nRun All: the first cell did not start (attempt {attempt + 1})")
    raise AssertionError("Run All did not start the first cell, twice")


def run_cell(page: Any, index: int) -> None:
    """Shift+Enter in cell `index`."""
    for attempt in range(2):
        focus_cell(page, index)
        page.keyboard.press("Shift+Enter")
        if started(page, index, 8_000):
            return
        print(f"\nShift+Enter: cell {index} did not start (attempt {attempt + 1}); see run_all")
    raise AssertionError(f"Shift+Enter did not start cell {index}, twice")


def focus_cell(page: Any, index: int) -> None:
    """Click into cell `index`'s editor and wait until it is the active cell, editing."""
    target = cell(page, index)
    target.locator(".jp-InputArea-editor").click()
    page.wait_for_function(
        """(i) => {
          const cells = document.querySelectorAll(
            '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell');
          const c = cells[i];
          return c && c.classList.contains('jp-mod-active') &&
                 c.contains(document.activeElement);
        }""",
        arg=index,
        timeout=10_000,
    )


def wait_executed(page: Any, index: int, timeout: float = 60_000) -> None:
    """Until cell `index` shows an execution count (not `[*]`, not blank)."""
    page.wait_for_function(
        """(i) => {
          const cells = document.querySelectorAll(
            '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell');
          const prompt = cells[i] && cells[i].querySelector('.jp-InputPrompt');
          return prompt && /\\[\\d+\\]/.test(prompt.textContent);
        }""",
        arg=index,
        timeout=timeout,
    )


def no_errors(page: Any) -> None:
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t or "Error" in t]
    assert not tracebacks, tracebacks


def svg_of(src: str) -> str:
    """The SVG text of an <img> data: URI (base64 or URL-encoded)."""
    head, _, body = src.partition(",")
    if head.endswith(";base64"):
        return base64.b64decode(body).decode("utf-8")
    return urllib.parse.unquote(body)


# ---------------------------------------------------------------- the demo notebook


class Demo:
    def __init__(self, page: Any, dialogs: list[str], live: list[dict[str, Any]]) -> None:
        self.page, self.dialogs, self.live = page, dialogs, live


@pytest.fixture(scope="module")
def demo(lab: Lab, chromium: Any) -> Iterator[Demo]:
    """demo.ipynb run with Run All; the live graph of `%flow run` sampled while it runs."""
    make_notebook(lab.root / "demo.ipynb", DEMO_CELLS)
    context, page, dialogs = new_page(chromium)
    try:
        open_notebook(page, lab, "demo.ipynb")
        run_all(page)
        live: list[dict[str, Any]] = []
        live_output = cell(page, LIVE).locator(".jp-OutputArea-output").first
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            prompt = cell(page, LIVE).locator(".jp-InputPrompt").inner_text()
            if re.search(r"\[\d+\]", prompt):
                break
            sample = (
                live_output.evaluate(
                    """(node) => {
                  const img = node.querySelector('img');
                  const svg = node.querySelector('svg');
                  return {src: img ? img.src : null,
                          svg: svg ? svg.outerHTML : null, text: node.innerText};
                }"""
                )
                if live_output.count()
                else None
            )
            if sample and (sample["src"] or sample["svg"]):
                sample["svg_text"] = sample["svg"] or svg_of(sample["src"])
                if not live or live[-1]["svg_text"] != sample["svg_text"]:
                    sample["at"] = time.monotonic()
                    live.append(sample)
                    if len(live) == 2:
                        shot(page, "live_graph_during_run", cell(page, LIVE))
            time.sleep(0.05)
        wait_executed(page, RUNS, timeout=90_000)
        page.wait_for_selector("[data-testid='run-browser']", timeout=30_000)
        page.wait_for_selector("[data-testid='graph'] [data-testid^='step-']", timeout=30_000)
        shot(page, "demo_notebook_after_run_all")
    except Exception:
        page.screenshot(path=str(screenshot_dir() / "demo_failure.png"), full_page=True)
        prompts = page.locator(".jp-InputPrompt").all_inner_texts()
        context.close()
        raise AssertionError(f"demo.ipynb did not run through; prompts {prompts}") from None
    try:
        yield Demo(page, dialogs, live)
    finally:
        context.close()


def test_show_renders_the_graph_with_one_box_per_step(demo: Demo) -> None:
    page = demo.page
    no_errors(page)
    graph = cell(page, SHOW).locator("[data-testid='graph']")
    graph.scroll_into_view_if_needed()
    boxes = graph.locator(STEP_BOXES)
    names = sorted(b.get_attribute("data-testid") for b in boxes.all())
    assert names == ["step-slow", "step-start", "step-total"]
    for box in boxes.all():
        assert box.is_visible()
        assert box.get_attribute("data-status") == "done"
    shot(page, "graph_widget", graph)


def test_clicking_a_step_shows_its_artifacts_and_a_script_string_as_text(demo: Demo) -> None:
    page = demo.page
    graph = cell(page, SHOW).locator("[data-testid='graph']")
    graph.locator("[data-testid='step-start']").click()
    panel = graph.locator("[data-testid='step-panel']")
    evil = panel.locator("[data-testid='artifact-evil']")
    evil.wait_for(timeout=15_000)
    for name in ("xs", "evil", "note"):
        assert panel.locator(f"[data-testid='artifact-{name}']").is_visible(), name
    assert "<script>alert(1)</script>" in evil.inner_text()
    assert panel.locator("script").count() == 0
    assert "hello" in panel.locator("[data-testid='artifact-note']").inner_text()
    page.wait_for_timeout(300)  # a dialog, if one were to fire, has had its chance
    assert demo.dialogs == []
    shot(page, "step_panel_start_artifacts", graph)

    graph.locator("[data-testid='step-slow']").click()
    panel.locator("[data-testid='artifact-y']").first.wait_for(timeout=15_000)
    assert panel.locator("[data-testid^='task-']").count() == SLOW_ELEMENTS
    shot(page, "step_panel_slow_tasks", graph)


def test_flow_run_draws_a_live_graph_whose_status_changes(demo: Demo) -> None:
    statuses = []
    for sample in demo.live:
        found = re.search(r'data-step="slow" data-status="(\w+)"', sample["svg_text"])
        statuses.append(found.group(1) if found else None)
    progress = [re.findall(r"\d+/\d+", sample["svg_text"]) for sample in demo.live]
    print(f"\nlive graph: {len(demo.live)} pictures, 'slow': {statuses}, counts {progress}")
    assert len(demo.live) >= 3, statuses
    assert "running" in statuses or "pending" in statuses, statuses
    assert len({sample["svg_text"] for sample in demo.live}) >= 3
    # When the run ends, the live picture gives way to a summary line; the cell's result
    # is the finished run's graph, which can be clicked like the one `%flow show` draws.
    final = cell(demo.page, LIVE)
    assert re.search(r"run demo/\d+: done", final.inner_text())
    graph = final.locator("[data-testid='graph']")
    assert graph.locator("[data-testid='step-slow']").get_attribute("data-status") == "done"
    graph.locator("[data-testid='step-slow']").click()
    panel = graph.locator("[data-testid='step-panel']")
    panel.locator("[data-testid='artifact-y']").first.wait_for(timeout=15_000)
    assert panel.locator("[data-testid^='task-']").count() == SLOW_ELEMENTS
    shot(demo.page, "flow_run_result_graph_clicked", final)


def test_run_browser_compares_two_runs_and_marks_the_changed_parameter(demo: Demo) -> None:
    page = demo.page
    browser = cell(page, RUNS).locator("[data-testid='run-browser']")
    browser.scroll_into_view_if_needed()
    rows = browser.locator("[data-testid^='run-demo/']")
    assert rows.count() == 2
    for row in rows.all():
        run_id = row.get_attribute("data-testid").removeprefix("run-")
        browser.locator(f"[data-testid='select-{run_id}']").check()
    button = browser.locator("[data-testid='compare-button']")
    assert button.is_enabled()
    button.click()
    view = browser.locator("[data-testid='compare-view']")
    view.wait_for(timeout=15_000)
    lr = view.locator("[data-testid='param-lr']")
    assert lr.get_attribute("data-differs") == "true"
    assert "0.1" in lr.inner_text() and "0.3" in lr.inner_text()
    assert view.locator("[data-testid='param-delay']").get_attribute("data-differs") == "true"
    view.scroll_into_view_if_needed()
    shot(page, "run_browser_compare", browser)


def test_exported_html_shows_the_graph_offline(demo: Demo, lab: Lab, chromium: Any) -> None:
    page = demo.page
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=15_000)
    time.sleep(0.5)
    out = lab.root / "demo.html"
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html",
         str(lab.root / "demo.ipynb"), "--output", str(out)],
        check=True, capture_output=True, env=lab.env, timeout=120,
    )  # fmt: skip
    context, offline, dialogs = new_page(chromium)
    try:
        context.set_offline(True)
        offline.goto(out.as_uri())
        pictures = offline.locator("img[src^='data:image/svg+xml']")
        pictures.first.wait_for(timeout=15_000)
        graphs = [
            img for img in pictures.all()
            if 'class="nbflow-graph"' in svg_of(img.get_attribute("src"))
        ]  # fmt: skip
        # Two graph pictures: the run `%flow run` returns, and the GraphWidget's fallback.
        assert len(graphs) == 2, len(graphs)
        for img in graphs:
            img.scroll_into_view_if_needed()
            assert img.is_visible()
            assert img.evaluate("(i) => i.complete && i.naturalWidth") > 100  # it was drawn
            assert svg_of(img.get_attribute("src")).count('class="nbflow-step"') == 3
        print(f"\nexported HTML: {len(graphs)} graph pictures of {pictures.count()} SVG images")
        shot(offline, "exported_html_offline_show", graphs[1])
        offline.screenshot(
            path=str(screenshot_dir() / "exported_html_offline_page.png"), full_page=True
        )
        assert dialogs == []
    finally:
        context.close()


# ---------------------------------------------------------------- the files a task read

DATA_CSV = "deck,archetype\n1,aggro\n2,control\n3,combo\n"
READS_CELLS = [
    "%load_ext nbflow\n%flow name readsgraph",
    "%%step start\nwith open('data.csv') as f:\n    rows = f.read().splitlines()",
    "%%step count --after start\nn = len(rows)",
    "%flow run",  # 3: the run's graph
]


def test_the_task_view_lists_the_files_a_task_read(lab: Lab, chromium: Any) -> None:
    """A click on a step of the run's graph: its task lists the file it read (path, size, the
    hash's start) under its artifacts, in the light and the dark theme; a task that read
    nothing has no such section."""
    import xxhash

    data = lab.root / "data.csv"
    data.write_text(DATA_CSV)
    make_notebook(lab.root / "readsgraph.ipynb", READS_CELLS)
    context, page, dialogs = new_page(chromium)
    try:
        open_notebook(page, lab, "readsgraph.ipynb")
        run_all(page)
        wait_executed(page, 3)
        no_errors(page)
        graph = cell(page, 3).locator("[data-testid='graph']")
        panel = graph.locator("[data-testid='step-panel']")
        graph.locator("[data-testid='step-count']").click()
        panel.locator("[data-testid='artifact-n']").wait_for(timeout=15_000)
        assert panel.locator("[data-testid='task-reads']").count() == 0

        graph.locator("[data-testid='step-start']").click()
        reads = panel.locator("[data-testid='task-reads']")
        reads.wait_for(timeout=15_000)
        line = reads.locator("[data-testid='task-read']")
        assert line.count() == 1
        path = line.locator(".nbf-read-path")
        assert path.get_attribute("title") == path.inner_text() == str(data.resolve())
        text = line.inner_text()
        assert f"{len(DATA_CSV)} bytes" in text, text
        digest = xxhash.xxh3_128_hexdigest(DATA_CSV.encode())
        assert digest[:12] in text and digest[12:] not in text, text
        assert "files read" in reads.inner_text()
        assert line.evaluate("(li) => li.scrollWidth <= li.clientWidth + 0.5")  # one line, inside
        graph.scroll_into_view_if_needed()
        shot(page, "task_view_files_read_light", graph)
        use_theme(page, "JupyterLab Dark")
        try:
            reads.wait_for()
            shot(page, "task_view_files_read_dark", graph)
        finally:
            use_theme(page, "JupyterLab Light")
        assert dialogs == []
    finally:
        context.close()


# ---------------------------------------------------------------- speed figures

BIG_STEPS = 200
MANY_RUNS = 1000
REAL_RUNS = 40  # runs nbflow makes; the rest are copies of their records
# The start of both scripts below: a shell with nbflow loaded and `ok(cell)`.
SHELL = textwrap.dedent(
    """
    import random
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from nbflow.kernel.magics import load_ipython_extension

    shell = InteractiveShell.instance()
    load_ipython_extension(shell)

    def ok(code):
        result = shell.run_cell(code)
        result.raise_error()
    """
)
PREPARE_BIG = SHELL + textwrap.dedent(
    """
    with capture_output():
        ok("%flow name big")
        ok("%%step s0\\nv = 0")
        pick = random.Random(200)
        for i in range(1, {steps}):
            parent = pick.randrange(max(0, i - 12), i)
            ok(f"%%step s{{i}} --after s{{parent}}\\nv = {{i}}")
        ok("%flow run")
    """
)
# In a fresh process: `%flow name` renames the flow, the steps registered so far stay.
PREPARE_MANY = SHELL + textwrap.dedent(
    """
    with capture_output():
        ok("%flow name many")
        ok("%%params\\nlr = 0.0")
        ok("%%step start\\nacc = lr * 2\\nlabel = 'ok'")
        for number in range(1, {real}):
            ok(f"%flow run -p lr={{number / 1000}}")
    grow_runs("many", {real}, {runs})
    """
)
# 1,000 `%flow run`s take over two minutes here (about 0.14 s each), so the run browser's data
# is grown by copying the records of the first runs nbflow made itself, straight in SQLite.
GROW_RUNS = textwrap.dedent(
    """
    import os, sqlite3
    from pathlib import Path

    def grow_runs(flow, real, total):
        db = sqlite3.connect(Path(os.environ["NBFLOW_DATASTORE"]) / "metadata.sqlite")
        with db:
            runs = db.execute(
                "SELECT * FROM runs WHERE flow = ? ORDER BY run_id", (flow,)).fetchall()
            columns = [c[1] for c in db.execute("PRAGMA table_info(tasks)")][1:]
            for new_id in range(len(runs) + 1, total + 1):
                source = runs[(new_id - 1) % len(runs)]
                old_id = source[1]
                row = list(source)
                row[1] = new_id
                row[3] += new_id  # started a little later
                row[4] = row[4] + new_id if row[4] is not None else None
                db.execute(f"INSERT INTO runs VALUES ({','.join('?' * len(row))})", row)
                db.execute(
                    "INSERT INTO steps SELECT flow, ?, name, position, spec, code, planned "
                    "FROM steps WHERE flow = ? AND run_id = ?", (new_id, flow, old_id))
                tasks = db.execute(
                    f"SELECT task_id, {', '.join(columns)} FROM tasks "
                    "WHERE flow = ? AND run_id = ?",
                    (flow, old_id)).fetchall()
                for task in tasks:
                    values = list(task[1:])
                    values[columns.index("run_id")] = new_id
                    cursor = db.execute(
                        f"INSERT INTO tasks ({', '.join(columns)}) "
                        f"VALUES ({','.join('?' * len(columns))})", values)
                    db.execute(
                        "INSERT INTO artifacts SELECT ?, name, key, kind FROM artifacts "
                        "WHERE task_id = ?", (cursor.lastrowid, task[0]))
            db.execute("UPDATE run_ids SET last = ? WHERE flow = ?", (total, flow))
    """
)


def test_speed_of_a_200_step_graph_and_a_1000_run_browser(lab: Lab, chromium: Any) -> None:
    started = time.perf_counter()
    for script in (
        PREPARE_BIG.format(steps=BIG_STEPS),
        GROW_RUNS + PREPARE_MANY.format(real=REAL_RUNS, runs=MANY_RUNS),
    ):
        subprocess.run(
            [sys.executable, "-c", script], check=True, cwd=lab.root, env=lab.env, timeout=120
        )
    prepared = time.perf_counter() - started
    make_notebook(
        lab.root / "big.ipynb",
        [
            "%load_ext nbflow\n%flow name big",
            "%flow show",
            "%flow runs many",
            "%flow show",
            "%flow runs many",
        ],
    )
    context, page, dialogs = new_page(chromium)
    figures = {}
    try:
        stage = "open big.ipynb"
        open_notebook(page, lab, "big.ipynb")
        stage = "cell 0"
        run_cell(page, 0)
        wait_executed(page, 0)
        for index, label in enumerate(
            ["show 200 steps (first)", "runs 1,000 (first)", "show 200 steps (again)",
             "runs 1,000 (again)"], start=1
        ):  # fmt: skip
            graph = label.startswith("show")
            target = cell(page, index)
            focus_cell(page, index)
            stage = label
            t0 = time.perf_counter()
            page.keyboard.press("Shift+Enter")
            if graph:
                page.wait_for_function(
                    """([i, n]) => {
                      const c = document.querySelectorAll(
                        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell')[i];
                      const boxes = c && c.querySelectorAll("[data-testid^='step-'][data-status]");
                      if (!boxes || boxes.length !== n) return false;
                      const r = boxes[0].getBoundingClientRect();
                      return r.width > 0 && r.height > 0;
                    }""",
                    arg=[index, BIG_STEPS],
                    timeout=60_000,
                    polling="raf",
                )
            else:
                page.wait_for_function(
                    """(i) => {
                      const c = document.querySelectorAll(
                        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell')[i];
                      const row = c && c.querySelector("[data-testid^='run-many/']");
                      if (!row) return false;
                      const r = row.getBoundingClientRect();
                      return r.width > 0 && r.height > 0;
                    }""",
                    arg=index,
                    timeout=60_000,
                    polling="raf",
                )
            figures[label] = time.perf_counter() - t0
            wait_executed(page, index)
            if index <= 2:
                target.scroll_into_view_if_needed()
                shot(page, "speed_" + ("graph_200" if graph else "browser_1000"), target)
        rows = cell(page, 2).locator("[data-testid^='run-many/']").count()
        count = cell(page, 2).locator("[data-testid='run-count']").inner_text()
        assert cell(page, 1).locator(STEP_BOXES).count() == BIG_STEPS
        assert "1,000" in count, count
        no_errors(page)
        assert dialogs == []
    except Exception:
        page.screenshot(path=str(screenshot_dir() / "speed_failure.png"), full_page=True)
        prompts = page.locator(NB_CELLS).locator(".jp-InputPrompt").all_inner_texts()
        raise AssertionError(f"speed test stopped at {stage!r}; prompts {prompts}") from None
    finally:
        context.close()
    print(f"\nprepared 200-step run and 1,000 runs outside the browser in {prepared:.1f} s")
    print(f"run browser: {rows} rows in the DOM, '{count}'")
    for label, seconds in figures.items():
        print(f"SPEED %flow {label}: {seconds * 1000:.0f} ms from Shift+Enter to the picture")
