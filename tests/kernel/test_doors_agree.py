"""One flow, every door: each shows the same results, end artifacts, step statuses and step
durations as nbflow.query.results, the one place the meaning of a run is computed.

Two real runs of a notebook with a foreach and a join (`nbflow run`, papermill, fresh kernels):
words -> one task per word (letters, vowels) -> a join (longest, total, share) -> an end step
with several artifacts; the second run changes a parameter only the end step reads, with
--reuse, so its first three steps are `cached`. Then each door is asked: `nbflow run`'s
summary, `nbflow show` (text, --json), `nbflow compare` (text, --json), `nbflow.compare()`, the
client, the REST API (a real Jupyter server), the widgets' views and the HTML report. A step's
duration is compared as every door shows it: format_duration(step_duration(step)).
"""

from __future__ import annotations

import ast
import base64
import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

# pytest-jupyter's fixtures (jp_fetch, jp_serverapp, ...) for this module only, as
# tests/server/conftest.py takes them.
from pytest_jupyter.jupyter_server import *  # noqa: F403
from traitlets.config import Config

import nbflow
from nbflow.query.client import Run
from nbflow.query.results import end_artifacts, run_results, step_duration, step_status
from nbflow.render.text import format_duration, format_value, pairs
from nbflow.store.stores import open_store

pytestmark = pytest.mark.kernel

FLOW = "doors"
CELLS = [
    f"%load_ext nbflow\n%flow name {FLOW}",
    "%%params\nwords = ['paris', 'oslo', 'lima', 'kyoto']\nsuffix = '.'",
    "%%step start\ntargets = [w.title() for w in words]",
    "%%step measure --after start --foreach targets --as word\nletters = len(word)\n"
    "vowels = sum(ch in 'aeiou' for ch in word.lower())",
    "%%step collect --after measure --join\n"
    "longest = max(inputs, key=lambda inp: inp.letters).word\n"
    "total = sum(inp.letters for inp in inputs)\nshare = total / 4",
    "%%step end --after collect\n"
    "line = f'{len(targets)} words, longest {longest}, from {targets}{suffix}'\n"
    "tag = 'w' + suffix\nduration = 1.5  # a result named like a field of nbflow.compare()'s rows",
]
STEPS = ["start", "measure", "collect", "end"]
ROW = re.compile(r"^(\w+)\s+(\w+)\s+(\d+)\s+(.+)$")  # a step row of `nbflow show`'s table


@dataclass(frozen=True)
class Truth:
    """What nbflow.query.results says about one run: the answer every door must give."""

    id: str
    results: dict[str, Any]
    artifacts: list[str]  # the end artifacts' names
    steps: dict[str, tuple[str, str]]  # name -> (status, formatted duration)

    @classmethod
    def of(cls, run: Run) -> Truth:
        steps = {s.name: (step_status(s), format_duration(step_duration(s))) for s in run.steps()}
        return cls(run.pathspec, run_results(run), sorted(end_artifacts(run)), steps)

    def durations(self) -> dict[str, str]:
        return {name: duration for name, (_, duration) in self.steps.items()}


@dataclass(frozen=True)
class Made:
    store: Path
    printed: list[str]  # `nbflow run`'s output for each run
    truths: list[Truth]


