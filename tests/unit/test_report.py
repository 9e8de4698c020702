"""The HTML report of real runs, made in IPython's in-process shell and read back with
html.parser: what a browser would be given, checked without one (and once with one, when
Debian's chromium is installed, for a picture to look at)."""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from needs import missing

from nbflow import Flow
from nbflow.kernel.magics import load_ipython_extension
from nbflow.query.client import Run
from nbflow.query.report import report_html
from nbflow.render.report import LOG_LIMIT, PREVIEW_LIMIT, Report, preview_html, render_report
from nbflow.store.stores import open_store

HOSTILE = "<script>alert(1)</script>"
NASTY = "<script>alert('&')</script> & <b>\"bold\"</b>"
TEMPLATES = {"report.html.j2", "steps.html.j2", "macros.html.j2", "report.css", "frame.html.j2"}
VOID = {"meta", "img", "br", "hr", "input", "link", "col", "source", "wbr"}

START = f"""%%step start
import io, sys
import numpy as np
import pandas as pd
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.display import HTML, Image, display
xs = [0, 1, 2]
arr = np.arange(12.0).reshape(3, 4)
df = pd.DataFrame({{"name": ["alpha", "beta"], "score": [0.5, 0.75]}})
evil = {HOSTILE!r}
fig, ax = plt.subplots(figsize=(3, 2))
ax.plot([1, 3, 2])
buffer = io.BytesIO()
fig.savefig(buffer, format="png")
plt.close(fig)
display(Image(data=buffer.getvalue()))
display(HTML("<script>alert(2)</script><b>bold</b>"))
del fig, ax, buffer
print("hello from start")
print("careful now", file=sys.stderr)
"""
SQUARE = """%%step square --after start --foreach xs
if item == bad:
    raise ValueError("element is bad")
y = item * item
"""
TOTAL = """%%step total --after square --join
s = sum(i.y for i in inputs)
accuracy = 0.93
"""


def run_cell(shell: InteractiveShell, code: str, *, fails: bool = False) -> Any:
    result = shell.run_cell(code)
    if fails:
        assert result.error_in_exec is not None, f"expected an error from:\n{code}"
    else:
        result.raise_error()
    return result.result


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Flow 'demo': run 1 fails at element 1 of the foreach (so its join never runs), run 2
    (`%flow run -p bad=-1`) is complete. Flow 'noisy': one step with a huge stdout."""
    root = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NBFLOW_DATASTORE", str(root / "store"))
        patch.chdir(root)
        shell = InteractiveShell.instance()
        shell.reset(new_session=True)
        load_ipython_extension(shell)
        run_cell(shell, "%flow name demo")
        run_cell(shell, "%%params\nbad = 1\nlr = 0.1")
        run_cell(shell, START)
        run_cell(shell, SQUARE, fails=True)
        run_cell(shell, TOTAL, fails=True)
        run_cell(shell, "%flow run -p bad=-1")
        run_cell(shell, "%flow name noisy")
        run_cell(shell, "%%step start\nprint('x' * 50_000)")
        yield root / "store"


@pytest.fixture
def store_env(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NBFLOW_DATASTORE", str(store_path))
    return store_path


@pytest.fixture
def failed(store_env: Path) -> Run:
    return Run("demo/1")


@pytest.fixture
def done(store_env: Path) -> Run:
    return Run("demo/2")


class Page(HTMLParser):
    """The page's elements (tag, attributes, text inside) and its text; tags must balance."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict[str, str], list[str]]] = []
        self.elements: list[tuple[str, dict[str, str], str]] = []
        self.chunks: list[str] = []
        self.feed(page)
        self.close()
        assert not self.stack, f"unclosed: {[tag for tag, _, _ in self.stack]}"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in VOID:
            self.elements.append((tag, attributes, ""))
        else:
            self.stack.append((tag, attributes, []))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}, ""))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1][0] == tag, f"</{tag}> closes {self.stack[-1:]}"
        name, attributes, parts = self.stack.pop()
        text = "".join(parts)
        self.elements.append((name, attributes, text))
        if self.stack:
            self.stack[-1][2].append(text)

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)
        if self.stack:
            self.stack[-1][2].append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def texts(self, tag: str, **attributes: str) -> list[str]:
        return [text for _, text in self.find(tag, **attributes)]

    def steps(self, attribute: str) -> dict[str, str]:
        """The graph's boxes (or the timeline's bars): step name -> `attribute`."""
        found = self.find("g", **{"class": "nbflow-step"}) or self.find(
            "rect", **{"class": "nbflow-bar"}
        )
        return {attrs["data-step"]: attrs[attribute] for attrs, _ in found}

    def find(self, tag: str, **attributes: str) -> list[tuple[dict[str, str], str]]:
        return [
            (attrs, text)
            for name, attrs, text in self.elements
            if name == tag and all(attrs.get(k) == v for k, v in attributes.items())
        ]


