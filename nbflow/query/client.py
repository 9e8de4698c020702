"""Read past runs from any Python process: Flow, Run, Step, Task, compare.

Views are small and lazy: listing runs is one query, and an artifact is unpickled only when
its attribute is read. Previews (stored as data) serve reprs and `compare` without unpickling.
"""

from __future__ import annotations

import contextlib
from collections.abc import Container, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from nbflow.exceptions import DatastoreError, NotFound
from nbflow.query.results import compare_rows
from nbflow.render.text import format_duration
from nbflow.store.metadata import ArtifactRecord, RunRecord, TaskRecord
from nbflow.store.metadata.records import FINISHED_OK, latest_attempts
from nbflow.store.stores import Store, open_store

if TYPE_CHECKING:
    import pandas as pd

    from nbflow.render.report import Report


def _split(pathspec: str, parts: int) -> list[str]:
    pieces = pathspec.strip("/").split("/")
    if len(pieces) != parts:
        shape = "/".join(["FLOW", "RUN_ID", "STEP", "TASK_ID"][:parts])
        raise NotFound(f"'{pathspec}' is not of the form {shape}")
    return pieces


def _run_id(text: str | int) -> int:
    try:
        return int(text)
    except ValueError:
        raise NotFound(f"'{text}' is not a run id (run ids are numbers, e.g. 'flow/12')") from None


def reap_quietly(store: Store) -> None:
    """Runs whose process died show as failed wherever runs are listed (the client, the CLI,
    the server's routes)."""
    # Browsing a store this process may not write to (a read-only copy) still works: the dead
    # runs then show as `running` until a writer lists them.
    with contextlib.suppress(DatastoreError):
        store.meta.reap_dead_runs()


class Flow:
    """All runs of one flow, newest first."""

    def __init__(self, name: str, *, store: Store | None = None) -> None:
        self.name = name
        self._store = store or open_store()

    def runs(self, limit: int | None = None) -> list[Run]:
        reap_quietly(self._store)
        return [Run(r, store=self._store) for r in self._store.meta.runs(self.name, limit)]

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs())

    @property
    def latest_run(self) -> Run:
        reap_quietly(self._store)
        runs = self._store.meta.runs(self.name, limit=1)
        if not runs:
            raise NotFound(f"flow '{self.name}' has no runs in {self._store.root}")
        return Run(runs[0], store=self._store)

    @property
    def latest_successful_run(self) -> Run:
        for run in self.runs():
            if run.successful:
                return run
        raise NotFound(f"flow '{self.name}' has no successful run in {self._store.root}")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "runs": [r.as_dict() for r in self.runs()]}

    def __repr__(self) -> str:
        runs = self.runs()
        lines = [f"Flow('{self.name}'): {len(runs)} run{'s' * (len(runs) != 1)}"]
        lines += [f"  {r.id:<8} {r.status:<8} {_ago(r)}" for r in runs[:20]]
        return "\n".join(lines)


