"""Running the steps of one run: plan the tasks, build each task's namespace, run, commit.

A task sees only what it reads: its parents' artifacts, the run's parameters, the foreach
item, `inputs` for a join, and the notebook's code. Plain data it reads from the notebook is
recorded as a context value. Its results are stored first and its record committed last.
"""

from __future__ import annotations

import builtins
import functools
import sys
import traceback
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nbflow.cells import CellAnalysis, analyze
from nbflow.datastore import UnstorableValue
from nbflow.exceptions import ArtifactError, StepError, StepFailed
from nbflow.executors.kernel import (
    Display,
    FormatTraceback,
    Outcome,
    compile_cell,
    default_format_traceback,
    execute,
)
from nbflow.graph import FlowGraph, StepSpec
from nbflow.inputs import Inputs, InputView, merge, split_conflicts
from nbflow.metadata import RunRecord, StoredObject, TaskRecord
from nbflow.scheduler import PlannedTask, TaskRef, plan_step
from nbflow.storage import Store

CODE_TYPES = (
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    functools.partial,
    type,
)
INJECTED = frozenset({"inputs", "merge", "item_index"})


def _print_note(text: str) -> None:
    print(text, file=sys.stderr)


@dataclass(frozen=True)
class PreparedStep:
    """A step with its code analysed and compiled once."""

    spec: StepSpec
    analysis: CellAnalysis
    compiled: tuple[Any, Any]
    filename: str


def prepare(spec: StepSpec) -> PreparedStep:
    filename = f"<step {spec.name}>"
    # Blank lines in place of the `%%step` line: tracebacks then give the cell's own line numbers.
    source = "\n" * (spec.line or 1) + spec.code
    try:
        return PreparedStep(spec, analyze(spec.code), compile_cell(source, filename), filename)
    except SyntaxError as error:
        line = error.lineno
        raise StepError(
            f"has a syntax error: {error.msg}. Fix the cell.", step=spec.name, line=line
        ) from None


@dataclass
class Provided:
    """A name put into a task's namespace, and where it came from."""

    value: Any
    kind: str  # "artifact", "param", "code", "context", "item"
    stored: StoredObject | None = None  # a context value, as recorded with the task


