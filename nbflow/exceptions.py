"""Every error nbflow raises, in one hierarchy.

    NbflowError                      anything nbflow reports to a user
    ├── GraphError                   the steps do not form a valid flow (unknown parent, cycle, ...)
    ├── StepError                    a step cannot run as written (bad options, missing input)
    ├── ExportError                  a notebook cell cannot be exported (to Metaflow, a script)
    ├── StepFailed                   the user's code in a step raised; carries the traceback
    ├── ArtifactError                a value cannot be stored (unpicklable; names each variable)
    ├── UnreadableInput              a stored input cannot be loaded where the step runs
    ├── DatastoreError               the datastore cannot be used (not writable, missing blob)
    │   ├── ArtifactWriteError       a step's value could not be written (disk full, ...)
    │   └── IntegrityError           a blob's bytes do not match its key
    │       └── DamagedArtifact      ... naming the artifacts it belongs to
    └── NotFound                     no such flow, run, step, task or artifact

    UntrustedStoreWarning            (a warning) loading a value from another user's datastore
    MlflowLoggingWarning             (a warning) a run could not be logged to MLflow

Every error message says what is wrong, where, and how to fix it. Exceptions keep their fields
as attributes and stay picklable, because later executors carry them across processes.
"""

from __future__ import annotations

from typing import Any


class NbflowError(Exception):
    """Base of every nbflow error."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback through nbflow's own code: the message
        # already says what is wrong, where, and how to fix it.
        return [f"{type(self).__name__}: {self}"]

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword fields; rebuild from the message so pickling never breaks.
        return (_rebuild, (type(self), str(self), self.__dict__))


def _rebuild(cls: type[NbflowError], message: str, fields: dict[str, Any]) -> NbflowError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(fields)
    return error


class GraphError(NbflowError):
    """The registered steps do not form a valid flow."""

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        line: int | None = None,
        where: str | None = None,  # what is wrong when it is no step nor the flow
    ) -> None:
        if where is None:
            where = f"step '{step}'" if step else "flow"
            if line is not None:
                where += f" (cell line {line})"
        super().__init__(f"{where}: {message}")
        self.step = step
        self.line = line


class StepError(GraphError):
    """A step cannot run as written: an option or an input it needs is wrong."""


class ExportError(NbflowError):
    """A cell of a notebook cannot be translated by `nbflow export`: which cell, what, the fix."""

    def __init__(self, message: str, *, cell: int, first_line: str, fix: str) -> None:
        super().__init__(f"cell {cell} ({first_line!r}): {message} {fix}")
        self.cell = cell
        self.first_line = first_line
        self.fix = fix


class StepFailed(NbflowError):
    """The code of a step raised. Shown as one traceback in the notebook."""

    def __init__(
        self,
        *,
        step: str,
        task_id: str,
        run: str,
        ename: str,
        evalue: str,
        traceback: list[str],
        line: int | None = None,
    ) -> None:
        at = f" at cell line {line}" if line is not None else ""
        super().__init__(
            f"step '{step}' failed{at} in task {run}/{step}/{task_id}: {ename}: {evalue}"
        )
        self.step = step
        self.task_id = task_id
        self.run = run
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback
        self.line = line

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing our own frames: the user sees their
        # traceback once (it ends with the error), followed by where it happened in the flow.
        at = f" at cell line {self.line}" if self.line is not None else ""
        return [*self.traceback, f"nbflow: step '{self.step}' failed{at} in task {self.where}"]

    @property
    def where(self) -> str:
        return f"{self.run}/{self.step}/{self.task_id}"


class ArtifactError(NbflowError):
    """One or more values a step bound cannot be stored."""

    def __init__(self, step: str, problems: dict[str, str]) -> None:
        lines = [f"  {name}: {why}" for name, why in problems.items()]
        names = ",".join(problems)
        super().__init__(
            f"step '{step}' bound values that cannot be stored:\n"
            + "\n".join(lines)
            + f"\nFix: keep them out of the artifacts with `%%step {step} ... --transient {names}`"
            " (or name what to keep with --out)."
        )
        self.step = step
        self.problems = problems


class UnreadableInput(NbflowError):
    """A stored input the step's process cannot load (in an environment of its own: a pickle
    from another version of a library)."""


class DatastoreError(NbflowError):
    """The datastore cannot be used as configured."""


class IntegrityError(DatastoreError):
    """A blob's bytes do not hash to its key: the store was altered or damaged."""


class NotFound(NbflowError, LookupError):
    """No such flow, run, step, task or artifact."""


class UntrustedStoreWarning(UserWarning):
    """An artifact is loaded from a datastore another user created. Loading unpickles, and
    unpickling runs whatever code the pickle names: only load from stores you trust. Shown
    once per store per process (see nbflow.store.trust); browsing never unpickles, so never
    warns."""


class MlflowLoggingWarning(UserWarning):
    """A run could not be logged to the MLflow tracking server (the `mlflow` setting); names
    the tracking URI and the cause. The run itself is recorded in nbflow all the same."""


class DamagedArtifact(IntegrityError):
    """A stored artifact's bytes do not hash to its key; names the artifact, not just the key.
    Raised before anything is unpickled."""

    def __init__(self, key: str, artifacts: list[str], reason: str) -> None:
        what = f"artifact {artifacts[0]}" if artifacts else f"the value stored under {key}"
        if len(artifacts) > 1:
            more = f", and {len(artifacts) - 4} more" if len(artifacts) > 4 else ""
            what += f" (the same bytes as {', '.join(artifacts[1:4])}{more})"
        super().__init__(
            f"cannot load {what}: {reason} `nbflow fsck` lists every damaged artifact in the store."
        )
        self.key = key
        self.artifacts = artifacts


class ArtifactWriteError(DatastoreError):
    """A step's value could not be written (no space left, the store unreachable). Nothing was
    recorded for the task: no artifact row, no blob under its final name."""

    def __init__(self, step: str, name: str, reason: str) -> None:
        super().__init__(f"step '{step}': cannot store '{name}': {reason}")
        self.step = step
        self.name = name