def section(page: str, title: str) -> Page:
    match = re.search(f"<section><h2>{title}</h2>(.*?)</section>", page, re.S)
    assert match, f"no section {title}"
    return Page(match.group(1))


def assert_safe(page: str) -> None:
    assert "<script" not in page.lower()
    assert "http://" not in page and "https://" not in page
    assert page.isascii()


# -- the report of real runs -------------------------------------------------------------------


def test_report_of_a_complete_run(done: Run) -> None:
    page = report_html(done)
    assert_safe(page)
    parsed = Page(page)
    assert parsed.find("title")[0][1] == "nbflow run demo/2 (done)"
    header = parsed.find("header")[0][1]
    assert "run demo/2" in header and "done" in header and "duration" in header
    graph = section(page, "Graph")
    assert list(graph.steps("data-status")) == ["start", "square", "total"]
    assert "3/3" in graph.text  # the foreach's progress
    params = section(page, "Parameters")
    assert [text for _, text in params.find("th")] == ["bad", "lr"]
    assert [text for _, text in params.find("code")] == ["-1", "0.1"]
    found = section(page, "Results")
    results = dict(zip(found.texts("th"), found.texts("code"), strict=True))
    assert results["accuracy"] == "0.93" and results["s"] == "5"
    assert results["evil"] == repr(HOSTILE)
    timeline = section(page, "Timeline")
    assert timeline.find("svg", **{"class": "nbflow-timeline"})
    assert timeline.steps("data-status") == {"start": "done", "square": "done", "total": "done"}


def test_previews_logs_and_outputs(done: Run) -> None:
    page = report_html(done)
    steps = section(page, "Steps")
    text = steps.text
    assert "array 3 \u00d7 4 float64" in text
    assert "[0.0, 1.0, 2.0, 3.0, 4.0, \u2026]" in text
    assert "DataFrame 2 \u00d7 2" in text
    frame = [t for attrs, t in steps.find("table", **{"class": "frame"})]
    assert frame and all(cell in frame[0] for cell in ("name", "score", "alpha", "beta", "0.75"))
    cells = [t for _, t in steps.find("td")]
    assert "alpha" in cells and "0.75" in cells
    # The hostile string is shown as its characters, escaped in the source.
    assert repr(HOSTILE) in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # Logs in <pre>; the figure as a data: image; stored HTML as escaped source, never run.
    pres = [t for _, t in steps.find("pre")]
    assert any("hello from start" in t for t in pres)
    assert any("careful now" in t for t in pres)
    images = [attrs["src"] for attrs, _ in steps.find("img")]
    assert len(images) == 1 and images[0].startswith("data:image/png;base64,iVBORw0KGgo")
    assert any("<script>alert(2)</script><b>bold</b>" in t for t in pres)
    assert "&lt;script&gt;alert(2)&lt;/script&gt;&lt;b&gt;" in page
    assert not steps.find("b")


def test_foreach_table_and_the_failed_element(failed: Run) -> None:
    page = report_html(failed)
    assert_safe(page)
    parsed = Page(page)
    assert "failed" in parsed.find("header")[0][1]
    graph = section(page, "Graph")
    assert graph.steps("data-status") == {"start": "done", "square": "failed"}
    steps = section(page, "Steps")
    [table] = [t for attrs, t in steps.find("table", **{"class": "grid elements"})]
    rows = [t for attrs, t in steps.find("tr")]
    element_rows = [r for r in rows if "element is bad" in r or "y=0" in r]
    assert len(element_rows) == 2 and "y=0" in table
    # The failed element is open, with its error and traceback.
    opened = [t for attrs, t in steps.find("details", **{"class": "element"}) if "open" in attrs]
    assert len(opened) == 1
    assert "ValueError: element is bad" in opened[0] and "(cell line 3)" in opened[0]
    [trace] = [t for _, t in steps.find("pre", **{"class": "traceback"})]
    assert 'raise ValueError("element is bad")' in trace


