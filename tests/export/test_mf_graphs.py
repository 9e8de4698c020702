"""Metaflow's own graph shapes (tests/ports/graphs, from Metaflow's test/core/graphs) as nbflow
notebooks (the ports' generator, tests/ports/test_graphs.py), exported back to Metaflow: each
run by `nbflow run` and, exported, by Metaflow's local runtime, every task's artifacts compared
(the trace each step builds spells out where it ran). A switch becomes `--when` on each case
(the case taken is the last one) and its merge step `--after` the cases; shapes the export
refuses must name the cell and the fix.

Foreach sizes are cut to two elements (Metaflow takes ~0.5 s a task); the shapes run two at a
time in a module fixture, each under a root of its own (its datastores, its Metaflow home).
"""

from __future__ import annotations

import ast
import re
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
import pytest
from mftools import assert_same_artifacts, export, read_both, run_both
from test_graphs import SHAPES, Shape

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.metaflow,
    pytest.mark.usefixtures("kernel_name", "metaflow_installed"),
]

RUN = ["branch", "small_foreach", "nested_foreach", "switch_basic",
       "extra_foreach_in_branch"]  # fmt: skip
# What the export refuses, and why: a switch whose cases meet in a step that has other parents
# too (a case that is itself a switch, or a branch beside it) is no switch Metaflow can close.
REFUSED = {
    "switch_nested": "switch2",  # the step the refusal names: the first case of start's switch
    "switch_in_branch": "c",
}


class Exported(Shape):
    """A shape with `switch` nodes as `--when` cases, and foreach lists of two elements."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        for node in self.nodes.values():
            if "foreach_var_default" in node.spec:
                values = ast.literal_eval(node.spec["foreach_var_default"])
                node.spec["foreach_var_default"] = repr(values[:2])

    @staticmethod
    def children(spec: dict[str, Any]) -> list[str]:
        if "switch" in spec:
            return list(spec["switch"].values())
        return Shape.children(spec)

    def taken(self, switch: dict[str, Any]) -> str:
        return list(switch["switch"])[-1]

    def cell(self, name: str) -> str:
        head, *body = super().cell(name).split("\n")
        for parent in self.nodes[name].parents:
            spec = self.nodes[parent].spec
            case = next((c for c, child in spec.get("switch", {}).items() if child == name), None)
            if case is not None:
                head += f' --when "{spec["condition"]} == {case!r}"'
        spec = self.nodes[name].spec
        if "switch" in spec:
            body.insert(-1, f"{spec['condition']} = {self.taken(spec)!r}")
        return "\n".join([head, *body])


def flow_name(shape: str) -> str:
    return "g_" + shape


def write(root: Path, shape: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{shape}.ipynb"
    nbformat.write(Exported(SHAPES[shape]).notebook(flow_name(shape)), path)
    return path


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Each shape of RUN run by both tools: its root, and its flow's name or the failure."""
    base = tmp_path_factory.mktemp("mf-graphs")

    def both(shape: str) -> tuple[str, tuple[Path, str]]:
        root = base / shape
        try:
            return shape, (root, run_both(root, write(root, shape)))
        except AssertionError:
            return shape, (root, "FAILED\n" + traceback.format_exc())

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(both, RUN))


@pytest.mark.parametrize("shape", RUN)
def test_round_trip(
    shape: str, ran: dict[str, tuple[Path, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, flow = ran[shape]
    assert not flow.startswith("FAILED"), flow
    run, ours, theirs = read_both(root, monkeypatch, flow)
    assert_same_artifacts(ours, theirs)
    graph = Exported(SHAPES[shape])
    last = graph.order[-1]
    if any("switch" in n.spec for n in graph.nodes.values()):
        assert theirs[last][0]["trace"] == run.data.trace == "start>switch_step>c>end"
        assert "a" not in theirs and "b" not in theirs
        return
    expected = graph.expected()
    for name in graph.order:
        assert [t["trace"] for t in theirs[name]] == [t["trace"] for t in expected[name]], name
    assert theirs[last][0]["trace"] == run.data.trace == expected[last][0]["trace"]


@pytest.mark.parametrize("shape", sorted(REFUSED))
def test_refused(shape: str, tmp_path: Path) -> None:
    path = write(tmp_path, shape)
    written = export(tmp_path, path, "metaflow", tmp_path / "flow.py")
    assert written.returncode == 1 and not (tmp_path / "flow.py").exists()
    said = re.match(r"nbflow: cell (\d+) ", written.stderr)
    assert said is not None, written.stderr
    first_line = nbformat.read(path, as_version=4).cells[int(said.group(1)) - 1].source
    first_line = first_line.split("\n")[0]
    assert first_line.startswith(f"%%step {REFUSED[shape]} ")
    assert f"cell {said.group(1)} ({first_line!r})" in written.stderr
    assert "Metaflow's switch" in written.stderr  # what
    assert "not exported" in written.stderr and "--after" in written.stderr  # and the fix
