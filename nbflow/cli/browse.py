"""`nbflow runs` and `nbflow show`: read past runs from a shell."""

from __future__ import annotations

import argparse
import json

from nbflow.cli.execute import describe


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    runs = commands.add_parser("runs", help="list runs, newest first")
    runs.add_argument("flow", nargs="?", help="the flow (default: every flow)")
    runs.add_argument("--json", action="store_true", help="print JSON for scripts")
    runs.set_defaults(handler=run_runs)

    show = commands.add_parser("show", help="show one run: its steps, tasks and results")
    show.add_argument("run", help="FLOW/RUN_ID")
    show.add_argument("--json", action="store_true", help="print JSON for scripts")
    show.set_defaults(handler=run_show)


def run_runs(args: argparse.Namespace) -> int:
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


def run_show(args: argparse.Namespace) -> int:
    from nbflow.client import Run

    run = Run(args.run)
    if args.json:
        data = {**run.as_dict(), "steps": [s.as_dict() for s in run.steps()]}
        print(json.dumps(data, indent=2, default=str))
    else:
        print(describe(run))
    return 0
