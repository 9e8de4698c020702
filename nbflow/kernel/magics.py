"""The IPython adapter: `%%step`, `%%params` and `%flow`. Everything else lives in Session."""

from __future__ import annotations

import argparse
import os
import shlex
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import display

from nbflow import widgets  # its widgets (and anywidget) load when first used
from nbflow.config import Config, check_executor
from nbflow.core.cells import top_level_assignments
from nbflow.core.params import parse_value
from nbflow.core.stepline import LineParser, flow_env_parser, parse_step_line
from nbflow.exceptions import NbflowError
from nbflow.kernel.session import Cell, Session, flow_name_for
from nbflow.query.client import Flow, Run
from nbflow.render.text import format_duration
from nbflow.run.cellcode import user_frames
from nbflow.run.runner import Runner
from nbflow.store.metadata.records import wall_time

FLOW_COMMANDS = ("name", "run", "resume", "load", "config", "show", "runs", "compare", "env")


@magics_class
class FlowMagics(Magics):
    def __init__(self, shell: InteractiveShell) -> None:
        super().__init__(shell)
        self.session = Session.from_environment(
            shell.user_ns,
            flow=_default_flow_name(shell),
            notebook=_notebook_path(shell),
            display=display,
            display_bundle=_display_bundle,
            record_displays=lambda: _recording_displays(shell),
            format_traceback=self._format_traceback,
        )
        if shell in _run_flow_shells:  # `%load_ext nbflow` run by Run flow's Run All
            self.session.cells_full_run = True

    def _format_traceback(self, error: BaseException) -> list[str]:
        assert self.shell is not None
        # The user's frames only: the cell is the first frame shown, nbflow's own are hidden.
        shown = user_frames(error.__traceback__)
        lines: list[str] = self.shell.InteractiveTB.structured_traceback(
            type(error), error, shown, tb_offset=0
        )
        return lines

    @cell_magic
    def step(self, line: str, cell: str) -> None:
        """Run this cell as a step of the flow: `%%step NAME [--after P ...] [--foreach VAR]`."""
        assert self.shell is not None
        spec = parse_step_line(line, self.shell.transform_cell(cell))
        cells = _cells_to_register.pop(self.shell, None)
        if cells is not None:  # Run flow's first step cell: the whole flow first
            register_cells(self.shell, cells, strict=False)
        runner = self.session.run_step_cell(spec, _this_cell(self.shell))
        if runner is None:
            print(f"· {spec.name} registered: the whole flow runs at the end of the notebook")
            return
        self._bind_outputs(runner, spec.name)
        tasks = len(runner.tasks_of[spec.name])
        cached = _cached_note(runner, spec.name)
        # The step's wall time in the run, as the badge and the graphs show it (not the cell's
        # own time, which also counts registering the step and binding its outputs).
        took = wall_time(self.session.store.meta.tasks(runner.flow, runner.run_id, spec.name))
        print(
            f"✓ {spec.name} · {tasks} task{'s' * (tasks != 1)} · {cached}"
            f"{format_duration(took)} · run {runner.flow}/{runner.run_id}"
        )

    def _bind_outputs(self, runner: Runner, step: str) -> None:
        # For inspection: the artifacts the step's last task bound, as plain notebook variables.
        tasks = runner.tasks_of[step]
        if not tasks:
            return
        last = tasks[-1]
        record = self.session.store.meta.task(last.task_id)
        for artifact in self.session.store.meta.artifacts(record, kinds=("output",)):
            value = runner.load(artifact.key)
            assert self.shell is not None
            self.shell.user_ns[artifact.name] = value
            self.session.bound_by_step[artifact.name] = (step, value)

    @cell_magic
    def params(self, line: str, cell: str) -> None:
        """Declare run parameters: each top-level assignment is a parameter with that default."""
        assert self.shell is not None
        result = self.shell.run_cell(cell, store_history=False)
        result.raise_error()
        names = [name for name, _ in top_level_assignments(cell)]
        self.session.set_params({name: self.shell.user_ns[name] for name in names})

    @line_magic
    def flow(self, line: str) -> Any:
        """`%flow name NAME | run [-p NAME=VALUE ...] | config KEY=VALUE ... | show [RUN] | runs`"""
        command, _, rest = line.strip().partition(" ")
        if command not in FLOW_COMMANDS:
            raise NbflowError(
                f"unknown command '%flow {command}'. Commands: {', '.join(FLOW_COMMANDS)}."
            )
        return getattr(self, f"_flow_{command}")(shlex.split(rest))

    def _flow_name(self, args: list[str]) -> None:
        if len(args) != 1:
            raise NbflowError("usage: %flow name NAME")
        self.session.set_flow(args[0])

    def _flow_run(self, args: list[str]) -> Any:
        parser = LineParser(prog="%flow run", add_help=False)
        parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
        parser.add_argument("--log-model", default=None, metavar="ARTIFACT")
        _executor_options(parser)
        parsed = parser.parse_args(args)
        overrides = {}
        for item in parsed.param:
            name, sep, value = item.partition("=")
            if not sep or name not in self.session.params:
                known = ", ".join(self.session.params) or "none (add a %%params cell)"
                raise NbflowError(
                    f"-p {item}: expected NAME=VALUE with a known parameter ({known})."
                )
            overrides[name] = parse_value(value)
        self.session.on_progress = LiveGraph()
        runner = self.session.run_flow(
            overrides, executor=parsed.executor, workers=parsed.workers, log_model=parsed.log_model
        )
        return self._run_view(runner)

    def _flow_resume(self, args: list[str]) -> Any:
        parser = LineParser(prog="%flow resume", add_help=False)
        parser.add_argument("run", nargs="?", default=None, metavar="RUN")
        parser.add_argument("--from", dest="from_step", default=None, metavar="STEP")
        _executor_options(parser)
        parsed = parser.parse_args(args)
        run_id = None
        if parsed.run is not None:
            text = parsed.run.rsplit("/", 1)[-1]
            if not text.isdigit():
                raise NbflowError(
                    f"'{parsed.run}' is not a run (say 12 or {self.session.flow}/12)."
                )
            run_id = int(text)
        self.session.on_progress = LiveGraph()
        runner = self.session.resume(
            run_id, from_step=parsed.from_step, executor=parsed.executor, workers=parsed.workers
        )
        return self._run_view(runner)

    def _flow_env(self, args: list[str]) -> None:
        """`%flow env REQUIREMENT ... [--python X.Y]`: every step without an --env of its own
        runs in this environment; `--clear` removes it; no arguments: show it."""
        parsed = flow_env_parser().parse_args(args)
        if parsed.clear:
            self.session.set_flow_env((), None)
            print("flow environment: none (steps run in the kernel's environment)")
            return
        if parsed.requirements or parsed.python:
            self.session.set_flow_env(tuple(parsed.requirements), parsed.python)
        env, python = self.session.flow_env, self.session.flow_python
        if not (env or python):
            print("flow environment: none (steps run in the kernel's environment)")
        else:
            shown = " ".join(shlex.quote(r) for r in env) or "(no requirements)"
            print(f"flow environment: {shown}" + (f" · python {python}" if python else ""))

    def _flow_load(self, args: list[str]) -> None:
        if len(args) != 1:
            raise NbflowError("usage: %flow load RUN/STEP[/TASK], for example %flow load 12/train")
        values = self.session.load_task(args[0])
        print(f"bound {len(values)} names as the task saw them: {', '.join(sorted(values))}")

    def _run_view(self, runner: Runner) -> Any:
        return Run(f"{runner.flow}/{runner.run_id}", store=self.session.store)

    def _flow_config(self, args: list[str]) -> Config:
        settings = dict(a.partition("=")[::2] for a in args)
        return self.session.configure(settings)

    def _flow_show(self, args: list[str]) -> Any:
        """The graph of a run (default: the latest): click a step for its tasks."""
        if len(args) > 1:
            raise NbflowError("usage: %flow show [RUN], for example %flow show 12")
        if args:
            return widgets.GraphWidget(self._run(args[0]))
        flow = Flow(self.session.flow, store=self.session.store, namespace_check=False)
        return widgets.GraphWidget(flow.latest_run)

    def _flow_runs(self, args: list[str]) -> Any:
        """Every run of the flow: sort, filter, select several and compare."""
        flow = args[0] if args else self.session.flow
        return widgets.RunBrowser(Flow(flow, store=self.session.store, namespace_check=False))

    def _flow_compare(self, args: list[str]) -> Any:
        """Runs side by side: parameters, results, artifacts, step durations."""
        if len(args) < 2:
            raise NbflowError("usage: %flow compare RUN RUN ..., for example %flow compare 3 4")
        return widgets.CompareWidget([self._run(text) for text in args])

    def _run(self, text: str) -> Any:
        return Run(text if "/" in text else f"{self.session.flow}/{text}", store=self.session.store)


