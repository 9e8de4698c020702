"""The meaning of a run, computed once: its results, its end artifacts, a step's status and
duration, the files it read, its errors, and a comparison of runs. Every door shows these:
`nbflow run`/`show`/`compare`, `nbflow.compare()`, the REST API, the widgets, the report and
the sidebar. Everything is read from records and previews; nothing is unpickled.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nbflow.exceptions import NotFound

if TYPE_CHECKING:
    from nbflow.query.client import Run, Step
    from nbflow.store.metadata import ArtifactRecord

STRING_RESULT_LIMIT = 50  # a string artifact up to this long counts as a scalar result


def end_artifacts(run: Run) -> dict[str, ArtifactRecord]:
    """The artifacts of the run's end step (`Run.end_step`): everything it could see (in a
    failed run, what the steps before the failure made); none when the run ends in a foreach."""
    try:
        return run.end_step.task.artifacts
    except NotFound:
        return {}


def results(artifacts: dict[str, ArtifactRecord]) -> dict[str, Any]:
    """The scalar results among `artifacts`, from their previews: numbers, booleans, None and
    short strings."""
    found = {}
    for name, artifact in artifacts.items():
        preview = artifact.preview
        if "value" in preview:
            found[name] = preview["value"]
        elif (
            artifact.type_name == "builtins.str"
            and preview.get("length", 1e9) <= STRING_RESULT_LIMIT
        ):
            try:
                found[name] = ast.literal_eval(preview["repr"])  # a literal, never code
            except (KeyError, ValueError, SyntaxError):
                continue
    return found


def run_results(run: Run) -> dict[str, Any]:
    """The scalar results of a run: those of its end step's artifacts."""
    return results(end_artifacts(run))


def step_status(step: Step) -> str:
    """The step's status; `skipped` when every one of its tasks was."""
    statuses = {task.status for task in step.tasks()}
    return "skipped" if statuses == {"skipped"} else step.status


def step_duration(step: Step) -> float | None:
    """From the first start to the last finish of its tasks (they may run in parallel)."""
    return step.duration


def files_read(run: Run) -> list[dict[str, Any]]:
    """Each file the run's tasks read, once: path, size, content hash and the steps that read
    it."""
    readers: dict[tuple[str, int, str], list[str]] = {}
    for step in run.steps():
        for task in step.tasks():
            for read in task.reads:
                steps = readers.setdefault((read["path"], read["size"], read["hash"]), [])
                if step.name not in steps:
                    steps.append(step.name)
    return [
        {"path": path, "size": size, "hash": digest, "steps": steps}
        for (path, size, digest), steps in readers.items()
    ]


def task_errors(run: Run) -> list[dict[str, str]]:
    """Each failed task: its id, and its exception in one line."""
    found = []
    for step in run.steps():
        for task in step.tasks():
            if task.status == "failed":
                found.append({"task": task.pathspec, "error": error_summary(task.error or {})})
    return found


def error_summary(error: dict[str, Any]) -> str:
    """A task's exception in one line: 'ValueError: element is bad'."""
    value = error.get("evalue")
    what = f"{error.get('ename') or 'Error'}: {'' if value is None else value}".strip()
    return what.splitlines()[0].strip() if what else "failed"


def show_view(run: Run) -> dict[str, Any]:
    """The run with its steps (each with its status and duration) and tasks, its results, the
    files it read and its failed tasks: what `nbflow show --json` prints and `nbflow show`
    and `nbflow run` describe."""
    steps = [
        {**step.as_dict(), "status": step_status(step), "duration": step_duration(step)}
        for step in run.steps()
    ]
    return {
        **run.as_dict(),
        "results": run_results(run),
        # Every end artifact, scalar or not, for the summary's one phrase each (`arr=ndarray 3
        # int64`): what the run made, read from its previews.
        "end_artifacts": {
            name: {"type": a.type_name, "size": a.size, "preview": a.preview}
            for name, a in end_artifacts(run).items()
        },
        "steps": steps,
        "files_read": files_read(run),
        "task_errors": task_errors(run),
    }


def comparison(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """One object per run: params, scalar results, artifacts (with `changed`), step durations,
    and under `differs` the names of params, results and artifacts that differ between runs."""
    views = [_compare_view(run) for run in runs]
    keys = [{n: a["key"] for n, a in v["artifacts"].items()} for v in views]
    differs = {
        "params": differing([v["params"] for v in views]),
        "results": differing([v["results"] for v in views]),
        "artifacts": differing(keys),
    }
    names = sorted({name for view in views for name in view["artifacts"]})
    missing = {"key": None, "type": None, "size": None}
    for view in views:
        found = view["artifacts"]
        view["artifacts"] = {
            n: {**found.get(n, missing), "changed": n in differs["artifacts"]} for n in names
        }
        view["differs"] = differs
    return views


def compare_rows(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """One row per run, as `nbflow.compare()` tabulates them: `run`, `status`, `duration`,
    `param.NAME` per parameter, then the run's scalar results under their own names; a
    result whose name one of those fields already has is `result.NAME`, so it never hides the
    run's own status or duration."""
    rows = []
    for run in runs:
        row: dict[str, Any] = {"run": run.pathspec, "status": run.status, "duration": run.duration}
        row.update({f"param.{name}": value for name, value in run.params.items()})
        for name, value in run_results(run).items():
            row[f"result.{name}" if name in row else name] = value
        rows.append(row)
    return rows


def _compare_view(run: Run) -> dict[str, Any]:
    artifacts = end_artifacts(run)
    return {
        **run.as_dict(),
        "results": results(artifacts),
        "step_durations": {step.name: step_duration(step) for step in run.steps()},
        "artifacts": {
            name: {"key": a.key, "type": a.type_name, "size": a.size}
            for name, a in artifacts.items()
        },
    }


def differing(mappings: Sequence[dict[str, Any]]) -> list[str]:
    """The names whose value is not the same in every mapping (absent counts as different)."""
    absent = object()
    names = dict.fromkeys(name for mapping in mappings for name in mapping)
    return [
        name
        for name in names
        if any(m.get(name, absent) != mappings[0].get(name, absent) for m in mappings[1:])
    ]
