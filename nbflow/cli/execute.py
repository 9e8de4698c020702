"""`nbflow run`, `nbflow batch`, `nbflow resume`: notebooks executed headless, as runs."""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nbflow.config import check_executor
from nbflow.core.params import parse_value
from nbflow.exceptions import NbflowError
from nbflow.query.client import Run
from nbflow.query.results import run_results, show_view
from nbflow.render.text import describe

RUN_EXAMPLE = """\
examples:
  nbflow run train.ipynb                               run it as it is
  nbflow run train.ipynb -p n_estimators 300 -p lr 0.1 override %%params defaults
  nbflow run train.ipynb --executor processes          tasks in parallel on local workers
  nbflow run train.ipynb --output runs/train-out.ipynb keep the executed notebook there too
"""
BATCH_EXAMPLE = """\
example:
  nbflow batch train.ipynb --grid n_estimators=100,300 --grid depth=4,8 --jobs 2
  (four runs, two at a time; prints one row per run)
  nbflow batch train.ipynb --grid seed=0,1,2 -p n_rows 1000   (n_rows the same in each)
  nbflow batch train.ipynb --grid seed=0,1 --executor processes --workers 2   (each run's tasks)
"""
RESUME_EXAMPLE = """\
examples:
  nbflow resume train.ipynb                  resume the flow's latest failed run
  nbflow resume train.ipynb --run 12 --from evaluate
"""


LOG_MODEL_HELP = (
    "also log this artifact of the last step as an MLflow model (needs an MLflow tracking URI: "
    "NBFLOW_MLFLOW_TRACKING_URI)"
)
REUSE_HELP = (
    "reuse earlier tasks whose code, inputs, parameters and files are unchanged (default: "
    "every task runs fresh; NBFLOW_CACHE=on does the same)"
)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = _parser(commands, "run", "execute a notebook headless as one new run", RUN_EXAMPLE)
    run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="override a parameter (values read as papermill reads them)")  # fmt: skip
    run.add_argument("--tag", action="append", default=[], help="tag the run (repeatable)")
    run.add_argument("--output", type=Path, help="also write the executed notebook here")
    run.add_argument("--report", type=Path, help=argparse.SUPPRESS)  # used by batch
    run.add_argument("--log-model", metavar="ARTIFACT", help=LOG_MODEL_HELP)
    run.set_defaults(handler=run_run)

    batch = _parser(commands, "batch", "one run per combination of parameters", BATCH_EXAMPLE)
    batch.add_argument("--grid", action="append", required=True, metavar="NAME=V1,V2,...",
                       help="values of one parameter (repeat for more parameters)")  # fmt: skip
    batch.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                       metavar=("NAME", "VALUE"), help="one value for every run")  # fmt: skip
    batch.add_argument("--jobs", type=int, default=1, metavar="N", help="runs at a time")
    batch.add_argument("--tag", action="append", default=[], help="tag every run")
    batch.add_argument("--json", action="store_true", help="print the table as JSON")
    batch.add_argument("--log-model", metavar="ARTIFACT", help=LOG_MODEL_HELP)
    batch.set_defaults(handler=run_batch)

    resume = _parser(commands, "resume", "resume a failed run of a notebook", RESUME_EXAMPLE)
    resume.add_argument("--run", type=int, default=0, metavar="RUN_ID",
                        help="the run to resume (default: the latest failed run)")  # fmt: skip
    resume.add_argument("--from", dest="from_step", metavar="STEP",
                        help="run this step and everything below it again")  # fmt: skip
    resume.set_defaults(handler=run_resume)