def test_repr_html_is_an_iframe_and_save_writes_the_page(done: Run, tmp_path: Path) -> None:
    report = done.report()
    assert isinstance(report, Report) and report.html == report_html(done)
    shown = report._repr_html_()
    assert shown.startswith("<iframe") and 'sandbox=""' in shown
    assert "<script" not in shown.lower()
    [(attrs, _)] = Page(shown).find("iframe")
    assert attrs["srcdoc"] == report.html
    path = report.save(tmp_path / "report.html")
    assert path.read_text(encoding="utf-8") == report.html
    assert "demo/2" in repr(report)


def test_nbflow_show_html_prints_the_report(done: Run, store_env: Path) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "show", "demo/2", "--html"],
        capture_output=True, text=True, check=True, env={**os.environ},
    )  # fmt: skip
    assert shown.stdout == report_html(done)
    both = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "show", "demo/2", "--html", "--json"],
        capture_output=True, text=True, env={**os.environ}, check=False,
    )  # fmt: skip
    assert both.returncode == 1 and "one of --json and --html" in both.stderr


def test_run_draws_its_graph_as_svg(done: Run) -> None:
    bundle = done._repr_mimebundle_()
    svg = bundle["image/svg+xml"]
    assert svg.startswith("<svg") and 'data-step="total"' in svg
    assert bundle["text/plain"] == repr(done)
    assert set(done._repr_mimebundle_(include={"text/plain"})) == {"text/plain"}
    assert set(done._repr_mimebundle_(exclude={"text/plain"})) == {"image/svg+xml"}
    # What a notebook (or `%flow show`) is given for a bare `run` in a cell.
    formatted, _ = InteractiveShell.instance().display_formatter.format(done)
    assert formatted["image/svg+xml"] == bundle["image/svg+xml"]


def test_import_nbflow_does_not_import_the_report() -> None:
    lazy = ["nbflow.render.report", "nbflow.render.svg", "nbflow.query.views",
            "nbflow.query.report", "jinja2"]  # fmt: skip
    code = f"import sys, nbflow; print([m for m in {lazy!r} if m in sys.modules])"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"


# -- bad input -----------------------------------------------------------------------------------


def test_a_huge_log_is_cut_with_a_note(store_env: Path) -> None:
    run = Flow("noisy").latest_run
    page = report_html(run)
    [log] = [t for _, t in section(page, "Steps").find("pre")]
    assert f"\u2026 {50_000 + 1 - LOG_LIMIT:,} more characters \u2026" in log
    assert len(log) < LOG_LIMIT + 100


def test_a_run_still_running_shows_as_running(store_env: Path) -> None:
    meta = open_store().meta
    record = meta.create_run("live", {"n": 2})
    specs = [{"name": "first", "parents": [], "foreach": None, "join": False},
             {"name": "second", "parents": ["first"], "foreach": None, "join": False}]  # fmt: skip
    meta.save_steps("live", record.run_id, [(i, spec, "") for i, spec in enumerate(specs)])
    meta.start_task("live", record.run_id, "first", [], [])
    page = report_html(Run(f"live/{record.run_id}"))
    assert_safe(page)
    parsed = Page(page)
    header = parsed.find("header")[0][1]
    assert "running" in header and "still running" in header
    graph = section(page, "Graph")
    assert graph.steps("data-status") == {"first": "running", "second": "pending"}
    assert "not started yet" in section(page, "Steps").text


