"""The body of each GET route, built from one datastore with the views the widgets show.

Each function takes the store (None while the datastore folder does not exist yet) and
arguments already validated, reads records and stored previews only (nothing is unpickled),
and raises NotFound for a flow, run, step or task the store does not hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from nbflow.exceptions import NotFound
from nbflow.query.client import Flow, Run, Task, check_flow, reap_quietly
from nbflow.query.results import run_results
from nbflow.query.views import (
    CompareReply,
    FlowsReply,
    FlowSummary,
    GraphLayout,
    RunReply,
    RunRow,
    RunsPage,
    StepTasks,
    TaskDetails,
    run_summary,
    run_view,
)
from nbflow.render.layout import layout
from nbflow.render.svg import render_svg
from nbflow.server.validation import RunRef
from nbflow.store.stores import Store
from nbflow.widgets.tasks import bounded_task_view, step_tasks


def flows_reply(store: Store | None, datastore: str) -> FlowsReply:
    """Every flow with its number of runs and its latest run."""
    if store is None:
        return {"datastore": datastore, "flows": []}
    reap_quietly(store)
    flows: list[FlowSummary] = []
    for name in store.meta.flows():
        newest = store.meta.runs(name, limit=1)
        latest = run_summary(Run(newest[0], store=store)) if newest else None
        flows.append({"name": name, "runs": store.meta.count_runs(name), "latest": latest})
    return {"datastore": datastore, "flows": flows}


def runs_reply(store: Store | None, flow: str, limit: int, offset: int) -> RunsPage:
    """One page of a flow's runs, newest first, each with the scalar results of its last step.
    A flow with no runs yet (or no datastore yet) has an empty list."""
    if store is None:
        return {"flow": flow, "total": 0, "runs": []}
    reap_quietly(store)
    total = store.meta.count_runs(flow)
    page = [Run(record, store=store) for record in store.meta.runs(flow, limit, offset)]
    rows: list[RunRow] = [{**run_summary(run), "results": run_results(run)} for run in page]
    return {"flow": flow, "total": total, "runs": rows}


def run_reply(store: Store | None, ref: RunRef) -> RunReply:
    """The run's view (steps with status, counts, durations), its graph layout and picture."""
    view = run_view(open_run(store, ref))
    drawing = layout(view["steps"])
    # Layout.as_dict() makes the GraphLayout shape (render/ sits below query/ and cannot name it).
    placed = cast(GraphLayout, drawing.as_dict())
    # The sidebar draws the run's id and status above the picture, so the picture has none.
    return {**view, "layout": placed, "svg": render_svg(view, drawing, header=False)}


def step_reply(store: Store | None, ref: RunRef, step: str) -> StepTasks:
    """What a click on the step shows: its tasks, bounded (see nbflow.widgets.tasks)."""
    run = open_run(store, ref)
    _check_step(existing(store, ref.flow), run, step)
    return step_tasks(run, step)


def task_reply(store: Store | None, ref: RunRef, step: str, task_id: int) -> TaskDetails:
    """One task (any attempt) of the step: artifacts with previews, logs, error, outputs."""
    run = open_run(store, ref)
    found = existing(store, ref.flow)
    records = found.meta.tasks(run.flow, run.run_id, step)
    record = next((record for record in records if record.task_id == task_id), None)
    if record is None:
        _check_step(found, run, step)
        known = ", ".join(str(record.task_id) for record in records[:20]) or "none"
        raise NotFound(
            f"step '{step}' of run {run.pathspec} has no task {task_id} (its tasks: {known})"
        )
    return bounded_task_view(Task(record, store=found, spec=run[step].spec))


def compare_reply(store: Store | None, refs: Sequence[RunRef]) -> CompareReply:
    """The runs side by side, as the compare widget shows them, and the step timeline."""
    # lazy: widgets.compare defines the widget: it imports anywidget and ipywidgets (0.25 s)
    from nbflow.widgets.compare import compare_view, timeline_svg  # noqa: PLC0415

    runs = [open_run(store, ref) for ref in refs]
    return {**compare_view(runs), "timeline_svg": timeline_svg(runs)}


def open_run(store: Store | None, ref: RunRef) -> Run:
    """The run `ref` names (its flow's latest when no id is given); NotFound otherwise."""
    found = existing(store, ref.flow)
    check_flow(found, ref.flow)
    if ref.run_id is None:
        return Flow(ref.flow, store=found, namespace_check=False).latest_run
    return Run(found.meta.run(ref.flow, ref.run_id), store=found)


def existing(store: Store | None, flow: str) -> Store:
    if store is None:
        raise NotFound(f"no flow '{flow}': nothing has run with this datastore yet.")
    return store


def _check_step(store: Store, run: Run, step: str) -> None:
    """NotFound unless `step` is in the run's graph or has tasks in it."""
    recorded = [spec["name"] for _, spec, _ in store.meta.steps(run.flow, run.run_id)]
    if step not in recorded and not store.meta.tasks(run.flow, run.run_id, step):
        known = ", ".join(recorded) or "none"
        raise NotFound(f"run {run.pathspec} has no step '{step}' (its steps: {known})")
