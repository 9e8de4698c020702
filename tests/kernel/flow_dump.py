"""Print, as JSON, everything the nbflow client says about one flow.

    python flow_dump.py FLOW        (NBFLOW_DATASTORE names the datastore)

Run by the kernel tests in a fresh process, so what they check is what any later Python
process reads back through `from nbflow import Flow`, not what the kernel holds in memory.
Only the public client is used. Values that JSON cannot hold are given as type and repr.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from nbflow import Flow
from nbflow.exceptions import NotFound


def plain(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return {"__type__": f"{type(value).__module__}.{type(value).__qualname__}",
                "__repr__": repr(value)[:200]}  # fmt: skip
    return value


def dump_task(task: Any) -> dict[str, Any]:
    origin = task.origin
    record = task.as_dict()
    return {
        "id": task.pathspec,
        "task_id": task.task_id,
        "status": task.status,
        "path": record["path"],
        "parents": record["parents"],
        "item": plain(task.item),
        "stdout": task.stdout,
        "stderr": task.stderr,
        "error": task.error,
        "origin": origin.pathspec if origin is not None else None,
        "artifacts": {
            name: {
                "key": a.key,
                "kind": a.kind,
                "type": a.type_name,
                "size": a.size,
                "preview": a.preview,
            }
            for name, a in task.artifacts.items()
        },
        "data": {name: plain(getattr(task.data, name)) for name in task.artifacts},
    }


def dump_run(run: Any) -> dict[str, Any]:
    steps = {step.name: [dump_task(t) for t in step.tasks()] for step in run.steps()}
    try:
        data = {name: plain(getattr(run.data, name)) for name in dir(run.data)}
    except NotFound:
        data = None
    return {
        "id": run.pathspec,
        "run_id": run.run_id,
        "status": run.status,
        "params": run.params,
        "started_at": run.as_dict()["started_at"],  # seconds since the epoch, as JSON has it
        "finished_at": run.as_dict()["finished_at"],
        "steps": steps,
        "data": data,
    }


def main(flow: str) -> None:
    runs = [dump_run(run) for run in Flow(flow).runs()]
    print(json.dumps({"flow": flow, "runs": runs}))


if __name__ == "__main__":
    main(sys.argv[1])