def test_every_stored_text_is_escaped(store_env: Path) -> None:
    """A parameter, a step name, an artifact's preview and an error message holding markup
    and `&` reach the page as their characters: autoescaped, never as elements."""
    store = open_store()
    meta = store.meta
    record = meta.create_run("escaped", {"p": NASTY})
    flow, run_id = "escaped", record.run_id
    specs = [{"name": NASTY, "parents": [], "foreach": None, "join": False},
             {"name": "fails", "parents": [NASTY], "foreach": None, "join": False}]  # fmt: skip
    meta.save_steps(flow, run_id, [(i, spec, "") for i, spec in enumerate(specs)])
    stored = store.save(NASTY)
    first = meta.start_task(flow, run_id, NASTY, [], [])
    meta.commit_task(first, status="done", objects=[stored],
                     artifacts=[("value", stored.key, "output")])  # fmt: skip
    second = meta.start_task(flow, run_id, "fails", [], [first])
    error = {"ename": "ValueError", "evalue": NASTY, "traceback": f"Traceback\n{NASTY}", "line": 2}
    meta.commit_task(second, status="failed", error=error)
    meta.finish_run(flow, run_id, "failed")
    page = report_html(Run(f"{flow}/{run_id}"))
    assert_safe(page)
    assert not Page(page).find("b")
    escaped = "&lt;script&gt;alert(&#39;&amp;&#39;)&lt;/script&gt; &amp; &lt;b&gt;&#34;bold&#34;"
    assert page.count(escaped) >= 5  # the parameter, the step (twice), the artifact, the error
    params = section(page, "Parameters")
    assert params.texts("code") == [repr(NASTY)]
    steps = section(page, "Steps")
    assert steps.texts("h3")[0].startswith(f"{NASTY} \u2713 done")
    assert steps.texts("a")[0] == NASTY  # the table of contents
    assert f"after {NASTY}" in steps.texts("p", **{"class": "facts"})
    [artifact] = [t for _, t in steps.find("table", **{"class": "grid artifacts"})]
    assert repr(NASTY) in artifact
    assert steps.texts("strong") == [f"ValueError: {NASTY}"]
    [trace] = steps.texts("pre", **{"class": "traceback"})
    assert trace == f"Traceback\n{NASTY}"
    graph = section(page, "Graph")
    assert set(graph.steps("data-status")) == {NASTY, "fails"}


def test_the_templates_are_read_from_the_installed_package(tmp_path: Path) -> None:
    folder = importlib.resources.files("nbflow.render") / "templates"
    assert {entry.name for entry in folder.iterdir()} >= TEMPLATES
    # From another folder, in a fresh process: the templates are found through the package.
    code = (
        "import json\n"
        "from nbflow.render.report import _environment, preview_html\n"
        "print(json.dumps(_environment().loader.list_templates()))\n"
        "print(preview_html({'type': 'builtins.str', 'repr': '<b>&', 'length': 2}))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    listed, preview = shown.stdout.splitlines()
    assert set(json.loads(listed)) == TEMPLATES
    assert preview == '<code>&lt;b&gt;&amp;</code> <span class="dim">length 2</span>'


def test_render_report_draws_a_view_it_is_given(done: Run) -> None:
    from nbflow.query.report import report_view

    view = report_view(done)
    assert render_report(view) == report_html(done)
    assert view["steps"][1]["name"] == "square" and len(view["steps"][1]["elements"]["rows"]) == 3


@pytest.mark.parametrize(
    "preview",
    [
        None,
        "just text",
        {},
        {"type": "x", "shape": "not a list", "values": [1, 2]},
        {"type": "x", "columns": ["a"], "head": [[1, 2, 3], "not a row"], "index": None},
        {"type": "x", "columns": ["a"], "head": [[1]], "shape": [10**9, "?"]},
        {"type": "x", "head": [1, 2], "index": [0], "name": HOSTILE, "shape": [2]},
        {"type": "x", "value": {"nested": [HOSTILE]}},
        {"type": "x", "repr": 12, "length": "long", "error": "preview failed: " + HOSTILE},
    ],
)
def test_odd_previews_never_raise_and_stay_text(preview: Any) -> None:
    shown = preview_html(preview)
    Page(shown)
    assert "<script" not in shown


def test_a_huge_preview_is_cut_with_a_note() -> None:
    shown = preview_html({"type": "builtins.str", "repr": "y" * 12_345, "length": 12_345})
    assert f"\u2026 {12_345 - PREVIEW_LIMIT:,} more characters" in shown
    assert shown.count("y") < PREVIEW_LIMIT + 10


# -- a picture to look at ----------------------------------------------------------------------


def test_report_screenshot(done: Run, tmp_path: Path) -> None:
    """The report drawn by headless Chromium, kept as a PNG (in $NBFLOW_SCREENSHOTS if set)."""
    browser = shutil.which("chromium")
    if browser is None:
        missing("Debian's chromium is not installed (apt-get install chromium)")
    page = done.report().save(tmp_path / "report.html")
    folder = Path(os.environ.get("NBFLOW_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    picture = folder / "report.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--screenshot={picture}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert picture.read_bytes().startswith(b"\x89PNG") and picture.stat().st_size > 20_000
