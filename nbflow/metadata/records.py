"""Plain records of what the metadata database holds: runs, tasks, artifacts."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

RUN_STATUSES = ("running", "done", "failed")
TASK_STATUSES = ("pending", "running", "done", "failed", "skipped", "cached")
FINISHED_OK = ("done", "cached")


@dataclass(frozen=True)
class RunRecord:
    flow: str
    run_id: int
    status: str
    started_at: float
    finished_at: float | None
    params: dict[str, Any]
    tags: tuple[str, ...]
    notebook: str | None
    origin_run: int | None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tags": list(self.tags)}


@dataclass(frozen=True)
class TaskRecord:
    task_id: int
    flow: str
    run_id: int
    step: str
    status: str
    path: tuple[int, ...]
    parents: tuple[int, ...]
    origin: int | None  # the task whose results this one reuses (status "cached")
    started_at: float | None
    finished_at: float | None
    stdout: str
    stderr: str
    error: dict[str, Any] | None

    @property
    def data_task_id(self) -> int:
        """The task that owns the artifact rows (itself, or the one it reuses)."""
        return self.origin if self.origin is not None else self.task_id

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": list(self.path), "parents": list(self.parents)}


@dataclass(frozen=True)
class ArtifactRecord:
    name: str
    key: str
    kind: str  # "output" (bound by the step), "inherited" (from a parent), "context"
    size: int
    type_name: str
    preview: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StoredObject:
    """A value's content record: one row per distinct blob key, however many artifacts use it."""

    key: str
    size: int
    type_name: str
    preview: dict[str, Any]
    inline: bytes | None
