"""Task planning for each graph shape, without a kernel or a store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nbflow.core.graph import FlowGraph, StepSpec
from nbflow.core.plan import PlannedTask, TaskRef, plan_step


def graph_of(*specs: StepSpec) -> FlowGraph:
    graph = FlowGraph()
    for spec in specs:
        graph = graph.with_step(spec)
    return graph


class Simulation:
    """Plans every step in order, committing each planned task with a fresh id."""

    def __init__(self, graph: FlowGraph, elements: dict[str, list[Any]]) -> None:
        self.graph = graph
        self.elements = elements  # step -> the list its foreach child iterates, per task
        self.tasks_of: dict[str, list[TaskRef]] = {}
        self.planned: dict[str, list[PlannedTask]] = {}
        self.next_id = 1

    def run(self) -> Simulation:
        for name in self.graph.order():
            planned = plan_step(self.graph, name, self.tasks_of, self._elements)
            self.planned[name] = planned
            self.tasks_of[name] = [self._commit(t) for t in planned]
        return self

    def _elements(self, parent: TaskRef) -> Sequence[Any]:
        return self.elements[parent.step]

    def _commit(self, task: PlannedTask) -> TaskRef:
        ref = TaskRef(task.step, self.next_id, task.path)
        self.next_id += 1
        return ref

    def paths(self, step: str) -> list[tuple[int, ...]]:
        return [t.path for t in self.planned[step]]


def test_linear_has_one_task_per_step() -> None:
    sim = Simulation(graph_of(StepSpec("a"), StepSpec("b", parents=("a",))), {}).run()
    assert sim.paths("a") == [()]
    assert sim.paths("b") == [()]
    assert sim.planned["b"][0].parents == (sim.tasks_of["a"][0],)


def test_foreach_fans_out_and_join_gathers_in_element_order() -> None:
    graph = graph_of(
        StepSpec("start"),
        StepSpec("body", parents=("start",), foreach="xs"),
        StepSpec("join", parents=("body",), join=True),
    )
    sim = Simulation(graph, {"start": ["a", "b", "c"]}).run()
    assert sim.paths("body") == [(0,), (1,), (2,)]
    assert [t.item for t in sim.planned["body"]] == ["a", "b", "c"]
    assert all(t.has_item for t in sim.planned["body"])
    (join,) = sim.planned["join"]
    assert [p.path for p in join.parents] == [(0,), (1,), (2,)]
    assert join.split == sim.tasks_of["start"][0]


def test_foreach_body_continues_per_element() -> None:
    graph = graph_of(
        StepSpec("start"),
        StepSpec("f", parents=("start",), foreach="xs"),
        StepSpec("g", parents=("f",)),
        StepSpec("join", parents=("g",), join=True),
    )
    sim = Simulation(graph, {"start": [10, 20]}).run()
    assert sim.paths("g") == [(0,), (1,)]
    assert [p.step for p in sim.planned["join"][0].parents] == ["g", "g"]


def test_nested_foreach_paths_and_joins() -> None:
    graph = graph_of(
        StepSpec("start"),
        StepSpec("outer", parents=("start",), foreach="xs"),
        StepSpec("inner", parents=("outer",), foreach="ys"),
        StepSpec("inner_join", parents=("inner",), join=True),
        StepSpec("outer_join", parents=("inner_join",), join=True),
    )
    sim = Simulation(graph, {"start": ["x0", "x1"], "outer": ["y0", "y1", "y2"]}).run()
    assert sim.paths("inner") == [(i, j) for i in range(2) for j in range(3)]
    assert sim.paths("inner_join") == [(0,), (1,)]
    first = sim.planned["inner_join"][0]
    assert [p.path for p in first.parents] == [(0, 0), (0, 1), (0, 2)]
    assert first.split is not None and first.split.step == "outer" and first.split.path == (0,)
    (outer,) = sim.planned["outer_join"]
    assert [p.path for p in outer.parents] == [(0,), (1,)]


def test_empty_foreach_still_gets_its_join() -> None:
    graph = graph_of(
        StepSpec("start"),
        StepSpec("body", parents=("start",), foreach="xs"),
        StepSpec("join", parents=("body",), join=True),
    )
    sim = Simulation(graph, {"start": []}).run()
    assert sim.planned["body"] == []
    (join,) = sim.planned["join"]
    assert join.parents == ()
    assert join.split == sim.tasks_of["start"][0]


def test_static_join_pairs_parents_in_after_order() -> None:
    graph = graph_of(
        StepSpec("start"),
        StepSpec("a", parents=("start",)),
        StepSpec("b", parents=("start",)),
        StepSpec("both", parents=("b", "a")),
    )
    sim = Simulation(graph, {}).run()
    (both,) = sim.planned["both"]
    assert [p.step for p in both.parents] == ["b", "a"]


def test_static_join_inside_a_foreach_pairs_by_element() -> None:
    graph = graph_of(
        StepSpec("start"),
        StepSpec("f", parents=("start",), foreach="xs"),
        StepSpec("a", parents=("f",)),
        StepSpec("b", parents=("f",)),
        StepSpec("both", parents=("a", "b")),
    )
    sim = Simulation(graph, {"start": [1, 2]}).run()
    assert sim.paths("both") == [(0,), (1,)]
    for task in sim.planned["both"]:
        assert [p.path for p in task.parents] == [task.path, task.path]
        assert [p.step for p in task.parents] == ["a", "b"]


class CountingPath(tuple[int, ...]):
    """A task's path that counts how often anyone slices or indexes it."""

    reads = 0

    def __getitem__(self, index: Any) -> Any:
        CountingPath.reads += 1
        return super().__getitem__(index)


def test_a_nested_foreach_join_is_planned_in_one_pass_over_the_body() -> None:
    """Each inner join takes its own tasks from the body grouped once by foreach, not by a scan
    of the whole body per join task (S splits x B body tasks: quadratic at scale)."""
    graph = graph_of(
        StepSpec("start"),
        StepSpec("outer", parents=("start",), foreach="xs"),
        StepSpec("inner", parents=("outer",), foreach="ys"),
        StepSpec("inner_join", parents=("inner",), join=True),
    )
    splits = [TaskRef("outer", i, CountingPath((i,))) for i in range(40)]
    body = [TaskRef("inner", 100 + 40 * i + j, CountingPath((i, j))) for i in range(40)
            for j in range(40)]  # fmt: skip
    CountingPath.reads = 0
    planned = plan_step(graph, "inner_join", {"outer": splits, "inner": body}, lambda _: [])
    assert [len(task.parents) for task in planned] == [40] * 40
    assert [p.path for p in planned[7].parents] == [(7, j) for j in range(40)]
    assert CountingPath.reads <= 2 * len(body)  # a scan per join task would read 1,600 x 40
