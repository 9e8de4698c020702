"""Resume: which run to resume, and what of it a new run may take over.

A task of the origin run is taken over (by reference) when it finished and everything it read
is what the new run would give it; so a failed task, the steps from `--from` on, and whatever
depends on them run again, and nothing else does.
"""

from __future__ import annotations

import time

from nbflow.core.graph import FlowGraph
from nbflow.exceptions import NotFound, StepError
from nbflow.run.runner import Place, Resume, place_of
from nbflow.store.blobs import Stored
from nbflow.store.metadata import MetadataStore, TaskRecord
from nbflow.store.metadata.liveness import this_process
from nbflow.store.metadata.records import FINISHED_OK, RunRecord, latest_attempts, same_notebook
from nbflow.store.stores import Store


def find_origin(
    meta: MetadataStore,
    flow: str,
    run_id: int | None,
    from_step: str | None,
    notebook: str | None = None,
) -> RunRecord:
    """The run to resume: the one named, or the latest failed (or incomplete) run of the flow
    made from `notebook` (a flow name alone may be shared by notebooks that never agreed to
    it)."""
    meta.reap_dead_runs()  # a run whose kernel was killed is failed, and can be resumed
    # NotFound names the run
    run = _latest_failed(meta, flow, notebook) if run_id is None else meta.run(flow, run_id)
    if not same_notebook(notebook, run.notebook):
        raise StepError(
            f"run {flow}/{run.run_id} was made by another notebook, {run.notebook}; this is "
            f"{notebook}. Resume it from that notebook (nbflow resume {run.notebook})."
        )
    if run.status == "done" and from_step is None:
        raise StepError(
            f"run {flow}/{run.run_id} finished: there is nothing to resume. To run part of it "
            f"again, say from where: %flow resume {run.run_id} --from STEP."
        )
    if run.status == "running":
        raise StepError(f"run {flow}/{run.run_id} is still running: {_alive(run)}.")
    return run


def _latest_failed(meta: MetadataStore, flow: str, notebook: str | None) -> RunRecord:
    runs = [r for r in meta.runs(flow) if same_notebook(notebook, r.notebook)]
    if runs and runs[0].status == "running":
        # Never an older failed run in its place: the latest may be the one the user means.
        latest = runs[0]
        raise StepError(
            f"the latest run of flow '{flow}', {flow}/{latest.run_id}, is still running: "
            f"{_alive(latest)}. Wait for it, or name the run to resume: "
            "`%flow resume RUN_ID` (or `nbflow resume NOTEBOOK --run RUN_ID`)."
        )
    # An incomplete run (a step cell run by hand left steps out) is resumed as a failed one:
    # what it lacks runs, on what it has.
    failed = [r for r in runs if r.status in ("failed", "incomplete")]
    if not failed:
        mine = f" from {notebook}" if notebook else ""
        raise NotFound(
            f"flow '{flow}' has no failed run{mine} to resume. To re-run part of a run, name it "
            "and where to start: `%flow resume RUN_ID --from STEP` in the notebook, or "
            "`nbflow resume NOTEBOOK --run RUN_ID --from STEP`."
        )
    return failed[0]


def _alive(run: RunRecord) -> str:
    if run.pid is not None and run.host == this_process().host:
        return f"its process {run.pid} on this host ({run.host}) is alive. Wait for it to end"
    return (
        f"its process{f' on {run.host}' if run.host else ''} showed it was alive at "
        f"{_clock(run.heartbeat or run.started_at)}. Wait for it; a run whose process was "
        "killed on another host is marked failed once it has been silent for NBFLOW_STALE_S "
        "seconds (default 60)"
    )


def why_failed(meta: MetadataStore, run: RunRecord) -> str:
    """Why a run failed, in a few words: "failed: its kernel died", "failed: step 'b' raised
    ValueError"."""
    if run.error:
        return f"{run.status}: {run.error}"
    if run.status == "incomplete":
        ran = {task.step for task in meta.tasks(run.flow, run.run_id)}
        missing = [spec["name"] for _, spec, _ in meta.steps(run.flow, run.run_id)]
        left = [name for name in missing if name not in ran]
        return f"incomplete: {', '.join(left) or 'some steps'} did not run"
    for task in latest_attempts(meta.tasks(run.flow, run.run_id)):
        if task.status == "failed":
            ename = (task.error or {}).get("ename", "an error")
            return f"{run.status}: step '{task.step}' raised {ename}"
    return run.status


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
