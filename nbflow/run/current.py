"""`from nbflow import current`: where the running task is, as Metaflow's `current` says it.

    current.run_id, current.step_name, current.task_id, current.pathspec
    current.attempt, current.retry_count          # 1, 0 on the first attempt
    current.origin_run_id, current.is_resumed()   # a resumed run: the run it resumes
    current.foreach                               # enclosing foreach elements, outermost first
    current.foreach_stack()                       # [(index, count, value), ...] (Metaflow's)

The task body sets it for the duration of a task (a context variable, so tasks running in
threads of one process, as on Dask, each see their own); outside a task every field is None,
`current.foreach` is empty and `current.is_running_flow` is False.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


class ForeachFrame:
    """One enclosing foreach: the step that opened it, the element's name, index and value."""

    __slots__ = ("_load", "_value", "count", "index", "key", "name", "step")

    def __init__(self, frame: dict[str, Any], load: Callable[[str], Any]) -> None:
        self.step: str = frame["step"]
        self.name: str = frame["name"]
        self.index: int = frame["index"]
        self.count: int = frame.get("count", 0)
        self.key: str = frame["key"]
        self._load, self._value = load, _UNLOADED

    @property
    def value(self) -> Any:
        if self._value is _UNLOADED:
            self._value = self._load(self.key)  # loaded when asked: most tasks never ask
        return self._value

    def __repr__(self) -> str:
        return f"ForeachFrame(step={self.step!r}, {self.name}[{self.index}] of {self.count})"


_UNLOADED = object()


@dataclass(frozen=True)
class TaskContext:
    flow: str
    run_id: int
    step: str
    task_id: int
    attempt: int = 1
    origin_run: int | None = None
    foreach: tuple[ForeachFrame, ...] = field(default_factory=tuple)


_running: ContextVar[TaskContext | None] = ContextVar("nbflow_current", default=None)


@contextmanager
def running(context: TaskContext) -> Iterator[None]:
    token = _running.set(context)
    try:
        yield
    finally:
        _running.reset(token)


def frames(raw: Sequence[dict[str, Any]], load: Callable[[str], Any]) -> tuple[ForeachFrame, ...]:
    return tuple(ForeachFrame(frame, load) for frame in raw)


def _field(read: Callable[[TaskContext], Any]) -> Any:
    """A property of the running task; None outside a task."""
    return property(lambda self: None if (task := _running.get()) is None else read(task))


class Current:
    """The running task (see the module docstring); one instance, `nbflow.current`."""

    flow_name = _field(lambda task: task.flow)
    run_id = _field(lambda task: str(task.run_id))
    step_name = _field(lambda task: task.step)
    task_id = _field(lambda task: str(task.task_id))
    pathspec = _field(lambda task: f"{task.flow}/{task.run_id}/{task.step}/{task.task_id}")
    attempt = _field(lambda task: task.attempt)
    retry_count = _field(lambda task: task.attempt - 1)
    origin_run_id = _field(lambda task: None if task.origin_run is None else str(task.origin_run))

    @property
    def is_running_flow(self) -> bool:
        return _running.get() is not None

    def is_resumed(self) -> bool:
        return self.origin_run_id is not None

    @property
    def foreach(self) -> tuple[ForeachFrame, ...]:
        task = _running.get()
        return task.foreach if task else ()

    def foreach_stack(self) -> list[tuple[int, int, Any]]:
        """(index, number of elements, element) per enclosing foreach, outermost first."""
        return [(f.index, f.count, f.value) for f in self.foreach]

    def __repr__(self) -> str:
        if not self.is_running_flow:
            return "<current: not in a task>"
        return f"<current: {self.pathspec}, attempt {self.attempt}>"


current = Current()
