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


class Current:
    """The running task (see the module docstring); one instance, `nbflow.current`."""

    @property
    def _task(self) -> TaskContext | None:
        return _running.get()

    @property
    def is_running_flow(self) -> bool:
        return self._task is not None

    @property
    def flow_name(self) -> str | None:
        task = self._task
        return task.flow if task else None

    @property
    def run_id(self) -> str | None:
        task = self._task
        return str(task.run_id) if task else None

    @property
    def step_name(self) -> str | None:
        task = self._task
        return task.step if task else None

    @property
    def task_id(self) -> str | None:
        task = self._task
        return str(task.task_id) if task else None

    @property
    def pathspec(self) -> str | None:
        task = self._task
        return f"{task.flow}/{task.run_id}/{task.step}/{task.task_id}" if task else None

    @property
    def attempt(self) -> int | None:
        task = self._task
        return task.attempt if task else None

    @property
    def retry_count(self) -> int | None:
        task = self._task
        return task.attempt - 1 if task else None

    @property
    def origin_run_id(self) -> str | None:
        task = self._task
        return str(task.origin_run) if task and task.origin_run is not None else None

    def is_resumed(self) -> bool:
        return self.origin_run_id is not None

    @property
    def foreach(self) -> tuple[ForeachFrame, ...]:
        task = self._task
        return task.foreach if task else ()

    def foreach_stack(self) -> list[tuple[int, int, Any]]:
        """(index, number of elements, element) per enclosing foreach, outermost first."""
        return [(f.index, f.count, f.value) for f in self.foreach]

    def __repr__(self) -> str:
        if self._task is None:
            return "<current: not in a task>"
        return f"<current: {self.pathspec}, attempt {self.attempt}>"


current = Current()
