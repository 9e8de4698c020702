"""`nbflow runs`, `show`, `compare` and `gc`: read past runs from a shell, and tidy the store.

Everything here reads the client's views and the previews stored with each artifact; nothing
is ever unpickled to answer.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from nbflow.exceptions import NbflowError
from nbflow.query.client import check_flow, list_runs, open_run
from nbflow.query.results import comparison, show_view
from nbflow.render.text import comparison_table, describe, format_size, runs_table

if TYPE_CHECKING:
    from nbflow.store.gc import Collected


RUNS_HELP = """\
List runs, newest first: id, status, start, duration, parameters and tags.

examples:
  nbflow runs                      every run of every flow
  nbflow runs hearthstone --limit 5
  nbflow runs hearthstone --json   JSON objects: id, flow, status, started_at, finished_at,
                                   duration, params, tags
"""

SHOW_HELP = """\
Show one run: its parameters, each step's status, task count and duration, its results.

examples:
  nbflow show hearthstone/12
  nbflow show hearthstone/12 --json    the run with its steps and tasks (artifact previews,
                                       logs, errors)
  nbflow show hearthstone/12 --html > report.html
                                       a self-contained HTML report (graph, parameters,
                                       results, timeline, previews, logs) that opens offline
"""

COMPARE_HELP = """\
Compare runs side by side: parameters, scalar results of the last step, artifacts (changed
or not) and step durations. Rows marked * differ between the runs.

examples:
  nbflow compare hearthstone/11 hearthstone/12
  nbflow compare hearthstone/11 hearthstone/12 --json    one object per run
"""

GC_HELP = """\
Remove old runs, then the stored data no remaining run references.

Keeps the newest N runs of each flow (with --keep-last; by default every run), every run
still running, and every task a kept run reuses. Then deletes the blobs and object records no
remaining task references; a blob written less than --grace seconds ago always stays, since a
run being written stores its blobs before it records them. Safe while runs are being written.

examples:
  nbflow gc --dry-run                    what would go, changing nothing
  nbflow gc --keep-last 10               keep the 10 newest runs of each flow
  nbflow gc --keep-last 3 --flow hearthstone
"""


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    runs = _parser(commands, "runs", "list runs, newest first", RUNS_HELP)
    runs.add_argument("flow", nargs="?", help="the flow (default: every flow)")
    runs.add_argument("--limit", type=_count, metavar="N", help="show at most N runs")
    _json_option(runs)
    runs.set_defaults(handler=run_runs)

    show = _parser(commands, "show", "show one run: its steps, tasks and results", SHOW_HELP)
    show.add_argument("run", metavar="FLOW/RUN_ID", help="the run, e.g. hearthstone/12")
    _json_option(show)
    show.add_argument(
        "--html", action="store_true", help="print a self-contained HTML report of the run"
    )
    show.set_defaults(handler=run_show)

    compare = _parser(commands, "compare", "compare runs side by side", COMPARE_HELP)
    compare.add_argument("runs", nargs="+", metavar="FLOW/RUN_ID", help="two or more runs")
    _json_option(compare)
    compare.set_defaults(handler=run_compare)

    gc = _parser(commands, "gc", "remove old runs and unreferenced data", GC_HELP)
    gc.add_argument("--keep-last", type=_count, metavar="N", help="keep the N newest runs")
    gc.add_argument("--flow", help="remove runs of this flow only (blobs: of every flow)")
    gc.add_argument("--dry-run", action="store_true", help="report what would go; change nothing")
    gc.add_argument(
        "--grace", type=float, default=3600.0, metavar="SECONDS",
        help="never delete a blob younger than this (default 3600)",
    )  # fmt: skip
    gc.set_defaults(handler=run_gc)


def _parser(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    summary: str,
    description: str,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, not {text!r}")
    return value


# -- nbflow runs --------------------------------------------------------------------------------


def run_runs(args: argparse.Namespace) -> int:
    from nbflow.store.stores import open_store

    store = open_store()
    runs = list_runs(store, args.flow, args.limit)
    if args.json:
        _print_json([run.as_dict() for run in runs])
    elif runs:
        print(runs_table([run.as_dict() for run in runs]))
    else:
        print(f"no runs in {store.root}")
    return 0


# -- nbflow show --------------------------------------------------------------------------------


def run_show(args: argparse.Namespace) -> int:
    from nbflow.store.stores import open_store

    if args.json and getattr(args, "html", False):
        raise NbflowError("choose one of --json and --html")
    run = open_run(open_store(), args.run)
    if getattr(args, "html", False):
        from nbflow.query.report import report_view
        from nbflow.render.report import render_report

        print(render_report(report_view(run)), end="")
    elif args.json:
        _print_json(show_view(run))
    else:
        print(describe(show_view(run)))
    return 0


# -- nbflow compare -----------------------------------------------------------------------------


def run_compare(args: argparse.Namespace) -> int:
    from nbflow.store.stores import open_store

    if len(args.runs) < 2:
        raise NbflowError(
            "compare needs two or more runs, e.g. `nbflow compare demo/1 demo/2` "
            "(`nbflow show` describes one run)"
        )
    store = open_store()
    views = comparison([open_run(store, spec) for spec in args.runs])
    if args.json:
        _print_json(views)
    else:
        print(comparison_table(views))
    return 0


# -- nbflow gc ----------------------------------------------------------------------------------


def run_gc(args: argparse.Namespace) -> int:
    from nbflow.store.gc import collect
    from nbflow.store.stores import open_store

    store = open_store()
    if args.flow is not None:
        check_flow(store, args.flow)
    if args.grace < 0:
        raise NbflowError(f"--grace must be 0 or more seconds, not {args.grace}")
    done = collect(
        store, keep_last=args.keep_last, flow=args.flow, grace=args.grace, dry_run=args.dry_run
    )
    print(gc_summary(done, args.grace))
    return 0


def gc_summary(done: Collected, grace: float) -> str:
    shown = ", ".join(done.runs[:10]) + (", ..." if len(done.runs) > 10 else "")
    rows = [
        ["runs", f"{len(done.runs)}  {shown}".rstrip()],
        ["blobs", str(done.blobs)],
        ["bytes", format_size(done.bytes_freed)],
        ["records", f"{done.tasks} task(s), {done.objects} object(s)"],
    ]
    if done.temp_files:
        rows.append(["temp files", f"{done.temp_files} (left by interrupted writes)"])
    head = "dry run, nothing changed; gc would remove:" if done.dry_run else "gc removed:"
    lines = [head, *(f"  {label:<10} {value}" for label, value in rows)]
    if done.kept_live:
        lines.append(
            f"kept {', '.join(done.kept_live)}: a live kernel may be working in it (its "
            "process runs, or its heartbeat is fresh)"
        )
    if done.spared:
        lines.append(
            f"{'would keep' if done.dry_run else 'kept'} {done.spared} unreferenced blob(s) "
            f"younger than {grace:g} s "
            "(a run being written may need them; see --grace)"
        )
    return "\n".join(lines)


# -- shared -------------------------------------------------------------------------------------


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))
