"""What a run's HTML report shows, as plain data: `report_view(run)`, drawn by
`nbflow.render.report.render_report`.

The view holds everything the page shows and nothing it draws: the run's facts, parameters and
results (`nbflow.query.results`), the graph view (`nbflow.query.views.run_view`) for the
pictures, and per step its tasks with their errors, artifacts (stored previews), logs and rich
outputs. Numbers stay numbers and texts stay whole; formatting, cutting and escaping are the
renderer's. Nothing is unpickled.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TypedDict

from nbflow.query.results import end_artifacts, error_summary, results, step_duration
from nbflow.query.views import RunView, StepView, TaskCounts, run_view
from nbflow.render.report import render_report

if TYPE_CHECKING:
    from nbflow.query.client import Run, Step, Task
    from nbflow.store.metadata import ArtifactRecord

__all__ = ["ReportView", "report_html", "report_view"]

ELEMENT_LIMIT = 500  # foreach elements listed in a step's table
DETAIL_LIMIT = 20  # foreach elements shown in full (failed ones always, up to ELEMENT_LIMIT)
DISPLAY_LIMIT = 50  # rich outputs shown per task


class ArtifactView(TypedDict):
    name: str
    type: str
    size: int
    preview: dict[str, Any]


class ErrorView(TypedDict):
    summary: str  # "ValueError: element is bad", one line
    line: int | None  # the cell line it was raised at, when known
    traceback: str


class TaskReport(TypedDict):
    id: str
    element: str  # its position in the innermost foreach ("" outside one)
    status: str
    attempt: int
    duration: float | None
    origin: str | None  # the task a cached one reuses
    failed: bool
    error: ErrorView | None
    artifacts: list[ArtifactView]  # its own
    inherited: list[ArtifactView]  # from earlier steps (empty where not shown)
    stdout: str
    stderr: str
    displays: list[Any]  # stored MIME bundles, as recorded


class ElementRow(TypedDict):
    element: str
    item: dict[str, Any] | None  # the element's stored preview (None: not stored)
    status: str
    duration: float | None
    error: str  # one line, "" when none
    outputs: list[ArtifactView]


class ElementsView(TypedDict):
    rows: list[ElementRow]  # the first ELEMENT_LIMIT elements
    unlisted: int  # elements beyond them
    details: list[TaskReport]  # shown in full: the first DETAIL_LIMIT, and every failed one
    not_detailed: int  # listed elements not shown in full


class StepReport(TypedDict):
    name: str
    status: str
    duration: float | None  # nbflow.query.results.step_duration
    parents: list[str]
    foreach: str | None
    join: bool
    counts: TaskCounts  # tasks per status, and "total"
    ran: bool  # it has tasks in this run
    task: TaskReport | None  # a step of one task (not a foreach)
    elements: ElementsView | None  # a foreach, or a step of several tasks


class ReportView(TypedDict):
    id: str
    flow: str
    status: str
    started_at: float | None
    finished_at: float | None
    duration: float | None
    elapsed: float | None  # a running run: seconds since it started
    tags: list[str]
    params: dict[str, Any]
    results: dict[str, Any]
    graph: RunView  # the run's graph view (nbflow.query.views.run_view)
    steps: list[StepReport]


def report_html(run: Run) -> str:
    """The run's report as one self-contained HTML page."""
    return render_report(report_view(run))


def report_view(run: Run) -> ReportView:
    """Everything the report of `run` shows."""
    graph = run_view(run)
    recorded = {step.name: step for step in run.steps()}
    summary = run.as_dict()  # the id (flow/run), times in seconds since the epoch, user tags
    started = summary["started_at"]
    running = run.status == "running" and started is not None
    return {
        "id": summary["id"],
        "flow": run.flow,
        "status": run.status,
        "started_at": started,
        "finished_at": summary["finished_at"],
        "duration": run.duration,
        "elapsed": time.time() - started if running else None,
        "tags": summary["tags"],
        "params": run.params,
        "results": results(end_artifacts(run)),
        "graph": graph,
        "steps": [_step(view, recorded.get(str(view["name"]))) for view in graph["steps"]],
    }


def _step(view: StepView, step: Step | None) -> StepReport:
    tasks = step.tasks() if step is not None else []
    several = bool(view.get("foreach")) or len(tasks) > 1
    item_name = str((step.spec if step else {}).get("foreach_as") or "item")
    return {
        "name": str(view["name"]),
        "status": str(view["status"]),
        "duration": step_duration(step) if step is not None else None,
        "parents": [str(parent) for parent in view.get("parents") or []],
        "foreach": view.get("foreach"),
        "join": bool(view.get("join")),
        "counts": view["tasks"],
        "ran": bool(tasks),
        "task": _task(tasks[0]) if tasks and not several else None,
        "elements": _elements(tasks, item_name) if tasks and several else None,
    }


def _elements(tasks: list[Task], item_name: str) -> ElementsView:
    listed = tasks[:ELEMENT_LIMIT]
    detailed = [t for i, t in enumerate(listed) if i < DETAIL_LIMIT or _failed(t)]
    return {
        "rows": [_element_row(task, item_name) for task in listed],
        "unlisted": len(tasks) - len(listed),
        "details": [_task(task, inherited=False) for task in detailed],
        "not_detailed": len(listed) - len(detailed),
    }


def _element_row(task: Task, item_name: str) -> ElementRow:
    # A failed element stored nothing, so its item is not known without unpickling the list.
    item = task.artifacts.get(item_name)
    outputs = [a for a in _own(task) if a.name not in (item_name, "item_index")]
    return {
        "element": _element(task),
        "item": item.preview if item is not None else None,
        "status": task.status,
        "duration": task.duration,
        "error": error_summary(task.error) if task.error else "",
        "outputs": [_artifact(a) for a in outputs],
    }


def _task(task: Task, *, inherited: bool = True) -> TaskReport:
    earlier = [a for a in task.artifacts.values() if a.kind == "inherited"] if inherited else []
    origin = task.origin if task.status == "cached" else None
    return {
        "id": task.pathspec,
        "element": _element(task),
        "status": task.status,
        "attempt": task.attempt,
        "duration": task.duration,
        "origin": origin.pathspec if origin is not None else None,
        "failed": _failed(task),
        "error": _error(task.error) if task.error else None,
        "artifacts": [_artifact(a) for a in _own(task)],
        "inherited": [_artifact(a) for a in earlier],
        "stdout": task.stdout or "",
        "stderr": task.stderr or "",
        "displays": task.displays[:DISPLAY_LIMIT],
    }


def _error(error: dict[str, Any]) -> ErrorView:
    line = error.get("line")
    return {
        "summary": error_summary(error),
        "line": line if isinstance(line, int) and not isinstance(line, bool) else None,
        "traceback": str(error.get("traceback") or ""),
    }


def _artifact(artifact: ArtifactRecord) -> ArtifactView:
    return {
        "name": artifact.name,
        "type": artifact.type_name,
        "size": artifact.size,
        "preview": artifact.preview,
    }


def _own(task: Task) -> list[ArtifactRecord]:
    return [a for a in task.artifacts.values() if a.kind != "inherited"]


def _element(task: Task) -> str:
    path = task.path
    return str(path[-1]) if path else ""


def _failed(task: Task) -> bool:
    return task.status == "failed" or bool(task.error)