class LiveGraph:
    """A full run's graph, drawn when it starts and redrawn in place as tasks finish. When the
    run ends it gives way to one summary line: the run the command returns draws the final
    graph.

    One widget is drawn and refreshed (a new widget per redraw would stay in the kernel's
    widget registry, with its run, until the kernel ends). Redraws come at most every `every`
    seconds, and further apart when one costs more than `share` of that: the graph of a run
    of many tasks takes longer to read and send, so the run never spends more than about
    `share` of its time redrawing, however many tasks it has."""

    def __init__(
        self, every: float = 0.25, share: float = 0.05, clock: Callable[[], float] | None = None
    ) -> None:
        self.every, self.share = every, share
        self.clock = clock or time.perf_counter
        self.handle: Any = None
        self.widget: widgets.GraphWidget | None = None
        self.drawn_at = 0.0
        self.gap = every
        self.redraws = 0

    def __call__(self, runner: Runner, finished: bool) -> None:
        now = self.clock()
        if not finished and self.handle is not None and now - self.drawn_at < self.gap:
            return
        if finished:
            run = Run(f"{runner.flow}/{runner.run_id}", store=runner.store)
            self._show({"text/plain": f"run {run.pathspec}: {run.status}"})
            if self.widget is not None:
                self.widget.close()
                self.widget = None
            return
        first = self.widget is None
        if self.widget is None:
            self.widget = widgets.GraphWidget(Run(f"{runner.flow}/{runner.run_id}",
                                                  store=runner.store))  # fmt: skip
        else:
            self.widget.refresh()
        data, _metadata = self.widget._repr_mimebundle_()
        self._show(data)
        self.redraws += 1
        self.drawn_at = self.clock()
        if not first:  # the first draw also loads the widgets' modules: not what a redraw costs
            self.gap = max(self.every, (self.drawn_at - now) / self.share)

    def _show(self, bundle: dict[str, Any]) -> None:
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)


