"""Views of runs as plain data: what the graph, the run browser, the report and the REST API
show. Built from records and previews only; nothing is ever unpickled to build a view."""

from __future__ import annotations

from collections import Counter
from typing import Any

from nbflow.query.client import Run, Step, Task

TASK_STATUSES = ("done", "failed", "running", "skipped", "cached", "pending")


def run_view(run: Run) -> dict[str, Any]:
    """The run with one entry per step of its graph, in notebook order."""
    recorded = {step.name: step for step in run.steps()}
    planned = run._store.meta.planned(run.flow, run.run_id)
    steps = [
        step_view(spec, recorded.get(spec["name"]), run.status, planned.get(spec["name"]))
        for spec in _specs(run)
    ]
    return {**run.as_dict(), "steps": steps}


def _specs(run: Run) -> list[dict[str, Any]]:
    # The graph as the run recorded it; a step with tasks but no record (older runs) too.
    specs = list(run._specs.values())
    known = {spec["name"] for spec in specs}
    for step in run.steps():
        if step.name not in known:
            specs.append({"name": step.name, "parents": [], "foreach": None, "join": False})
    return specs


def step_view(
    spec: dict[str, Any], step: Step | None, run_status: str, planned: int | None = None
) -> dict[str, Any]:
    base = {
        "name": spec["name"],
        "parents": list(spec.get("parents", [])),
        "foreach": spec.get("foreach"),
        "join": bool(spec.get("join")),
        "env": list(spec.get("env") or []),  # its own environment's requirements, if any
        "python": spec.get("python"),
    }
    if step is None:
        # Not run (yet): pending while the run goes on; otherwise the run never got there.
        status = "pending" if run_status == "running" else "stale"
        return {**base, "status": status, "duration": None, "started_at": None,
                "finished_at": None, "tasks": _counts([])}  # fmt: skip
    tasks = step.tasks()
    counts = _counts(tasks)
    status = _step_status(tasks)
    if planned is not None and run_status == "running" and len(tasks) < planned:
        # Tasks still to start: the step is under way, k of n.
        counts = {**counts, "total": planned, "pending": planned - len(tasks)}
        status = "running" if status in ("done", "cached", "running") else status
    starts = [t._record.started_at for t in tasks if t._record.started_at is not None]
    ends = [t._record.finished_at for t in tasks if t._record.finished_at is not None]
    started, finished = (min(starts) if starts else None), (max(ends) if ends else None)
    return {
        **base,
        "status": status,
        "duration": finished - started if started is not None and finished else None,
        "started_at": started,
        "finished_at": finished,
        "tasks": counts,
    }


def _step_status(tasks: list[Task]) -> str:
    statuses = {t.status for t in tasks}
    for status in ("failed", "running"):
        if status in statuses:
            return status
    if statuses and statuses <= {"skipped"}:
        return "skipped"
    if statuses and statuses <= {"cached"}:
        return "cached"
    return "done" if statuses else "pending"


def _counts(tasks: list[Task]) -> dict[str, int]:
    counted = Counter(t.status for t in tasks)
    return {"total": len(tasks), **{status: counted.get(status, 0) for status in TASK_STATUSES}}


def task_view(task: Task) -> dict[str, Any]:
    """One task: its artifacts with previews, logs, error and rich outputs."""
    return {
        **task.as_dict(),
        "displays": task.displays,
        "origin": task.origin.pathspec if task.origin is not None else None,
    }