@dataclass
class Runner:
    """Runs steps into one run. Holds the run's committed tasks and their visible artifacts."""

    store: Store
    run: RunRecord
    graph: FlowGraph
    prepared: Mapping[str, PreparedStep]
    params: Mapping[str, Any]
    notebook_ns: Mapping[str, Any]
    # Notebook names that hold a step's result (bound for inspection): never context values.
    step_bound: Mapping[str, tuple[str, Any]] = field(default_factory=dict)
    display: Display = print
    format_traceback: FormatTraceback = default_format_traceback
    notes: Callable[[str], None] = _print_note
    tasks_of: dict[str, list[TaskRef]] = field(default_factory=dict)
    visible: dict[int, dict[str, str]] = field(default_factory=dict)
    # Per step, the tasks that actually computed its results (a reused task's origin).
    data_ids: dict[str, set[int]] = field(default_factory=dict)
    _values: dict[str, Any] = field(default_factory=dict)  # blob key -> value held in memory
    _inline: dict[str, bytes] = field(default_factory=dict)
    # Notebook values recorded as context during one step, by name: (the object, its record).
    # A foreach of a thousand tasks that reads one big frame hashes it once.
    _context: dict[str, tuple[Any, StoredObject]] = field(default_factory=dict)

    @property
    def flow(self) -> str:
        return self.run.flow

    @property
    def run_id(self) -> int:
        return self.run.run_id

    # -- reuse ----------------------------------------------------------------------------------

    def adopt(self, records: list[TaskRecord]) -> None:
        """Take finished tasks of another run into this one by reference (status `cached`)."""
        mapping = self.store.meta.reuse_tasks(self.flow, self.run_id, records)
        for record in records:
            new_id = mapping[record.task_id]
            artifacts = self.store.meta.artifacts(record)
            self.visible[new_id] = {a.name: a.key for a in artifacts}
            self.tasks_of.setdefault(record.step, []).append(
                TaskRef(record.step, new_id, record.path)
            )
            self.data_ids.setdefault(record.step, set()).add(record.data_task_id)

    # -- running --------------------------------------------------------------------------------

    def run_step(self, name: str) -> list[TaskRef]:
        return self.run_planned(name, self.plan(name))

    def plan(self, name: str) -> list[PlannedTask]:
        """The step's tasks; raises StepError (a bad --foreach, say) before anything runs."""
        return plan_step(self.graph, name, self.tasks_of, self._elements(self.graph[name]))

    def run_planned(self, name: str, planned: list[PlannedTask]) -> list[TaskRef]:
        self.tasks_of[name], self.data_ids[name] = [], set()
        self._context.clear()  # the notebook may have changed a value in place since
        for task in planned:
            self.tasks_of[name].append(self._run_task(self.prepared[name], task))
        return self.tasks_of[name]

    def _elements(self, spec: StepSpec) -> Callable[[TaskRef], list[Any]]:
        def elements(parent: TaskRef) -> list[Any]:
            assert spec.foreach is not None
            keys = self.visible[parent.task_id]
            if spec.foreach in keys:
                value = self.load(keys[spec.foreach])
            elif spec.foreach in self.params:  # a grid given as a parameter
                value = self.params[spec.foreach]
            else:
                raise StepError(
                    f"--foreach {spec.foreach}: step '{parent.step}' does not bind "
                    f"'{spec.foreach}' (it binds: {', '.join(sorted(keys)) or 'nothing'}), and "
                    f"no parameter has that name. Bind it in '{parent.step}', or fix --foreach.",
                    step=spec.name,
                    line=spec.line,
                )
            try:
                return list(value)
            except TypeError:
                raise StepError(
                    f"--foreach {spec.foreach}: '{spec.foreach}' is a {type(value).__name__}, "
                    "which cannot be iterated. Bind a list (or any iterable) of the elements.",
                    step=spec.name,
                    line=spec.line,
                ) from None

        return elements

    def _run_task(self, prep: PreparedStep, task: PlannedTask) -> TaskRef:
        meta = self.store.meta
        task_id = meta.start_task(
            self.flow, self.run_id, task.step, task.path, [p.task_id for p in task.parents]
        )
        try:
            inherited = self._inherited(task)
            namespace, provided = self._namespace(prep, task, inherited)
            outcome = execute(
                prep.compiled,
                namespace,
                display=self.display,
                format_traceback=self.format_traceback,
            )
            if outcome.error is not None:
                raise self._failed(prep, task_id, outcome)
            outputs = self._save(prep.spec.name, self._outputs(prep, namespace, provided))
        except BaseException as error:
            if not isinstance(error, StepFailed):
                meta.commit_task(task_id, status="failed", error=_error_record(error))
            raise
        context = {n: p.stored for n, p in provided.items() if p.stored is not None}
        visible = {**inherited, **{name: obj.key for name, obj in outputs.items()}}
        rows = [
            (name, key, "output" if name in outputs else "inherited")
            for name, key in visible.items()
        ] + [(name, obj.key, "context") for name, obj in context.items()]
        meta.commit_task(
            task_id,
            status="done",
            objects=[*outputs.values(), *context.values()],
            artifacts=rows,
            stdout=outcome.stdout,
            stderr=outcome.stderr,
        )
        self.visible[task_id] = visible
        self.data_ids.setdefault(task.step, set()).add(task_id)
        return TaskRef(task.step, task_id, task.path)

    def _inherited(self, task: PlannedTask) -> dict[str, str]:
        if not self.graph[task.step].gets_inputs:
            return dict(self.visible[task.parents[0].task_id]) if task.parents else {}
        agreed, conflicts = split_conflicts(self.visible[p.task_id] for p in task.parents)
        base = self.visible[task.split.task_id] if task.split else {}
        return {**{k: v for k, v in base.items() if k not in conflicts}, **agreed}

    def _namespace(
        self, prep: PreparedStep, task: PlannedTask, inherited: Mapping[str, str]
    ) -> tuple[dict[str, Any], dict[str, Provided]]:
        provided: dict[str, Provided] = {}
        mutates = prep.analysis.mutates
        for name in prep.analysis.reads:
            if name in inherited:
                key = inherited[name]
                provided[name] = Provided(self.load(key, fresh=name in mutates), "artifact")
            elif name in self.params:
                provided[name] = Provided(self.params[name], "param")
            elif name in self.notebook_ns and not self._is_step_result(name):
                provided[name] = self._from_notebook(name, fresh=name in mutates)
        if task.has_item:
            provided[prep.spec.foreach_as] = Provided(task.item, "item")
            provided["item_index"] = Provided(task.path[-1], "item")
        namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        namespace.update((name, p.value) for name, p in provided.items())
        if prep.spec.gets_inputs:
            inputs = Inputs(
                [
                    InputView(p.step, p.task_id, i, self.visible[p.task_id], self.load)
                    for i, p in enumerate(task.parents)
                ]
            )
            namespace["inputs"] = inputs
            namespace["merge"] = functools.partial(merge, into=namespace)
        for name in sorted(mutates & provided.keys()):
            if provided[name].kind in ("artifact", "context"):
                self.notes(
                    f"nbflow: step '{prep.spec.name}' changes '{name}' in place; it got its own "
                    f"copy, and the changed value is stored as a new version of '{name}'."
                )
        return namespace, provided

    def _is_step_result(self, name: str) -> bool:
        bound = self.step_bound.get(name)
        return bound is not None and bound[1] is self.notebook_ns.get(name)

    def _from_notebook(self, name: str, *, fresh: bool) -> Provided:
        value = self.notebook_ns[name]
        if isinstance(value, CODE_TYPES):
            return Provided(value, "code")
        cached = self._context.get(name)
        if cached is not None and cached[0] is value:
            stored = cached[1]
        else:
            stored = self._save_one(name, value)
            self._context[name] = (value, stored)
        return Provided(self.load(stored.key, fresh=True) if fresh else value, "context", stored)

    def _outputs(
        self, prep: PreparedStep, namespace: Mapping[str, Any], provided: Mapping[str, Provided]
    ) -> dict[str, Any]:
        spec = prep.spec
        outputs: dict[str, Any] = {}
        for name, value in namespace.items():
            if name.startswith("_") or name in spec.transient or name in prep.analysis.imports:
                continue
            if name in ("inputs", "merge") and spec.gets_inputs:
                continue
            if isinstance(value, (types.ModuleType, InputView, Inputs)):
                # Handles, not values: a module, or a view of a parent task that is stored already.
                continue
            if spec.out is not None and name not in spec.out:
                continue
            source = provided.get(name)
            unchanged = source is not None and source.value is value
            if unchanged and source.kind != "item" and name not in prep.analysis.mutates:
                continue
            if unchanged and source.kind == "code":
                continue
            outputs[name] = value
        missing = sorted((spec.out or set()) - outputs.keys() - provided.keys())
        if missing:
            raise StepError(
                f"--out names {', '.join(missing)}, which the step does not bind. "
                "Bind them in the cell, or fix --out.",
                step=spec.name,
                line=spec.line,
            )
        return outputs

    # -- values ---------------------------------------------------------------------------------

    def _save(self, step: str, values: Mapping[str, Any]) -> dict[str, StoredObject]:
        stored: dict[str, StoredObject] = {}
        problems: dict[str, str] = {}
        for name, value in values.items():
            try:
                stored[name] = self._save_one(name, value)
            except UnstorableValue as error:
                problems[name] = f"{type(value).__module__}.{type(value).__qualname__}: {error}"
        if problems:
            raise ArtifactError(step, problems)
        return stored

    def _save_one(self, name: str, value: Any) -> StoredObject:
        obj = self.store.save(value)
        if obj.inline is not None:
            self._inline[obj.key] = obj.inline
        else:
            self._values[obj.key] = value
        return obj

    def load(self, key: str, *, fresh: bool = False) -> Any:
        # Large values this kernel already holds are passed as they are (no copy, no reload);
        # small ones are unpickled from their bytes, so a task never aliases another's object.
        if not fresh and key in self._values:
            return self._values[key]
        inline = self._inline.get(key)
        if inline is not None:
            return self.store.values.load(key, inline)
        value = self.store.load(key)
        if not fresh and key not in self._inline:
            self._values[key] = value
        return value

    def _hint(self, error: BaseException) -> str:
        name = getattr(error, "name", None)
        if isinstance(error, NameError) and name in self.step_bound:
            step = self.step_bound[name][0]
            return f" ('{name}' is bound by step '{step}'; to read it here, add --after {step})"
        return ""

    def _failed(self, prep: PreparedStep, task_id: int, outcome: Outcome) -> StepFailed:
        error = outcome.error
        assert error is not None
        self.store.meta.commit_task(
            task_id,
            status="failed",
            stdout=outcome.stdout,
            stderr=outcome.stderr,
            error=_error_record(error),
        )
        return StepFailed(
            step=prep.spec.name,
            task_id=str(task_id),
            run=f"{self.flow}/{self.run_id}",
            ename=type(error).__name__,
            evalue=str(error) + self._hint(error),
            traceback=outcome.traceback,
            line=_cell_line(error, prep),
        )


def _error_record(error: BaseException) -> dict[str, Any]:
    return {
        "ename": type(error).__name__,
        "evalue": str(error),
        "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__)),
    }


def _cell_line(error: BaseException, prep: PreparedStep) -> int | None:
    line = None
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename == prep.filename:
            line = lineno
    return line
