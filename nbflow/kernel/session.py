"""The flow of one kernel: its registered steps, parameters and working run.

No IPython here: the magics adapter hands in the notebook namespace and the display hooks.
A working run grows cell by cell. A run never records a step twice: running a step again
(after an edit, say) starts a new run that reuses, by reference, every finished task of the
working run except that step and what follows it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbflow import __version__
from nbflow.config import Config
from nbflow.core.graph import FlowGraph, StepSpec, check_graph, check_step
from nbflow.core.resources import Machine, check_fits, parse_resources
from nbflow.exceptions import NbflowError, NotFound, StepError
from nbflow.integrations.mlflow_log import import_in_background, log_run_end, require_mlflow
from nbflow.run.cellcode import Display, FormatTraceback, default_format_traceback
from nbflow.run.executors import make_executor
from nbflow.run.load import task_inputs
from nbflow.run.loop import run_steps
from nbflow.run.resume import find_origin, resume_plan, why_failed
from nbflow.run.runner import PreparedStep, Runner, nullcontext_list, prepare
from nbflow.store.metadata import TaskRecord
from nbflow.store.metadata.records import (
    ENDED_WELL,
    FINISHED_OK,
    latest_attempts,
    same_notebook,
)
from nbflow.store.metadata.tags import checked_user_tags, system_tags
from nbflow.store.stores import Store, open_store

Echo = Callable[[str], None]


@dataclass
class Session:
    notebook_ns: MutableMapping[str, Any]
    flow: str = "flow"
    notebook: str | None = None
    config: Config = field(default_factory=Config.from_env)
    display: Display = print
    display_bundle: Callable[[dict[str, Any]], None] = print
    record_displays: Callable[[], AbstractContextManager[list[dict[str, Any]]]] = nullcontext_list
    on_progress: Callable[[Runner, bool], None] | None = None  # (runner, finished) in full runs
    format_traceback: FormatTraceback = default_format_traceback
    echo: Echo = print
    graph: FlowGraph = field(default_factory=FlowGraph)
    params: dict[str, Any] = field(default_factory=dict)
    param_overrides: dict[str, Any] = field(default_factory=dict)
    # Set by a headless execution (see nbflow.run.headless): recorded with every run it makes.
    tags: list[str] = field(default_factory=list)
    launcher: str | None = None
    # Headless: step cells use the cache like a full run; with a parallel executor or a
    # resume they only register, and a last cell runs the whole flow.
    cells_full_run: bool = False
    deferred: bool = False
    working: Runner | None = None
    bound_by_step: dict[str, tuple[str, Any]] = field(default_factory=dict)
    # %flow env: the environment of every step without one of its own.
    flow_env: tuple[str, ...] = ()
    flow_python: str | None = None
    _prepared: dict[str, PreparedStep] = field(default_factory=dict)
    # The cell that defines each step (its id, and how to name it), where the front end says:
    # one step name, one cell.
    _step_cells: dict[str, Cell] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Overrides are parameters even where no %%params cell declares them.
        self.params = {**self.param_overrides, **self.params}
        _check_config(self.config)

    def configure(self, settings: Mapping[str, str]) -> Config:
        """`%flow config KEY=VALUE ...`: this kernel's settings from now on."""
        config = self.config.updated(**settings)
        _check_config(config)  # a refused setting is not kept
        self.config, self.working = config, None
        return config

    @classmethod
    def from_environment(cls, notebook_ns: MutableMapping[str, Any], **hooks: Any) -> Session:
        env = os.environ
        return cls(
            notebook_ns=notebook_ns,
            param_overrides=json.loads(env.get("NBFLOW_PARAMS") or "{}"),
            tags=json.loads(env.get("NBFLOW_TAGS") or "[]"),
            launcher=env.get("NBFLOW_LAUNCHER"),
            cells_full_run=env.get("NBFLOW_FULL_RUN") == "1",
            deferred=env.get("NBFLOW_DEFERRED") == "1",
            **hooks,
        )

    @property
    def store(self) -> Store:
        return open_store(self.config)

    # -- registration ---------------------------------------------------------------------------

    def set_flow(self, name: str) -> None:
        if not name.isidentifier():
            raise StepError(f"'{name}' is not a valid flow name; use letters, digits and _.")
        if name != self.flow:  # another flow: its own steps, its own runs
            self.flow, self.working, self.graph = name, None, FlowGraph()
            self._prepared.clear()
            self._step_cells.clear()

    def set_params(self, assigned: Mapping[str, Any]) -> dict[str, Any]:
        """Record a `%%params` cell's values; overrides (headless runs, -p) win over defaults."""
        values = {**assigned, **{k: v for k, v in self.param_overrides.items() if k in assigned}}
        self.notebook_ns.update(values)
        self.params = {**values, **{k: v for k, v in self.params.items() if k not in values}}
        return values

    def set_flow_env(self, requirements: tuple[str, ...], python: str | None) -> None:
        """Set the flow's environment; steps registered with the previous one get this one."""
        old = (self.flow_env, self.flow_python)
        self.flow_env, self.flow_python = requirements, python
        for spec in list(self.graph):
            if (spec.env, spec.python) == old:
                self.register(dataclasses.replace(spec, env=(), python=None))

    def build_environments(self, names: Iterable[str]) -> None:
        """Build (or find) the environments of these steps, before anything runs: a
        requirement that cannot be resolved fails here, with uv's message."""
        # lazy, as in run.loop: only steps with an environment need its machinery
        from nbflow.run.environments import ensure  # noqa: PLC0415

        for name in names:
            spec = self.graph[name]
            if spec.has_environment:
                ensure(spec.env, spec.python)

    def register(self, spec: StepSpec, cell: Cell | None = None) -> PreparedStep:
        if cell is not None:
            self._check_one_cell(spec.name, cell)
        flow_env = self.flow_env or self.flow_python
        if flow_env and not (spec.has_environment or spec.in_kernel):
            spec = dataclasses.replace(spec, env=self.flow_env, python=self.flow_python)
        prepared = prepare(spec)
        missing = [p for p in spec.parents if p not in self.graph]
        if missing:
            self._recall_steps(missing)
        self.graph = check_step(self.graph, spec)
        self._prepared[spec.name] = prepared
        if cell is not None:
            self._step_cells[spec.name] = cell
        return prepared

    def _check_one_cell(self, name: str, cell: Cell) -> None:
        """Two cells defining one step would make the run depend on which ran last."""
        other = self._step_cells.get(name)
        if other is not None and other.id != cell.id:
            raise StepError(
                f"another cell ({other.label}) already defines this step; this cell "
                f"({cell.label}) defines it too. Each step is defined by one cell: rename one "
                "of them. (If that other cell was deleted, restart the kernel.)",
                step=name,
            )

    def _recall_steps(self, names: list[str]) -> None:
        """After a restart, take parents (and their ancestors) as the latest run recorded them."""
        meta = self.store.meta
        source = meta.latest_run_with(self.flow, names)
        if source is None:
            return  # the graph check reports the unknown parent
        recorded = {
            spec["name"]: StepSpec.from_dict(spec, code)
            for _, spec, code in meta.steps(self.flow, source)
        }
        wanted, frontier = set(), list(names)
        while frontier:
            name = frontier.pop()
            if name in recorded and name not in wanted and name not in self.graph:
                wanted.add(name)
                frontier.extend(recorded[name].parents)
        for name, spec in recorded.items():  # in the recorded (notebook) order
            if name in wanted:
                self._prepared[name] = prepare(spec)
                self.graph = self.graph.with_step(spec)

    # -- interactive: one step cell -------------------------------------------------------------

    def run_step_cell(self, spec: StepSpec, cell: Cell | None = None) -> Runner | None:
        """Register the step and run all its tasks now, on its parents' artifacts (or, when
        deferred, only register it: the whole flow runs at the end)."""
        self.register(spec, cell)
        if self.deferred:
            return None
        self.build_environments([spec.name])
        runner = self._runner_for(spec)
        runner.graph = self.graph  # the working run sees steps registered since it began
        try:
            planned = runner.plan(spec.name)
        except NbflowError:
            if runner is not self.working:  # a run made for this step alone: it never ran
                self.store.meta.discard_run(self.flow, runner.run_id)
            raise
        # Record the graph as this kernel knows it, every registered step: the ones this run
        # reuses, the one it runs now, and those it has not run (yet), so that its graph shows
        # the whole flow and its status can say whether all of it ran.
        self.store.meta.save_steps(self.flow, runner.run_id, self._step_rows(self.graph.steps))
        self.store.meta.reopen_run(self.flow, runner.run_id)
        self.working = runner
        runner.full_run, runner.use_cache = self.cells_full_run, self.config.cache == "on"
        try:
            run_steps(runner, [spec.name], first=planned)
        except BaseException:
            self._finish(runner, "failed")
            raise
        self._finish(runner, self._outcome(runner))
        return runner

    def _finish(self, runner: Runner, status: str, *, log_model: str | None = None) -> None:
        """Record how the run ended; then, with the mlflow setting on, log it to MLflow (a
        warning if that fails: the run is recorded either way)."""
        self.store.meta.finish_run(self.flow, runner.run_id, status)
        log_run_end(self.store, self.flow, runner.run_id, self.config, model=log_model)

    def _outcome(self, runner: Runner) -> str:
        """`done` when every registered step ran (or was reused) in the run, else
        `incomplete`: a run is never `done` with steps of the flow missing."""
        ran = runner.tasks_of.keys()  # a step planned with no tasks (an empty foreach) ran
        return "done" if all(step in ran for step in self.graph.steps) else "incomplete"

    def _runner_for(self, spec: StepSpec) -> Runner:
        """The run this step cell goes into: the working run if it can grow, else a new one.

        Everything is decided before a run is created, so a refused step leaves no run behind.
        """
        working = self._working_run(spec.name)
        same_params = working is not None and _same(working.params, self.params)
        if working is not None and same_params and self._can_grow(working, spec.name):
            missing = [p for p in spec.parents if p not in working.tasks_of]
            held = {step: working.data_ids(step) for step in working.tasks_of}
            working.adopt(self._from_history(spec, missing, held))
            return working
        reuse = self._upstream_in(working, spec.name) if working and same_params else []
        reused_steps = {r.step for r in reuse}
        missing = [p for p in spec.parents if p not in reused_steps]
        history = self._from_history(spec, missing, _data_ids(reuse))
        runner = self._new_runner(self.graph)
        runner.adopt(reuse + history)
        return runner

    def _working_run(self, step: str) -> Runner | None:
        """The working run, unless it was removed meanwhile (an older nbflow's gc, by hand)."""
        working = self.working
        if working is None:
            return None
        try:
            self.store.meta.run(self.flow, working.run_id)
        except NotFound:
            self.echo(
                f"nbflow: this kernel's working run {self.flow}/{working.run_id} was removed "
                f"from the datastore (nbflow gc?); step '{step}' starts a new run"
            )
            self.working = None
        return self.working

    def _can_grow(self, working: Runner, step: str) -> bool:
        run = self.store.meta.run(self.flow, working.run_id)
        return run.status in ENDED_WELL and step not in working.tasks_of

    def _upstream_in(self, working: Runner, step: str) -> list[TaskRecord]:
        """The finished tasks of the working run that `step` depends on."""
        upstream = self.graph.ancestors(step)
        records = latest_attempts(self.store.meta.tasks(self.flow, working.run_id))
        ok_steps = _finished_steps(records)
        return [r for r in records if r.step in ok_steps and r.step in upstream]

    def _from_history(
        self, spec: StepSpec, missing: list[str], held: Mapping[str, set[int]]
    ) -> list[TaskRecord]:
        """Parents this kernel has not run, from the newest run that agrees with what it holds."""
        if not missing:
            return []
        meta = self.store.meta
        needed = set(missing)
        for name in missing:
            needed |= self.graph.ancestors(name)
        candidates = 0
        for source in meta.runs_with(self.flow, missing, _normalized(self.params)):
            candidates += 1
            records = [r for r in meta.tasks(self.flow, source) if r.status in FINISHED_OK]
            if _agrees(held, records, needed):
                self.echo(
                    f"step '{spec.name}': {', '.join(missing)} from run {self.flow}/{source} "
                    "(not run in this kernel)"
                )
                return [r for r in records if r.step in needed - held.keys()]
        names = ", ".join(f"'{m}'" for m in missing)
        why = (
            "which failed in this kernel's latest run"
            if self._failed_in_working(missing)
            else "which has not run since the steps above it changed in this kernel"
            if candidates
            else "which has not run in this kernel, nor in any run of "
            f"flow '{self.flow}' with these parameters"
        )
        raise StepError(
            f"needs {names}, {why}. Run the cell of {names} first.",
            step=spec.name,
            line=spec.line,
        )

    def _failed_in_working(self, steps: list[str]) -> bool:
        if self.working is None:
            return False
        tasks = self.store.meta.tasks(self.flow, self.working.run_id)
        return any(t.step in steps and t.status == "failed" for t in tasks)

    # -- a whole run ----------------------------------------------------------------------------

    def run_flow(
        self,
        overrides: Mapping[str, Any] | None = None,
        *,
        executor: str | None = None,
        workers: int | None = None,
        log_model: str | None = None,
    ) -> Runner:
        """A new run of every registered step, in DAG order, on the executor; `log_model`:
        the end artifact logged as an MLflow model (over the mlflow_log_model setting)."""
        if log_model:
            require_mlflow(self.config.updated(mlflow_log_model=log_model))
        self._check_registered()
        params = {**self.params, **(overrides or {})}
        executor = executor or self.config.executor
        runner = self._new_runner(self.graph, params, executor=executor)
        return self._run_all(runner, executor, workers, log_model=log_model)

    def resume(
        self,
        run_id: int | None = None,
        *,
        from_step: str | None = None,
        executor: str | None = None,
        workers: int | None = None,
    ) -> Runner:
        """A new run that takes over every finished task of RUN and runs the rest."""
        meta = self.store.meta
        taken = find_origin(meta, self.flow, run_id, from_step, self.notebook)
        origin = taken.run_id
        if not len(self.graph):  # a fresh kernel: the steps as the origin run recorded them
            self._recall_steps([spec["name"] for _, spec, _ in meta.steps(self.flow, origin)])
        self._check_registered()
        plan = resume_plan(self.store, self.graph, self.flow, origin, from_step)
        params = meta.run(self.flow, origin).params
        executor = executor or self.config.executor
        runner = self._new_runner(self.graph, params, origin_run=origin, executor=executor)
        runner.resume = plan
        self.echo(
            f"resuming run {self.flow}/{origin} ({why_failed(meta, taken)}) "
            f"as {self.flow}/{runner.run_id}"
        )
        return self._run_all(runner, executor, workers)

    def _check_registered(self) -> None:
        if not len(self.graph):
            raise StepError(
                "no steps are registered in this kernel yet. Run the notebook's %%step cells "
                "(Run All), then %flow run."
            )
        check_graph(self.graph)
        check_resources(self.graph)
        self.build_environments(self.graph.steps)

    def _run_all(
        self,
        runner: Runner,
        executor: str | None,
        workers: int | None,
        *,
        log_model: str | None = None,
    ) -> Runner:
        meta = self.store.meta
        meta.save_steps(self.flow, runner.run_id, self._step_rows(self.graph.steps))
        self.working = runner
        runner.full_run, runner.use_cache = True, self.config.cache == "on"
        kernel_executor = runner.executor
        runner.executor = make_executor(
            executor or self.config.executor, workers or self.config.worker_count, runner
        )
        runner.on_progress = self.on_progress
        if self.on_progress is not None:
            self.on_progress(runner, False)
        try:
            run_steps(runner, self.graph.order())
        except BaseException:
            self._finish(runner, "failed", log_model=log_model)
            raise
        else:
            self._finish(runner, self._outcome(runner), log_model=log_model)
        finally:
            runner.executor.close()
            runner.executor = kernel_executor  # step cells run later go on in the kernel
            runner.on_progress = None
            if self.on_progress is not None:
                self.on_progress(runner, True)
        return runner

    def load_task(self, pathspec: str) -> dict[str, Any]:
        """Bind what a task saw into the notebook, to run its step's body by hand."""
        values = task_inputs(self.store, pathspec, default_flow=self.flow)
        self.notebook_ns.update(values)
        return values

    def _step_rows(self, names: Iterable[str]) -> list[tuple[int, dict[str, Any], str]]:
        positions = {name: i for i, name in enumerate(self.graph.steps)}
        specs = [self._prepared[name].spec for name in names]
        return [(positions[spec.name], spec.as_dict(), spec.code) for spec in specs]

    def _new_runner(
        self,
        graph: FlowGraph,
        params: Mapping[str, Any] | None = None,
        *,
        origin_run: int | None = None,
        executor: str = "kernel",
    ) -> Runner:
        """A new run; `executor`: the one it starts on (step cells run in the kernel)."""
        params = dict(self.params if params is None else params)
        self._check_flow_is_ours()
        run = self.store.meta.create_run(
            self.flow,
            _normalized(params),
            tags=checked_user_tags(self.tags),
            notebook=self.notebook,
            origin_run=origin_run,
            launcher=self.launcher,
            system_tags=system_tags(self.notebook, executor, __version__),
        )
        return Runner(
            store=self.store,
            run=run,
            graph=graph,
            prepared=self._prepared,
            params=params,
            notebook_ns=self.notebook_ns,
            step_bound=self.bound_by_step,
            display=self.display,
            display_bundle=self.display_bundle,
            record_displays=self.record_displays,
            format_traceback=self.format_traceback,
        )

    def _check_flow_is_ours(self) -> None:
        """A flow is its name and its notebook: two notebooks that happen to share a flow name
        must not take each other's runs as their own (cached tasks, resume, parents)."""
        if self.notebook is None:
            return  # plain IPython: no notebook to tell apart
        owner = self.store.meta.flow_notebook(self.flow)
        if owner is not None and not same_notebook(owner[0], self.notebook):
            notebook, run_id = owner
            suggested = _identifier(Path(self.notebook).stem)
            raise StepError(
                f"flow '{self.flow}' belongs to another notebook: its runs (the latest "
                f"{self.flow}/{run_id}) were made by {notebook}, and this is {self.notebook}. "
                f"Give this notebook's flow a name of its own: `%flow name {suggested}` in its "
                "first cell (after %load_ext nbflow)."
            )


