"""Read past runs from any Python process: flows, Flow, Run, Step, Task, compare.

The objects are Metaflow's client's, with its meanings: each is made from its path
(`Run("f/3")`, `Step("f/3/train")`, `Task("f/3/train/7")`), iterates its children, has an
`id` (its last path component) and a `pathspec`, `tags` (user and system), `created_at` and
`finished_at` (timezone-aware datetimes) and a `duration` in seconds. Listing follows the
namespace (nbflow.query.namespace).

Views are small and lazy: listing runs is one query, and an artifact is unpickled only when
its attribute is read. Previews (stored as data) serve reprs and `compare` without unpickling.
"""

from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import Container, Iterable, Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from nbflow.exceptions import DatastoreError, NotFound
from nbflow.query.lineage import Lineage, lineage
from nbflow.query.namespace import get_namespace
from nbflow.query.results import compare_rows
from nbflow.query.views import run_view
from nbflow.render.text import format_duration
from nbflow.store.blobs import decode_text
from nbflow.store.metadata import ArtifactRecord, RunRecord, TaskRecord
from nbflow.store.metadata.records import (
    FINISHED_OK,
    RUN_STATUSES,
    StepSummary,
    latest_attempts,
    wall_time,
)
from nbflow.store.metadata.tags import TagError, checked_user_tags, is_system_tag
from nbflow.store.stores import Store, open_store

if TYPE_CHECKING:
    import pandas as pd

    from nbflow.render.report import Report

# `since=`: a moment (datetime, date, seconds since the epoch) or how long ago (timedelta).
Since = datetime.datetime | datetime.date | datetime.timedelta | float


def _split(pathspec: str, parts: int) -> list[str]:
    if not isinstance(pathspec, str):
        shape = "/".join(["FLOW", "RUN_ID", "STEP", "TASK_ID"][:parts])
        raise TypeError(f"a path of the form {shape} (a string), not {type(pathspec).__name__}")
    pieces = pathspec.strip("/").split("/")
    if len(pieces) != parts or not all(pieces):
        shape = "/".join(["FLOW", "RUN_ID", "STEP", "TASK_ID"][:parts])
        example = "/".join(["demo", "3", "train", "7"][:parts])
        raise NotFound(f"'{pathspec}' is not of the form {shape} (e.g. '{example}')")
    return pieces


def _moment(seconds: float | None) -> datetime.datetime | None:
    """Seconds since the epoch as a timezone-aware datetime, in the local time zone."""
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).astimezone()


def _since(when: Since | None) -> float | None:
    if when is None:
        return None
    if isinstance(when, datetime.timedelta):
        return datetime.datetime.now(datetime.timezone.utc).timestamp() - when.total_seconds()
    if isinstance(when, datetime.datetime):
        # A naive datetime is local time, as datetime takes it. Less a microsecond, which the
        # datetime of a start time (`run.created_at`) may have rounded away.
        return when.timestamp() - 1e-6
    if isinstance(when, datetime.date):
        return datetime.datetime.combine(when, datetime.time()).timestamp()
    if isinstance(when, (int, float)) and not isinstance(when, bool):
        return float(when)
    raise TypeError(
        f"since= takes a datetime, a date, seconds since the epoch or a timedelta (how long "
        f"ago), not {type(when).__name__}"
    )


def _statuses(status: str | Iterable[str] | None) -> tuple[str, ...]:
    wanted = () if status is None else (status,) if isinstance(status, str) else tuple(status)
    for one in wanted:
        if one not in RUN_STATUSES:
            raise ValueError(f"status={one!r}: a run is one of {', '.join(RUN_STATUSES)}")
    return wanted