def nbflow_command(store: Path, *args: str, cwd: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBFLOW_")}
    env["NBFLOW_DATASTORE"] = str(store)
    done = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Made]:
    folder = tmp_path_factory.mktemp("doors")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(cell) for cell in CELLS]
    nbformat.write(notebook, folder / "doors.ipynb")
    store = folder / "store"
    printed = [
        nbflow_command(store, "run", "doors.ipynb", cwd=folder),
        nbflow_command(store, "run", "doors.ipynb", "--reuse", "-p", "suffix", "!", cwd=folder),
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NBFLOW_DATASTORE", str(store))
        runs = [Run(f"{FLOW}/1"), Run(f"{FLOW}/2")]
        truths = [Truth.of(run) for run in runs]
    yield Made(store, printed, truths)


@pytest.fixture
def store_env(made: Made, monkeypatch: pytest.MonkeyPatch) -> Made:
    monkeypatch.setenv("NBFLOW_DATASTORE", str(made.store))
    return made


def test_the_flow_is_what_the_doors_are_asked_about(made: Made) -> None:
    first, second = made.truths
    assert list(first.steps) == STEPS
    assert first.artifacts == [
        "duration", "line", "longest", "share", "tag", "targets", "total", "vowels"
    ]  # fmt: skip
    # `line` is too long to be a scalar result; `vowels` is the same in every element.
    assert first.results == {
        "longest": "Paris", "share": 4.5, "tag": "w.", "total": 18, "vowels": 2, "duration": 1.5
    }  # fmt: skip
    assert second.results == {**first.results, "tag": "w!"}
    assert [status for status, _ in second.steps.values()] == ["cached"] * 3 + ["done"]
    assert all(duration for truth in made.truths for _, duration in truth.steps.values())


# -- the command line --------------------------------------------------------------------------


def described(text: str, run_id: str) -> tuple[dict[str, tuple[str, str]], str]:
    """The step table (name -> status, duration) and the results line of `nbflow show`'s
    description of `run_id` (also what `nbflow run` prints)."""
    head = re.search(rf"^run {re.escape(run_id)}:? ", text, re.M)  # "run F/1: done  started"
    assert head, text
    block = text[head.start() :]
    lines = block.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("step ")))
    steps = {}
    for line in lines[header + 1 :]:
        if not line:
            break
        name, status, _tasks, duration = ROW.fullmatch(line).groups()  # type: ignore[union-attr]
        steps[name] = (status, duration)
    found = [line for line in lines if line.startswith("results  ")]
    return steps, found[0] if found else ""


def test_nbflow_run_prints_what_results_says(made: Made) -> None:
    for printed, truth in zip(made.printed, made.truths, strict=True):
        steps, results = described(printed, truth.id)
        assert steps == truth.steps
        assert results == f"results  {pairs(truth.results, limit=None)}"


def test_nbflow_show_text_and_json(made: Made) -> None:
    for truth in made.truths:
        steps, results = described(nbflow_command(made.store, "show", truth.id), truth.id)
        assert (steps, results) == (truth.steps, f"results  {pairs(truth.results, limit=None)}")
        shown = json.loads(nbflow_command(made.store, "show", truth.id, "--json"))
        assert shown["results"] == truth.results
        assert {
            s["name"]: (s["status"], format_duration(s["duration"])) for s in shown["steps"]
        } == (truth.steps)
        end = next(s for s in shown["steps"] if s["name"] == "end")
        assert sorted(a["name"] for a in end["tasks"][0]["artifacts"]) == truth.artifacts