class Run:
    """One run: `Run("flow/12")`, `run["train"]`, `run.data.accuracy`."""

    def __init__(self, pathspec: str | RunRecord, *, store: Store | None = None) -> None:
        self._store = store or open_store()
        if isinstance(pathspec, RunRecord):
            self._record = pathspec
        else:
            flow, run_id = _split(pathspec, 2)
            self._record = self._store.meta.run(flow, _run_id(run_id))

    @property
    def flow(self) -> str:
        return self._record.flow

    @property
    def id(self) -> str:
        return f"{self._record.flow}/{self._record.run_id}"

    @property
    def run_id(self) -> int:
        return self._record.run_id

    status = property(lambda self: self._record.status)
    params = property(lambda self: dict(self._record.params))
    tags = property(lambda self: list(self._record.tags))
    started_at = property(lambda self: self._record.started_at)
    finished_at = property(lambda self: self._record.finished_at)
    # Why a run failed where no task did: its notebook stopped early (None otherwise).
    error = property(lambda self: self._record.error)

    @property
    def successful(self) -> bool:
        return self.status == "done"

    @property
    def notebook(self) -> dict[str, Any] | None:
        """The executed notebook, for a run made headless (`nbflow run`); else None."""
        key = self._record.notebook_key
        if key is None:
            return None
        import json

        from nbflow.store.blobs import decode_text

        # Verified against its key, then parsed as JSON: never unpickled.
        notebook: dict[str, Any] = json.loads(decode_text(self._store.load_bytes(key)))
        return notebook

    @property
    def duration(self) -> float | None:
        r = self._record
        return None if r.finished_at is None else r.finished_at - r.started_at

    @cached_property
    def _tasks(self) -> list[TaskRecord]:
        return self._store.meta.tasks(self.flow, self.run_id)

    @cached_property
    def _specs(self) -> dict[str, dict[str, Any]]:
        steps = self._store.meta.steps(self.flow, self.run_id)
        return {spec["name"]: spec for _, spec, _ in steps}

    def steps(self) -> list[Step]:
        seen = dict.fromkeys([*self._specs, *(t.step for t in self._tasks)])
        return [self[name] for name in seen if any(t.step == name for t in self._tasks)]

    def __getitem__(self, step: str) -> Step:
        tasks = [t for t in self._tasks if t.step == step]
        if not tasks:
            known = ", ".join(dict.fromkeys(t.step for t in self._tasks)) or "none"
            raise NotFound(f"run {self.id} has no step '{step}' (its steps: {known})")
        return Step(self, step, tasks, self._specs.get(step, {}))

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps())

    @property
    def end_step(self) -> Step:
        """The run's last step (in notebook order). In a run that did not finish, the last
        step that ran with a single task that succeeded: what the steps before it made."""
        steps = self.steps()
        if self.successful and steps:
            last = steps[-1]
            count = len(last.tasks())
            if count != 1:
                # Never another step's values in its place: that answer would look right.
                raise NotFound(
                    f"run {self.id} ends with step '{last.name}', which has {count} tasks (it "
                    f"is inside a foreach no step joins). Read them with "
                    f"run['{last.name}'].tasks(), or close the foreach with a --join step."
                )
            return last
        for step in reversed(steps):
            tasks = step.tasks()
            if len(tasks) == 1 and tasks[0].successful:
                return step
        raise NotFound(f"run {self.id} has no step with a single task that succeeded")

    @property
    def data(self) -> DataView:
        """The artifacts of the run's last step: everything it could see."""
        return self.end_step.task.data

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "flow": self.flow,
            "run_id": self.run_id,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "params": self.params,
            "tags": self.tags,
            "error": self.error,
        }

    def __repr__(self) -> str:
        lines = [f"Run('{self.id}') {self.status} · {_took(self.duration)} · params {self.params}"]
        for step in self.steps():
            tasks = step.tasks()
            statuses = ", ".join(sorted({t.status for t in tasks}))
            lines.append(f"  {step.name:<16} {len(tasks):>5} task(s)  {statuses}")
        return "\n".join(lines)

    def report(self) -> Report:
        """A self-contained HTML report of this run: `.save("report.html")`, or show it."""
        from nbflow.query.report import report_view
        from nbflow.render.report import Report, render_report

        return Report(render_report(report_view(self)), name=self.id)

    def _repr_svg_(self) -> str:
        from nbflow.query.views import run_view
        from nbflow.render.svg import render_svg

        return render_svg(run_view(self))

    def _repr_mimebundle_(
        self, include: Container[str] | None = None, exclude: Container[str] | None = None
    ) -> dict[str, Any]:
        """The graph as SVG (kept by exported notebooks and nbviewer) and the text repr. In a
        kernel with `%load_ext nbflow`, the extension shows a run as the graph you can click
        (nbflow.kernel.magics registers the GraphWidget for Run)."""
        bundle = {"image/svg+xml": self._repr_svg_(), "text/plain": repr(self)}
        return {
            mime: data
            for mime, data in bundle.items()
            if (include is None or mime in include) and (exclude is None or mime not in exclude)
        }