def _tags(positional: Sequence[str], tag: str | Iterable[str] | None) -> tuple[str, ...]:
    named = () if tag is None else (tag,) if isinstance(tag, str) else tuple(tag)
    return tuple(dict.fromkeys([*positional, *named]))


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
    """All runs of one flow, newest first: `Flow("f").runs(tag="best")`, `Flow("f")["3"]`.
    Listing follows the namespace (`namespace(None)`: every run); `namespace_check=False`
    lists every run whatever the namespace (the command line and the sidebar do)."""

    def __init__(
        self, name: str, *, store: Store | None = None, namespace_check: bool = True
    ) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise NotFound(f"{name!r} is not a flow name (e.g. Flow('hearthstone'))")
        self.name = name
        self._store = store or open_store()
        self._namespace_check = namespace_check

    id = property(lambda self: self.name)
    pathspec = property(lambda self: self.name)
    path_components = property(lambda self: [self.name])

    @property
    def namespace(self) -> str | None:
        """The namespace its runs are listed in (None: every run)."""
        return get_namespace() if self._namespace_check else None

    def runs(
        self,
        *tags: str,
        tag: str | Iterable[str] | None = None,
        status: str | Iterable[str] | None = None,
        since: Since | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """Its runs, newest first: with every tag given (`runs("a", "b")` as in Metaflow, or
        `tag=`), of `status` (`"done"`, `"failed"`, `"running"`, or several), started at or
        after `since` (a datetime, a date, or a timedelta: how long ago), at most `limit`."""
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
            raise TypeError(f"limit= is a number of runs, not {limit!r}; tags go first or in tag=")
        reap_quietly(self._store)
        records = self._store.meta.runs(
            self.name,
            limit,
            tags=_tags(tags, tag),
            statuses=_statuses(status),
            since=_since(since),
            namespace=self.namespace,
        )
        return [Run(r, store=self._store) for r in records]

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs())

    def __getitem__(self, run_id: str | int) -> Run:
        """`flow["3"]`: the run with that id (Metaflow's `Flow(...)[run_id]`)."""
        return Run(self._store.meta.run(self.name, _run_id(run_id)), store=self._store)

    def __contains__(self, run_id: object) -> bool:
        try:
            self[run_id]  # type: ignore[index]
        except NotFound:
            return False
        return True

    @property
    def latest_run(self) -> Run:
        """Its newest run in the namespace (running, done or failed)."""
        return self._latest(())

    @property
    def latest_successful_run(self) -> Run:
        return self._latest(("done",), "successful ")

    def _latest(self, statuses: tuple[str, ...], which: str = "") -> Run:
        reap_quietly(self._store)
        ns = self.namespace
        found = self._store.meta.runs(self.name, 1, statuses=statuses, namespace=ns)
        if not found:
            where = "" if ns is None else f" in namespace {ns} (namespace(None) shows every run)"
            raise NotFound(f"flow '{self.name}' has no {which}run{where} in {self._store.root}")
        return Run(found[0], store=self._store)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "runs": [r.as_dict() for r in self.runs()]}

    def __repr__(self) -> str:
        runs = self.runs()
        lines = [f"Flow('{self.name}'): {len(runs)} run{'s' * (len(runs) != 1)}"]
        lines += [f"  {r.id:<8} {r.status:<8} {_ago(r)}" for r in runs[:20]]
        return "\n".join(lines)


class FlowList(list["Flow"]):
    """What `flows()` returns: a list of Flow, shown as a table of each one's latest run."""

    def __init__(self, flows: Iterable[Flow], latest: dict[str, Run]) -> None:
        super().__init__(flows)
        self.latest = latest  # flow name -> its latest run in the namespace

    def __repr__(self) -> str:
        if not self:
            return "no flows (in this namespace: namespace(None) lists every flow)"
        lines = []
        for flow in self:
            run = self.latest[flow.name]
            lines.append(f"{flow.name:<24} latest {run.id:<6} {run.status:<8} {_ago(run)}")
        return "\n".join(lines)


def flows(*, store: Store | None = None) -> FlowList:
    """Every flow with a run in the namespace, by name, each with its latest run
    (`flows().latest[name]`); Metaflow's `Metaflow().flows`."""
    store = store or open_store()
    reap_quietly(store)
    latest = {r.flow: Run(r, store=store) for r in store.meta.latest_runs(get_namespace())}
    return FlowList([Flow(name, store=store) for name in latest], latest)


