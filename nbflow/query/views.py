"""Views of runs as plain data: what the graph, the run browser, the report and the REST API
show. Built from records and previews only; nothing is ever unpickled to build a view.

Each view is a TypedDict, and these TypedDicts are the contract with the browser:
labextension/src/views.ts is generated from them (labextension/scripts/viewtypes.py), so the
TypeScript reads exactly what Python sends. Besides the views this module builds (`run_view`,
`step_view`, `task_view`), it declares the shapes the REST API (nbflow.server.replies,
nbflow.server.check) and the widgets (nbflow.widgets.tasks, nbflow.widgets.compare) add around
them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast

from nbflow.store.metadata.records import ArtifactRecord, StepSummary

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # a dependency on Python 3.10 (pyproject.toml)
    from typing_extensions import NotRequired

if TYPE_CHECKING:
    from nbflow.query.client import Run, Task

TASK_STATUSES = ("done", "failed", "running", "skipped", "cached", "pending")

TaskStatus = Literal["done", "failed", "running", "skipped", "cached", "pending"]
# A step of the flow that has no tasks in a run that has ended is `not_run`: the run never got
# there (a failure above it, or a step cell run by hand that left the steps below it out).
StepStatus = Literal["done", "failed", "running", "skipped", "cached", "pending", "not_run"]


# ------------------------------------------------------------------ runs and steps


class RunSummary(TypedDict):
    """A run as lists show it (`Run.as_dict()`)."""

    id: str  # "flow/12"
    flow: str
    run_id: int
    status: str  # running, done, incomplete, failed (nbflow.store.metadata.records)
    started_at: float  # seconds since the epoch
    finished_at: float | None
    duration: float | None  # seconds
    params: dict[str, Any]
    tags: list[str]
    error: str | None  # why it failed when no task did (its notebook stopped early)


class TaskCounts(TypedDict):
    """A step's tasks by status (`total`: every task, or the planned number while running)."""

    total: int
    done: int
    failed: int
    running: int
    skipped: int
    cached: int
    pending: int


class StepView(TypedDict):
    """One step of a run's graph: its shape, status, timing and task counts."""

    name: str
    parents: list[str]
    foreach: str | None  # the parent's artifact it fans out over
    join: bool
    env: list[str]  # its own environment's requirements (%%step --env), if any
    python: str | None  # its own environment's Python (%%step --python)
    status: StepStatus
    duration: float | None  # its wall time: first task start to last task end (records.wall_time)
    started_at: float | None
    finished_at: float | None
    tasks: TaskCounts


class RunView(RunSummary):
    """The run with one entry per step of its graph, in notebook order."""

    steps: list[StepView]


# ------------------------------------------------------------------ tasks


class ArtifactView(TypedDict):
    """An artifact of a task: its content key and the preview stored with it."""

    name: str
    key: str  # the hash of its bytes
    kind: str  # "output" (bound by the step), "inherited" (from a parent), "context"
    size: int  # bytes
    type_name: str
    preview: dict[str, Any]  # plain data made when it was stored (nbflow.store.blobs)


class FileRead(TypedDict):
    """A file the task opened for reading: its data lineage."""

    path: str  # absolute
    size: int  # bytes
    hash: str  # xxh3-128 of the content, hex


class ForeachFrame(TypedDict):
    """One enclosing foreach of a task, outermost first."""

    step: str
    name: str  # what the element is called inside (`item`, or --as)
    index: int
    count: int
    key: str  # the element, stored as a blob


class TaskError(TypedDict):
    """Why a task failed: the exception, its traceback and the line of the step's cell."""

    ename: str
    evalue: str
    traceback: NotRequired[str]  # a task lost with its process has none
    line: NotRequired[int | None]


class Display(TypedDict):
    """A rich output the task showed (a MIME bundle); `notes`: what was cut from it."""

    data: dict[str, Any]
    metadata: NotRequired[dict[str, Any]]
    notes: NotRequired[list[str]]


