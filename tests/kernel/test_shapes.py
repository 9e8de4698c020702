"""The golden notebooks, one per graph shape, run top to bottom ("Run All") on a real kernel.

Each notebook runs once per module in its own folder and datastore; the tests then check the
notebook's own outputs and, from a fresh process through the client, what the run stored.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from kerneltools import (
    NOTEBOOKS,
    FlowState,
    RunState,
    code_cell,
    displayed,
    execute,
    kernel_env,
    new_notebook,
    read_flow,
    read_notebook,
    step_cells,
    text,
)
from nbformat import NotebookNode

pytestmark = pytest.mark.kernel

SHAPES = [
    "linear",
    "branch",
    "foreach",
    "foreach_body",
    "nested_foreach",
    "foreach_dicts",
    "foreach_branches",
    "transient_out",
]


@dataclass
class Shape:
    name: str
    nb: NotebookNode
    flow: FlowState

    @property
    def first(self) -> RunState:
        return self.flow.run(1)

    def cell(self, prefix: str) -> NotebookNode:
        return code_cell(self.nb, prefix)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory, kernel_name: str) -> Callable[[str], Shape]:
    done: dict[str, Shape] = {}

    def run(name: str) -> Shape:
        if name not in done:
            workdir = tmp_path_factory.mktemp(name)
            datastore = workdir / "store"
            nb = execute(read_notebook(name), workdir, kernel_env(datastore), kernel=kernel_name)
            done[name] = Shape(name, nb, read_flow(datastore, name))
        return done[name]

    return run


def test_kernel_is_this_venv(tmp_path: Path, kernel_name: str) -> None:
    nb = new_notebook(["import sys, nbflow\nprint(sys.prefix)\nprint(nbflow.__file__)"])
    execute(nb, tmp_path, kernel_env(tmp_path / "store"), kernel=kernel_name)
    prefix, nbflow_file = text(nb.cells[0]).split()
    assert prefix == sys.prefix
    assert Path(nbflow_file).resolve() == (NOTEBOOKS.parents[1] / "nbflow/__init__.py").resolve()


def test_golden_notebooks_match_their_generator() -> None:
    result = subprocess.run(
        [sys.executable, str(NOTEBOOKS / "make_notebooks.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(SHAPES)


@pytest.mark.parametrize("name", SHAPES)
def test_run_all_makes_one_complete_run(shapes: Callable[[str], Shape], name: str) -> None:
    shape = shapes(name)
    run = shape.first
    cells = step_cells(shape.nb)
    assert run.status == "done"
    assert set(run.steps) == set(cells)
    for step, cell in cells.items():
        tasks = run.tasks(step)
        assert [t["status"] for t in tasks] == ["done"] * len(tasks), step
        assert all(t["origin"] is None for t in tasks)
        # The step's prints land in its own cell, task after task, then the summary line.
        out = text(cell)
        summary = out.splitlines()[-1]
        plural = "s" if len(tasks) != 1 else ""
        assert re.fullmatch(rf"✓ {step} · {len(tasks)} task{plural} · .+ · run {name}/1", summary)
        assert out == "".join(t["stdout"] for t in tasks) + summary + "\n"
        assert text(cell, "stderr") == ""


@pytest.mark.parametrize(
    ("name", "shown"), [("nested_foreach", "55"), ("foreach_branches", "[3, 6, 9]")]
)
def test_flow_run_repeats_what_run_all_made(
    shapes: Callable[[str], Shape], name: str, shown: str
) -> None:
    # The notebook ends with `%flow run`: a whole run of the same steps, scheduled in one go,
    # must make the same tasks, at the same paths, with the same artifacts (equal content has
    # equal keys) as the interactive Run All.
    shape = shapes(name)
    assert [r.id for r in shape.flow.runs] == [f"{name}/2", f"{name}/1"]
    interactive, whole = shape.first, shape.flow.run(2)
    assert whole.status == "done"
    assert list(whole.steps) == list(interactive.steps)

    def shape_of(run: RunState) -> dict[str, list[tuple[object, ...]]]:
        return {
            step: [(t["status"], t["path"], t["item"], t["stdout"],
                    {n: a["key"] for n, a in t["artifacts"].items()}) for t in tasks]
            for step, tasks in run.steps.items()
        }  # fmt: skip

    assert shape_of(whole) == shape_of(interactive)
    assert whole.data == interactive.data
    assert displayed(shape.cell("whole = %flow run"))[-1] == shown


def test_linear(shapes: Callable[[str], Shape]) -> None:
    shape = shapes("linear")
    assert [r.status for r in shape.flow.runs] == ["done", "done"]
    first = shape.first
    assert first.params == {"n": 5, "scale": 2.0}
    assert [len(first.tasks(s)) for s in ("load", "prep", "summarize")] == [1, 1, 1]

    load, prep, summarize = (first.task(s) for s in ("load", "prep", "summarize"))
    assert load["stdout"] == "loaded 7 rows\n"
    assert load["data"] == {"raw": [3, None, 1, 4, None, 1, 5]}
    assert prep["stdout"] == "prepared 5 values, dropped 2\n"
    assert prep["data"]["values"] == [6.0, 2.0, 8.0, 2.0, 10.0]
    assert prep["data"]["peak"] == 10
    # A module, a `_private` name and the plain cell's helpers are not artifacts.
    assert set(prep["artifacts"]) == {"raw", "values", "peak"}
    assert prep["artifacts"]["raw"]["kind"] == "inherited"
    assert prep["artifacts"]["raw"]["key"] == load["artifacts"]["raw"]["key"]
    assert prep["artifacts"]["values"]["kind"] == "output"
    assert prep["artifacts"]["peak"]["preview"]["value"] == 10  # shown without unpickling
    report = {"rows": 7, "kept": 5, "mean": 5.6, "peak": 10}
    assert summarize["data"]["report"] == report
    assert summarize["stdout"] == "mean = 5.6\n"
    # Everything the last step could see, the run's parameters with it.
    assert first.data == {"raw": load["data"]["raw"], "values": prep["data"]["values"],
                          "peak": 10, "mean": 5.6, "report": report,
                          "n": 5, "scale": 2.0}  # fmt: skip
    assert displayed(shape.cell("%%step summarize")) == [repr(report)]

    # `%flow run -p n=3`: a whole new run with the override, every task run again.
    rerun = shape.flow.run(2)
    assert rerun.params == {"n": 3, "scale": 2.0}
    assert rerun.statuses() == {"load": ["done"], "prep": ["done"], "summarize": ["done"]}
    assert rerun.task("load")["stdout"] == "loaded 5 rows\n"
    assert rerun.data is not None
    assert rerun.data["report"] == {"rows": 5, "kept": 3, "mean": pytest.approx(16 / 3),
                                    "peak": 8}  # fmt: skip
    last = shape.cell("rerun = %flow run")
    assert "loaded 5 rows" in text(last)
    assert displayed(last)[-1] == repr(rerun.data["report"])


def test_branch_static_join(shapes: Callable[[str], Shape]) -> None:
    shape = shapes("branch")
    run = shape.first
    assert [len(run.tasks(s)) for s in ("start", "fast", "deep", "simple", "pick")] == [1] * 5
    pick = run.task("pick")
    branch_ids = [run.task(s)["task_id"] for s in ("fast", "deep", "simple")]
    assert pick["parents"] == branch_ids
    data = pick["data"]
    assert data["first_x"] == 11  # inputs[0]
    assert data["deep_x"] == 12  # inputs.deep
    assert data["all_x"] == [11, 12, 13]  # iteration, in --after order
    assert data["n_inputs"] == 3
    assert data["order"] == ["fast", "deep", "simple"]
    assert (data["best_model"], data["best_score"]) == ("deep", 0.93)
    # Agreed (`source`) and single-input (`note`) values are bound; a conflicting one is not.
    assert data["source_seen"] == "sensors-v2"
    assert data["note_seen"] == "only the simple branch has a note"
    assert data["x_is_bound"] is False
    assert data["model"] == "fast+deep+simple"
    arts = pick["artifacts"]
    assert "x" not in arts and "score" not in arts  # excluded conflicts stay in `inputs`
    assert arts["base"]["key"] == run.task("start")["artifacts"]["base"]["key"]
    assert arts["model"]["kind"] == "output"
    assert pick["stdout"] == "best: deep (0.93)\n"

    summary = "deep wins at 0.93 over 3 branches of sensors-v2"
    assert run.task("report")["data"]["summary"] == summary
    assert run.data is not None and run.data["summary"] == summary
    assert displayed(shape.cell("%%step report")) == [repr(summary)]


def test_foreach_with_as(shapes: Callable[[str], Shape]) -> None:
    shape = shapes("foreach")
    run = shape.first
    assert run.params == {"cities": ["paris", "oslo", "lima", "kyoto"]}
    measure = run.tasks("measure")
    cities = ["Paris", "Oslo", "Lima", "Kyoto"]
    assert [t["item"] for t in measure] == cities
    assert [t["path"] for t in measure] == [[0], [1], [2], [3]]
    assert [t["data"]["city"] for t in measure] == cities
    assert [t["data"]["letters"] for t in measure] == [5, 4, 4, 5]
    assert [t["stdout"] for t in measure] == [
        f"#{i} {c}: {len(c)} letters\n" for i, c in enumerate(cities)
    ]
    start = run.task("start")
    assert all(t["parents"] == [start["task_id"]] for t in measure)

    collect = run.task("collect")
    assert collect["parents"] == [t["task_id"] for t in measure]  # element order
    assert collect["data"]["order"] == cities
    assert collect["data"]["table"] == {"Paris": [5, 2], "Oslo": [4, 2], "Lima": [4, 2],
                                        "Kyoto": [5, 2]}  # fmt: skip
    assert collect["data"]["longest"] == "Paris"
    assert "city" not in collect["artifacts"] and "letters" not in collect["artifacts"]
    assert collect["data"]["targets"] == cities  # the same in every input: bound
    line = f"4 cities, longest Paris, from {cities}"
    assert run.data is not None and run.data["line"] == line
    assert displayed(shape.cell("%%step end")) == [repr(line)]


def test_foreach_body_of_two_steps(shapes: Callable[[str], Shape]) -> None:
    run = shapes("foreach_body").first
    words = ["alpha", "beta", "gamma", "delta", "pi"]
    shout, measure = run.tasks("shout"), run.tasks("measure")
    assert len(shout) == len(measure) == 5
    assert [t["item"] for t in shout] == words
    # The second body step continues per element: one task per shout task, same path.
    for parent, child in zip(shout, measure, strict=True):
        assert child["parents"] == [parent["task_id"]]
        assert child["path"] == parent["path"]
        assert child["item"] == parent["item"]
        assert child["data"]["size"] == len(parent["item"]) + 1
        assert child["stdout"] == f"{parent['item']} -> {parent['item'].upper()}! "\
                                  f"({len(parent['item']) + 1})\n"  # fmt: skip
    total = run.task("total")
    assert total["parents"] == [t["task_id"] for t in measure]
    assert total["data"]["sizes"] == [6, 5, 6, 6, 3]
    assert total["data"]["pairs"] == [[w, w.upper() + "!"] for w in words]
    assert total["data"]["total"] == 26
    assert total["stdout"] == "total 26 over 5 words\n"


def test_nested_foreach(shapes: Callable[[str], Shape]) -> None:
    shape = shapes("nested_foreach")
    run = shape.first
    counts = {s: len(run.tasks(s)) for s in run.steps}
    assert counts == {"start": 1, "outer": 3, "inner": 5, "inner_join": 3, "outer_join": 1,
                      "check": 1}  # fmt: skip
    assert [t["item"] for t in run.tasks("outer")] == [[1, 2], [3, 4, 5], []]
    inner = run.tasks("inner")
    assert [t["path"] for t in inner] == [[0, 0], [0, 1], [1, 0], [1, 1], [1, 2]]
    assert [t["item"] for t in inner] == [1, 2, 3, 4, 5]
    assert [t["data"]["label"] for t in inner] == ["g0", "g0", "g1", "g1", "g1"]
    outer_ids = [t["task_id"] for t in run.tasks("outer")]
    assert [t["parents"][0] for t in inner] == [outer_ids[i] for i in (0, 0, 1, 1, 1)]

    inner_join = run.tasks("inner_join")
    assert [t["path"] for t in inner_join] == [[0], [1], [2]]
    assert [t["data"]["group_total"] for t in inner_join] == [5, 50, 0]
    assert [t["data"]["n_values"] for t in inner_join] == [2, 3, 0]
    assert [t["data"]["label"] for t in inner_join] == ["g0", "g1", "g2"]
    inner_ids = [t["task_id"] for t in inner]
    assert [t["parents"] for t in inner_join] == [inner_ids[:2], inner_ids[2:], []]

    outer_join = run.task("outer_join")
    assert outer_join["data"]["totals"] == {"g0": 5, "g1": 50, "g2": 0}
    assert outer_join["data"]["counts"] == [2, 3, 0]
    assert outer_join["data"]["grand_total"] == 55
    check = run.task("check")
    assert check["data"]["expected"] == 55
    assert displayed(shape.cell("%%step check")) == ["55"]
    assert "g1/2: 5^2 = 25" in text(shape.cell("%%step inner"))


def test_join_of_foreach_over_dicts(shapes: Callable[[str], Shape]) -> None:
    shape = shapes("foreach_dicts")
    run = shape.first
    configs = run.task("start")["data"]["configs"]
    train = run.tasks("train")
    assert [t["item"] for t in train] == configs
    assert [t["data"]["loss"] for t in train] == [0.25, 0.1667, 0.1136]
    choose = run.task("choose")
    assert choose["data"]["losses"] == {"small": 0.25, "wide": 0.1667, "deep": 0.1136}
    assert choose["data"]["best"] == configs[2]
    assert "item" not in choose["artifacts"]  # a different dict in every input
    assert choose["artifacts"]["configs"]["kind"] == "inherited"
    assert displayed(shape.cell("%%step choose")) == [repr(configs[2])]


def test_branches_inside_a_foreach_then_a_second_foreach(shapes: Callable[[str], Shape]) -> None:
    run = shapes("foreach_branches").first
    counts = {s: len(run.tasks(s)) for s in run.steps}
    assert counts == {"start": 1, "split": 3, "double": 3, "square": 3, "combine": 3,
                      "gather": 1, "again": 3, "final": 1}  # fmt: skip
    double, square, combine = run.tasks("double"), run.tasks("square"), run.tasks("combine")
    for d, s, c in zip(double, square, combine, strict=True):
        assert c["path"] == d["path"] == s["path"]
        assert c["parents"] == [d["task_id"], s["task_id"]]
    assert [t["data"]["both"] for t in combine] == [[2, 1], [4, 4], [6, 9]]
    assert [t["data"]["shard"] for t in combine] == ["a", "bb", "ccc"]
    gather = run.task("gather")
    assert gather["data"]["results"] == {"a": [2, 1], "bb": [4, 4], "ccc": [6, 9]}
    again = run.tasks("again")
    assert [t["item"] for t in again] == ["a", "bb", "ccc"]
    assert all(t["parents"] == [gather["task_id"]] for t in again)
    assert run.task("final")["data"]["scores"] == [3, 6, 9]


def test_transient_and_out(shapes: Callable[[str], Shape]) -> None:
    shape = shapes("transient_out")
    run = shape.first
    connect, stats, verdict = (run.task(s) for s in ("connect", "stats", "verdict"))
    assert set(connect["artifacts"]) == {"readings"}  # the lock and generator: --transient
    assert connect["data"]["readings"] == [4, 8, 15, 16, 23, 42]
    assert {n: a["kind"] for n, a in stats["artifacts"].items()} == {
        "readings": "inherited",
        "mean": "output",
        "spread": "output",
    }
    assert (stats["data"]["mean"], stats["data"]["spread"]) == (18.0, 38)
    assert verdict["data"]["verdict"] == "wide"
    assert verdict["stdout"] == "wide: spread 38 vs mean 18.0\n"
    assert run.data is not None and set(run.data) == {"readings", "mean", "spread", "verdict"}