class Run:
    """One run: `Run("flow/12")`, `run["train"]`, `list(run)` (its steps), `run.data.accuracy`."""

    def __init__(self, pathspec: str | RunRecord, *, store: Store | None = None) -> None:
        self._store = store or open_store()
        if isinstance(pathspec, RunRecord):
            self._record = pathspec
        else:
            flow, run_id = _split(pathspec, 2)
            self._record = self._store.meta.run(flow, _run_id(run_id))

    @property
    def flow(self) -> str:
        """The flow's name (Metaflow: `run.parent.id`)."""
        return self._record.flow

    @property
    def parent(self) -> Flow:
        return Flow(self.flow, store=self._store)

    @property
    def id(self) -> str:
        """The run id within its flow, `"12"` (as Metaflow's); `pathspec` is `"flow/12"`."""
        return str(self._record.run_id)

    @property
    def pathspec(self) -> str:
        return f"{self._record.flow}/{self._record.run_id}"

    @property
    def path_components(self) -> list[str]:
        return [self.flow, self.id]

    @property
    def run_id(self) -> int:
        return self._record.run_id

    @property
    def status(self) -> str:
        return self._record.status

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._record.params)

    @property
    def error(self) -> str | None:
        """Why a run failed where no task did: its notebook stopped early (None otherwise)."""
        return self._record.error

    @property
    def tags(self) -> frozenset[str]:
        """Its user tags and system tags (`user:`, `host:`, `notebook:`, `executor:`,
        `nbflow:`), as Metaflow's `run.tags`."""
        return frozenset((*self._record.tags, *self._record.system_tags))

    @property
    def user_tags(self) -> frozenset[str]:
        return frozenset(self._record.tags)

    @property
    def system_tags(self) -> frozenset[str]:
        return frozenset(self._record.system_tags)

    @property
    def user(self) -> str | None:
        """Who made it (its `user:` tag); None for runs made before nbflow kept it."""
        found = [t for t in self._record.system_tags if t.startswith("user:")]
        return found[0][len("user:") :] if found else None

    def add_tag(self, tag: str) -> None:
        """Add a user tag (kept in the datastore; system tags cannot be added)."""
        self.add_tags([tag])

    def add_tags(self, tags: Iterable[str]) -> None:
        self._retag(add=_as_tags(tags))

    def remove_tag(self, tag: str) -> None:
        """Remove a user tag (one it does not have is no error; system tags stay)."""
        self.remove_tags([tag])

    def remove_tags(self, tags: Iterable[str]) -> None:
        self._retag(remove=_as_tags(tags))

    def replace_tag(self, tag_to_remove: str, tag_to_add: str) -> None:
        self.replace_tags([tag_to_remove], [tag_to_add])

    def replace_tags(self, tags_to_remove: Iterable[str], tags_to_add: Iterable[str]) -> None:
        self._retag(add=_as_tags(tags_to_add), remove=_as_tags(tags_to_remove))

    def _retag(self, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
        for tag in remove:
            if is_system_tag(tag):
                raise TagError(
                    f"'{tag}' is a system tag: it says who made run {self.pathspec} and how, "
                    "and stays. Only user tags are removed."
                )
        # One of its system tags is not added again as a user tag, and is no error (Metaflow).
        adding = checked_user_tags(t for t in add if t not in self._record.system_tags)
        meta = self._store.meta
        if remove:
            self._record = meta.remove_tags(self.flow, self.run_id, list(remove))
        if adding:
            self._record = meta.add_tags(self.flow, self.run_id, list(adding))

    @property
    def created_at(self) -> datetime.datetime:
        """When it started (timezone-aware)."""
        return _moment(self._record.started_at)  # type: ignore[return-value]

    started_at = created_at

    @property
    def finished_at(self) -> datetime.datetime | None:
        return _moment(self._record.finished_at)

    @property
    def finished(self) -> bool:
        return self._record.status != "running"

    @property
    def successful(self) -> bool:
        return self._record.status == "done"

    @property
    def notebook(self) -> dict[str, Any] | None:
        """The executed notebook, for a run made headless (`nbflow run`); else None."""
        key = self._record.notebook_key
        if key is None:
            return None
        # Verified against its key, then parsed as JSON: never unpickled.
        notebook: dict[str, Any] = json.loads(decode_text(self._store.load_bytes(key)))
        return notebook

    @property
    def duration(self) -> float | None:
        """Seconds from its start to its finish (None while it runs)."""
        r = self._record
        return None if r.finished_at is None else r.finished_at - r.started_at

    @cached_property
    def _tasks(self) -> list[TaskRecord]:
        return self._store.meta.tasks(self.flow, self.run_id)

    @cached_property
    def _specs(self) -> dict[str, dict[str, Any]]:
        steps = self._store.meta.steps(self.flow, self.run_id)
        return {spec["name"]: spec for _, spec, _ in steps}

    @cached_property
    def _code(self) -> dict[str, str]:
        return {spec["name"]: code for _, spec, code in self._store.meta.steps(*self._key)}

    @property
    def _key(self) -> tuple[str, int]:
        return self.flow, self.run_id

    def steps(self) -> list[Step]:
        """Its steps that ran, in notebook order (Metaflow lists them last first)."""
        seen = dict.fromkeys([*self._specs, *(t.step for t in self._tasks)])
        return [self[name] for name in seen if any(t.step == name for t in self._tasks)]

    def __getitem__(self, step: str) -> Step:
        tasks = [t for t in self._tasks if t.step == step]
        if not tasks:
            known = ", ".join(dict.fromkeys(t.step for t in self._tasks)) or "none"
            raise NotFound(f"run {self.pathspec} has no step '{step}' (its steps: {known})")
        return Step._of(self, step, tasks, self._specs.get(step, {}))

    def __contains__(self, step: object) -> bool:
        return any(t.step == step for t in self._tasks)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps())

    @property
    def end_step(self) -> Step:
        """The run's last step (in notebook order). In a run that did not finish, the last
        step that ran with a single task that succeeded: what the steps before it made."""
        # Chosen from the steps' figures; then only that step's records are read, so a list
        # of runs with their results (the sidebar's) costs as much for a run of 100,000 tasks
        # as for one of three.
        summaries = self._summaries
        names = [name for name in dict.fromkeys([*self._specs, *summaries]) if name in summaries]
        if self.successful and names:
            last, count = names[-1], summaries[names[-1]].total
            if count != 1:
                # Never another step's values in its place: that answer would look right.
                raise NotFound(
                    f"run {self.pathspec} ends with step '{last}', which has {count} tasks "
                    f"(it is inside a foreach no step joins). Read them with "
                    f"run['{last}'].tasks(), or close the foreach with a --join step."
                )
            return self._only_step(last)
        for name in reversed(names):
            summary = summaries[name]
            if summary.total == 1 and any(summary.count(status) for status in FINISHED_OK):
                return self._only_step(name)
        raise NotFound(f"run {self.pathspec} has no step with a single task that succeeded")

    @cached_property
    def _summaries(self) -> dict[str, StepSummary]:
        """Each step's figures (counted by the database; read once, as `_tasks`)."""
        return self._store.meta.step_summaries(self.flow, self.run_id)

    def _only_step(self, name: str) -> Step:
        """Step `name`, reading its own task records only (the run's when already read)."""
        if "_tasks" in self.__dict__:
            return self[name]
        tasks = self._store.meta.tasks(self.flow, self.run_id, name)
        return Step._of(self, name, tasks, self._specs.get(name, {}))

    @property
    def end_task(self) -> Task:
        """The single task of its last step (`end_step`), as Metaflow's `run.end_task`."""
        return self.end_step.task

    @property
    def data(self) -> DataView:
        """The artifacts of the run's last step: everything it could see."""
        return self.end_task.data

    def lineage(self, name: str) -> Lineage:
        """Where artifact `name` of the run's last step comes from: the task that made it,
        the files that task read, the parameters and the artifacts it was computed from (each
        with its own lineage)."""
        return self.end_task.lineage(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.pathspec,  # the views' id names the run whole: flow/run
            "flow": self.flow,
            "run_id": self.run_id,
            "status": self.status,
            "started_at": self._record.started_at,
            "finished_at": self._record.finished_at,
            "duration": self.duration,
            "params": self.params,
            "tags": list(self._record.tags),
            "error": self.error,
        }

    def __repr__(self) -> str:
        lines = [
            f"Run('{self.pathspec}') {self.status} · {_took(self.duration)} · params {self.params}"
        ]
        # From the steps' figures, not their records: the repr of a run of 100,000 tasks
        # (the text of every graph shown) reads no task.
        summaries = self._summaries
        for name in dict.fromkeys([*self._specs, *summaries]):
            summary = summaries.get(name)
            if summary is not None:
                statuses = ", ".join(status for status, _ in summary.statuses)
                lines.append(f"  {name:<16} {summary.total:>5} task(s)  {statuses}")
        return "\n".join(lines)

    def report(self) -> Report:
        """A self-contained HTML report of this run: `.save("report.html")`, or show it."""
        # lazy: render.report imports render.svg (see _repr_svg_) and the report's templates
        from nbflow.query.report import report_view  # noqa: PLC0415
        from nbflow.render.report import Report, render_report  # noqa: PLC0415

        return Report(render_report(report_view(self)), name=self.pathspec)

    def _repr_svg_(self) -> str:
        # lazy: render.svg imports xml.sax, which pulls in urllib.request and email (30 ms);
        # importing the client (as `nbflow --help` does) draws nothing
        from nbflow.render.svg import render_svg  # noqa: PLC0415

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
    """One step of a run: `Step("flow/12/train")`, `list(step)` (its tasks), `step.task`."""

    def __init__(self, pathspec: str, *, store: Store | None = None) -> None:
        flow, run_id, name = _split(pathspec, 3)
        run = Run(f"{flow}/{run_id}", store=store)
        found = run[name]
        self.run: Run = run
        self.name: str = name
        self.spec: dict[str, Any] = found.spec
        self._tasks: list[TaskRecord] = found._tasks

    @classmethod
    def _of(cls, run: Run, name: str, tasks: list[TaskRecord], spec: dict[str, Any]) -> Step:
        step = cls.__new__(cls)
        step.run, step.name, step.spec, step._tasks = run, name, spec, tasks
        return step

    id = property(lambda self: self.name)
    pathspec = property(lambda self: f"{self.run.pathspec}/{self.name}")
    path_components = property(lambda self: [*self.run.path_components, self.name])
    parent = property(lambda self: self.run)
    tags = property(lambda self: self.run.tags)
    user_tags = property(lambda self: self.run.user_tags)
    system_tags = property(lambda self: self.run.system_tags)

    def tasks(self) -> list[Task]:
        """One task per element (the last attempt where a task was retried), in element order."""
        return [Task._of(t, self.run, self.spec) for t in self._final]

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks())

    def __getitem__(self, task_id: str | int) -> Task:
        """`step["7"]`: its task with that id."""
        for record in self._tasks:
            if str(record.task_id) == str(task_id):
                return Task._of(record, self.run, self.spec)
        known = ", ".join(str(t.task_id) for t in self._final)
        raise NotFound(f"step {self.pathspec} has no task {task_id} (its tasks: {known})")

    @cached_property
    def _final(self) -> list[TaskRecord]:
        return latest_attempts(self._tasks)

    @property
    def task(self) -> Task:
        if len(self._final) != 1:
            raise NotFound(
                f"step '{self.name}' of run {self.run.pathspec} has {len(self._final)} tasks; "
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

    @property
    def created_at(self) -> datetime.datetime | None:
        """When its first task started."""
        starts = [t.started_at for t in self._final if t.started_at is not None]
        return _moment(min(starts)) if starts else None

    started_at = created_at

    @property
    def finished_at(self) -> datetime.datetime | None:
        """When its last task finished; None while one has not."""
        ends = [t.finished_at for t in self._final]
        return None if not ends or None in ends else _moment(max(ends))  # type: ignore[type-var]

    @property
    def duration(self) -> float | None:
        """Its wall time in the run: seconds from its first task's start to its last task's
        finish (tasks may overlap; retried attempts count). None while a task runs."""
        return wall_time(self._tasks)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.spec,
            "name": self.name,
            "status": self.status,
            "tasks": [t.as_dict() for t in self.tasks()],
        }

    def __repr__(self) -> str:
        return f"Step('{self.pathspec}') {self.status} · {len(self._final)} task(s)"