class Step:
    def __init__(self, run: Run, name: str, tasks: list[TaskRecord], spec: dict[str, Any]) -> None:
        self.run = run
        self.name = name
        self.spec = spec
        self._tasks = tasks

    def tasks(self) -> list[Task]:
        """One task per element (the last attempt where a task was retried), in element order."""
        return [Task(t, store=self.run._store, spec=self.spec) for t in self._final]

    @cached_property
    def _final(self) -> list[TaskRecord]:
        return latest_attempts(self._tasks)

    @property
    def task(self) -> Task:
        if len(self._final) != 1:
            raise NotFound(
                f"step '{self.name}' of run {self.run.id} has {len(self._final)} tasks; "
                "use .tasks() to get them all"
            )
        return self.tasks()[0]

    @property
    def status(self) -> str:
        statuses = {t.status for t in self._final}
        if "failed" in statuses:
            return "failed"
        if "running" in statuses:
            return "running"
        return "cached" if statuses == {"cached"} else "done"

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.spec,
            "name": self.name,
            "status": self.status,
            "tasks": [t.as_dict() for t in self.tasks()],
        }

    def __repr__(self) -> str:
        return f"Step('{self.run.id}/{self.name}') {self.status} · {len(self._final)} task(s)"


class Task:
    """One task: its status, timing, logs and lazily loaded artifacts."""

    def __init__(
        self,
        record: TaskRecord | str,
        *,
        store: Store | None = None,
        spec: dict[str, Any] | None = None,
    ) -> None:
        self._store = store or open_store()
        if isinstance(record, str):
            _, _, _, task_id = _split(record, 4)
            record = self._store.meta.task(_run_id(task_id))
        self._record = record
        self._spec = spec or {}

    id = property(
        lambda self: (
            f"{self._record.flow}/{self._record.run_id}/{self._record.step}/{self._record.task_id}"
        )
    )
    task_id = property(lambda self: self._record.task_id)
    step = property(lambda self: self._record.step)
    status = property(lambda self: self._record.status)
    stdout = property(lambda self: self._record.stdout)
    stderr = property(lambda self: self._record.stderr)
    error = property(lambda self: self._record.error)
    displays = property(lambda self: list(self._record.displays))
    # The environment it ran in (--env, %flow env): requirements, python, packages; or None.
    environment = property(lambda self: self._record.environment)
    path = property(lambda self: self._record.path)
    started_at = property(lambda self: self._record.started_at)
    finished_at = property(lambda self: self._record.finished_at)

    @property
    def successful(self) -> bool:
        return self.status in FINISHED_OK

    @property
    def duration(self) -> float | None:
        r = self._record
        if r.started_at is None or r.finished_at is None:
            return None
        return r.finished_at - r.started_at

    @property
    def attempt(self) -> int:
        return self._record.attempt

    @property
    def attempts(self) -> list[Task]:
        """Every attempt at this task, first to last (more than one when --retry was used)."""
        meta = self._store.meta
        same = [
            t for t in meta.tasks(self._record.flow, self._record.run_id, self._record.step)
            if t.path == self._record.path
        ]  # fmt: skip
        return [Task(t, store=self._store, spec=self._spec) for t in same]

    @property
    def origin(self) -> Task | None:
        """For a reused (`cached`) task: the task that actually ran."""
        if self._record.origin is None:
            return None
        return Task(self._store.meta.task(self._record.origin), store=self._store)

    @cached_property
    def artifacts(self) -> dict[str, ArtifactRecord]:
        return {a.name: a for a in self._store.meta.artifacts(self._record)}

    @cached_property
    def data(self) -> DataView:
        """Its artifacts, and the run's parameters (read-only in steps, so the same for all)."""
        params = self._store.meta.run(self._record.flow, self._record.run_id).params
        return DataView(self.artifacts, self._store, self.id, params)

    @property
    def item(self) -> Any:
        """The element of the innermost foreach this task is in (None outside a foreach),
        whether or not the step stores it (--out)."""
        frames = self._record.foreach
        if frames:
            return self._store.load(frames[-1]["key"], f"the foreach element of {self.id}")
        name = self._spec.get("foreach_as") or "item"  # recorded before foreach frames existed
        return getattr(self.data, name) if name in self.artifacts else None

    def foreach_stack(self) -> list[tuple[int, int, Any]]:
        """(index, number of elements, element) of every enclosing foreach, outermost first."""
        return [
            (frame["index"], frame.get("count", 0), self._store.load(frame["key"]))
            for frame in self._record.foreach
        ]

    @property
    def reads(self) -> list[dict[str, Any]]:
        """The files the task read (path, size, hash of the content): its data lineage. A
        reused task lists those of the task it reuses, whose result depends on them."""
        return [dict(read) for read in self._record.reads]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self._record.as_dict(),
            "id": self.id,
            "duration": self.duration,
            "artifacts": [a.as_dict() for a in self.artifacts.values()],
        }

    def __repr__(self) -> str:
        return f"Task('{self.id}') {self.status} · {_took(self.duration)}"


