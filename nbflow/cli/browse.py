"""`nbflow runs`, `show`, `compare` and `gc`: read past runs from a shell, and tidy the store.

Everything here reads the client's views and the previews stored with each artifact; nothing
is ever unpickled to answer.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nbflow.exceptions import NbflowError, NotFound

if TYPE_CHECKING:
    from nbflow.query.client import Run, Step
    from nbflow.store.gc import Collected
    from nbflow.store.metadata import ArtifactRecord
    from nbflow.store.stores import Store

CELL_WIDTH = 32  # a value in a table is cut to this many characters
STRING_RESULT_LIMIT = 50  # a string artifact up to this long counts as a scalar result

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
        print(runs_table(runs))
    else:
        print(f"no runs in {store.root}")
    return 0


def list_runs(store: Store, flow: str | None, limit: int | None) -> list[Run]:
    """The runs of `flow` (or of every flow), newest first."""
    from nbflow.query.client import Flow

    if flow is not None:
        check_flow(store, flow)
        return Flow(flow, store=store).runs(limit)
    runs = [run for name in store.meta.flows() for run in Flow(name, store=store).runs(limit)]
    runs.sort(key=lambda run: run.started_at, reverse=True)
    return runs if limit is None else runs[:limit]


def runs_table(runs: Sequence[Run]) -> str:
    rows = [
        [run.id, run.status, _when(run.started_at), _duration(run.duration),
         _pairs(run.params), ", ".join(run.tags)]
        for run in runs
    ]  # fmt: skip
    headers = ["run", "status", "started", "duration", "params", "tags"]
    return table(headers, rows, right={3})


# -- nbflow show --------------------------------------------------------------------------------


def run_show(args: argparse.Namespace) -> int:
    from nbflow.store.stores import open_store

    if args.json and getattr(args, "html", False):
        raise NbflowError("choose one of --json and --html")
    run = open_run(open_store(), args.run)
    if getattr(args, "html", False):
        from nbflow.render.report import report_html

        print(report_html(run), end="")
    elif args.json:
        _print_json(show_view(run))
    else:
        print(describe(run))
    return 0


def show_view(run: Run) -> dict[str, Any]:
    """The run with its steps (each with its duration) and tasks, as `--json` prints it."""
    steps = [{**step.as_dict(), "duration": step_duration(step)} for step in run.steps()]
    return {**run.as_dict(), "results": results(end_artifacts(run)), "steps": steps}


def describe(run: Run) -> str:
    lines = [
        f"run {run.id}  {run.status}  started {_when(run.started_at)}  "
        f"duration {_duration(run.duration)}"
    ]
    if run.params:
        lines.append(f"params   {_pairs(run.params, limit=None)}")
    if run.tags:
        lines.append(f"tags     {', '.join(run.tags)}")
    rows = [
        [step.name, step_status(step), str(len(step.tasks())), _duration(step_duration(step))]
        for step in run.steps()
    ]
    lines += ["", table(["step", "status", "tasks", "duration"], rows, right={2, 3})]
    found = results(end_artifacts(run))
    if found:
        lines += ["", f"results  {_pairs(found, limit=None)}"]
    lines += [f"read     {line}" for line in files_read(run)]
    lines += [f"error    {line}" for line in errors(run)]
    if run.error:
        lines.append(f"error    {run.error}")
    return "\n".join(lines)


def files_read(run: Run) -> list[str]:
    """One line per file the run's tasks read: its path, size, content hash and readers."""
    readers: dict[tuple[str, int, str], list[str]] = {}
    for step in run.steps():
        for task in step.tasks():
            for read in task.reads:
                steps = readers.setdefault((read["path"], read["size"], read["hash"]), [])
                if step.name not in steps:
                    steps.append(step.name)
    return [
        f"{path}  {_size(size)}  xxh3 {digest[:12]}  by {', '.join(steps)}"
        for (path, size, digest), steps in readers.items()
    ]