class Task:
    """One task: `Task("flow/12/train/7")`, its status, timing, logs and lazily loaded data."""

    def __init__(
        self,
        record: TaskRecord | str,
        *,
        store: Store | None = None,
        spec: dict[str, Any] | None = None,
    ) -> None:
        self._store = store or open_store()
        if isinstance(record, str):
            record = _task_at(self._store, record)
        self._record = record
        self._spec = spec or {}
        self._run: Run | None = None

    @classmethod
    def _of(cls, record: TaskRecord, run: Run, spec: dict[str, Any]) -> Task:
        task = cls(record, store=run._store, spec=spec)
        task._run = run
        return task

    @property
    def id(self) -> str:
        """Its task id, as Metaflow's `task.id` ("7"); `pathspec` is its whole path."""
        return str(self._record.task_id)

    @property
    def pathspec(self) -> str:
        r = self._record
        return f"{r.flow}/{r.run_id}/{r.step}/{r.task_id}"

    @property
    def path_components(self) -> list[str]:
        return self.pathspec.split("/")

    @property
    def task_id(self) -> int:
        return self._record.task_id

    @property
    def step(self) -> str:
        return self._record.step

    @property
    def status(self) -> str:
        return self._record.status

    @property
    def stdout(self) -> str:
        return self._record.stdout

    @property
    def stderr(self) -> str:
        return self._record.stderr

    @property
    def error(self) -> dict[str, Any] | None:
        return self._record.error

    @property
    def exception(self) -> TaskException | None:
        """What the task raised (None if it raised nothing), as Metaflow's `task.exception`;
        also set on a task that failed under --catch."""
        error = self._record.error
        return TaskException(error, self.pathspec) if error else None

    @property
    def displays(self) -> list[dict[str, Any]]:
        return list(self._record.displays)

    @property
    def environment(self) -> dict[str, Any] | None:
        """The environment it ran in (--env, %flow env): requirements, python, packages."""
        return self._record.environment

    @property
    def path(self) -> tuple[int, ...]:
        return self._record.path

    @property
    def run(self) -> Run:
        """The run it belongs to."""
        if self._run is None:
            self._run = Run(
                self._store.meta.run(self._record.flow, self._record.run_id), store=self._store
            )
        return self._run

    @property
    def parent(self) -> Step:
        return self.run[self._record.step]

    @property
    def tags(self) -> frozenset[str]:
        return self.run.tags

    @property
    def user_tags(self) -> frozenset[str]:
        return self.run.user_tags

    @property
    def system_tags(self) -> frozenset[str]:
        return self.run.system_tags

    @property
    def created_at(self) -> datetime.datetime | None:
        return _moment(self._record.started_at)

    started_at = created_at

    @property
    def finished_at(self) -> datetime.datetime | None:
        return _moment(self._record.finished_at)

    @property
    def finished(self) -> bool:
        return self.status not in ("pending", "running")

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

    current_attempt = attempt

    @property
    def index(self) -> int | None:
        """Its position in the innermost foreach (None outside one), as Metaflow's."""
        frames = self._record.foreach
        return int(frames[-1]["index"]) if frames else None

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
        return DataView(self.artifacts, self._store, self.pathspec, self.run.params)

    def __iter__(self) -> Iterator[str]:
        """The names of its artifacts (values: `task.data.NAME`)."""
        return iter(self.artifacts)

    def __contains__(self, name: object) -> bool:
        return name in self.artifacts

    def __getitem__(self, name: str) -> DataArtifact:
        """One artifact as Metaflow's `task["x"]`: `.data` (loaded when read), `.sha`, `.size`."""
        if name not in self.artifacts:
            known = ", ".join(sorted(self.artifacts)) or "none"
            raise NotFound(f"task {self.pathspec} has no artifact '{name}' (it has: {known})")
        return DataArtifact(self, self.artifacts[name])

    def lineage(self, name: str) -> Lineage:
        """Where its artifact `name` comes from (see Run.lineage)."""
        return lineage(self, name)

    @property
    def item(self) -> Any:
        """The element of the innermost foreach this task is in (None outside a foreach),
        whether or not the step stores it (--out)."""
        frames = self._record.foreach
        if frames:
            return self._store.load(frames[-1]["key"], f"the foreach element of {self.pathspec}")
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
            "id": self.pathspec,  # the views' id names the task whole: flow/run/step/task
            "duration": self.duration,
            "artifacts": [a.as_dict() for a in self.artifacts.values()],
        }

    def __repr__(self) -> str:
        return f"Task('{self.pathspec}') {self.status} · {_took(self.duration)}"