def compared_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """`nbflow compare`'s table: section -> row name -> the cells, one per run."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    table = text[: text.rindex("\n\n* differs between the runs")]
    for line in table.splitlines()[1:]:
        if line and not line.startswith(" ") and not line.startswith("*"):
            current = sections.setdefault(line.strip(), {})
        elif line.strip():
            name, *cells = re.split(r"\s{2,}", line.strip())
            current[name.removeprefix("* ")] = cells
    return sections


def test_nbflow_compare_text_and_json(made: Made) -> None:
    ids = [truth.id for truth in made.truths]
    sections = compared_sections(nbflow_command(made.store, "compare", *ids))
    names = sorted({name for truth in made.truths for name in truth.results})
    assert sorted(sections["results"]) == names
    for index, truth in enumerate(made.truths):
        shown = {name: cells[index] for name, cells in sections["results"].items()}
        assert shown == {name: format_value(value) for name, value in truth.results.items()}
        durations = {name: cells[index] for name, cells in sections["step durations"].items()}
        assert durations == truth.durations()
        assert sorted(sections["artifacts"]) == truth.artifacts
    views = json.loads(nbflow_command(made.store, "compare", *ids, "--json"))
    for view, truth in zip(views, made.truths, strict=True):
        assert view["results"] == truth.results
        assert {n: format_duration(d) for n, d in view["step_durations"].items()} == (
            truth.durations()
        )
        assert sorted(name for name, a in view["artifacts"].items() if a["key"]) == truth.artifacts
    assert views[0]["differs"]["results"] == ["tag"]


# -- Python: nbflow.compare() and the client ---------------------------------------------------


def test_nbflow_compare_and_the_client(store_env: Made) -> None:
    runs = [Run(truth.id) for truth in store_env.truths]
    frame = nbflow.compare(runs)
    for run, truth in zip(runs, store_env.truths, strict=True):
        row = frame.loc[run.pathspec].to_dict()
        # The run's own fields are not hidden by a result of the same name (`duration`).
        assert (row["status"], row["duration"]) == (run.status, run.duration)
        shown = {
            name.removeprefix("result."): value
            for name, value in row.items()
            if name not in ("status", "duration") and not name.startswith("param.")
        }
        assert shown == truth.results
        assert {name: getattr(run.data, name) for name in truth.results} == truth.results
        assert sorted(run.end_step.task.artifacts) == truth.artifacts
        assert {step.name: step.status for step in run.steps()} == {
            name: status for name, (status, _) in truth.steps.items()
        }


# -- the REST API, through a real Jupyter server -----------------------------------------------


@pytest.fixture
def jp_server_config(made: Made, monkeypatch: pytest.MonkeyPatch) -> Config:
    # The extension tells kernels the datastore through os.environ: undone after the test.
    monkeypatch.setenv("NBFLOW_DATASTORE", str(made.store))
    config = Config(
        {
            "ServerApp": {
                "jpserver_extensions": {"nbflow.server": True, "jupyter_server_terminals": False},
                "reraise_server_extension_failures": True,
            }
        }
    )
    config.NbflowServer.datastore = str(made.store)
    return config


def test_the_rest_api(made: Made, jp_fetch: Any, jp_asyncio_loop: Any) -> None:
    def get(*parts: str, **params: str) -> Any:
        response = jp_asyncio_loop.run_until_complete(
            jp_fetch("nbflow", "api", *parts, params=params, raise_error=False)
        )
        assert response.code == 200, response.body
        return json.loads(response.body)

    listed = {row["id"]: row for row in get("flows", FLOW, "runs")["runs"]}
    for truth in made.truths:
        assert listed[truth.id]["results"] == truth.results
        run = get("runs", *truth.id.split("/"))
        assert graph_steps(run["steps"]) == truth.steps
        assert svg_durations(run["svg"]) == truth.durations()
    compared = get("compare", runs=",".join(truth.id for truth in made.truths))
    assert_compare_view(compared, made.truths)
    assert timeline_steps(compared["timeline_svg"]) == [truth.steps for truth in made.truths]


# -- the widgets -------------------------------------------------------------------------------


def test_the_widgets_views(store_env: Made) -> None:
    from nbflow.widgets.browser import RunBrowser
    from nbflow.widgets.compare import CompareWidget, compare_view
    from nbflow.widgets.graph import GraphWidget

    runs = [Run(truth.id) for truth in store_env.truths]
    for run, truth in zip(runs, store_env.truths, strict=True):
        assert graph_steps(GraphWidget(run).view["steps"]) == truth.steps
    browser = RunBrowser(FLOW)
    ids = [truth.id for truth in store_env.truths]
    results = browser.results(ids)  # what the browser asks for as rows scroll into view
    for row in browser.runs:
        assert row["results"] in (None, results[row["id"]])  # read up front, or later
    assert results == {truth.id: truth.results for truth in store_env.truths}
    assert_compare_view(CompareWidget(runs).comparison, store_env.truths)
    browser.compare(ids)
    assert browser.comparison == compare_view(runs)


# -- the HTML report ---------------------------------------------------------------------------


CONTENTS_ROW = re.compile(
    r'<tr><td><a href="#step-\d+">([^<]*)</a></td><td><span class="badge s-\w+">[^ <]* (\w+)'
    r'</span></td><td>[^<]*</td><td class="num">([^<]*)</td></tr>'
)
VALUE_ROW = re.compile(r"<tr><th>([^<]*)</th><td><code>([^<]*)</code></td></tr>")


def test_the_html_report(made: Made) -> None:
    for truth in made.truths:
        page = nbflow_command(made.store, "show", truth.id, "--html")
        steps_part = page[page.index("<h2>Steps</h2>") :]
        contents = {
            name: (status, html.unescape(duration))
            for name, status, duration in CONTENTS_ROW.findall(steps_part)
        }
        assert contents == truth.steps
        results_part = page[page.index("<h2>Results</h2>") : page.index("<h2>Timeline</h2>")]
        results = {
            html.unescape(name): ast.literal_eval(html.unescape(value))
            for name, value in VALUE_ROW.findall(results_part)
        }
        assert results == truth.results
        graph = page[page.index("<h2>Graph</h2>") : page.index("<h2>Parameters</h2>")]
        assert svg_durations(graph) == truth.durations()
        timeline = page[page.index("<h2>Timeline</h2>") : page.index("<h2>Steps</h2>")]
        assert timeline_steps(timeline) == [truth.steps]
        # Each step's heading shows its duration too; the end step's artifacts are listed.
        for number, (name, (_, duration)) in enumerate(truth.steps.items(), start=1):
            heading = re.search(rf'<h3 id="step-{number}">(.*?)</h3>', page)
            assert heading and heading.group(1).startswith(f"{name} ")
            assert heading.group(1).endswith(f'<span class="dim">{html.escape(duration)}</span>')
        end = page[page.rindex('<article class="step">') :]
        end_artifacts_shown = re.findall(r"<tr><th>(\w+)</th><td><code>", end)
        assert sorted(end_artifacts_shown[: len(truth.artifacts)]) == truth.artifacts


# -- shared ------------------------------------------------------------------------------------


def graph_steps(steps: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """The graph view's steps (nbflow.query.views.run_view) as name -> status, duration."""
    return {s["name"]: (s["status"], format_duration(s["duration"])) for s in steps}