class DataView:
    """Artifacts as attributes, unpickled on first access (after their hash is checked)."""

    def __init__(
        self,
        artifacts: dict[str, ArtifactRecord],
        store: Store,
        owner: str,
        params: dict[str, Any] | None = None,
    ) -> None:
        self._artifacts = artifacts
        self._store = store
        self._owner = owner
        self._params = params or {}
        self._values: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in self._artifacts:
            if name in self._params:
                return self._params[name]
            raise AttributeError(
                f"{self._owner} has no artifact '{name}'. "
                f"It has: {', '.join(sorted({*self._artifacts, *self._params})) or 'none'}."
            )
        if name not in self._values:
            key = self._artifacts[name].key
            self._values[name] = self._store.load(key, f"'{name}' of {self._owner}")
        return self._values[name]

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)

    def __contains__(self, name: str) -> bool:
        return name in self._artifacts or name in self._params

    def __dir__(self) -> list[str]:
        return sorted({*self._artifacts, *self._params})

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{n}={a.preview.get('repr', a.type_name)}" for n, a in sorted(self._artifacts.items())
        )
        return f"<data of {self._owner}: {shown}>"


def compare(runs: list[Run]) -> pd.DataFrame:
    """Runs side by side: parameters, scalar results of the last step (as `nbflow compare`
    shows them), duration."""
    import pandas as pd

    rows = compare_rows(runs)
    return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()


def _took(seconds: float | None) -> str:
    return format_duration(seconds) or "-"


def _ago(run: Run) -> str:
    import datetime

    started = datetime.datetime.fromtimestamp(run.started_at).strftime("%Y-%m-%d %H:%M:%S")
    return f"{started}  {_took(run.duration)}  {run.params}"


def check_flow(store: Store, flow: str) -> None:
    """NotFound naming the store's flows unless `flow` is one of them."""
    flows = store.meta.flows()
    if flow not in flows:
        known = ", ".join(flows) or "none yet"
        raise NotFound(f"no flow '{flow}' in {store.root} (its flows: {known})")


def open_run(store: Store, pathspec: str) -> Run:
    """The run `FLOW/RUN_ID`; NotFound with a one-line reason otherwise."""
    pieces = pathspec.strip("/").split("/")
    if len(pieces) != 2 or not all(pieces):
        raise NotFound(f"'{pathspec}' is not of the form FLOW/RUN_ID (e.g. demo/3)")
    check_flow(store, pieces[0])
    try:
        return Run(pathspec, store=store)
    except NotFound as error:
        raise NotFound(f"{error}; `nbflow runs {pieces[0]}` lists its runs") from None


def list_runs(store: Store, flow: str | None, limit: int | None) -> list[Run]:
    """The runs of `flow` (or of every flow), newest first."""
    if flow is not None:
        check_flow(store, flow)
        return Flow(flow, store=store).runs(limit)
    runs = [run for name in store.meta.flows() for run in Flow(name, store=store).runs(limit)]
    runs.sort(key=lambda run: run.started_at, reverse=True)
    return runs if limit is None else runs[:limit]