def _task_at(store: Store, pathspec: str) -> TaskRecord:
    flow, run_id, step, task_id = _split(pathspec, 4)
    try:
        record = store.meta.task(int(task_id))
    except ValueError:
        raise NotFound(f"'{task_id}' is not a task id (task ids are numbers)") from None
    if (record.flow, str(record.run_id), record.step) != (flow, run_id, step):
        raise NotFound(
            f"task {task_id} is of step {record.flow}/{record.run_id}/{record.step}, not of "
            f"{flow}/{run_id}/{step}: Task('{record.flow}/{record.run_id}/{record.step}/"
            f"{task_id}') opens it"
        )
    return record


def _as_tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        return [tags]
    return list(tags)


class TaskException:
    """A task's exception as Metaflow's client gives it (`type`, `message`, `stacktrace`), and
    the line of its cell it was raised on. The exception object itself is not kept: a task's
    error must read in any kernel, even one without the module its class came from."""

    def __init__(self, error: dict[str, Any], pathspec: str) -> None:
        self.type: str = error.get("ename", "")
        self.message: str = error.get("evalue", "")
        self.stacktrace: str = error.get("traceback", "")
        self.line: int | None = error.get("line")
        self.pathspec = pathspec

    @property
    def exception(self) -> str:
        """The message, by the name Metaflow's MetaflowExceptionWrapper gives it."""
        return self.message

    def __str__(self) -> str:  # the traceback ends with "Type: message", as Python prints it
        return self.stacktrace or f"{self.type}: {self.message}"

    def __repr__(self) -> str:
        return f"TaskException('{self.pathspec}') {self.type}: {self.message}"


