"""The notebook widgets' Python side, on real runs made in IPython's in-process shell: what
each widget syncs to the browser, what it answers to the browser's messages, and what its
output carries for places without widgets. (The drawing is tested in a browser elsewhere.)"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from needs import missing

from nbflow import Flow
from nbflow.exceptions import NbflowError, NotFound
from nbflow.kernel.magics import load_ipython_extension
from nbflow.query.views import run_view
from nbflow.render.svg import render_svg
from nbflow.widgets import CompareWidget, GraphWidget, RunBrowser
from nbflow.widgets import browser as browser_module
from nbflow.widgets._assets import STATIC, esm
from nbflow.widgets.tasks import LOG_LIMIT, cut

HOSTILE = "<script>alert(1)</script>"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
NS = "{http://www.w3.org/2000/svg}"
MODULES = {
    "graph": GraphWidget._esm,
    "browser": RunBrowser._esm,
    "compare": CompareWidget._esm,
}

START = f"""%%step start
import io
import numpy as np
import pandas as pd
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.display import Image, display
class Hostile:
    def __repr__(self):
        return {HOSTILE!r}
evil = Hostile()
arr = np.arange(12.0).reshape(3, 4)
df = pd.DataFrame({{"name": ["alpha", "beta"], "score": [0.5, 0.75]}})
xs = list(range(n))
fig, ax = plt.subplots(figsize=(2, 1))
ax.plot([1, 3, 2])
buffer = io.BytesIO()
fig.savefig(buffer, format="png")
plt.close(fig)
display(Image(data=buffer.getvalue()))
del fig, ax, buffer
print("hello from start")
"""
SQUARE = "%%step square --after start --foreach xs\ny = item * item"
TOTAL = "%%step total --after square --join\ns = sum(i.y for i in inputs)\nacc = 0.5 + lr"


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("NBFLOW_DATASTORE", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    shell.run_cell("%flow name demo")
    yield shell


def ok(ip: InteractiveShell, code: str) -> Any:
    result = ip.run_cell(code)
    result.raise_error()
    return result.result


@pytest.fixture
def runs(ip: InteractiveShell) -> list[Any]:
    """Two full runs of a start -> foreach -> join flow, with lr 0.1 and 0.3."""
    ok(ip, "%%params\nlr = 0.1\nn = 3")
    for cell in (START, SQUARE, TOTAL):
        ok(ip, cell)
    return [ok(ip, "%flow run -p lr=0.1"), ok(ip, "%flow run -p lr=0.3")]


def replies(widget: Any, monkeypatch: pytest.MonkeyPatch, content: dict[str, Any]) -> list[Any]:
    """What the widget sends back when the browser sends `content`."""
    sent: list[Any] = []
    monkeypatch.setattr(widget, "send", lambda reply, buffers=None: sent.append(reply))
    widget._handle_custom_msg(content, [])
    json.dumps(sent)  # everything sent must be plain JSON
    return sent


def svg_root(text: str) -> ET.Element:
    root = ET.fromstring(text)  # well-formed, or this raises
    assert root.tag == f"{NS}svg"
    return root


# -- the package -------------------------------------------------------------------------------


def test_importing_nbflow_does_not_import_anywidget() -> None:
    code = (
        "import sys, nbflow, nbflow.widgets\n"
        "assert 'anywidget' not in sys.modules and 'ipywidgets' not in sys.modules\n"
        "nbflow.widgets.GraphWidget\n"
        "assert 'anywidget' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_package_exports_the_three_widgets() -> None:
    import nbflow.widgets

    assert sorted(nbflow.widgets.__all__) == ["CompareWidget", "GraphWidget", "RunBrowser"]
    with pytest.raises(AttributeError):
        nbflow.widgets.Nothing  # noqa: B018


@pytest.mark.parametrize("name", sorted(MODULES))
def test_es_modules_never_write_html_nor_name_an_address(name: str) -> None:
    source = MODULES[name]
    # esbuild's bundle of labextension/src/widgets/<name>.ts, whose default export is { render }
    assert re.search(r"^var (\w+) = \{ render \};\nexport \{\n  \1 as default\n\};$", source, re.M)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, f"{name}: {sink}"
    # The SVG namespace is an identifier for createElementNS; nothing is fetched from it.
    addresses = set(re.findall(r"https?://[^\s\"'`]*", source))
    assert addresses <= {"http://www.w3.org/2000/svg"}, addresses


def test_each_static_file_is_used_and_every_module_parses() -> None:
    files = {path.name for path in STATIC.iterdir()}
    assert files == {"widgets.css", "graph.js", "compare.js", "browser.js"}
    node = subprocess.run(["node", "--version"], capture_output=True, check=False)
    if node.returncode != 0:
        missing("node is not installed: it checks the widgets' ES modules parse")
    for name, source in MODULES.items():
        checked = subprocess.run(
            ["node", "--input-type=module", "--check"],
            input=source, text=True, capture_output=True, check=False,
        )  # fmt: skip
        assert checked.returncode == 0, f"{name}: {checked.stderr}"


LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"
SHARED = {
    "graph": {"src/dom.ts", "src/look.ts", "src/preview.ts", "src/widgets/graph.ts"},
    "browser": {"src/dom.ts", "src/preview.ts", "src/compare.ts", "src/widgets/browser.ts"},
    "compare": {"src/dom.ts", "src/preview.ts", "src/compare.ts", "src/widgets/compare.ts"},
}


@pytest.mark.parametrize("name", sorted(SHARED))
def test_the_modules_are_built_from_the_extensions_typescript_and_not_stale(name: str) -> None:
    built = STATIC / f"{name}.js"
    source = built.read_text(encoding="utf-8")
    # esbuild heads each bundled module with its path: the extension's own renderers, not copies
    bundled = set(re.findall(r"^// (src/\S+\.ts)$", source, re.M))
    assert SHARED[name] <= bundled, bundled
    assert not re.search(r"@jupyterlab|@lumino", source)  # no JupyterLab pulled in
    if (LABEXTENSION / "src").is_dir():  # a work tree or an sdist: the sources are here
        stale = [
            p for p in sorted(bundled) if (LABEXTENSION / p).stat().st_mtime > built.stat().st_mtime
        ]
        assert not stale, f"{built} is older than {stale}: cd labextension && jlpm build"


def test_a_module_not_built_is_named_with_the_command_that_builds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbflow.widgets import _assets

    monkeypatch.setattr(_assets, "STATIC", tmp_path)
    with pytest.raises(_assets.MissingBuild, match=r"cd labextension && jlpm build"):
        _assets.esm.__wrapped__("graph.js")


def test_the_documented_test_ids_are_in_the_modules() -> None:
    graph, browser = MODULES["graph"], MODULES["browser"]
    for testid in (
        # on each step of nbflow.render.svg's drawing (the shared ../picture.ts sets it)
        "stepTestid: (name) => `step-${name}`",
        'setAttribute("data-testid", options.stepTestid(name))',
        '"data-testid": "step-panel"',
        'look.testid("task", task.id)',  # the shared renderTaskDetails, in the widgets' look
    ):
        assert testid in graph, testid
    for testid in (
        '"data-testid": `run-${row.id}`',
        '"data-testid": `select-${row.id}`',
        '"data-testid": "compare-button"',
        '"data-testid": "run-filter"',
        '"data-testid": `col-${column.key}`',
        'compare: "compare-view"',  # the widgets' test id of the shared comparison
    ):
        assert testid in browser, testid
    assert 'compare: "compare-view"' in MODULES["compare"]


def test_modules_carry_the_svg_status_styles() -> None:
    from nbflow.render.svg import STATUS_STYLES

    head = esm("graph.js").split("\n", 1)[0]
    styles = json.loads(head.removeprefix("const STYLES = ").removesuffix(";"))
    assert {name: s["fill"] for name, s in styles.items()} == {
        name: s.fill for name, s in STATUS_STYLES.items()
    }


# -- GraphWidget -------------------------------------------------------------------------------


def test_graph_syncs_the_run_view_and_the_svg_the_report_draws(runs: list[Any]) -> None:
    run = runs[-1]
    widget = GraphWidget(run)
    assert widget.view == run_view(run)
    # One drawing of a graph: the widget shows nbflow.render.svg's, without its run header.
    assert widget.svg == render_svg(run_view(run), header=False)
    state = widget.get_state()
    assert state["view"]["id"] == run.pathspec
    root = svg_root(state["svg"])
    steps = [g.get("data-step") for g in root.iter(f"{NS}g") if g.get("class") == "nbflow-step"]
    assert steps == ["start", "square", "total"]
    assert f">run {run.pathspec}<" not in state["svg"]  # no header line: the widget has its own
    assert [step["tasks"]["total"] for step in state["view"]["steps"]] == [1, 3, 1]
    json.dumps(state["view"])
    assert GraphWidget(run.pathspec).view == widget.view  # "flow/id" works too


def test_a_click_on_a_step_returns_its_task_views(
    runs: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    widget = GraphWidget(runs[0])
    [reply] = replies(widget, monkeypatch, {"type": "step", "name": "start"})
    assert (reply["type"], reply["step"], reply["total"]) == ("tasks", "start", 1)
    [task] = reply["tasks"]
    assert task["id"] == runs[0]["start"].task.pathspec
    assert "hello from start\n" in task["stdout"]
    artifacts = {a["name"]: a for a in task["artifacts"]}
    # The hostile repr comes back as the plain string it is: drawing it as text is the
    # browser's part, and nothing here escaped, interpreted or unpickled it.
    assert artifacts["evil"]["preview"]["repr"] == HOSTILE
    assert artifacts["df"]["preview"]["columns"] == ["name", "score"]
    assert artifacts["arr"]["preview"]["shape"] == [3, 4]
    assert "image/png" in task["displays"][0]["data"]


def test_a_foreach_step_returns_each_element_and_names_its_item(
    runs: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    widget = GraphWidget(runs[0])
    [reply] = replies(widget, monkeypatch, {"type": "step", "name": "square"})
    assert reply["total"] == 3
    assert [t["item_name"] for t in reply["tasks"]] == ["item"] * 3
    ys = [{a["name"]: a for a in t["artifacts"]}["y"]["preview"]["value"] for t in reply["tasks"]]
    assert ys == [0, 1, 4]


def test_a_cached_task_shows_what_its_origin_showed(runs: list[Any]) -> None:
    later = GraphWidget(runs[1]).step_tasks("start")["tasks"][0]
    assert later["status"] == "cached" and later["origin"]
    assert "image/png" in later["displays"][0]["data"]


def test_a_step_that_did_not_run_says_why(ip: InteractiveShell, runs: list[Any]) -> None:
    ok(ip, "%%step later --after total\nz = 1")
    widget = GraphWidget(runs[0])
    reply = widget.step_tasks("later")
    assert (reply["tasks"], reply["note"]) == ([], "not run in this run")


def test_a_run_still_being_written_shows_as_running(ip: InteractiveShell) -> None:
    from nbflow.store.stores import open_store

    meta = open_store().meta
    record = meta.create_run("live", {"lr": 1})
    specs = [{"name": "a", "parents": [], "foreach": None, "join": False},
             {"name": "b", "parents": ["a"], "foreach": None, "join": False}]  # fmt: skip
    meta.save_steps("live", record.run_id, [(i, spec, "") for i, spec in enumerate(specs)])
    meta.start_task("live", record.run_id, "a", [], [])
    widget = GraphWidget(f"live/{record.run_id}")
    assert widget.view["status"] == "running"
    assert [step["status"] for step in widget.view["steps"]] == ["running", "pending"]
    assert widget.step_tasks("a")["tasks"][0]["status"] == "running"
    assert widget.step_tasks("b")["note"] == "not started yet"
    svg_root(widget._repr_mimebundle_()[0]["image/svg+xml"])


def test_a_message_that_fails_is_answered_with_the_error(
    runs: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    widget = GraphWidget(runs[0])

    def broken(name: str) -> dict[str, Any]:
        raise OSError("disk gone")

    monkeypatch.setattr(widget, "step_tasks", broken)
    [reply] = replies(widget, monkeypatch, {"type": "step", "name": "start"})
    assert reply == {"type": "error", "step": "start", "message": "OSError: disk gone"}


def test_long_logs_are_cut_with_a_note(ip: InteractiveShell) -> None:
    ok(ip, "%%step noisy\nprint('a' * 30_000 + 'END')")
    [task] = GraphWidget(Flow("demo").latest_run).step_tasks("noisy")["tasks"]
    assert len(task["stdout"]) < LOG_LIMIT + 100
    assert "more characters" in task["stdout"] and task["stdout"].rstrip().endswith("END")
    assert cut("short") == "short"


def test_the_output_carries_an_svg_picture_and_text(runs: list[Any]) -> None:
    widget = GraphWidget(runs[0])
    data, _metadata = widget._repr_mimebundle_()
    assert data[WIDGET_MIME]["model_id"] == widget.model_id
    root = svg_root(data["image/svg+xml"])
    steps = [g.get("data-step") for g in root.iter(f"{NS}g") if g.get("class") == "nbflow-step"]
    assert steps == ["start", "square", "total"]
    assert data["text/plain"].startswith(f"Run('{runs[0].pathspec}')")


def test_refresh_rereads_a_growing_run(ip: InteractiveShell, monkeypatch: Any) -> None:
    ok(ip, "%%step start\nx = 1")
    widget = GraphWidget(Flow("demo").latest_run)
    assert [s["name"] for s in widget.view["steps"]] == ["start"]
    assert 'data-step="double"' not in widget.svg
    ok(ip, "%%step double --after start\ny = x * 2")
    widget.refresh()
    assert [s["name"] for s in widget.view["steps"]] == ["start", "double"]
    assert [s["status"] for s in widget.view["steps"]] == ["done", "done"]
    assert 'data-step="double"' in widget.svg and 'data-source="start"' in widget.svg
    [reply] = replies(widget, monkeypatch, {"type": "step", "name": "double"})
    assert reply["total"] == 1


# -- CompareWidget -----------------------------------------------------------------------------


def test_compare_marks_a_changed_param_and_a_changed_artifact(runs: list[Any]) -> None:
    data = CompareWidget(runs).comparison
    json.dumps(data)
    assert [run["id"] for run in data["runs"]] == [run.pathspec for run in runs]
    params = {row["name"]: row for row in data["params"]}
    assert params["lr"]["differs"] and params["lr"]["values"] == [0.1, 0.3]
    assert not params["n"]["differs"]
    results = {row["name"]: row for row in data["results"]}
    assert results["acc"]["differs"] and results["acc"]["values"] == [0.6, 0.8]
    artifacts = {row["name"]: row for row in data["artifacts"]}
    assert artifacts["acc"]["changed"] and not artifacts["xs"]["changed"]
    acc = artifacts["acc"]["cells"]
    assert acc[0]["key"] != acc[1]["key"]
    assert [cell["preview"]["value"] for cell in acc] == [0.6, 0.8]
    assert artifacts["evil"]["cells"][0]["preview"]["repr"] == HOSTILE


def test_compare_carries_the_step_timeline_as_an_svg_image(runs: list[Any]) -> None:
    widget = CompareWidget([run.pathspec for run in runs])
    prefix = "data:image/svg+xml;base64,"
    assert widget.comparison["timeline"].startswith(prefix)
    root = svg_root(base64.b64decode(widget.comparison["timeline"][len(prefix) :]))
    blocks = [g.get("data-run") for g in root.iter(f"{NS}g") if g.get("class") == "nbflow-run"]
    assert blocks == [run.pathspec for run in runs]
    data, _ = widget._repr_mimebundle_()
    assert WIDGET_MIME in data
    svg_root(data["image/svg+xml"])
    assert "* lr" in data["text/plain"]


def test_compare_needs_runs() -> None:
    with pytest.raises(NbflowError, match="one or more runs"):
        CompareWidget([])


# -- RunBrowser --------------------------------------------------------------------------------


def test_browser_lists_runs_with_their_results(runs: list[Any]) -> None:
    widget = RunBrowser(Flow("demo"))
    rows = widget.get_state()["runs"]
    # Newest first: the two `%flow run`s, then the interactive run the cells made.
    assert [row["id"] for row in rows] == ["demo/3", "demo/2", "demo/1"]
    assert [runs[1].pathspec, runs[0].pathspec] == ["demo/3", "demo/2"]
    newest = rows[0]
    assert (newest["status"], newest["params"], newest["tags"]) == ("done", {"lr": 0.3, "n": 3}, [])
    assert newest["results"]["acc"] == 0.8 and newest["results"]["s"] == 5
    assert isinstance(newest["started_at"], float) and newest["duration"] > 0
    assert RunBrowser("demo").runs == widget.runs
    data, _ = widget._repr_mimebundle_()
    assert WIDGET_MIME in data and runs[0].pathspec in data["text/plain"]
    # Exported notebooks keep a picture of the list: one row per run, its status drawn.
    picture = svg_root(data["image/svg+xml"])
    drawn = picture.findall(f".//{NS}g[@class='nbflow-run-row']")
    assert [row.get("data-status") for row in drawn] == ["done", "done", "done"]
    assert "demo/3" in "".join(drawn[0].itertext())


def test_results_left_out_up_front_load_on_request(
    runs: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(browser_module, "RESULTS_BUDGET", 0.0)
    widget = RunBrowser("demo")
    assert [row["results"] for row in widget.runs] == [None, None, None]
    asked = {"type": "results", "ids": [runs[0].pathspec, "demo/99"]}
    [reply] = replies(widget, monkeypatch, asked)
    assert reply["type"] == "results"
    assert list(reply["results"]) == [runs[0].pathspec]
    assert reply["results"][runs[0].pathspec]["acc"] == 0.6


def test_browser_compares_the_selected_runs(
    runs: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    widget = RunBrowser("demo")
    ids = [run.pathspec for run in runs]
    assert replies(widget, monkeypatch, {"type": "compare", "ids": ids}) == [{"type": "compared"}]
    assert widget.comparison == CompareWidget(runs).comparison
    assert {row["name"]: row["differs"] for row in widget.comparison["params"]} == {
        "lr": True,
        "n": False,
    }
    widget.selected = ids[:1]
    widget.compare()
    assert [run["id"] for run in widget.comparison["runs"]] == ids[:1]
    [error] = replies(widget, monkeypatch, {"type": "compare", "ids": ["demo/99"]})
    assert error["type"] == "error" and "demo/99" in error["message"]
    with pytest.raises(NotFound):
        widget.compare(["demo/99"])


def test_browser_refresh_lists_new_runs(
    ip: InteractiveShell, runs: list[Any], monkeypatch: Any
) -> None:
    widget = RunBrowser("demo")
    ok(ip, "%flow run -p lr=0.7")
    assert replies(widget, monkeypatch, {"type": "refresh"}) == []
    assert widget.runs[0]["id"] == "demo/4"


def test_browser_lists_1000_runs(ip: InteractiveShell) -> None:
    ok(ip, "%%params\nlr = 0.0")
    ok(ip, "%%step start\nacc = lr * 2\nlabel = 'ok'")
    for number in range(1, 1000):
        ok(ip, f"%flow run -p lr={number / 1000}")
    started = time.perf_counter()
    widget = RunBrowser("demo")
    state = json.dumps(widget.get_state())  # what goes to the browser, serialised
    elapsed = time.perf_counter() - started
    print(f"\nRunBrowser over 1,000 runs: {elapsed * 1000:.0f} ms, {len(state):,} bytes of state")
    assert len(widget.runs) == 1000
    loaded = [row for row in widget.runs if row["results"] is not None]
    assert loaded and loaded[0]["results"] == {"acc": 1.998, "label": "ok"}
    # The exported picture lists the newest 50 and counts the rest.
    picture = svg_root(widget._repr_mimebundle_()[0]["image/svg+xml"])
    assert len(picture.findall(f".//{NS}g[@class='nbflow-run-row']")) == 50
    assert "950 older runs" in "".join(picture.itertext())
