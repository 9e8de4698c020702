"""`%flow load RUN/STEP[/TASK]`: exactly what one task saw, to run its step's body by hand."""

from __future__ import annotations

from typing import Any

from nbflow.core.inputs import Inputs, InputView, split_conflicts
from nbflow.exceptions import NotFound
from nbflow.store.metadata import TaskRecord
from nbflow.store.metadata.records import latest_attempts
from nbflow.store.stores import Store


def task_inputs(store: Store, pathspec: str, *, default_flow: str) -> dict[str, Any]:
    """Names and values as the task's namespace held them before its code ran."""
    task = find_task(store, pathspec, default_flow)
    meta = store.meta
    parents = [meta.task(p) for p in task.parents]
    specs = {spec["name"]: spec for _, spec, _ in meta.steps(task.flow, task.run_id)}
    spec = specs.get(task.step, {})
    keys: dict[str, str] = {}
    values: dict[str, Any] = dict(meta.run(task.flow, task.run_id).params)
    if len(parents) == 1 and not spec.get("join"):
        keys.update({a.name: a.key for a in meta.artifacts(parents[0])})
    elif parents or spec.get("join"):
        views = [{a.name: a.key for a in meta.artifacts(p)} for p in parents]
        agreed, _ = split_conflicts(views)
        keys.update(agreed)
        values["inputs"] = Inputs(
            [
                InputView(p.step, p.task_id, i, view, store.load)
                for i, (p, view) in enumerate(zip(parents, views, strict=True))
            ]
        )
    keys.update({a.name: a.key for a in meta.artifacts(task, kinds=("context",))})
    if spec.get("foreach"):
        item_names = (spec.get("foreach_as") or "item", "item_index")
        outputs = meta.artifacts(task, kinds=("output",))
        keys.update({a.name: a.key for a in outputs if a.name in item_names})
    seen_by = f"task {task.flow}/{task.run_id}/{task.step}/{task.task_id}"
    for name, key in keys.items():
        values[name] = store.load(key, f"'{name}' (as {seen_by} saw it)")
    return values


def find_task(store: Store, pathspec: str, default_flow: str) -> TaskRecord:
    parts = pathspec.strip("/").split("/")
    if len(parts) in (2, 3) and parts[0].isdigit():
        parts = [default_flow, *parts]
    if len(parts) not in (3, 4) or not parts[1].isdigit():
        raise NotFound(
            f"'{pathspec}' is not RUN/STEP[/TASK] (for example `%flow load 12/train` or "
            "`%flow load hearthstone/12/train/345`)."
        )
    flow, run_id, step = parts[0], int(parts[1]), parts[2]
    tasks = [t for t in store.meta.tasks(flow, run_id, step) if t.status != "running"]
    if len(parts) == 4:
        chosen = [t for t in tasks if str(t.task_id) == parts[3]]
    else:
        chosen = latest_attempts(tasks)
    if len(chosen) == 1:
        return chosen[0]
    if not chosen:
        raise NotFound(f"no task {pathspec} (run {flow}/{run_id} has no such step or task).")
    listed = ", ".join(f"{t.task_id} (element {list(t.path)})" for t in chosen[:10])
    raise NotFound(
        f"step '{step}' of run {flow}/{run_id} has {len(chosen)} tasks: {listed}. "
        f"Name one: %flow load {flow}/{run_id}/{step}/{chosen[0].task_id}"
    )
