"""One task's body: build its namespace, run its code, find and store what it bound.

The same body runs in the kernel and in a worker process. What differs is injected: how a
value is loaded (the kernel reuses objects it holds), how it is saved, and how output is shown.
A payload is everything a worker needs, so it travels with cloudpickle; a result is small
(blob keys, previews, logs) and goes back to the kernel, which alone writes metadata.
"""

from __future__ import annotations

import builtins
import functools
import time
import traceback
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nbflow.core.inputs import Inputs, InputView, merge
from nbflow.exceptions import (
    ArtifactError,
    ArtifactWriteError,
    DatastoreError,
    NbflowError,
    StepError,
)
from nbflow.run import reads
from nbflow.run.cellcode import Display, FormatTraceback, cell_traceback, compile_cell, execute
from nbflow.run.current import TaskContext, frames, running
from nbflow.run.timeout import time_limit
from nbflow.store.blobs import Encoded, Stored, UnstorableValue, encode

Load = Callable[[str, bool], Any]  # (blob key, fresh copy?) -> value
Save = Callable[[Any, Encoded], Stored]  # (value, encode(value)) -> where it is stored


@dataclass(frozen=True)
class JoinInput:
    step: str
    task_id: int
    artifacts: dict[str, str]  # name -> blob key


@dataclass(frozen=True)
class JoinBefore:
    """For a join: what was visible before the split, and the names of the foreach it closes."""

    artifacts: dict[str, str] = field(default_factory=dict)  # name -> blob key
    step: str | None = None  # where: the task that opened the foreach, or the branches split
    owned: frozenset[str] = frozenset()  # `item` (or the --as name) and `item_index`


@dataclass(frozen=True)
class TaskPayload:
    """Everything one task needs to run anywhere."""

    task_id: int
    step: str
    code: str  # the cell's code, blank lines in place of the `%%step` line
    loads: dict[str, str]  # names to load from the store: inherited artifacts, context values
    values: dict[str, Any]  # names given as they are: parameters, the item, notebook code
    fresh: frozenset[str] = frozenset()  # private copies the code changes in place: results
    new: frozenset[str] = frozenset()  # given and always results (the foreach item)
    join_inputs: tuple[JoinInput, ...] | None = None
    join_before: JoinBefore = field(default_factory=JoinBefore)
    transient: frozenset[str] = frozenset()
    out: frozenset[str] | None = None
    imports: frozenset[str] = frozenset()
    handles: frozenset[str] = frozenset()  # `with ... as` targets: stored only if in `out`
    params: frozenset[str] = frozenset()  # the run's parameter names: read-only here
    hints: dict[str, str] = field(default_factory=dict)  # name -> step that binds it
    imported: dict[str, str] = field(default_factory=dict)  # name -> step that imports it
    timeout: float | None = None
    # The step has --catch and this is its last attempt: on an error, what the code bound
    # before it is still kept (Metaflow keeps a caught step's artifacts too).
    keep_on_error: bool = False
    inline: dict[str, bytes] = field(default_factory=dict)  # small blobs, so no database
    # A step in an environment of its own: the kernel's versions of the packages it pins, to
    # name both when an input written by the kernel's library cannot be read there.
    kernel_versions: dict[str, str] = field(default_factory=dict)
    # Where the task is, for `nbflow.current`: its run, attempt, the run a resume resumes,
    # and the enclosing foreach elements (step, name, index, count, blob key), outermost first.
    flow: str = ""
    run_id: int = 0
    attempt: int = 1
    origin_run: int | None = None
    # Printed before the task's first output (not kept with it): in a whole run in the kernel
    # each task's output comes under its own `── step[i] ──` line, as a worker's is replayed.
    header: str = ""
    foreach: tuple[dict[str, Any], ...] = ()