class TaskView(TypedDict):
    """One task: its record, artifacts with previews, logs, error and rich outputs."""

    id: str  # "flow/12/step/7"
    task_id: int
    flow: str
    run_id: int
    step: str
    status: TaskStatus
    attempt: int
    path: list[int]  # its place: the foreach indices leading to it
    parents: list[int]
    foreach: list[ForeachFrame]
    origin: str | None  # the task it reuses (a `cached` one), as an id
    data_from: int | None
    cache_key: str | None
    started_at: float | None
    finished_at: float | None
    duration: float | None
    stdout: str
    stderr: str
    error: TaskError | None
    displays: list[Display]
    reads: list[FileRead]
    artifacts: list[ArtifactView]


class TaskDetails(TaskView):
    """A task as a panel shows it (nbflow.widgets.tasks): logs, tracebacks and rich outputs
    cut to size."""

    displays_left_out: int
    item_name: str | None  # the foreach element's name, for a task inside a foreach


class StepTasks(TypedDict):
    """What a click on a step shows: its tasks, the first ones and every failed one."""

    type: Literal["tasks"]
    step: str
    total: int
    tasks: list[TaskDetails]
    note: str  # why there are none, or how many are shown


# ------------------------------------------------------------------ the REST API's replies


class FlowSummary(TypedDict):
    name: str
    runs: int
    latest: RunSummary | None


class FlowsReply(TypedDict):
    datastore: str
    flows: list[FlowSummary]


class RunRow(RunSummary):
    """A run of a listing, with the scalar results of its last step (None: not read yet)."""

    results: dict[str, Any] | None


class RunsPage(TypedDict):
    flow: str
    total: int
    runs: list[RunRow]


class LayoutBox(TypedDict):
    name: str
    x: float
    y: float
    width: float
    height: float
    layer: int


class LayoutEdge(TypedDict):
    source: str
    target: str
    points: list[list[float]]  # [x, y] from the source's bottom to the target's top


class GraphLayout(TypedDict):
    """Where the graph's boxes and edges go (nbflow.render.layout)."""

    boxes: list[LayoutBox]
    edges: list[LayoutEdge]
    width: float
    height: float


class RunReply(RunView):
    layout: GraphLayout
    svg: str


class ValueRow(TypedDict):
    """A parameter or result across the compared runs, in run order."""

    name: str
    differs: bool
    present: list[bool]
    values: list[Any]


class ArtifactCell(TypedDict):
    key: str | None  # None: the run has no such artifact
    type: str | None
    size: int | None
    preview: dict[str, Any] | None


class ArtifactRow(TypedDict):
    name: str
    changed: bool
    cells: list[ArtifactCell]


class ComparedRun(TypedDict):
    id: str
    status: str
    started_at: float
    finished_at: float | None
    duration: float | None
    tags: list[str]


class Comparison(TypedDict):
    """Runs side by side (nbflow.widgets.compare.compare_view)."""

    runs: list[ComparedRun]
    params: list[ValueRow]
    results: list[ValueRow]
    artifacts: list[ArtifactRow]
    timeline: str  # the step timeline as an SVG data: URI


class CompareReply(Comparison):
    timeline_svg: str


class CheckStep(TypedDict):
    """A `%%step` cell as the kernel would read it."""

    cell_id: str
    name: str
    parents: list[str]
    foreach: str | None
    join: bool
    error: str | None
    changed: bool | None  # edited since it last ran (None: it never ran)


class CheckError(TypedDict):
    cell_id: str | None
    message: str


class CheckResult(TypedDict):
    flow: str
    steps: list[CheckStep]
    errors: list[CheckError]


# ------------------------------------------------------------------ building the views


def run_summary(run: Run) -> RunSummary:
    return {
        "id": run.pathspec,  # the views' id names the run whole: flow/run
        "flow": run.flow,
        "run_id": run.run_id,
        "status": run.status,
        "started_at": run._record.started_at,  # seconds since the epoch, for JSON
        "finished_at": run._record.finished_at,
        "duration": run.duration,
        "params": run.params,
        "tags": list(run._record.tags),  # user tags: what the sidebar edits
        "error": run.error,
    }