@dataclass(frozen=True)
class Cell:
    """A notebook cell as the front end names it."""

    id: str  # stable across edits and re-runs (Jupyter's cell id)
    label: str  # for messages: "In [3]"


def flow_name_for(notebook: str | None) -> str:
    """The default flow name: the notebook's file stem made an identifier
    (`train-model.ipynb` -> `train_model`); `flow` when there is no notebook."""
    return _identifier(Path(notebook).stem) if notebook else "flow"


def _identifier(text: str) -> str:
    name = re.sub(r"\W+", "_", text).strip("_")
    if not name:
        return "flow"
    return f"flow_{name}" if name[0].isdigit() else name


def _check_config(config: Config) -> None:
    # The mlflow setting without MLflow installed says what to install, before any run.
    require_mlflow(config)
    import_in_background(config)


def check_resources(graph: FlowGraph) -> None:
    """A step that asks for more than this machine has fails before anything runs."""
    asking = [spec for spec in graph if spec.resources]
    if asking:
        machine = Machine.detect()
        for spec in asking:
            check_fits(parse_resources(spec.resources, step=spec.name), machine, step=spec.name)


def _agrees(held: Mapping[str, set[int]], records: list[TaskRecord], steps: set[str]) -> bool:
    """Whether a past run computed the steps already held from the very same tasks."""
    past = _data_ids([r for r in records if r.step in steps & held.keys()])
    return all(past.get(step, set()) == held[step] for step in steps & held.keys())


def _data_ids(records: list[TaskRecord]) -> dict[str, set[int]]:
    ids: dict[str, set[int]] = {}
    for record in records:
        ids.setdefault(record.step, set()).add(record.data_task_id)
    return ids


def _finished_steps(records: list[TaskRecord]) -> set[str]:
    """The steps all of whose tasks (their last attempts) finished well."""
    steps = {r.step for r in records}
    failed = {r.step for r in records if r.status not in FINISHED_OK}
    return steps - failed


def _normalized(params: Mapping[str, Any]) -> dict[str, Any]:
    # Parameters are stored as JSON; compare them in that form too.
    normalized: dict[str, Any] = json.loads(json.dumps(dict(params), default=repr))
    return normalized


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return _normalized(a) == _normalized(b)