def step_status(step: Step) -> str:
    statuses = {task.status for task in step.tasks()}
    return "skipped" if statuses == {"skipped"} else step.status


def step_duration(step: Step) -> float | None:
    """From the first start to the last finish of its tasks (they may run in parallel)."""
    tasks = [t for t in step.tasks() if t.started_at is not None and t.finished_at is not None]
    if not tasks:
        return None
    return float(max(t.finished_at for t in tasks) - min(t.started_at for t in tasks))


def errors(run: Run) -> list[str]:
    """One line per failed task: where, and the exception."""
    lines = []
    for step in run.steps():
        for task in step.tasks():
            if task.status == "failed":
                error = task.error or {}
                what = f"{error.get('ename', 'Error')}: {error.get('evalue', '')}".strip()
                lines.append(f"task {task.id}: {what.splitlines()[0] if what else 'failed'}")
    return lines


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


def comparison_table(views: Sequence[dict[str, Any]]) -> str:
    differs = views[0]["differs"]
    headers = ["", *(view["id"] for view in views)]
    rows = [
        ["  status", *(view["status"] for view in views)],
        ["  duration", *(_duration(view["duration"]) for view in views)],
    ]
    rows += _section("parameters", "params", views, differs["params"], _show)
    rows += _section("results", "results", views, differs["results"], _show)
    rows += _section("artifacts", "artifacts", views, differs["artifacts"], _short_key)
    rows += _section("step durations", "step_durations", views, [], _duration)
    right = set(range(1, len(headers)))
    return table(headers, rows, right=right) + "\n\n* differs between the runs"


def _section(
    title: str, field: str, views: Sequence[dict[str, Any]], marked: list[str], show: Any
) -> list[list[str]]:
    names = list(dict.fromkeys(name for view in views for name in view[field]))
    if not names:
        return []
    rows = [[""] * (len(views) + 1), [title, *[""] * len(views)]]
    for name in names:
        cells = [show(view[field][name]) if name in view[field] else "-" for view in views]
        rows.append([f"{'*' if name in marked else ' '} {name}", *cells])
    return rows


def _short_key(artifact: dict[str, Any]) -> str:
    return "-" if artifact["key"] is None else artifact["key"][:10]


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
        ["bytes", _size(done.bytes_freed)],
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


def check_flow(store: Store, flow: str) -> None:
    flows = store.meta.flows()
    if flow not in flows:
        known = ", ".join(flows) or "none yet"
        raise NotFound(f"no flow '{flow}' in {store.root} (its flows: {known})")


def open_run(store: Store, pathspec: str) -> Run:
    """The run `FLOW/RUN_ID`; NotFound with a one-line reason otherwise."""
    from nbflow.query.client import Run

    pieces = pathspec.strip("/").split("/")
    if len(pieces) != 2 or not all(pieces):
        raise NotFound(f"'{pathspec}' is not of the form FLOW/RUN_ID (e.g. demo/3)")
    check_flow(store, pieces[0])
    try:
        return Run(pathspec, store=store)
    except NotFound as error:
        raise NotFound(f"{error}; `nbflow runs {pieces[0]}` lists its runs") from None


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


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    """Aligned columns; the columns in `right` are right-aligned."""
    cells = [[_cut(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]
    return "\n".join(lines)


def _cut(text: str, width: int = CELL_WIDTH * 2) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _show(value: Any) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else repr(value)
    return _cut(text, CELL_WIDTH)


def _pairs(values: dict[str, Any], limit: int | None = CELL_WIDTH * 2) -> str:
    text = ", ".join(f"{name}={_show(value)}" for name, value in values.items())
    return text if limit is None else _cut(text, limit)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        milliseconds = seconds * 1000
        return f"{milliseconds:.1f} ms" if milliseconds < 10 else f"{milliseconds:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    size, unit = float(count) / 1024, "KB"
    for bigger in ("MB", "GB", "TB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.1f} {unit}"


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))
