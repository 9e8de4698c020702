"""Metaflow's graph shapes (test/core/graphs/*.json, copied to graphs/), run as nbflow flows.

For each shape nbflow can express, a notebook is generated from the JSON: one `%%step` cell
per node, in topological order (a `linear`/`branch` child gets `--after`, a `foreach` child
`--foreach VAR`, a `join` with one parent `--join`, with several `--after P1 P2 ...`). Every
body records where it ran, so the run's answer is a string that Metaflow's semantics fix:

- a root binds `trace = "start"`, `stack = ()`;
- a foreach child appends `>STEP[INDEX:ELEMENT]` and pushes the element on `stack`;
- any other single-parent step appends `>STEP`;
- a join binds `trace = "STEP(" + ",".join(input traces) + ")"`: a foreach join in element
  order, a static join in `--after` order; a foreach join pops `stack`;
- a foreach split binds its `foreach_var` to `foreach_var_default`;
- every step also binds `mark_STEP = trace` (values flow down to every descendant).

`expected()` below walks the same JSON the way Metaflow runs it (one task per element at
every foreach level, joins closing the innermost foreach) and the test compares every task
of every step, the last step's answer and each foreach task's `item`.

Not expressible (listed in NOT_EXPRESSIBLE): `@parallel` (a gang of num_parallel tasks with
a control task and ranks, not a foreach over data), and every `switch` (nbflow has `--when`
for conditional steps, but no recursion back to an earlier step, and a switch's merge point is
a plain step with one parent where nbflow needs a static join with `inputs`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from porttools import PORTS, TIMEOUT

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("kernel_name")]

GRAPHS = PORTS / "graphs"
SHAPES = {
    **{p.stem: p for p in sorted(GRAPHS.glob("*.json"))},
    **{f"extra_{p.stem}": p for p in sorted((GRAPHS / "extra").glob("*.json"))},
}
NOT_EXPRESSIBLE = {
    "parallel": "@parallel: a gang of num_parallel tasks (control + workers, ranks)",
    "recursive_switch": "a switch that loops back to its own step",
    "recursive_switch_inside_foreach": "a switch that loops back to its own step",
    "switch_basic": "switch: one chosen child; the merge point has one parent",
    "switch_nested": "switch: one chosen child; the merge point has one parent",
    "switch_in_branch": "switch: one chosen child; the merge point has one parent",
    "switch_in_foreach": "switch: one chosen child; the merge point has one parent",
    "foreach_in_switch": "switch: one chosen child; the merge point has one parent",
    "branch_in_switch": "switch: one chosen child; the merge point has one parent",
}
EXPRESSIBLE = sorted(set(SHAPES) - set(NOT_EXPRESSIBLE))


# -- the shape ------------------------------------------------------------------------------------


@dataclass
class Node:
    name: str
    spec: dict[str, Any]
    parents: list[str]

    @property
    def is_join(self) -> bool:
        return bool(self.spec.get("join"))


class Shape:
    def __init__(self, path: Path) -> None:
        raw = json.loads(path.read_text())
        self.title: str = raw["name"]
        graph: dict[str, dict[str, Any]] = raw["graph"]
        self.nodes = {name: Node(name, spec, []) for name, spec in graph.items()}
        self.foreach_child: dict[str, str] = {}  # child -> its foreach split
        for name, spec in graph.items():
            for child in self.children(spec):
                self.nodes[child].parents.append(name)
            if "foreach" in spec:
                self.foreach_child[spec["foreach"]] = name
        self.order = self._topological()

    @staticmethod
    def children(spec: dict[str, Any]) -> list[str]:
        if "linear" in spec:
            return [spec["linear"]]
        if "branch" in spec:
            return list(spec["branch"])
        if "foreach" in spec:
            return [spec["foreach"]]
        assert not ({"switch", "parallel"} & spec.keys()), spec
        return []

    def _topological(self) -> list[str]:
        placed: list[str] = []
        pending = list(self.nodes)
        while pending:
            ready = [n for n in pending if all(p in placed for p in self.nodes[n].parents)]
            assert ready, f"a cycle among {pending}"
            placed.append(ready[0])
            pending.remove(ready[0])
        return placed

    # -- the notebook ------------------------------------------------------------------------

    def cell(self, name: str) -> str:
        node = self.nodes[name]
        options = ""
        if node.parents:
            options += " --after " + " ".join(node.parents)
        if name in self.foreach_child:
            options += f" --foreach {self.nodes[self.foreach_child[name]].spec['foreach_var']}"
        if node.is_join and len(node.parents) == 1:
            options += " --join"
        lines = [f"%%step {name}{options}"]
        if not node.parents:
            lines += [f"trace = {name!r}", "stack = ()"]
        elif node.is_join:
            lines += [
                f"trace = {name + '('!r} + ','.join(inp.trace for inp in inputs) + ')'",
                "stack = inputs[0].stack" + ("[:-1]" if len(node.parents) == 1 else ""),
                "joined = [inp.trace for inp in inputs]",
            ]
        elif name in self.foreach_child:
            lines += [
                f"trace = trace + '>{name}[' + str(item_index) + ':' + str(item) + ']'",
                "stack = stack + (item,)",
            ]
        else:
            lines += [f"trace = trace + '>{name}'"]
        if "foreach" in node.spec:
            lines.append(f"{node.spec['foreach_var']} = {node.spec['foreach_var_default']}")
        lines.append(f"mark_{name} = trace")
        return "\n".join(lines)

    def notebook(self, flow: str) -> nbformat.NotebookNode:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}  # fmt: skip
        nb.cells = [nbformat.v4.new_markdown_cell(f"# {self.title}\nfrom Metaflow's graphs")]
        nb.cells.append(nbformat.v4.new_code_cell(f"%load_ext nbflow\n%flow name {flow}"))
        nb.cells += [nbformat.v4.new_code_cell(self.cell(n)) for n in self.order]
        return nb

    # -- what Metaflow computes --------------------------------------------------------------

    def expected(self) -> dict[str, list[dict[str, Any]]]:
        """Every task of every step (ordered by foreach position): path, stack, trace, item."""
        tasks: dict[str, list[dict[str, Any]]] = {}
        for name in self.order:
            made = self._tasks_of(name, tasks)
            spec = self.nodes[name].spec
            if "foreach" in spec:
                for t in made:
                    scope = {"item": t["stack"][-1]} if t["stack"] else {}
                    value = eval(spec["foreach_var_default"], scope)
                    t["vars"] = {**t["vars"], spec["foreach_var"]: value}
            tasks[name] = made
        return tasks

    def _tasks_of(self, name: str, tasks: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        node = self.nodes[name]
        if not node.parents:
            return [{"path": (), "stack": (), "trace": name, "vars": {}}]
        if node.is_join and len(node.parents) == 1:  # a foreach join: per enclosing element
            groups: dict[tuple[int, ...], list[dict[str, Any]]] = {}
            for t in tasks[node.parents[0]]:
                groups.setdefault(t["path"][:-1], []).append(t)
            return [
                joined(name, path, sorted(group, key=lambda t: t["path"]),
                       group[0]["stack"][:-1])
                for path, group in sorted(groups.items())
            ]  # fmt: skip
        if node.is_join:  # a static join: the parents' tasks at the same foreach position
            by_path = [{t["path"]: t for t in tasks[p]} for p in node.parents]
            return [
                joined(name, path, [p[path] for p in by_path], by_path[0][path]["stack"])
                for path in sorted(by_path[0])
            ]
        if name in self.foreach_child:
            var = self.nodes[self.foreach_child[name]].spec["foreach_var"]
            return [
                {
                    "path": (*parent["path"], index),
                    "stack": (*parent["stack"], element),
                    "trace": f"{parent['trace']}>{name}[{index}:{element}]",
                    "item": element,
                    "vars": parent["vars"],
                }
                for parent in tasks[node.parents[0]]
                for index, element in enumerate(parent["vars"][var])
            ]
        return [{**t, "trace": f"{t['trace']}>{name}"} for t in tasks[node.parents[0]]]


def joined(
    name: str, path: tuple[int, ...], given: list[dict[str, Any]], stack: tuple[Any, ...]
) -> dict[str, Any]:
    """A join task: its inputs' traces in order; the split's variables go on."""
    traces = [t["trace"] for t in given]
    return {
        "path": path, "stack": stack, "vars": given[0]["vars"], "joined": traces,
        "trace": f"{name}(" + ",".join(traces) + ")",
    }  # fmt: skip


def test_every_shape_is_ported_or_said_why_not() -> None:
    assert len(SHAPES) >= 15 + 4
    assert set(NOT_EXPRESSIBLE) <= set(SHAPES)
    assert {"linear", "branch", "nested_branches", "foreach", "small_foreach",
            "nested_foreach"} <= set(EXPRESSIBLE)  # fmt: skip


# -- running them ---------------------------------------------------------------------------------


def flow_name(shape: str) -> str:
    return "g_" + shape


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, kernel_name: str) -> Path:
    """Every expressible shape run once (`nbflow run`, two at a time) into one datastore."""
    root = tmp_path_factory.mktemp("graphs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBFLOW_")}
    env["NBFLOW_DATASTORE"] = str(root / "store")
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"

    def run(shape: str) -> tuple[str, subprocess.CompletedProcess[str]]:
        path = root / f"{shape}.ipynb"
        nbformat.write(Shape(SHAPES[shape]).notebook(flow_name(shape)), path)
        done = subprocess.run(
            [sys.executable, "-m", "nbflow.cli", "run", path.name],
            cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        return shape, done

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(pool.map(run, EXPRESSIBLE))
    (root / "outputs.json").write_text(json.dumps(
        {s: {"rc": d.returncode, "out": d.stdout + d.stderr} for s, d in results.items()}
    ))  # fmt: skip
    return root


@pytest.mark.parametrize("shape", EXPRESSIBLE)
def test_shape(shape: str, store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    done = json.loads((store / "outputs.json").read_text())[shape]
    assert done["rc"] == 0, done["out"]
    for key in [k for k in os.environ if k.startswith("NBFLOW_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("NBFLOW_DATASTORE", str(store / "store"))
    from nbflow import Flow

    graph = Shape(SHAPES[shape])
    expected = graph.expected()
    run = Flow(flow_name(shape)).latest_run
    assert run.status == "done"
    assert [s.name for s in run.steps()] == graph.order
    for name in graph.order:
        tasks = run[name].tasks()
        want = expected[name]
        got = [t.data.trace for t in tasks]
        # every foreach element combination exactly once ...
        assert sorted(got) == sorted(t["trace"] for t in want), name
        # ... and listed in element order
        assert got == [t["trace"] for t in want], name
        for task, wanted in zip(tasks, want, strict=True):
            assert task.status == "done", (name, task.status)
            assert tuple(task.data.stack) == wanted["stack"], name
            if "item" in wanted:
                assert task.item == wanted["item"], name
            if graph.nodes[name].is_join:  # the join's inputs, in element / --after order
                assert task.data.joined == wanted["joined"], name
    # The answer: the last step's trace, which spells out the whole run.
    last = graph.order[-1]
    assert run.data.trace == expected[last][0]["trace"]
    assert run.data.mark_start == "start"
    assert getattr(run.data, f"mark_{last}") == expected[last][0]["trace"]


def test_a_foreach_left_open_never_answers_with_the_start_steps_values(tmp_path: Path) -> None:
    """Metaflow refuses a graph whose foreach is never joined (its linter: the end step must
    not be inside a foreach). nbflow runs one `end` task per element; then `run.data`, the
    artifacts of the run's last step, must not silently be another step's: either the run
    is refused, or run.data names the ambiguity, or it is the last step's value."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    nb.cells = [
        nbformat.v4.new_code_cell(source)
        for source in (
            "%load_ext nbflow\n%flow name unclosed",
            "%%step start\ntrace = 'start'\nxs = [1, 2, 3]",
            "%%step each --after start --foreach xs\ntrace = trace + '>each' + str(item)",
            "%%step end --after each\ntrace = trace + '>end'",
        )
    ]
    nbformat.write(nb, tmp_path / "unclosed.ipynb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBFLOW_")}
    env["NBFLOW_DATASTORE"] = str(tmp_path / "store")
    done = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "run", "unclosed.ipynb"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return  # refused: fine, if it says why (the other tests check error messages)
    check = (
        "from nbflow import Flow\n"
        "run = Flow('unclosed').latest_run\n"
        "print([t.data.trace for t in run['end'].tasks()])\n"
        "try:\n    print(repr(run.data.trace))\n"
        "except Exception as error:\n    print('refused:', error)\n"
    )
    read = subprocess.run(
        [sys.executable, "-c", check],
        env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert read.returncode == 0, read.stderr
    ends, answer = read.stdout.splitlines()[:2]
    assert ends == "['start>each1>end', 'start>each2>end', 'start>each3>end']"
    assert answer != "'start'", (
        f"run.data.trace is the start step's value although the last step 'end' has 3 tasks "
        f"{ends}; `nbflow run` printed:\n{done.stdout}"
    )
