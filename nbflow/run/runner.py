"""Running steps into one run: plan their tasks, hand them to an executor, commit the results.

A task sees only what it reads: its parents' artifacts, the run's parameters, the foreach
item, `inputs` for a join, and the notebook's code. Plain data it reads from the notebook is
recorded as a context value. Its results are stored first and its record committed last, by
this process alone, whichever executor ran it.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nbflow.core.cells import CellAnalysis, analyze
from nbflow.core.graph import FlowGraph, StepSpec
from nbflow.core.inputs import join_artifacts
from nbflow.core.plan import PlannedTask, TaskRef, plan_step
from nbflow.core.when import skips
from nbflow.exceptions import ArtifactWriteError, NbflowError, StepError, StepFailed
from nbflow.run.cache import cache_key, is_code
from nbflow.run.cellcode import Display, FormatTraceback, compile_cell
from nbflow.run.executors.kernel import KernelExecutor
from nbflow.run.reads import changed_file
from nbflow.run.task import (
    JoinBefore,
    JoinInput,
    TaskPayload,
    TaskResult,
    filename_of,
    parameter_bound,
)
from nbflow.store.blobs import Encoded, Stored
from nbflow.store.metadata import RunRecord, TaskRecord
from nbflow.store.stores import Store

if TYPE_CHECKING:
    from nbflow.run.executors import Executor


@contextmanager
def nullcontext_list() -> Iterator[list[dict[str, Any]]]:
    yield []


def _print_note(text: str) -> None:
    print(text, file=sys.stderr)


@dataclass(frozen=True)
class PreparedStep:
    """A step with its code analysed and checked once, at registration."""

    spec: StepSpec
    analysis: CellAnalysis
    code: str  # blank lines in place of the `%%step` line: tracebacks give cell line numbers


def prepare(spec: StepSpec) -> PreparedStep:
    code = "\n" * (spec.line or 1) + spec.code
    try:
        compile_cell(code, filename_of(spec.name))
        if spec.when:
            compile(spec.when, "--when", "eval")
    except SyntaxError as error:
        in_when = error.filename == "--when"
        where = f"--when {spec.when!r}" if in_when else "the cell"
        raise StepError(
            f"has a syntax error in {where}: {error.msg}. Fix {where}.",
            step=spec.name,
            line=spec.line if in_when else error.lineno,
        ) from None
    return PreparedStep(spec, analyze(spec.code), code)


def check_binds_no_parameter(prep: PreparedStep, params: Mapping[str, Any]) -> None:
    """Parameters are read-only inside steps: a step that rebinds one would show its own value
    to the steps below while the run records the parameter's."""
    bound = sorted(prep.analysis.binds & params.keys())
    if not bound:
        return
    name = bound[0]
    # The analysis counts lines from the cell's body; the cell's line 1 is the `%%step` line.
    line = prep.analysis.first_line[name] + (prep.spec.line or 1)
    raise parameter_bound(prep.spec.name, name, line)


@dataclass
class Attempt:
    """A planned task on its way through the executor."""

    planned: PlannedTask
    number: int = 1
    not_before: float = 0.0
    task_id: int = 0
    # The id set aside for this attempt when its step was planned, so ids follow element
    # order (`MetadataStore.set_planned`); None: the next id.
    reserved: int | None = None
    inherited: dict[str, str] = field(default_factory=dict)
    context: dict[str, Stored] = field(default_factory=dict)
    # The enclosing foreach elements (see `Runner.enclosing`) and this task's own, stored.
    frames: tuple[dict[str, Any], ...] = ()
    element: Stored | None = None