def _parser(commands: Any, name: str, summary: str, example: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=summary, description=summary, epilog=example,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("notebook", type=Path, help="the .ipynb file")
    parser.add_argument("--executor", type=_executor, default=None,
                        metavar="kernel|processes|dask|dask://HOST:PORT",
                        help="where tasks run (default: kernel, cell by cell)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="worker processes (default: one per core)")  # fmt: skip
    parser.add_argument("--timeout", type=int, default=None, metavar="SECONDS",
                        help="time limit per cell (default: none)")  # fmt: skip
    if name != "resume":
        parser.add_argument("--reuse", action="store_true", help=REUSE_HELP)
    return parser


def _executor(name: str) -> str:
    # argparse turns only ArgumentTypeError into its usage message; a NbflowError would be
    # a traceback.
    try:
        return check_executor(name)
    except NbflowError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


# -- run and resume -------------------------------------------------------------------------


def run_run(args: argparse.Namespace) -> int:
    from nbflow.run.headless import Execution, parse_params  # noqa: PLC0415 - per command

    params = parse_params(args.parameter)
    _warn_undeclared(args.notebook, params)
    execution = Execution(
        notebook=args.notebook, params=params, tags=args.tag, executor=args.executor,
        workers=args.workers, output=args.output, timeout=args.timeout, reuse=args.reuse,
        log_model=args.log_model,
    )  # fmt: skip
    return _execute(execution, report=args.report)


def run_resume(args: argparse.Namespace) -> int:
    from nbflow.run.headless import Execution  # noqa: PLC0415 - per command

    execution = Execution(
        notebook=args.notebook, executor=args.executor, workers=args.workers,
        timeout=args.timeout, resume_run=args.run, resume_from=args.from_step,
    )  # fmt: skip
    return _execute(execution)


def _execute(execution: Any, report: Path | None = None) -> int:
    from nbflow.integrations.mlflow_log import require_mlflow  # noqa: PLC0415 - per command
    from nbflow.run.headless import (  # noqa: PLC0415 - per command
        check_notebook,
        config_beside,
        print_progress,
        run_notebook,
    )

    check_notebook(Path(execution.notebook))  # before saying it runs
    config = config_beside(Path(execution.notebook)).updated(
        mlflow_log_model=execution.log_model or ""
    )
    require_mlflow(config)  # the mlflow setting without MLflow: say so before running
    if report is None:
        execution.progress = print_progress
        print(f"nbflow: running {execution.notebook} in a fresh kernel", file=sys.stderr)
    started = time.time()
    result = run_notebook(execution)
    _log_failed_to_mlflow(result, config)
    views = [Run(record, store=result.store) for record in result.runs]
    if execution.resume_run is not None:
        _say_what_was_resumed(result.store, result.runs)
    if report is not None:
        _write_report(report, views, result.error, time.time() - started)
    else:
        for view in views:
            print(describe(show_view(view)))
    if result.error is not None:
        _explain_failure(execution.notebook, views, result.error)
        return 1
    if not views:
        print("nbflow: the notebook ran, but made no run (does it have %%step cells?)")
    elif report is None:
        last = views[-1]
        print(f"stored in {result.store.root}; read it with: from nbflow import Run; "
              f"Run('{last.pathspec}')  (NBFLOW_DATASTORE={result.store.root})")  # fmt: skip
    return 0


def _log_failed_to_mlflow(result: Any, config: Any) -> None:
    """The kernel logs each run to MLflow as it ends; a run failed only afterwards (its
    kernel died, its notebook stopped after the step cells) is logged failed from here."""
    from nbflow.integrations.mlflow_log import log_run_end  # noqa: PLC0415 - per command

    for run in result.runs:
        if run.status == "failed":
            log_run_end(result.store, run.flow, run.run_id, config)


def _say_what_was_resumed(store: Any, runs: list[Any]) -> None:
    from nbflow.run.resume import why_failed  # noqa: PLC0415 - per command

    for run in runs:
        if run.origin_run is not None:
            origin = store.meta.run(run.flow, run.origin_run)
            print(
                f"nbflow: resumed run {run.flow}/{origin.run_id} ({why_failed(store.meta, origin)})"
                f" as {run.flow}/{run.run_id}",
                file=sys.stderr,
            )


def _explain_failure(notebook: Path, views: list[Any], error: str) -> None:
    failed = [v for v in views if v.status == "failed"]
    if not failed:
        print(f"nbflow: the notebook failed: {error}", file=sys.stderr)
        return
    run = failed[-1]
    steps = [step.name for step in run.steps() if step.status == "failed"]
    if steps and "step '" not in error:  # a dead kernel: say which step it was running
        error = f"step '{steps[0]}' failed: {error}"
    print(
        f"nbflow: run {run.pathspec} failed: {error}\n"
        f"        resume it with: nbflow resume {notebook} --run {run.run_id}",
        file=sys.stderr,
    )


def _warn_undeclared(notebook: Path, params: dict[str, Any]) -> None:
    """Like papermill: a parameter the notebook does not declare is passed (and recorded),
    with a warning."""
    declared = _declared_params(notebook)
    for name in params:
        if declared is not None and name not in declared:
            print(
                f"nbflow: warning: parameter '{name}' is not declared by a %%params (or "
                "'parameters'-tagged) cell; it is passed and recorded anyway",
                file=sys.stderr,
            )


def _declared_params(notebook: Path) -> set[str] | None:
    from nbflow.core.cells import top_level_assignments  # noqa: PLC0415 - per command

    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return None  # run_notebook reports a missing or broken notebook
    declared: set[str] = set()
    for cell in cells:
        source = "".join(cell.get("source", []))
        tags = cell.get("metadata", {}).get("tags", [])
        if source.startswith("%%params") or "parameters" in tags:
            body = source.split("\n", 1)[1] if source.startswith("%%params") else source
            try:
                declared |= {name for name, _ in top_level_assignments(body)}
            except SyntaxError:
                continue
    return declared


def _write_report(path: Path, views: list[Any], error: str | None, seconds: float) -> None:
    report = {
        "runs": [v.as_dict() for v in views],
        "results": run_results(views[-1]) if views else {},
        "error": error,
        "seconds": seconds,
    }
    path.write_text(json.dumps(report, default=str), encoding="utf-8")


# -- batch ----------------------------------------------------------------------------------


def run_batch(args: argparse.Namespace) -> int:
    from nbflow.run.headless import check_notebook  # noqa: PLC0415 - per command

    check_notebook(args.notebook)
    grid = parse_grid(args.grid)
    both = sorted(set(grid) & {name for name, _ in args.parameter})
    if both:
        raise NbflowError(
            f"{', '.join(both)} given both with -p and --grid: keep one (--grid varies it)."
        )
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    if args.jobs < 1:
        raise NbflowError(f"--jobs {args.jobs}: give a number of runs at a time, 1 or more.")
    print(f"nbflow: {len(combos)} runs of {args.notebook}, {args.jobs} at a time",
          file=sys.stderr)  # fmt: skip
    rows = Batch(args, combos).run()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(_table(rows))
    failed = [r for r in rows if r["status"] != "done"]
    if failed:
        print(f"nbflow: {len(failed)} of {len(rows)} runs failed", file=sys.stderr)
    return 1 if failed else 0


class Batch:
    """One `nbflow run` child process per combination, N at a time. Ctrl-C stops them all."""

    def __init__(self, args: argparse.Namespace, combos: list[dict[str, Any]]) -> None:
        self.args, self.combos, self.waiting = args, combos, list(enumerate(combos))
        self.running: dict[int, tuple[subprocess.Popen[str], Path, float]] = {}
        self.rows: dict[int, dict[str, Any]] = {}
        self.scratch = Path(tempfile.mkdtemp(prefix="nbflow-batch-"))

    def run(self) -> list[dict[str, Any]]:
        try:
            while self.waiting or self.running:
                while self.waiting and len(self.running) < self.args.jobs:
                    self._start(*self.waiting.pop(0))
                self._collect()
                time.sleep(0.05)
        except KeyboardInterrupt:
            self._stop_all()
            raise
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
        return [self.rows[i] for i in sorted(self.rows)]

    def _start(self, index: int, params: dict[str, Any]) -> None:
        report = self.scratch / f"report-{index}.json"
        command = [sys.executable, "-m", "nbflow.cli", "run", str(self.args.notebook),
                   "--report", str(report)]  # fmt: skip
        for name, value in self.args.parameter:  # as given: `nbflow run` reads them
            command += ["-p", name, value]
        for name, value in params.items():
            command += ["-p", name, value if isinstance(value, str) else json.dumps(value)]
        for tag in self.args.tag:
            command += ["--tag", tag]
        for option in ("executor", "workers", "timeout"):
            if getattr(self.args, option):
                command += [f"--{option}", str(getattr(self.args, option))]
        if self.args.reuse:
            command.append("--reuse")
        if self.args.log_model:
            command += ["--log-model", self.args.log_model]
        # Its messages go to a file, not a pipe: a full pipe would stall the child.
        with (self.scratch / f"stderr-{index}.txt").open("w") as log:
            child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, text=True)
        self.running[index] = (child, report, time.time())

    def _collect(self) -> None:
        for index, (child, report, started) in list(self.running.items()):
            if child.poll() is None:
                continue
            del self.running[index]
            stderr = (self.scratch / f"stderr-{index}.txt").read_text()
            self.rows[index] = _row(self.combos[index], child.returncode, report, stderr, started)
            row = self.rows[index]
            print(
                f"  [{len(self.rows)}/{len(self.combos)}] {row['run'] or '-'} {row['status']} "
                f"{row['params']}",
                file=sys.stderr,
            )

    def _stop_all(self) -> None:
        for child, _, _ in self.running.values():
            child.send_signal(signal.SIGINT)  # each child stops its kernel and marks its run
        deadline = time.time() + 15
        for child, _, _ in self.running.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                child.kill()


def _row(
    params: dict[str, Any], code: int, report: Path, stderr: str, started: float
) -> dict[str, Any]:
    data = json.loads(report.read_text()) if report.exists() else {}
    last = (data.get("runs") or [{}])[-1]
    error = data.get("error") or (stderr.strip().splitlines() or [""])[-1]
    return {
        "run": last.get("id"),
        "params": params,
        "status": last.get("status", "failed") if code == 0 else "failed",
        "duration": data.get("seconds", time.time() - started),
        "results": data.get("results", {}),
        "error": error if code else None,
    }


def parse_grid(specs: list[str]) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or not values.strip():
            raise NbflowError(
                f"--grid {spec!r}: expected NAME=V1,V2,... (for example --grid depth=4,8)."
            )
        if name in grid:
            raise NbflowError(f"--grid {name} is given twice; list all its values in one.")
        parsed = [parse_value(v.strip()) for v in values.split(",") if v.strip()]
        if not parsed:
            raise NbflowError(f"--grid {spec!r}: give at least one value after '='.")
        grid[name] = parsed
    return grid


def _table(rows: list[dict[str, Any]]) -> str:
    names = sorted({k for r in rows for k in r["results"]})[:6]
    header = ["run", "status", "seconds", "params", *names]
    lines = [header]
    for row in rows:
        params = " ".join(f"{k}={v}" for k, v in row["params"].items())
        results = [str(row["results"].get(n, ""))[:12] for n in names]
        lines.append([str(row["run"] or "-"), row["status"], f"{row['duration']:.1f}", params,
                      *results])  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))
                     for line in lines)  # fmt: skip