def svg_durations(svg: str) -> dict[str, str]:
    """The duration each step's box in a graph picture says (its hover title)."""
    found = re.findall(
        r'<g class="nbflow-step" data-step="(\w+)"[^>]*><title>(.*?)</title>', svg, re.S
    )
    return {
        name: html.unescape(re.search(r"duration: (.*)", title).group(1))  # type: ignore[union-attr]
        for name, title in found
    }


def timeline_steps(svg: str) -> list[dict[str, tuple[str, str]]]:
    """Per run drawn in a step timeline: each bar's step -> status, duration (its title)."""
    runs = re.split(r'<g class="nbflow-run" ', svg)[1:]
    bars = r"<title>(\w+): (\w+), (.*?) from \+"
    return [
        {
            name: (status, html.unescape(duration))
            for name, status, duration in re.findall(bars, run)
        }
        for run in runs
    ]


def assert_compare_view(view: dict[str, Any], truths: list[Truth]) -> None:
    """The compare widget's view (also the REST API's compare reply)."""
    assert [run["id"] for run in view["runs"]] == [truth.id for truth in truths]
    for index, truth in enumerate(truths):
        shown = {
            row["name"]: row["values"][index] for row in view["results"] if row["present"][index]
        }
        assert shown == truth.results
        artifacts = [row["name"] for row in view["artifacts"] if row["cells"][index]["key"]]
        assert sorted(artifacts) == truth.artifacts
    assert [row["name"] for row in view["results"] if row["differs"]] == ["tag"]
    picture = base64.b64decode(view["timeline"].removeprefix("data:image/svg+xml;base64,"))
    assert timeline_steps(picture.decode("utf-8")) == [truth.steps for truth in truths]


def test_the_store_holds_just_these_runs(made: Made) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NBFLOW_DATASTORE", str(made.store))
        assert [r.run_id for r in open_store().meta.runs(FLOW)] == [2, 1]