@dataclass
class TaskResult:
    task_id: int
    outputs: dict[str, Stored] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    displays: list[dict[str, Any]] = field(default_factory=list)  # rich outputs (workers)
    error: dict[str, Any] | None = None  # ename, evalue, traceback (text), line
    rendered: list[str] = field(default_factory=list)  # the traceback as the notebook shows it
    # nbflow's own error about the results (an unstorable value, a bad --out): raised as it is,
    # since its message already says what is wrong and how to fix it. Picklable.
    refusal: NbflowError | None = None
    reads: list[dict[str, Any]] = field(default_factory=list)  # files read: path, size, hash
    # A join's inherited names that `merge(include=/exclude=)` said not to pass on.
    dropped: frozenset[str] = frozenset()
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def filename_of(step: str) -> str:
    return f"<step {step}>"


@functools.lru_cache(maxsize=256)
def compiled_code(code: str, step: str) -> tuple[Any, Any]:
    return compile_cell(code, filename_of(step))


def run_body(
    payload: TaskPayload,
    *,
    load: Load,
    save: Save,
    display: Display,
    format_traceback: FormatTraceback,
) -> TaskResult:
    """Run the task's code in a namespace of its own and store what it bound."""
    result = TaskResult(payload.task_id, started_at=time.time())
    load = _quietly(load)
    dropped: set[str] = set()
    try:
        namespace, given = _namespace(payload, load, dropped)
    except DatastoreError as error:
        # An input that cannot be loaded (a damaged or missing blob): this task fails with
        # that message, as a result, so the scheduler records it instead of waiting for it.
        result.error, result.refusal = error_record(error, payload), error
        result.finished_at = time.time()
        return result
    here = TaskContext(
        payload.flow, payload.run_id, payload.step, payload.task_id, payload.attempt,
        payload.origin_run, frames(payload.foreach, lambda key: load(key, False)),
    )  # fmt: skip
    with time_limit(payload.timeout), running(here), reads.recording() as opened:
        outcome = execute(
            compiled_code(payload.code, payload.step),
            namespace,
            display=display,
            format_traceback=format_traceback,
            header=payload.header,
        )
    result.reads = reads.describe(opened)
    result.stdout, result.stderr = outcome.stdout, outcome.stderr
    result.dropped = frozenset(dropped)
    if outcome.error is not None:
        result.error = error_record(outcome.error, payload)
        result.rendered = outcome.traceback
        if payload.keep_on_error:
            result.outputs = _save_storable(_bound(payload, namespace, given), save)
    else:
        try:
            result.outputs = _save_all(payload, _outputs(payload, namespace, given), save)
        except (ArtifactError, ArtifactWriteError, StepError) as error:
            result.error = error_record(error, payload)
            result.refusal = error
    result.finished_at = time.time()
    return result


def _quietly(load: Load) -> Load:
    """`load`, with what it opens not counted as the task's reads (inputs load lazily)."""

    def quiet(key: str, fresh: bool) -> Any:
        with reads.paused():
            return load(key, fresh)

    return quiet