def _executor_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor", default=None, type=check_executor,
                        metavar="kernel|processes|dask|dask://HOST:PORT")  # fmt: skip
    parser.add_argument("--workers", type=int, default=None, metavar="N")


def _default_flow_name(shell: InteractiveShell) -> str:
    return flow_name_for(_notebook_path(shell))


def _notebook_path(shell: InteractiveShell) -> str | None:
    # Jupyter sets these to the notebook's path; absent in plain IPython and nbclient.
    path = shell.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME") or None
    # The notebook is part of a flow's identity: one file, one spelling (headless runs and
    # JupyterLab both give an absolute path; symlinks resolved).
    return os.path.realpath(path) if path and os.path.isabs(path) else path


def _this_cell(shell: InteractiveShell) -> Cell | None:
    """The cell being executed, where the front end names it (JupyterLab sends its id)."""
    result = shell.displayhook.exec_result  # the top-level cell's, set while it runs
    cell_id = getattr(getattr(result, "info", None), "cell_id", None)
    if result is None or not cell_id:
        return None
    return Cell(cell_id, f"In [{result.execution_count}]")


@contextmanager
def _recording_displays(shell: InteractiveShell) -> Iterator[list[dict[str, Any]]]:
    """Keep a copy of what a step shows (display(), rich reprs), still showing it live."""
    shown: list[dict[str, Any]] = []
    publisher = shell.display_pub
    publish = publisher.publish

    def recording(data: dict[str, Any], metadata: dict[str, Any] | None = None, *args: Any,
                  **kwargs: Any) -> Any:  # fmt: skip
        shown.append({"data": data, "metadata": metadata or {}})
        return publish(data, metadata, *args, **kwargs)

    publisher.publish = recording  # type: ignore[method-assign]
    try:
        yield shown
    finally:
        publisher.publish = publish  # type: ignore[method-assign]


def _display_bundle(shown: dict[str, Any]) -> None:
    display(shown["data"], metadata=shown.get("metadata") or {}, raw=True)