def run_view(run: Run) -> RunView:
    """The run with one entry per step of its graph, in notebook order. Built from each step's
    figures (`MetadataStore.step_summaries`), never from its task records: a live graph or the
    sidebar redraws a run of 100,000 tasks at the cost of a few statements."""
    summaries = run._summaries
    planned = run._store.meta.planned(run.flow, run.run_id)
    steps = [
        step_view(spec, summaries.get(spec["name"]), run.status, planned.get(spec["name"]))
        for spec in _specs(run, summaries)
    ]
    return {**run_summary(run), "steps": steps}


def _specs(run: Run, summaries: Mapping[str, StepSummary]) -> list[dict[str, Any]]:
    # The graph as the run recorded it; a step with tasks but no record (older runs) too.
    specs = list(run._specs.values())
    known = {spec["name"] for spec in specs}
    for name in summaries:
        if name not in known:
            specs.append({"name": name, "parents": [], "foreach": None, "join": False})
    return specs


def step_view(
    spec: Mapping[str, Any],
    summary: StepSummary | None,
    run_status: str,
    planned: int | None = None,
) -> StepView:
    counts = _counts(summary)
    status: StepStatus = _step_status(summary)
    if summary is None:
        # Not run (yet): pending while the run goes on; otherwise the run never got there.
        status = "pending" if run_status == "running" else "not_run"
    elif planned is not None and run_status == "running" and summary.total < planned:
        # Tasks still to start: the step is under way, k of n.
        counts = {**counts, "total": planned, "pending": planned - summary.total}
        status = "running" if status in ("done", "cached", "running") else status
    return {
        "name": spec["name"],
        "parents": list(spec.get("parents", [])),
        "foreach": spec.get("foreach"),
        "join": bool(spec.get("join")),
        "env": list(spec.get("env") or []),
        "python": spec.get("python"),
        "status": status,
        "duration": summary.duration if summary is not None else None,
        "started_at": summary.started_at if summary is not None else None,
        "finished_at": summary.finished_at if summary is not None else None,
        "tasks": counts,
    }


def _step_status(summary: StepSummary | None) -> TaskStatus:
    statuses = {status for status, _ in summary.statuses} if summary is not None else set()
    for status in ("failed", "running"):
        if status in statuses:
            return status
    if statuses and statuses <= {"skipped"}:
        return "skipped"
    if statuses and statuses <= {"cached"}:
        return "cached"
    return "done" if statuses else "pending"


def _counts(summary: StepSummary | None) -> TaskCounts:
    count = summary.count if summary is not None else (lambda _status: 0)
    return {
        "total": summary.total if summary is not None else 0,
        "done": count("done"),
        "failed": count("failed"),
        "running": count("running"),
        "skipped": count("skipped"),
        "cached": count("cached"),
        "pending": count("pending"),
    }


def task_view(task: Task) -> TaskView:
    """One task: its artifacts with previews, logs, error and rich outputs."""
    record = task._record
    # Records hold these as plain dicts of the shapes nbflow.run wrote (error_record, the
    # foreach frames, nbflow.run.reads, IPython's display data).
    return {
        "id": task.pathspec,
        "task_id": record.task_id,
        "flow": record.flow,
        "run_id": record.run_id,
        "step": record.step,
        "status": cast(TaskStatus, record.status),
        "attempt": record.attempt,
        "path": list(record.path),
        "parents": list(record.parents),
        "foreach": [cast(ForeachFrame, dict(frame)) for frame in record.foreach],
        "origin": task.origin.pathspec if task.origin is not None else None,
        "data_from": record.data_from,
        "cache_key": record.cache_key,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "duration": task.duration,
        "stdout": record.stdout,
        "stderr": record.stderr,
        "error": cast("TaskError | None", record.error),
        "displays": [cast(Display, shown) for shown in record.displays],
        "reads": [cast(FileRead, dict(read)) for read in record.reads],
        "artifacts": [_artifact_view(a) for a in task.artifacts.values()],
    }


def _artifact_view(artifact: ArtifactRecord) -> ArtifactView:
    return {
        "name": artifact.name,
        "key": artifact.key,
        "kind": artifact.kind,
        "size": artifact.size,
        "type_name": artifact.type_name,
        "preview": artifact.preview,
    }