class DataArtifact:
    """An artifact of a task, as Metaflow's client has it: its name as `id`, its `pathspec`,
    `sha` (the content hash it is stored under), `size`, `type_name`, and `data`, its value,
    loaded from the store (after its hash is checked) when first read."""

    def __init__(self, task: Task, record: ArtifactRecord) -> None:
        self._task = task
        self._record = record

    @property
    def id(self) -> str:
        return self._record.name

    @property
    def pathspec(self) -> str:
        return f"{self._task.pathspec}/{self._record.name}"

    @property
    def sha(self) -> str:
        return self._record.key

    @property
    def size(self) -> int:
        return self._record.size

    @property
    def type_name(self) -> str:
        return self._record.type_name

    @property
    def data(self) -> Any:
        return self._task.data[self._record.name]

    def __repr__(self) -> str:
        return f"DataArtifact('{self.pathspec}') {self.type_name}"


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


def compare(
    runs: Iterable[Run | str] | Flow | str,
    *tags: str,
    tag: str | Iterable[str] | None = None,
    status: str | Iterable[str] | None = None,
    since: Since | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Runs side by side, one row each: status, duration, parameters (`param.NAME`) and the
    scalar results of the last step, read from their previews (nothing is unpickled), as
    `nbflow compare` shows them. `runs`: a list of runs (or of their paths), or a flow (a Flow
    or its name) with the filters of `Flow.runs`: `compare("f", tag="best", limit=5)`."""
    import pandas as pd  # noqa: PLC0415 - lazy: 0.7 s, for compare() only

    if isinstance(runs, (Flow, str)):
        flow = runs if isinstance(runs, Flow) else Flow(runs)
        chosen = flow.runs(*tags, tag=tag, status=status, since=since, limit=limit)
    else:
        if tags or tag is not None or status is not None or since is not None:
            raise TypeError("filters (tag=, status=, since=) go with a flow: compare(flow, ...)")
        chosen = [run if isinstance(run, Run) else Run(run) for run in runs][:limit]
    rows = compare_rows(chosen)
    return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()


def _took(seconds: float | None) -> str:
    return format_duration(seconds) or "-"


def _ago(run: Run) -> str:
    started = run.created_at.strftime("%Y-%m-%d %H:%M:%S")
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
        return Flow(flow, store=store, namespace_check=False).runs(limit=limit)
    runs = [
        run
        for name in store.meta.flows()
        for run in Flow(name, store=store, namespace_check=False).runs(limit=limit)
    ]
    runs.sort(key=lambda run: run._record.started_at, reverse=True)
    return runs if limit is None else runs[:limit]
