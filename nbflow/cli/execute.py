"""`nbflow run`: execute a notebook headless as one run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nbflow.exceptions import NbflowError


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    run = commands.add_parser("run", help="execute a notebook headless in a fresh kernel")
    run.add_argument("notebook", type=Path, help="the .ipynb file")
    run.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from nbflow.client import Run
    from nbflow.headless import print_progress, run_notebook

    path: Path = args.notebook
    if not path.is_file():
        raise NbflowError(f"no notebook at {path}. Give the path of an .ipynb file.")
    print(f"nbflow: running {path} in a fresh kernel", file=sys.stderr)
    result = run_notebook(path, timeout=args.timeout, progress=print_progress)
    for record in result.runs:
        print(describe(Run(record, store=_store_beside(path))))
    if result.error is not None:
        failed = [r for r in result.runs if r.status == "failed"]
        where = f" (run {failed[-1].flow}/{failed[-1].run_id})" if failed else ""
        print(f"nbflow: the notebook failed{where}:\n{_last_lines(result.error)}", file=sys.stderr)
        return 1
    if not result.runs:
        print("nbflow: the notebook ran, but made no run (does it have %%step cells?)")
        return 0
    last = result.runs[-1]
    store = _store_beside(path).root
    print(
        f"stored in {store}; read it back with "
        f'NBFLOW_DATASTORE={store} python -c "from nbflow import Run; '
        f"print(Run('{last.flow}/{last.run_id}'))\""
    )
    return 0


def describe(run: Any) -> str:
    lines = [f"run {run.id}: {run.status} in {run.duration or 0:.2f} s, params {run.params}"]
    for step in run.steps():
        tasks = step.tasks()
        took = sum(t.duration or 0 for t in tasks)
        lines.append(f"  {step.name:<18} {len(tasks):>4} task(s)  {step.status:<7} {took:.3f} s")
    try:
        artifacts = run.end_step.task.artifacts
    except NbflowError:
        artifacts = {}
    # The last step's own results, and the scalar results it inherited.
    results = {
        name: artifact.preview.get("repr")
        for name, artifact in artifacts.items()
        if artifact.kind == "output" or "value" in artifact.preview
    }
    if results:
        lines.append("  results: " + ", ".join(f"{n} = {v}" for n, v in results.items()))
    return "\n".join(lines)


def _store_beside(path: Path) -> Any:
    from nbflow.headless import config_beside
    from nbflow.storage import open_store

    return open_store(config_beside(path))


def _last_lines(error: Exception, count: int = 12) -> str:
    return "\n".join(str(error).strip().splitlines()[-count:])
