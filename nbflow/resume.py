"""Resume: which run to resume, and what of it a new run may take over.

A task of the origin run is taken over (by reference) when it finished and everything it read
is what the new run would give it; so a failed task, the steps from `--from` on, and whatever
depends on them run again, and nothing else does.
"""

from __future__ import annotations

import time

from nbflow.datastore import Stored
from nbflow.exceptions import NotFound, StepError
from nbflow.graph import FlowGraph
from nbflow.metadata import MetadataStore, TaskRecord
from nbflow.metadata.records import FINISHED_OK
from nbflow.runner import Place, Resume, place_of
from nbflow.storage import Store


def find_origin(meta: MetadataStore, flow: str, run_id: int | None, from_step: str | None) -> int:
    """The run to resume: the one named, or the latest failed run of the flow."""
    meta.reap_dead_runs()  # a run whose kernel was killed is failed, and can be resumed
    if run_id is not None:
        run = meta.run(flow, run_id)  # NotFound names the run
    else:
        failed = [r for r in meta.runs(flow) if r.status == "failed"]
        if not failed:
            raise NotFound(
                f"flow '{flow}' has no failed run to resume. To re-run part of a run, name it "
                "and where to start: `%flow resume RUN_ID --from STEP` in the notebook, or "
                "`nbflow resume NOTEBOOK --run RUN_ID --from STEP`."
            )
        run = failed[0]
    if run.status == "done" and from_step is None:
        raise StepError(
            f"run {flow}/{run.run_id} finished: there is nothing to resume. To run part of it "
            f"again, say from where: %flow resume {run.run_id} --from STEP."
        )
    if run.status == "running":
        raise StepError(
            f"run {flow}/{run.run_id} is still running (its process showed it was alive at "
            f"{_clock(run.heartbeat or run.started_at)}). Wait for it, or resume another run. "
            "A run whose process was killed is marked failed once it has been silent for "
            "NBFLOW_STALE_S seconds (default 60)."
        )
    return run.run_id


def _clock(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(seconds))


def resume_plan(
    store: Store, graph: FlowGraph, flow: str, run_id: int, from_step: str | None
) -> Resume:
    meta = store.meta
    if from_step is not None and from_step not in graph:
        raise StepError(
            f"--from {from_step}: no such step (steps: {', '.join(graph.steps)}).",
            step=from_step,
        )
    records = meta.tasks(flow, run_id)
    finished: dict[tuple[str, Place], list[TaskRecord]] = {}
    for record in sorted(records, key=lambda r: r.path):
        # Matched by element; a task in a foreach recorded before elements were (no frames)
        # cannot be matched so, and runs again.
        if record.status in FINISHED_OK and (record.foreach or not record.path):
            finished.setdefault((record.step, place_of(record.foreach)), []).append(record)
    context = {}
    for record in records:
        rows = meta.artifacts(record, kinds=("context",))
        if rows:
            context[(record.step, place_of(record.foreach))] = {
                a.name: Stored(a.key, a.size, a.type_name, meta.inline(a.key), a.preview)
                for a in rows
            }
    # A step whose code changed since the run runs again, with everything below it.
    recorded_code = {spec["name"]: code for _, spec, code in meta.steps(flow, run_id)}
    changed = {name for name in graph.steps if recorded_code.get(name) != graph[name].code}
    starts = changed | ({from_step} if from_step else set())
    rerun = set(starts).union(*(graph.descendants(name) for name in starts))
    by_name = {name: obj for seen in context.values() for name, obj in seen.items()}
    return Resume(
        tasks=finished,
        parents={r.task_id: r.data_task_id for r in records},
        rerun=rerun,
        context=context,
        context_by_name=by_name,
    )
