"""Planning: which tasks a step has, given the tasks of its parents.

A skipped task (its --when was false) feeds nothing: a task whose every input was skipped is
skipped too, a join gets only the inputs that ran, and a foreach after a skipped task is empty.

Pure. A task lives at a *path*: one element index per open foreach level, outermost first
(a root step's task has path ``()``; the 3rd element of a foreach has ``(2,)``; nested:
``(2, 0)``). The runner asks `plan_step` for the tasks of a step once its parents have run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nbflow.core.graph import FlowGraph, parent_of_split

Path = tuple[int, ...]


@dataclass(frozen=True)
class TaskRef:
    """A committed task, as planning sees it."""

    step: str
    task_id: int
    path: Path
    skipped: bool = False


@dataclass(frozen=True)
class PlannedTask:
    """A task to run: where it sits and what it reads."""

    step: str
    path: Path
    parents: tuple[TaskRef, ...]  # in input order: element order for a join, --after order else
    split: TaskRef | None = None  # a foreach join: the task that opened the foreach
    item: Any = None  # a foreach step: the element it gets
    has_item: bool = False
    count: int = 0  # a foreach step: how many elements its foreach has
    skip: bool = False  # everything that feeds it was skipped (a --when was false)


Elements = Callable[[TaskRef], Sequence[Any]]


def plan_step(
    graph: FlowGraph, step: str, tasks_of: Mapping[str, Sequence[TaskRef]], elements: Elements
) -> list[PlannedTask]:
    """The tasks of `step`. `elements(parent_task)` gives the sequence a foreach step iterates."""
    spec = graph[step]
    if not spec.parents:
        return [PlannedTask(step, (), ())]
    if spec.join:
        return _plan_foreach_join(graph, step, tasks_of)
    if spec.foreach:
        return _plan_foreach(step, tasks_of[spec.parents[0]], elements)
    if spec.is_static_join:
        return _plan_static_join(step, [tasks_of[p] for p in spec.parents])
    return [
        PlannedTask(step, t.path, (t,), skip=t.skipped) for t in _by_path(tasks_of[spec.parents[0]])
    ]


def _plan_foreach(step: str, parents: Sequence[TaskRef], elements: Elements) -> list[PlannedTask]:
    planned = []
    for parent in _by_path(parents):
        if parent.skipped:
            continue
        found = elements(parent)
        for index, element in enumerate(found):
            planned.append(
                PlannedTask(
                    step, (*parent.path, index), (parent,),
                    item=element, has_item=True, count=len(found),
                )
            )  # fmt: skip
    return planned


def _plan_foreach_join(
    graph: FlowGraph, step: str, tasks_of: Mapping[str, Sequence[TaskRef]]
) -> list[PlannedTask]:
    parent = graph[step].parents[0]
    innermost = graph.levels()[parent][-1]
    # One join task per task that opened the foreach, even when its foreach was empty.
    splits = _by_path(tasks_of[parent_of_split(graph, innermost)])
    # The body's tasks by the foreach they belong to (their path less the last index): one
    # pass, so a nested foreach of S splits and B body tasks plans in S + B, not S x B.
    by_split: dict[Path, list[TaskRef]] = {}
    for task in _by_path(tasks_of[parent]):
        if not task.skipped:
            by_split.setdefault(task.path[:-1], []).append(task)
    return [
        PlannedTask(
            step, split.path, tuple(by_split.get(split.path, ())), split=split,
            skip=split.skipped,
        )
        for split in splits
    ]  # fmt: skip


def _plan_static_join(step: str, parent_tasks: Sequence[Sequence[TaskRef]]) -> list[PlannedTask]:
    by_path: dict[Path, list[TaskRef]] = {}
    for tasks in parent_tasks:
        for task in tasks:
            by_path.setdefault(task.path, []).append(task)
    planned = []
    for path in sorted(by_path):
        ran = tuple(t for t in by_path[path] if not t.skipped)
        planned.append(PlannedTask(step, path, ran or tuple(by_path[path]), skip=not ran))
    return planned


def _by_path(tasks: Sequence[TaskRef]) -> list[TaskRef]:
    return sorted(tasks, key=lambda t: t.path)