def _namespace(
    payload: TaskPayload, load: Load, dropped: set[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    given = {name: load(key, name in payload.fresh) for name, key in payload.loads.items()}
    given.update(payload.values)
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins, **given}
    if payload.join_inputs is not None:
        views = [
            InputView(j.step, j.task_id, i, j.artifacts, lambda key: load(key, False))
            for i, j in enumerate(payload.join_inputs)
        ]
        before = payload.join_before
        inputs = Inputs(
            views,
            step=payload.step,
            before=before.artifacts,
            before_step=before.step,
            owned=before.owned,
        )
        inputs.bind_merge(namespace, given, dropped)
        namespace["inputs"], namespace["merge"] = inputs, merge
    return namespace, given


def _outputs(
    payload: TaskPayload, namespace: Mapping[str, Any], given: Mapping[str, Any]
) -> dict[str, Any]:
    _check_parameters(payload, namespace, given)
    outputs = _bound(payload, namespace, given)
    missing = sorted((payload.out or set()) - outputs.keys() - given.keys())
    if missing:
        raise StepError(
            f"--out names {', '.join(missing)}, which the step does not bind. "
            "Bind them in the cell, or fix --out.",
            step=payload.step,
        )
    return outputs


def _bound(
    payload: TaskPayload, namespace: Mapping[str, Any], given: Mapping[str, Any]
) -> dict[str, Any]:
    """The values the task bound that are its results."""
    outputs: dict[str, Any] = {}
    for name, value in namespace.items():
        if name.startswith("_") or name in payload.transient or name in payload.imports:
            continue
        if isinstance(value, (types.ModuleType, InputView, Inputs)) or name == "merge":
            # Handles, not values: a module, or a view of a parent task that is stored already.
            continue
        if not _wanted(name, payload):
            continue
        unchanged = name in given and given[name] is value
        if unchanged and name not in payload.new and name not in payload.fresh:
            continue
        outputs[name] = value
    return outputs


def _check_parameters(
    payload: TaskPayload, namespace: Mapping[str, Any], given: Mapping[str, Any]
) -> None:
    # The runner refuses a step whose cell binds a parameter before it runs; this catches a
    # binding the cell analysis cannot see (`globals()[...] = `, exec).
    for name in sorted(payload.params & namespace.keys()):
        if (name not in given or given[name] is not namespace[name]) and name not in payload.new:
            raise parameter_bound(payload.step, name)


def parameter_bound(step: str, name: str, line: int | None = None) -> StepError:
    return StepError(
        f"binds '{name}', which is a parameter of the run (parameters are read-only inside "
        f"steps). Bind another name, e.g. `{name}_2 = ...`.",
        step=step,
        line=line,
    )


def _wanted(name: str, payload: TaskPayload) -> bool:
    """`--out` names exactly what is stored; without it, everything but the `with` handles."""
    if payload.out is not None:
        return name in payload.out
    return name not in payload.handles


def _save_all(payload: TaskPayload, values: Mapping[str, Any], save: Save) -> dict[str, Stored]:
    # Every value is encoded before any is written: one that cannot be stored leaves no blob
    # of the others behind, and the error names every such value at once. (The pickle streams
    # wait in memory meanwhile; arrays' buffers are not copied, so that is mostly headers.)
    encoded: dict[str, Encoded] = {}
    problems: dict[str, str] = {}
    for name, value in values.items():
        try:
            encoded[name] = encode(value)
        except UnstorableValue as error:
            problems[name] = f"{type(value).__module__}.{type(value).__qualname__}: {error}"
    if problems:
        raise ArtifactError(payload.step, problems)
    stored: dict[str, Stored] = {}
    for name, value in values.items():
        try:
            stored[name] = save(value, encoded.pop(name))
        except DatastoreError as error:  # no space left, the store unreachable: name the value
            raise ArtifactWriteError(payload.step, name, str(error)) from error
    return stored


def _save_storable(values: Mapping[str, Any], save: Save) -> dict[str, Stored]:
    """What can be stored of a failed task's values; the rest is left out without a word, since
    the step already failed and its error is what the user needs to see."""
    stored: dict[str, Stored] = {}
    for name, value in values.items():
        try:
            stored[name] = save(value, encode(value))
        except (UnstorableValue, DatastoreError):
            continue
    return stored


def error_record(error: BaseException, payload: TaskPayload) -> dict[str, Any]:
    evalue = str(error)
    name = getattr(error, "name", None)
    if isinstance(error, NameError) and name in payload.hints:
        step = payload.hints[name]
        evalue += f" ('{name}' is bound by step '{step}'; to read it here, add --after {step})"
    elif isinstance(error, NameError) and name in payload.imported:
        evalue += (
            f" ('{name}' is imported by step '{payload.imported[name]}', and a step's imports "
            "stay in that step: import it here too, or once in a plain cell above the steps)"
        )
    line = None
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename == filename_of(payload.step):
            line = lineno
    return {
        "ename": type(error).__name__,
        "evalue": evalue,
        "traceback": "".join(cell_traceback(error)),
        "line": line,
    }