def _cached_note(runner: Runner, step: str) -> str:
    """`cached from FLOW/RUN · ` when the step's tasks were reused (`2 of 5 cached from ...`
    when only some were), naming the runs that computed them; '' when none was."""
    meta = runner.store.meta
    ours = {ref.task_id for ref in runner.tasks_of[step]}
    records = [t for t in meta.tasks(runner.flow, runner.run_id, step) if t.task_id in ours]
    left = {t.origin for t in records if t.status == "cached" and t.origin is not None}
    count = sum(t.status == "cached" for t in records)
    if not count:
        return ""
    runs: list[str] = []
    while left:  # one look-up per origin run: its tasks of the step cover the rest
        origin = meta.task(left.pop())
        runs.append(f"{origin.flow}/{origin.run_id}")
        left -= {t.task_id for t in meta.tasks(origin.flow, origin.run_id, step)}
    shown = sorted(runs, key=lambda r: int(r.rsplit("/", 1)[1]))
    named = ", ".join(shown[:3]) + (f" and {len(shown) - 3} more runs" if len(shown) > 3 else "")
    some = "" if count == len(ours) else f"{count} of {len(ours)} "
    return f"{some}cached from {named} · " if named else f"{some}cached · "


# Shells in which JupyterLab's Run flow is running the notebook (see `run_flow_mode`).
_run_flow_shells: weakref.WeakSet[InteractiveShell] = weakref.WeakSet()
# The notebook's cells Run flow handed over, registered at its first step cell.
_cells_to_register: weakref.WeakKeyDictionary[InteractiveShell, list[dict[str, str]]] = (
    weakref.WeakKeyDictionary()
)


def run_flow_mode(
    shell: InteractiveShell, on: bool, cells: list[dict[str, str]] | None = None
) -> None:
    """JupyterLab's Run flow around its Run All: while on, a step cell run in this kernel reuses
    unchanged tasks as `%flow run` does (when the config's cache is on); off, a step cell run
    by hand always runs again. Needs no loaded extension: a `%load_ext nbflow` run while on
    starts in the mode. The front end runs it silently:
    `__import__('nbflow.kernel.magics').kernel.magics.run_flow_mode(get_ipython(), True)`.

    `cells` (as `register_cells` takes them): the notebook's cells. Its step cells are
    registered when the first step cell runs (after `%load_ext` and `%flow name`), so the run
    knows every step of the flow from its start: its graph shows them all (pending, then `not
    run` where Run All stopped), and it is `done` only once all of them ran."""
    if on:
        _run_flow_shells.add(shell)
        if cells is not None:
            _cells_to_register[shell] = cells
    else:
        _run_flow_shells.discard(shell)
        _cells_to_register.pop(shell, None)
    magics = shell.magics_manager.registry.get(FlowMagics.__name__)
    if isinstance(magics, FlowMagics):
        # Off: back to what the kernel was started with (a headless run's cells reuse).
        magics.session.cells_full_run = on or os.environ.get("NBFLOW_FULL_RUN") == "1"


def register_cells(
    shell: InteractiveShell, cells: list[dict[str, str]], *, strict: bool = True
) -> list[str]:
    """JupyterLab's Resume flow, first: the notebook's step cells as they stand in the editor
    (`[{"id": cell id, "source": text}, ...]`, every code cell in order) are registered, not
    run, so the run that resumes runs the code the user sees, fixed cell and all, rather than
    what the kernel last executed. Other cells are left alone. The step names, in order.
    Not `strict` (Run flow): a cell that does not register is skipped; its own run says why."""
    magics = shell.magics_manager.registry.get(FlowMagics.__name__)
    if not isinstance(magics, FlowMagics):
        raise NbflowError("nbflow is not loaded in this kernel: run %load_ext nbflow first")
    registered = []
    for position, cell in enumerate(cells, start=1):
        first, _, body = cell["source"].lstrip("\n").partition("\n")
        magic, _, line = first.partition(" ")
        if magic != "%%step":
            continue
        try:
            spec = parse_step_line(line, shell.transform_cell(body))
            magics.session.register(spec, Cell(cell["id"], f"code cell {position}"))
        except NbflowError as error:  # where, as the cell's own run would have said it
            if not strict:
                continue
            raise NbflowError(f"code cell {position} ({first.strip()}): {error}") from error
        registered.append(spec.name)
    return registered


def graph_bundle(run: Run) -> dict[str, Any]:
    """A run as the graph you can click: the GraphWidget's bundle, with its SVG and text."""
    data, _metadata = widgets.GraphWidget(run)._repr_mimebundle_()
    return data


def load_ipython_extension(shell: InteractiveShell) -> None:
    shell.register_magics(FlowMagics(shell))
    if getattr(shell, "kernel", None) is not None:  # a front end that draws widgets
        assert shell.display_formatter is not None  # every shell makes one as it starts
        shell.display_formatter.mimebundle_formatter.for_type(Run, graph_bundle)