@dataclass
class Runner:
    """Runs steps into one run. Holds the run's committed tasks and their visible artifacts."""

    store: Store
    run: RunRecord
    graph: FlowGraph
    prepared: Mapping[str, PreparedStep]
    params: Mapping[str, Any]
    notebook_ns: Mapping[str, Any]
    executor: Executor | None = None  # None: the kernel executor
    # Notebook names that hold a step's result (bound for inspection): never context values.
    step_bound: Mapping[str, tuple[str, Any]] = field(default_factory=dict)
    display: Display = print
    display_bundle: Callable[[dict[str, Any]], None] = print  # a worker's rich output, replayed
    # Records what a task in the kernel shows (display(), a figure), to keep it with the task.
    record_displays: Callable[[], AbstractContextManager[list[dict[str, Any]]]] = nullcontext_list
    format_traceback: FormatTraceback | None = None
    notes: Callable[[str], None] = _print_note
    # A full run (%flow run, resume) reuses earlier identical tasks (when `use_cache`) and
    # admits tasks by their --resources; a step cell run by hand always runs, at once.
    full_run: bool = False
    use_cache: bool = True
    # Called after every finished task of a full run (a live graph redraws itself).
    on_progress: Callable[[Runner, bool], None] | None = None
    resume: Resume | None = None
    tasks_of: dict[str, list[TaskRef]] = field(default_factory=dict)
    visible: dict[int, dict[str, str]] = field(default_factory=dict)
    # For each task of this run, the task that actually computed its results.
    data_id_of: dict[int, int] = field(default_factory=dict)
    # For each task of this run, its enclosing foreach elements, outermost first.
    frames_of: dict[int, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    _values: dict[str, Any] = field(default_factory=dict)  # blob key -> value held in memory
    _inline: dict[str, bytes] = field(default_factory=dict)
    _context: dict[str, tuple[Any, Stored]] = field(default_factory=dict)
    _noted: set[tuple[str, str]] = field(default_factory=set)
    # step -> (its tasks_of list, its length then, path -> task): see `_task_leading_to`.
    _places: dict[str, tuple[list[TaskRef], int, dict[tuple[int, ...], TaskRef]]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        if self.executor is None:
            self.executor = KernelExecutor(self)

    @property
    def flow(self) -> str:
        return self.run.flow

    @property
    def run_id(self) -> int:
        return self.run.run_id

    def data_ids(self, step: str) -> set[int]:
        return {self.data_id_of[t.task_id] for t in self.tasks_of.get(step, [])}

    # -- reuse ----------------------------------------------------------------------------------

    def adopt(
        self, records: list[TaskRecord], task_ids: Sequence[int | None] = ()
    ) -> list[TaskRef]:
        """Take finished tasks of another run into this one by reference (status `cached`),
        under the ids reserved for them, if any."""
        mapping = self.store.meta.reuse_tasks(self.flow, self.run_id, records, task_ids)
        refs = []
        for record in records:
            new_id = mapping[record.task_id]
            artifacts = self.store.meta.artifacts(record)
            self.visible[new_id] = {a.name: a.key for a in artifacts}
            self.data_id_of[new_id] = record.data_task_id
            self.frames_of[new_id] = record.foreach
            ref = TaskRef(record.step, new_id, record.path, record.status == "skipped")
            self.tasks_of.setdefault(record.step, []).append(ref)
            refs.append(ref)
        return refs

    # -- running --------------------------------------------------------------------------------

    def plan(self, name: str) -> list[PlannedTask]:
        """The step's tasks; raises StepError (a bad --foreach, say) before anything runs."""
        check_binds_no_parameter(self.prepared[name], self.params)
        return plan_step(self.graph, name, self.tasks_of, self._elements(self.graph[name]))

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
                    f"--foreach {spec.foreach}: '{spec.foreach}' is of type "
                    f"{type(value).__name__}, which cannot be iterated. Bind a list (or any "
                    "iterable) of the elements.",
                    step=spec.name,
                    line=spec.line,
                ) from None

        return elements

    # -- one attempt: before ---------------------------------------------------------------------

    def inherited(self, task: PlannedTask) -> dict[str, str]:
        if not self.graph[task.step].gets_inputs:
            return dict(self.visible[task.parents[0].task_id]) if task.parents else {}
        before = self.before_split(task)
        views = [self.visible[p.task_id] for p in task.parents]
        return join_artifacts(views, before.artifacts, before.owned)

    def before_split(self, task: PlannedTask) -> JoinBefore:
        """For a join: what the task before the split could see (the task that opened the
        foreach, or the task where a static join's branches split), and the names of the
        foreach it closes. `merge` refuses only a name that existed there."""
        spec = self.graph[task.step]
        if spec.join:
            assert task.split is not None
            foreach = self.graph[self.graph.levels()[spec.parents[0]][-1]]
            owned = frozenset({foreach.foreach_as, "item_index"})
            return JoinBefore(dict(self.visible[task.split.task_id]), task.split.step, owned)
        split = self.graph.split_of(spec.parents)
        if split is None:  # branches from separate roots: nothing was before them
            return JoinBefore()
        ref = self._task_leading_to(split, task.path)
        if ref is None:  # a split this run does not hold: nothing to compare with
            return JoinBefore()
        return JoinBefore(dict(self.visible.get(ref.task_id, {})), ref.step)

    def _task_leading_to(self, step: str, path: tuple[int, ...]) -> TaskRef | None:
        """The task of `step` at this place: the one whose path leads to `path` (the longest
        such, the first committed of equals). Looked up by path in an index of the step's
        tasks, built once per step: a join in each of 100,000 foreach tasks does not scan
        the split's 100,000 tasks each."""
        tasks = self.tasks_of.get(step, [])
        index = self._places.get(step)
        if index is None or index[0] is not tasks or index[1] != len(tasks):
            places: dict[tuple[int, ...], TaskRef] = {}
            for ref in tasks:
                places.setdefault(ref.path, ref)
            index = self._places[step] = (tasks, len(tasks), places)
        for end in range(len(path), -1, -1):
            found = index[2].get(path[:end])
            if found is not None:
                return found
        return None

    def enclosing(self, attempt: Attempt) -> None:
        """The task's foreach elements at every level, outermost first: its parent's, less
        the innermost after a foreach join, plus its own element in a foreach step. Each is
        kept by the blob key of its value, so the cache key and `current` see every level."""
        task, spec = attempt.planned, self.graph[attempt.planned.step]
        if spec.join:
            frames = self.frames_of.get(task.split.task_id, ()) if task.split else ()
        else:
            frames = self.frames_of.get(task.parents[0].task_id, ()) if task.parents else ()
        if task.has_item:
            assert spec.foreach_as is not None
            attempt.element = self.save(task.item)
            own = {
                "step": spec.name,
                "name": spec.foreach_as,
                "index": task.path[-1],
                "count": task.count,
                "key": attempt.element.key,
            }
            frames = (*frames, own)
        attempt.frames = frames

    def skips(self, attempt: Attempt) -> bool:
        """Whether the step's --when is false for this task (evaluated over its inputs)."""
        spec = self.graph[attempt.planned.step]
        if attempt.planned.skip:
            return True
        if not spec.when:
            return False
        return skips(spec, attempt.inherited, self.params, self.load)

    def payload(self, attempt: Attempt, *, inline: bool) -> TaskPayload:
        """What the task reads, resolved: artifacts and context by key, the rest by value."""
        task, prep = attempt.planned, self.prepared[attempt.planned.step]
        spec, reads, mutates = prep.spec, prep.analysis.reads, prep.analysis.mutates
        loads: dict[str, str] = {}
        values: dict[str, Any] = {}
        for name in sorted(reads):
            if name in attempt.inherited:
                loads[name] = attempt.inherited[name]
            elif name in self.params:
                value = self.params[name]
                values[name] = copy.deepcopy(value) if name in mutates else value
            elif name in self.notebook_ns and not self._is_step_result(name):
                value = self.notebook_ns[name]
                if is_code(value):
                    values[name] = value
                else:
                    attempt.context[name] = self._record_context(attempt, name, value)
                    loads[name] = attempt.context[name].key
        new = set()
        if task.has_item:
            values[spec.foreach_as], values["item_index"] = task.item, task.path[-1]
            new = {spec.foreach_as, "item_index"}
        self._note_mutations(spec.name, mutates & (loads.keys() | values.keys()))
        join = None
        if spec.gets_inputs:
            join = tuple(
                JoinInput(p.step, p.task_id, self.visible[p.task_id]) for p in task.parents
            )
        return TaskPayload(
            task_id=attempt.task_id,
            step=spec.name,
            code=prep.code,
            loads=loads,
            values=values,
            fresh=frozenset(mutates & loads.keys()),
            new=frozenset(new),
            join_inputs=join,
            join_before=self.before_split(task) if join is not None else JoinBefore(),
            transient=spec.transient,
            out=spec.out,
            imports=prep.analysis.imports,
            handles=prep.analysis.handles,
            params=frozenset(self.params),
            hints={name: step for name, (step, _) in self.step_bound.items()},
            imported={
                name: other
                for other, prepared in self.prepared.items()
                if other != spec.name
                for name in prepared.analysis.imports
            },
            timeout=spec.timeout,
            keep_on_error=spec.catch is not None and attempt.number > spec.retry,
            inline=self._inline_bytes(loads, join, attempt.frames) if inline else {},
            flow=self.flow,
            run_id=self.run_id,
            attempt=attempt.number,
            origin_run=self.run.origin_run if self.resume is not None else None,
            foreach=attempt.frames,
        )

    def cache_key(self, attempt: Attempt, payload: TaskPayload) -> str | None:
        # Computed in every full run, reused only when `use_cache`: a fresh run's tasks are
        # found by a later run that asks to reuse (`nbflow run --reuse` after `nbflow run`).
        spec = self.graph[attempt.planned.step]
        if not (self.full_run and spec.cache):
            return None
        return cache_key(payload, self.prepared[spec.name].spec)

    def reusable(self, step: str, key: str) -> TaskRecord | None:
        """The newest earlier task with this key whose files (those it read) are unchanged and
        whose results are all still stored."""
        for candidate in self.store.meta.cached_tasks(self.flow, step, key):
            if changed_file(candidate.reads) is None and self.intact(candidate):
                return candidate
        return None

    def intact(self, record: TaskRecord) -> bool:
        """Whether every blob of the task's own results is there: a result deleted (as `nbflow
        fsck` advises for a damaged one) is computed again instead of being taken over. (Bytes
        changed in place are found when loaded, hashed against their key.)"""
        blobs = self.store.values.blobs
        for artifact in self.store.meta.artifacts(record, kinds=("output",)):
            if artifact.size > self.store.values.inline_limit and not blobs.exists(artifact.key):
                return False
        return True

    def _record_context(self, attempt: Attempt, name: str, value: Any) -> Stored:
        # A resumed task sees the context its first attempt saw, not today's notebook.
        if self.resume is not None:
            place = (attempt.planned.step, place_of(attempt.frames))
            recorded = self.resume.context.get(place, {}).get(name)
            recorded = recorded or self.resume.context_by_name.get(name)
            if recorded is not None:
                return recorded
        cached = self._context.get(name)
        if cached is not None and cached[0] is value:
            return cached[1]
        stored = self.save(value)
        self._context[name] = (value, stored)
        return stored

    def _note_mutations(self, step: str, names: Set[str]) -> None:
        for name in sorted(names):
            if (step, name) not in self._noted:
                self._noted.add((step, name))
                self.notes(
                    f"nbflow: step '{step}' changes '{name}' in place; it gets its own copy, "
                    f"and the changed value is stored as a new version of '{name}'."
                )

    def _is_step_result(self, name: str) -> bool:
        bound = self.step_bound.get(name)
        return bound is not None and bound[1] is self.notebook_ns.get(name)

    def _inline_bytes(
        self,
        loads: Mapping[str, str],
        join: tuple[JoinInput, ...] | None,
        frames: tuple[dict[str, Any], ...],
    ) -> dict[str, bytes]:
        # The foreach elements too: `current.foreach` loads them in the worker (the task's
        # own element is not committed yet, so only these bytes have it).
        keys = set(loads.values()) | {frame["key"] for frame in frames}
        for given in join or ():
            keys |= set(given.artifacts.values())
        found = {}
        for key in keys:
            inline = self._inline.get(key) or self.store.meta.inline(key)
            if inline is not None:
                found[key] = inline
        return found

    # -- one attempt: after ----------------------------------------------------------------------

    def commit(
        self, attempt: Attempt, result: TaskResult, *, cacheable: bool = True, defer: bool = False
    ) -> TaskRef:
        """Record a finished task: its outputs, what it inherited and the context it read.
        `defer`: the record may ride with the next transaction (the next task's start); the
        scheduler flushes before it waits."""
        outputs = result.outputs
        for obj in outputs.values():
            self._remember(obj)
        # A join's `merge(include=/exclude=)` stops the names it did not bind from flowing on.
        inherited = {k: v for k, v in attempt.inherited.items() if k not in result.dropped}
        visible = {**inherited, **{name: obj.key for name, obj in outputs.items()}}
        rows = [
            (name, key, "output" if name in outputs else "inherited")
            for name, key in visible.items()
        ] + [(name, obj.key, "context") for name, obj in attempt.context.items()]
        try:
            self.store.meta.commit_task(
                attempt.task_id,
                status="done",
                cacheable=cacheable,
                objects=[*outputs.values(), *attempt.context.values(), *_element(attempt)],
                artifacts=rows + _foreach_rows(attempt),
                stdout=result.stdout,
                stderr=result.stderr,
                error=result.error,
                displays=result.displays,
                reads=result.reads,
                check=self._blobs_still_there(attempt.planned.step, outputs),
                defer=defer,
            )
        except ArtifactWriteError as error:
            # Recorded as failed, never left running: the run stops, naming the value.
            self.store.meta.commit_task(
                attempt.task_id,
                status="failed",
                stdout=result.stdout,
                stderr=result.stderr,
                error={"ename": type(error).__name__, "evalue": str(error), "line": None},
            )
            raise
        return self._committed(attempt, visible)

    def _blobs_still_there(
        self, step: str, outputs: Mapping[str, Stored]
    ) -> Callable[[], None] | None:
        """The commit's check: a value saved by refreshing an old blob still has it (a gc's
        batch may have taken it between the refresh and its delete; see nbflow.store.gc).
        None when no value was saved that way."""
        refreshed = {name: obj.key for name, obj in outputs.items() if obj.refreshed}
        if not refreshed:
            return None

        def check() -> None:
            for name, key in refreshed.items():
                if not self.store.values.blobs.exists(key):
                    raise ArtifactWriteError(
                        step, name, f"its blob {key} was removed by an `nbflow gc` running at "
                        "the same time. Run the step again: its value is written anew.",
                    )  # fmt: skip

        return check

    def commit_skipped(self, attempt: Attempt) -> TaskRef:
        self.store.meta.commit_task(
            attempt.task_id,
            status="skipped",
            objects=_element(attempt),
            artifacts=_foreach_rows(attempt),
        )
        return self._committed(attempt, {}, skipped=True)

    def commit_reused(self, attempt: Attempt, origin: TaskRecord) -> TaskRef:
        """A cache hit: the origin's results over this task's own inputs (rows of its own)."""
        meta = self.store.meta
        outputs = {a.name: a.key for a in meta.artifacts(origin, kinds=("output",))}
        inherited = attempt.inherited
        if self.graph[attempt.planned.step].gets_inputs:
            # The same inputs (the key covers all of a join's): what the origin did not pass on
            # (its merge(include=/exclude=) said so), this task does not either.
            passed_on = {a.name for a in meta.artifacts(origin, kinds=("inherited",))}
            inherited = {k: v for k, v in inherited.items() if k in passed_on}
        visible = {**inherited, **outputs}
        rows = [
            (name, key, "output" if name in outputs else "inherited")
            for name, key in visible.items()
        ]
        meta.commit_task(
            attempt.task_id,
            status="cached",
            objects=_element(attempt),
            artifacts=rows + _foreach_rows(attempt),
            reads=origin.reads,  # what its result depends on: the files its origin read
        )
        return self._committed(attempt, visible)

    def fail(self, attempt: Attempt, result: TaskResult) -> NbflowError:
        # What the failed task saw beyond its parents (context, its foreach element) is kept,
        # so that resume restores it and `%flow load` can replay the task.
        seen = dict(attempt.context)
        task, spec = attempt.planned, self.graph[attempt.planned.step]
        if task.has_item:
            seen[spec.foreach_as] = attempt.element or self.save(task.item)
            seen["item_index"] = self.save(task.path[-1])
        self.store.meta.commit_task(
            attempt.task_id,
            status="failed",
            objects=[*seen.values(), *_element(attempt)],
            artifacts=[(name, obj.key, "context") for name, obj in seen.items()]
            + _foreach_rows(attempt),
            stdout=result.stdout,
            stderr=result.stderr,
            error=result.error,
            displays=result.displays,
            reads=result.reads,
        )
        if result.refusal is not None:
            return result.refusal
        error = result.error or {}
        return StepFailed(
            step=attempt.planned.step,
            task_id=str(attempt.task_id),
            run=f"{self.flow}/{self.run_id}",
            ename=error.get("ename", "Error"),
            evalue=error.get("evalue", ""),
            traceback=result.rendered or [error.get("traceback", "")],
            line=error.get("line"),
        )

    def _committed(
        self, attempt: Attempt, visible: dict[str, str], *, skipped: bool = False
    ) -> TaskRef:
        task = attempt.planned
        self.visible[attempt.task_id] = visible
        self.data_id_of[attempt.task_id] = attempt.task_id
        self.frames_of[attempt.task_id] = attempt.frames
        ref = TaskRef(task.step, attempt.task_id, task.path, skipped)
        self.tasks_of.setdefault(task.step, []).append(ref)
        return ref

    # -- values ---------------------------------------------------------------------------------

    def save(self, value: Any, encoded: Encoded | None = None) -> Stored:
        stored = self.store.save(value, encoded)
        self._remember(stored, value)
        return stored

    def _remember(self, stored: Stored, value: Any = None) -> None:
        if stored.inline is not None:
            self._inline[stored.key] = stored.inline
        elif value is not None:
            self._values[stored.key] = value

    def load(self, key: str, fresh: bool = False) -> Any:
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


def _element(attempt: Attempt) -> list[Stored]:
    return [attempt.element] if attempt.element is not None else []


def _foreach_rows(attempt: Attempt) -> list[tuple[str, str, str]]:
    """The task's foreach elements as artifact rows of their own kind (`foreach[0]` is the
    outermost): never shown as artifacts, but they keep the values from `nbflow gc`."""
    return [(f"foreach[{i}]", frame["key"], "foreach") for i, frame in enumerate(attempt.frames)]


Place = tuple[str, ...]  # a task's foreach elements (their blob keys), outermost first


def place_of(frames: tuple[dict[str, Any], ...]) -> Place:
    """Where a task sits, by its elements, not their positions: a foreach over a set (or any
    iterable whose order differs between processes) gives the same task the same place."""
    return tuple(frame["key"] for frame in frames)


@dataclass
class Resume:
    """What a resumed run may take over from the run it resumes."""

    # Finished tasks by (step, place), in element order (a value twice in a foreach: twice).
    tasks: dict[tuple[str, Place], list[TaskRecord]]
    parents: dict[int, int]  # origin-run task id -> the task that computed it
    rerun: set[str]  # steps to run again whatever happened (--from, changed code, and below)
    context: dict[tuple[str, Place], dict[str, Stored]]
    context_by_name: dict[str, Stored]  # for tasks that never ran: what the run recorded
