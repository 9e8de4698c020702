"""What the graph's side panel shows for one step: its tasks as plain data, bounded.

Built from `nbflow.query.views.task_view` (records and previews; nothing is unpickled). Logs and
tracebacks are cut (head and tail kept, with a note), rich outputs are capped in number and
size, and a foreach with many elements sends its first elements and every failed one, so one
click never ships megabytes to the browser.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from nbflow.exceptions import NotFound
from nbflow.query.views import Display, StepTasks, TaskDetails, task_view

if TYPE_CHECKING:
    from nbflow.query.client import Run, Task

TASK_LIMIT = 50  # tasks of one step sent (failed ones are added, up to FAILED_LIMIT)
FAILED_LIMIT = 50
LOG_LIMIT = 20_000  # characters of a log or traceback; the head and the tail are kept
DISPLAY_LIMIT = 20  # rich outputs of one task
IMAGE_LIMIT = 4_000_000  # characters of one base64 image


def step_tasks(run: Run, name: str) -> StepTasks:
    """The reply to a click on step `name`: `{"type": "tasks", "step", "total", "tasks",
    "note"}`; a step that has not run has no tasks and a note saying why."""
    reply: StepTasks = {"type": "tasks", "step": name, "total": 0, "tasks": [], "note": ""}
    try:
        step = run[name]
    except NotFound:
        reply["note"] = "not started yet" if run.status == "running" else "not run in this run"
        return reply
    tasks = step.tasks()
    shown = _chosen(tasks)
    item_name = str(step.spec.get("foreach_as") or "item") if step.spec.get("foreach") else None
    reply["total"] = len(tasks)
    reply["tasks"] = [bounded_task_view(task, item_name) for task in shown]
    if len(shown) < len(tasks):
        reply["note"] = f"{len(shown):,} of {len(tasks):,} tasks shown (the first ones and failed)"
    return reply


def _chosen(tasks: list[Task]) -> list[Task]:
    first = tasks[:TASK_LIMIT]
    failed = [t for t in tasks[TASK_LIMIT:] if t.status == "failed"][:FAILED_LIMIT]
    return first + failed


def bounded_task_view(task: Task, item_name: str | None = None) -> TaskDetails:
    """`nbflow.query.views.task_view`, with logs, tracebacks and rich outputs cut to what a browser
    panel can show (a huge log never reaches the page whole)."""
    view = task_view(task)
    shown: list[object] = list(view["displays"])
    if task.status == "cached" and not shown and task.origin is not None:
        shown = list(task.origin.displays)  # a reused task shows what its origin showed
    error = view["error"]
    if isinstance(error, Mapping):
        error = {**error, "traceback": cut(_text(error.get("traceback")))}
    displays = [_display(one) for one in shown]
    return {
        **view,
        "stdout": cut(view["stdout"] or ""),
        "stderr": cut(view["stderr"] or ""),
        "error": error,
        "displays": displays[:DISPLAY_LIMIT],
        "displays_left_out": max(len(displays) - DISPLAY_LIMIT, 0),
        "item_name": item_name,
    }


def cut(text: str, limit: int = LOG_LIMIT) -> str:
    """`text`, or its head and tail with a note of how much was left out between them."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n… {len(text) - limit:,} more characters …\n{text[-half:]}"


def _display(shown: object) -> Display:
    """A stored MIME bundle, each entry as one string; an oversized one left out with a note."""
    data = shown.get("data") if isinstance(shown, Mapping) else None
    metadata = shown.get("metadata") if isinstance(shown, Mapping) else None
    kept: dict[str, str] = {}
    notes: list[str] = []
    for mime, value in (data if isinstance(data, Mapping) else {}).items():
        text = _text(value)
        if len(text) > (IMAGE_LIMIT if str(mime).startswith("image/") else LOG_LIMIT):
            notes.append(f"{mime} output of {len(text):,} characters left out")
        else:
            kept[str(mime)] = text
    return {
        "data": kept,
        "metadata": dict(metadata) if isinstance(metadata, Mapping) else {},
        "notes": notes,
    }


def _text(value: object) -> str:
    # Notebook files may hold a text output as a list of lines.
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    return "" if value is None else str(value)
