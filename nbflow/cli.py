"""The `nbflow` command: run a notebook headless, list runs, show one."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nbflow.exceptions import NbflowError

DESCRIPTION = """\
nbflow turns notebook cells into a versioned pipeline. Mark cells with %%step, run them in
Jupyter, and every run is kept in the datastore (.nbflow/ beside the notebook, or
$NBFLOW_DATASTORE).

examples:
  nbflow run notebooks/quickstart.ipynb     execute a notebook headless as one run
  nbflow runs quickstart                    list the runs of flow 'quickstart'
  nbflow show quickstart/3 --json           one run, its steps and tasks, as JSON
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nbflow", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="execute a notebook headless in a fresh kernel")
    run.add_argument("notebook", type=Path, help="the .ipynb file")
    run.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")

    runs = commands.add_parser("runs", help="list runs, newest first")
    runs.add_argument("flow", nargs="?", help="the flow (default: every flow)")
    runs.add_argument("--json", action="store_true", help="print JSON for scripts")

    show = commands.add_parser("show", help="show one run: its steps, tasks and results")
    show.add_argument("run", help="FLOW/RUN_ID")
    show.add_argument("--json", action="store_true", help="print JSON for scripts")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = globals()[f"_{args.command}"](args)
    except NbflowError as error:
        print(f"nbflow: {error}", file=sys.stderr)
        return 1
    return result


def _run(args: argparse.Namespace) -> int:
    from nbflow.client import Run
    from nbflow.headless import print_progress, run_notebook

    path: Path = args.notebook
    if not path.is_file():
        raise NbflowError(f"no notebook at {path}. Give the path of an .ipynb file.")
    print(f"nbflow: running {path} in a fresh kernel", file=sys.stderr)
    result = run_notebook(path, timeout=args.timeout, progress=print_progress)
    for record in result.runs:
        print(_describe(Run(record, store=_store_beside(path))))
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


def _describe(run: Any) -> str:
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


def _runs(args: argparse.Namespace) -> int:
    from nbflow.client import Flow
    from nbflow.storage import open_store

    store = open_store()
    flows = [args.flow] if args.flow else store.meta.flows()
    runs = [run for name in flows for run in Flow(name, store=store).runs()]
    if args.json:
        print(json.dumps([r.as_dict() for r in runs], indent=2, default=str))
        return 0
    print(f"{'run':<24} {'status':<8} {'duration':>9}  params")
    for run in runs:
        print(f"{run.id:<24} {run.status:<8} {run.duration or 0:>8.2f}s  {run.params}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from nbflow.client import Run

    run = Run(args.run)
    if args.json:
        data = {**run.as_dict(), "steps": [s.as_dict() for s in run.steps()]}
        print(json.dumps(data, indent=2, default=str))
    else:
        print(_describe(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
