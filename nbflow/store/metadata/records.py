"""Plain records of what the metadata database holds: runs, tasks, artifacts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

# `done`: every step of the flow ran (or was reused); `incomplete`: the run ended without a
# failure, but some registered step has not run in it (a step cell run by hand after an edit
# or a failure: the steps below it are not in the run yet); `failed`: a task failed, or the
# run stopped (its kernel died, its notebook stopped early).
RUN_STATUSES = ("running", "done", "incomplete", "failed")
ENDED_WELL = ("done", "incomplete")  # a run a step cell may still grow


TASK_STATUSES = ("pending", "running", "done", "failed", "skipped", "cached")
FINISHED_OK = ("done", "cached")


def same_notebook(a: str | None, b: str | None) -> bool:
    """Whether two runs' notebooks are one notebook: the same file name, wherever the
    checkout lives (a colleague's clone, CI's folder, a copy beside a shared datastore);
    a run that names no notebook (plain IPython) goes with any."""
    if a is None or b is None:
        return True
    return a.replace("\\", "/").rsplit("/", 1)[-1] == b.replace("\\", "/").rsplit("/", 1)[-1]


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
    launcher: str | None = None  # the headless execution that made it
    notebook_key: str | None = None  # the executed notebook, stored as a value
    # When the process running it last showed it was alive (None: before heartbeats existed).
    heartbeat: float | None = None
    error: str | None = None  # why it failed when no task did (its notebook stopped early)
    # The process that runs it (nbflow.store.metadata.liveness.Process); None before nbflow kept it.
    host: str | None = None
    pid: int | None = None
    process_start: str | None = None
    # Who made it and how (nbflow.store.metadata.tags); () for runs made before nbflow kept them.
    system_tags: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tags": list(self.tags), "system_tags": list(self.system_tags)}


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
    attempt: int = 1
    # The task whose artifact rows this one reads: the origin when it was taken over whole
    # (resume, a re-run cell), None when it has rows of its own (a cache hit on new inputs).
    data_from: int | None = None
    cache_key: str | None = None
    displays: tuple[dict[str, Any], ...] = ()  # rich outputs (MIME bundles) the task showed
    # The enclosing foreach elements, outermost first: step, name, index, count, key (a blob).
    foreach: tuple[dict[str, Any], ...] = ()
    # The files the task opened for reading: path, size, hash (xxh3-128 of the content).
    reads: tuple[dict[str, Any], ...] = ()

    @property
    def environment(self) -> dict[str, Any] | None:
        """The environment the task ran in (--env, %flow env): requirements, python, packages.
        Kept as one of its displays (no column of its own)."""
        for shown in self.displays:
            found = shown.get("data", {}).get("application/vnd.nbflow.environment+json")
            if found is not None:
                return dict(found)
        return None

    @property
    def data_task_id(self) -> int:
        """The task that owns the artifact rows (itself, or the one it reuses)."""
        return self.data_from if self.data_from is not None else self.task_id

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "path": list(self.path),
            "parents": list(self.parents),
            "foreach": list(self.foreach),
            "reads": list(self.reads),
        }


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


def latest_attempts(tasks: list[TaskRecord]) -> list[TaskRecord]:
    """One task per place (step and foreach path): the last attempt (retries leave earlier
    ones on record), by step, then path."""
    latest: dict[tuple[str, tuple[int, ...]], TaskRecord] = {}
    for task in sorted(tasks, key=lambda t: t.task_id):
        latest[task.step, task.path] = task
    return [latest[place] for place in sorted(latest)]


def wall_span(tasks: Iterable[TaskRecord]) -> tuple[float | None, float | None]:
    """When a step began and ended in its run, as far as known: its first task's start, its
    last task's end (every attempt counts: a retry is time the step took)."""
    timed = list(tasks)
    starts = [t.started_at for t in timed if t.started_at is not None]
    ends = [t.finished_at for t in timed if t.finished_at is not None]
    return (min(starts) if starts else None), (max(ends) if ends else None)


def wall_time(tasks: Iterable[TaskRecord]) -> float | None:
    """A step's duration, the one figure every door shows (the cell's last line, the client,
    the badge, the graphs): its wall time in the run, first task start to last task end;
    None while one of its tasks has not ended."""
    timed = list(tasks)
    if not timed or any(t.finished_at is None for t in timed):
        return None
    started, finished = wall_span(timed)
    return None if started is None or finished is None else finished - started


@dataclass(frozen=True)
class StepSummary:
    """A step of a run in figures, as the graph and the sidebar draw it: how many of its places
    are in each status (the last attempt of each), and its wall span (every attempt). Read
    without loading a single task record, so that a live graph of a 100,000-task foreach
    costs a scan of the table, not 100,000 records."""

    statuses: tuple[tuple[str, int], ...]  # (status, places), the last attempt of each place
    started_at: float | None
    finished_at: float | None
    unfinished: bool  # an attempt has not ended: no duration yet

    @property
    def total(self) -> int:
        return sum(count for _, count in self.statuses)

    def count(self, status: str) -> int:
        return dict(self.statuses).get(status, 0)

    @property
    def duration(self) -> float | None:
        """As `wall_time`: first start to last end; None while an attempt has not ended."""
        if self.unfinished or self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


TaskRow = tuple[str, Any, str, float | None, float | None]  # step, place, status, start, end


def summarize_steps(rows: Iterable[TaskRow]) -> dict[str, StepSummary]:
    """The summary of each step, in the order its first task appears, from rows of its tasks
    in task id order (a later attempt at the same place replaces an earlier one, as in
    `latest_attempts`). `place` is anything equal for equal paths (the path's JSON text)."""
    last: dict[str, dict[Any, str]] = {}
    spans: dict[str, list[Any]] = {}
    for step, place, status, started, finished in rows:
        last.setdefault(step, {})[place] = status
        span = spans.setdefault(step, [None, None, False])
        if started is not None and (span[0] is None or started < span[0]):
            span[0] = started
        if finished is None:
            span[2] = True
        elif span[1] is None or finished > span[1]:
            span[1] = finished
    return {
        step: StepSummary(
            tuple(sorted(Counter(last[step].values()).items())), span[0], span[1], span[2]
        )
        for step, span in spans.items()
    }
