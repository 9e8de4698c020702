"""Run, task and artifact records in SQL: one layer for SQLite (the default) and PostgreSQL.

Every statement is written once, in SQL both databases speak; `nbflow.store.metadata.sql` runs it on
the one configured. Writes are short transactions that queue behind each other instead of
failing. A task is committed by one transaction that writes its artifact rows and flips its
status last; a reader never sees half a task.

A run records the process that runs it (host, pid, start time), and while it is executed it
beats: a daemon thread (`liveness.Heartbeat`, its own connection, since the kernel executor
holds the main thread for a whole task) stamps `runs.heartbeat` every NBFLOW_HEARTBEAT_S
seconds. A `running` run is dead when, on this host, its process is gone, or, seen from another
host, it has been silent for NBFLOW_STALE_S seconds; `reap_dead_runs` marks it and its running
tasks failed. It is called where people look and act: creating a run, listing runs, resuming,
`nbflow fsck --repair`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from nbflow.core.faults import crash_point
from nbflow.exceptions import DatastoreError, NotFound
from nbflow.store.blobs.artifacts import Stored
from nbflow.store.metadata.databases import open_database
from nbflow.store.metadata.later import Deferring
from nbflow.store.metadata.liveness import (
    STALE_S,
    Heartbeat,
    Process,
    seconds_from_env,
    this_process,
    why_dead,
)
from nbflow.store.metadata.records import (
    ArtifactRecord,
    RunRecord,
    StepSummary,
    TaskRecord,
    summarize_steps,
)
from nbflow.store.metadata.schema import MIGRATIONS, migrate
from nbflow.store.metadata.tags import USER_PREFIX

SCHEMA_VERSION = MIGRATIONS[-1].version
ALL_ROWS = 2**63 - 1  # LIMIT for "no limit": both databases take a 64-bit count
LOST_AT_FINISH = "its run ended before this task's result was recorded"

TASK_COLUMNS = (
    "task_id, flow, run_id, step, status, path, parents, origin, started_at, finished_at, "
    "stdout, stderr, error, attempt, data_from, cache_key, displays, foreach, reads"
)
RUN_COLUMNS = (
    "flow, run_id, status, started_at, finished_at, params, tags, notebook, origin_run, "
    "launcher, notebook_key, heartbeat, error, host, pid, process_start, system_tags"
)
# A run no `user:` tag claims (made before nbflow kept system tags) is in every namespace.
_TAGGED = (
    "EXISTS (SELECT 1 FROM run_tags g WHERE g.flow = r.flow AND g.run_id = r.run_id AND g.tag = ?)"
)
_UNCLAIMED = (
    "NOT EXISTS (SELECT 1 FROM run_tags g WHERE g.flow = r.flow AND g.run_id = r.run_id "
    "AND g.tag >= 'user:' AND g.tag < 'user;')"
)


class MetadataStore:
    """The metadata database of one datastore. One connection per process and location."""

    def __init__(self, location: Path | str) -> None:
        """`location`: a SQLite file, or a `postgresql://user:password@host:port/db` URL."""
        self._location = location  # the heartbeat thread opens its own connection to it
        self._heartbeat: Heartbeat | None = None
        # Runs this process could not mark finished: (flow, run_id) -> (status, error).
        self._unfinished: dict[tuple[str, int], tuple[str, str | None]] = {}
        db = open_database(location)
        try:
            migrate(db)
        except BaseException as error:
            db.close()
            if isinstance(error, db.errors):
                raise db.unusable(error) from error
            raise
        self._db = Deferring(db)

    @property
    def where(self) -> str:
        """The datastore folder (SQLite) or the server URL without its password."""
        return self._db.where

    def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self._db.close()

    # -- runs -----------------------------------------------------------------------------------

    def create_run(
        self,
        flow: str,
        params: dict[str, Any],
        *,
        tags: Sequence[str] = (),
        notebook: str | None = None,
        origin_run: int | None = None,
        launcher: str | None = None,
        system_tags: Sequence[str] = (),
    ) -> RunRecord:
        """A new run with the next id of its flow; `tags` are its user tags, `system_tags` say
        who made it and how (nbflow.store.metadata.tags).

        The id and the start time are both taken while the flow's counter row is locked (by
        the UPDATE, until the commit), so ids sort by start time even when several kernels
        start runs at once; an id is never given out twice, and none is skipped.
        """
        self._finish_unfinished()
        self.reap_dead_runs()  # a run that died shows as failed before the next one starts
        with self._db.write():
            self._db.execute("INSERT INTO run_ids VALUES (?, 0) ON CONFLICT DO NOTHING", (flow,))
            (run_id,) = self._db.execute(
                "UPDATE run_ids SET last = last + 1 WHERE flow = ? RETURNING last", (flow,)
            ).fetchone()
            started = time.time()
            process = this_process()
            # Its first beat: alive from the start, until the heartbeat thread takes over.
            self._db.execute(
                f"INSERT INTO runs ({RUN_COLUMNS}) "
                "VALUES (?, ?, 'running', ?, NULL, ?, ?, ?, ?, ?, NULL, ?, NULL, ?, ?, ?, ?)",
                (
                    flow, run_id, started, _json(params), _json(list(tags)), notebook,
                    origin_run, launcher, started, process.host, process.pid, process.started,
                    _json(list(system_tags)),
                ),
            )  # fmt: skip
            self._db.executemany(
                "INSERT INTO run_tags VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(flow, run_id, tag) for tag in dict.fromkeys([*tags, *system_tags])],
            )
        crash_point("run_created")
        return self.run(flow, run_id)

    def discard_run(self, flow: str, run_id: int) -> None:
        """Remove a run that never ran a task (a step refused before it started).

        Its tasks are reused copies pointing at other runs' results, so no result is lost.
        """
        with self._db.write():
            owned = self._db.execute(
                "SELECT COUNT(*) FROM tasks WHERE flow = ? AND run_id = ? AND origin IS NULL",
                (flow, run_id),
            ).fetchone()[0]
            if owned:
                raise ValueError(f"run {flow}/{run_id} ran tasks of its own; it is kept")
            for table in ("tasks", "steps", "run_tags", "runs"):
                self._db.execute(
                    f"DELETE FROM {table} WHERE flow = ? AND run_id = ?", (flow, run_id)
                )

    def finish_run(self, flow: str, run_id: int, status: str, error: str | None = None) -> None:
        """Mark a run finished, and any of its tasks still `running` failed: a finished run has
        none (a task whose own record could not be written, the disk full, say)."""
        if status == "done":
            crash_point("run_finishing")
        try:
            self._finish_run(flow, run_id, status, error)
        except DatastoreError:
            # Left `running` by a process that lives on, the reaper would never take it: this
            # store finishes it at its next write (once space is freed, say).
            self._unfinished[flow, run_id] = (status, error)
            raise
        self._unfinished.pop((flow, run_id), None)

    def _finish_run(self, flow: str, run_id: int, status: str, error: str | None) -> None:
        now = time.time()
        lost = _json(_lost_task_error(LOST_AT_FINISH))
        with self._db.write():
            self._db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, error = ? "
                "WHERE flow = ? AND run_id = ?",
                (status, now, error, flow, run_id),
            )
            self._db.execute(
                "UPDATE tasks SET status = 'failed', finished_at = ?, error = ? "
                "WHERE flow = ? AND run_id = ? AND status = 'running'",
                (now, lost, flow, run_id),
            )

    def _finish_unfinished(self) -> None:
        """Finish the runs whose finishing failed earlier (see finish_run); quietly, as the
        write that follows reports a database that still cannot be written."""
        for (flow, run_id), (status, error) in list(self._unfinished.items()):
            with contextlib.suppress(DatastoreError, *self._db.errors):
                self._finish_run(flow, run_id, status, error)
                del self._unfinished[flow, run_id]

    def reopen_run(self, flow: str, run_id: int) -> None:
        """An interactive run grows cell by cell: it is `running` again while a step runs."""
        self._finish_unfinished()
        process = this_process()
        with self._db.write():
            # With a fresh beat (its last one may be old: the run idled between two cells), and
            # this process as the one that runs it now.
            self._db.execute(
                "UPDATE runs SET status = 'running', heartbeat = ?, host = ?, pid = ?, "
                "process_start = ? WHERE flow = ? AND run_id = ?",
                (time.time(), process.host, process.pid, process.started, flow, run_id),
            )

    # -- liveness: heartbeats and dead runs ----------------------------------------------------

    @contextmanager
    def beating(self, flow: str, run_id: int) -> Iterator[None]:
        """While inside, this process's heartbeat thread shows the run is alive."""
        if self._heartbeat is None or not self._heartbeat.alive:
            self._heartbeat = Heartbeat(self._location)
        heartbeat = self._heartbeat
        heartbeat.add(flow, run_id)
        try:
            yield
        finally:
            heartbeat.remove(flow, run_id)

    def reap_dead_runs(self, now: float | None = None) -> list[tuple[str, int]]:
        """Mark failed every `running` run whose process stopped, and its running tasks.

        A run is dead when its process, on this host, is gone (nbflow.store.metadata.liveness), or,
        run elsewhere, when its last heartbeat (or its start, before the first beat) is older
        than NBFLOW_STALE_S seconds (default 60). Returns the (flow, run_id) it marked. Cheap
        when nothing died: one indexed read, no write lock.
        """
        if self._db.read_only:
            return []  # a dead run there stays as it is: it is not ours to mark
        self._finish_unfinished()
        now = time.time() if now is None else now
        before = now - seconds_from_env("NBFLOW_STALE_S", STALE_S)
        running = self._db.execute(
            "SELECT flow, run_id, COALESCE(heartbeat, started_at), host, pid, process_start "
            "FROM runs WHERE status = 'running'"
        ).fetchall()
        here = this_process()
        dead = []
        for flow, run_id, last, host, pid, started in running:
            process = None if pid is None else Process(host, pid, started)
            why = why_dead(process, last, before, here)
            if why is not None:
                dead.append((flow, int(run_id), why))
        if not dead:
            return []
        try:
            return self._mark_dead(dead, now)
        except self._db.errors as error:
            raise DatastoreError(
                f"cannot mark the dead runs of {self.where} failed: {error}. nbflow needs to "
                "write to the metadata database; check that it is writable."
            ) from error

    def _mark_dead(self, dead: list[tuple[str, int, str]], now: float) -> list[tuple[str, int]]:
        marked = []
        with self._db.write():
            for flow, run_id, why in dead:
                # Still `running`: it may have finished since it was read.
                if self._db.execute(
                    "UPDATE runs SET status = 'failed', finished_at = ?, error = ? "
                    "WHERE flow = ? AND run_id = ? AND status = 'running' RETURNING run_id",
                    (now, why, flow, run_id),
                ).fetchone():
                    marked.append((flow, run_id))
                    self._db.execute(
                        "UPDATE tasks SET status = 'failed', finished_at = ?, error = ? "
                        "WHERE flow = ? AND run_id = ? AND status = 'running'",
                        (now, _json(_lost_task_error(f"its run stopped: {why}")), flow, run_id),
                    )
        return sorted(marked)

    def run(self, flow: str, run_id: int) -> RunRecord:
        row = self._db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE flow = ? AND run_id = ?", (flow, run_id)
        ).fetchone()
        if row is None:
            raise NotFound(
                f"no run {flow}/{run_id} in {self.where}: `nbflow runs {flow}` (or `%flow runs` "
                "in the notebook) lists the runs there."
            )
        return _run_record(row)

    def runs(
        self,
        flow: str,
        limit: int | None = None,
        offset: int = 0,
        *,
        tags: Sequence[str] = (),
        statuses: Sequence[str] = (),
        since: float | None = None,
        namespace: str | None = None,
    ) -> list[RunRecord]:
        """The runs of `flow`, newest first: those with every one of `tags`, one of `statuses`,
        started at or after `since`, and in `namespace` (a tag; None: every run)."""
        # Driven by the index of run_tags (flow, tag, run_id): one range read per tag, not a
        # probe per run.
        where, args = ["r.flow = ?"], list[Any]([flow])
        for tag in tags:
            where.append("r.run_id IN (SELECT run_id FROM run_tags WHERE flow = ? AND tag = ?)")
            args += [flow, tag]
        if statuses:
            where.append(f"r.status IN ({', '.join('?' for _ in statuses)})")
            args += statuses
        if since is not None:
            where.append("r.started_at >= ?")
            args.append(since)
        if namespace is not None and namespace.startswith(USER_PREFIX):
            # A user's namespace: every run but those another user made.
            where.append(
                "r.run_id NOT IN (SELECT run_id FROM run_tags WHERE flow = ? AND tag >= 'user:' "
                "AND tag < 'user;' AND tag <> ?)"
            )
            args += [flow, namespace]
        elif namespace is not None:
            where.append(f"({_TAGGED} OR {_UNCLAIMED})")
            args.append(namespace)
        rows = self._db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs r WHERE {' AND '.join(where)} "
            "ORDER BY r.run_id DESC LIMIT ? OFFSET ?",
            (*args, ALL_ROWS if limit is None else limit, offset),
        ).fetchall()
        return [_run_record(row) for row in rows]

    def latest_runs(self, namespace: str | None = None) -> list[RunRecord]:
        """The newest run of each flow (in `namespace`, a tag; None: of every run), by flow."""
        claimed = "" if namespace is None else f"WHERE ({_TAGGED} OR {_UNCLAIMED})"
        rows = self._db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE (flow, run_id) IN (SELECT r.flow, "
            f"MAX(r.run_id) FROM runs r {claimed} GROUP BY r.flow) ORDER BY flow",
            () if namespace is None else (namespace,),
        ).fetchall()
        return [_run_record(row) for row in rows]

    def add_tags(self, flow: str, run_id: int, tags: Sequence[str]) -> RunRecord:
        """Add user tags to a run (those it has already stay as they are)."""
        return self._set_tags(flow, run_id, lambda held: [*held, *tags])

    def remove_tags(self, flow: str, run_id: int, tags: Sequence[str]) -> RunRecord:
        """Remove user tags from a run (those it does not have are no error)."""
        return self._set_tags(flow, run_id, lambda held: [t for t in held if t not in tags])

    def _set_tags(
        self, flow: str, run_id: int, change: Callable[[list[str]], list[str]]
    ) -> RunRecord:
        with self._db.write():
            row = self._db.execute(
                "SELECT tags, system_tags FROM runs WHERE flow = ? AND run_id = ?", (flow, run_id)
            ).fetchone()
            if row is None:
                raise NotFound(f"no run {flow}/{run_id} in {self.where}")
            held = json.loads(row[0])
            kept = set(json.loads(row[1] or "[]"))  # a user tag equal to a system tag stays
            wanted = list(dict.fromkeys(change(held)))
            self._db.execute(
                "UPDATE runs SET tags = ? WHERE flow = ? AND run_id = ?",
                (_json(wanted), flow, run_id),
            )
            self._db.executemany(
                "DELETE FROM run_tags WHERE flow = ? AND run_id = ? AND tag = ?",
                [(flow, run_id, t) for t in held if t not in wanted and t not in kept],
            )
            self._db.executemany(
                "INSERT INTO run_tags VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(flow, run_id, t) for t in wanted],
            )
        return self.run(flow, run_id)

    def flow_notebook(self, flow: str) -> tuple[str, int] | None:
        """The notebook that made the latest run of `flow` that names one, with that run's id."""
        row = self._db.execute(
            "SELECT notebook, run_id FROM runs WHERE flow = ? AND notebook IS NOT NULL "
            "ORDER BY run_id DESC LIMIT 1",
            (flow,),
        ).fetchone()
        return None if row is None else (row[0], int(row[1]))

    def count_runs(self, flow: str) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM runs WHERE flow = ?", (flow,)).fetchone()
        return int(row[0])

    def runs_by_launcher(self, launcher: str) -> list[RunRecord]:
        """The runs one headless execution made, oldest first."""
        rows = self._db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE launcher = ? ORDER BY started_at", (launcher,)
        ).fetchall()
        return [_run_record(row) for row in rows]

    def set_run_notebook(self, flow: str, run_id: int, notebook: Stored) -> None:
        """Keep the executed notebook (a stored value) with the run."""
        with self._db.write():
            self._db.execute(
                "INSERT INTO objects VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (notebook.key, notebook.size, notebook.type_name, "{}", notebook.inline),
            )
            self._db.execute(
                "UPDATE runs SET notebook_key = ? WHERE flow = ? AND run_id = ?",
                (notebook.key, flow, run_id),
            )

    def flows(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT flow FROM runs ORDER BY flow")]

    # -- steps (the graph as the run saw it) ------------------------------------------------------

    def save_steps(
        self, flow: str, run_id: int, steps: Sequence[tuple[int, dict[str, Any], str]]
    ) -> None:
        """Record steps as the run saw them: (position in the notebook, spec, code)."""
        with self._db.write():
            self._db.executemany(
                "INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, NULL) "
                "ON CONFLICT (flow, run_id, name) DO UPDATE SET position = excluded.position, "
                "spec = excluded.spec, code = excluded.code, planned = NULL",
                [
                    (flow, run_id, spec["name"], position, _json(spec), code)
                    for position, spec, code in steps
                ],
            )

    def set_planned(
        self, flow: str, run_id: int, step: str, count: int, attempts: int = 1
    ) -> list[int]:
        """How many tasks a step has, known once it is planned: a live view shows k of n.

        Returns, per task, the first of the `attempts` ids set aside for its attempts, in
        element order (`start_task(task_id=...)`): ids taken as tasks start would follow the
        order they start in, interleave with the tasks of steps running beside, and put a
        retry after every other element."""
        with self._db.write():
            self._db.execute(
                "UPDATE steps SET planned = ? WHERE flow = ? AND run_id = ? AND name = ?",
                (count, flow, run_id, step),
            )
            if not count:
                return []
            return self._db.reserve_ids("tasks", "task_id", count * attempts)[::attempts]

    def planned(self, flow: str, run_id: int) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT name, planned FROM steps WHERE flow = ? AND run_id = ? AND planned IS NOT NULL",
            (flow, run_id),
        )
        return dict(rows.fetchall())

    def steps(
        self, flow: str, run_id: int, *, ran: bool = False
    ) -> list[tuple[int, dict[str, Any], str]]:
        """The run's steps (position, spec, code); `ran`: only those with a task in the run
        (a run records every step of the flow, also those it did not run)."""
        only_ran = (
            " AND EXISTS (SELECT 1 FROM tasks t WHERE t.flow = s.flow AND t.run_id = s.run_id "
            "AND t.step = s.name)"
            if ran
            else ""
        )
        rows = self._db.execute(
            f"SELECT position, spec, code FROM steps s WHERE flow = ? AND run_id = ?{only_ran} "
            "ORDER BY position",
            (flow, run_id),
        ).fetchall()
        return [(position, json.loads(spec), code) for position, spec, code in rows]

    # -- tasks ----------------------------------------------------------------------------------

    def start_task(
        self,
        flow: str,
        run_id: int,
        step: str,
        path: Sequence[int],
        parents: Sequence[int],
        *,
        attempt: int = 1,
        cache_key: str | None = None,
        origin: int | None = None,
        foreach: Sequence[dict[str, Any]] = (),
        task_id: int | None = None,
    ) -> int:
        """The task's row, `running`; under `task_id` if one was reserved (`set_planned`),
        else the next id."""
        values = (
            flow, run_id, step, _json(list(path)), _json(list(parents)), time.time(),
            attempt, cache_key, origin, _json(list(foreach)),
        )  # fmt: skip
        key, slot, reserved = _reserved_key(task_id)
        with self._db.write():
            (task_id,) = self._db.execute(
                f"INSERT INTO tasks ({key}flow, run_id, step, status, path, parents, "
                "started_at, attempt, cache_key, origin, foreach) "
                f"VALUES ({slot}?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?) RETURNING task_id",
                (*reserved, *values),
            ).fetchone()
            self._db.on_commit(lambda: crash_point("task_started"))
        return int(task_id)

    def commit_task(
        self,
        task_id: int,
        *,
        status: str,
        objects: Sequence[Stored] = (),
        artifacts: Sequence[tuple[str, str, str]] = (),
        stdout: str = "",
        stderr: str = "",
        error: dict[str, Any] | None = None,
        displays: Sequence[dict[str, Any]] = (),
        reads: Sequence[dict[str, Any]] = (),
        cacheable: bool = True,
        check: Callable[[], None] | None = None,
        defer: bool = False,
    ) -> None:
        """Write the task's artifact rows, then mark it finished: all in one transaction.

        A task that is not `cacheable` (its failure was caught) loses its cache key, so no
        later run reuses it. `check` runs first inside the transaction (after any gc batch,
        before the next one) and may refuse the commit by raising. `defer`: the commit may
        wait for the next transaction (`flush` writes it; nbflow.store.metadata.later), unless
        there is a check, whose error belongs to this call."""

        # Every value taken now: a deferred commit writes the task as it was when it finished.
        object_rows = [(o.key, o.size, o.type_name, _json(o.preview), o.inline) for o in objects]
        artifact_rows = [(task_id, name, key, kind) for name, key, kind in artifacts]
        finished = (
            status, time.time(), stdout, stderr, _json(error) if error else None,
            _json(list(displays)), _json(list(reads)), task_id,
        )  # fmt: skip

        def commit() -> None:
            if check is not None:
                check()
            self._db.executemany(
                "INSERT INTO objects VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", object_rows
            )
            self._db.executemany("INSERT INTO artifacts VALUES (?, ?, ?, ?)", artifact_rows)
            if not cacheable:
                self._db.execute("UPDATE tasks SET cache_key = NULL WHERE task_id = ?", (task_id,))
            self._db.execute(
                "UPDATE tasks SET status = ?, finished_at = ?, stdout = ?, stderr = ?, error = ?, "
                "displays = ?, reads = ? WHERE task_id = ?",
                finished,
            )
            self._db.on_commit(lambda: crash_point("task_committed"))

        if defer and check is None:
            self._db.later(commit)
            return
        with self._db.write():
            commit()

    def flush(self) -> None:
        """Write the commits that wait for the next transaction (`commit_task(defer=True)`):
        before this process waits, so that others see its finished tasks."""
        self._db.flush()

    @contextmanager
    def together(self) -> Iterator[None]:
        """One write transaction for what is done inside: reads see every queued commit,
        and the writes (a task's start) commit with them."""
        with self._db.write():
            yield

    def fail_running_tasks(self, flow: str, run_id: int, reason: str) -> None:
        """Mark a run's tasks still `running` as failed: their process is gone."""
        error = _json({"ename": "TaskLost", "evalue": reason})
        with self._db.write():
            self._db.execute(
                "UPDATE tasks SET status = 'failed', finished_at = ?, error = ? "
                "WHERE flow = ? AND run_id = ? AND status = 'running'",
                (time.time(), error, flow, run_id),
            )

    def reuse_tasks(
        self,
        flow: str,
        run_id: int,
        tasks: Sequence[TaskRecord],
        task_ids: Sequence[int | None] = (),
    ) -> dict[int, int]:
        """Copy task records into a run as `cached`, pointing at their origin: no data moves.

        `tasks` must come parents first; returns old task id -> new task id. A copy takes the
        id `task_ids` reserves for it (`set_planned`), if any.
        """
        mapping: dict[int, int] = {}
        reserved = list(task_ids) + [None] * (len(tasks) - len(task_ids))
        with self._db.write():
            for task, task_id in zip(tasks, reserved, strict=True):
                key, slot, given = _reserved_key(task_id)
                # In the same transaction as the copy: `nbflow gc` may have removed the task
                # since it was looked up, and a copy must never point at nothing.
                if not self._db.execute(
                    "SELECT 1 FROM tasks WHERE task_id = ?", (task.data_task_id,)
                ).fetchone():
                    raise NotFound(
                        f"task {task.flow}/{task.run_id}/{task.step}/{task.task_id} was removed "
                        "(nbflow gc) while this run was taking it over; run the step again."
                    )
                parents = [mapping.get(p, p) for p in task.parents]
                (new_id,) = self._db.execute(
                    f"INSERT INTO tasks ({key}flow, run_id, step, status, path, parents, "
                    "origin, data_from, started_at, finished_at, stdout, stderr, cache_key, "
                    f"foreach, reads) VALUES ({slot}?, ?, ?, 'cached', ?, ?, ?, ?, ?, ?, ?, ?, "
                    "?, ?, ?) RETURNING task_id",
                    (
                        *given,
                        flow,
                        run_id,
                        task.step,
                        _json(list(task.path)),
                        _json(parents),
                        task.origin or task.task_id,
                        task.data_task_id,
                        task.started_at,
                        task.finished_at,
                        task.stdout,
                        task.stderr,
                        task.cache_key,
                        _json(list(task.foreach)),
                        _json(list(task.reads)),
                    ),
                ).fetchone()
                mapping[task.task_id] = int(new_id)
        return mapping

    def tasks(self, flow: str, run_id: int, step: str | None = None) -> list[TaskRecord]:
        query = f"SELECT {TASK_COLUMNS} FROM tasks WHERE flow = ? AND run_id = ?"
        args: tuple[Any, ...] = (flow, run_id)
        if step is not None:
            query += " AND step = ?"
            args += (step,)
        rows = self._db.execute(query + " ORDER BY task_id", args).fetchall()
        return [_task_record(row) for row in rows]

    def step_summaries(self, flow: str, run_id: int) -> dict[str, StepSummary]:
        """Each step's task counts by status and wall span (`StepSummary`), in the order of
        its first task, counted by the database: no task record is read, so a view of a run
        costs the same few statements however many tasks it has."""
        where, args = "FROM tasks WHERE flow = ? AND run_id = ?", (flow, run_id)
        # A place has a second task only as a retry (attempt > 1): a run plans each step once
        # (a step cell run again makes a new run). Counting distinct paths instead would sort
        # them all: twice the time of the rest at 100,000 tasks.
        steps = self._db.execute(
            f"SELECT step, min(task_id), count(*), max(attempt), min(started_at), "
            f"max(finished_at), count(finished_at) {where} GROUP BY step",
            args,
        ).fetchall()
        counted: dict[str, list[tuple[str, int]]] = {}
        for step, status, count in self._db.execute(
            f"SELECT step, status, count(*) {where} GROUP BY step, status", args
        ).fetchall():
            counted.setdefault(step, []).append((status, count))
        summaries = {}
        for step, _, tasks, attempts, started, finished, ended in sorted(steps, key=_second):
            if attempts <= 1:
                statuses = tuple(sorted(counted[step]))
                summaries[step] = StepSummary(statuses, started, finished, ended < tasks)
                continue
            # A place tried more than once (a retry): only its last attempt counts, as in
            # `latest_attempts`, so this step is summed over its rows (places as JSON text).
            rows = self._db.execute(
                f"SELECT step, path, status, started_at, finished_at {where} AND step = ? "
                "ORDER BY task_id",
                (*args, step),
            ).fetchall()
            summaries.update(summarize_steps(rows))
        return summaries

    def cached_tasks(
        self, flow: str, step: str, cache_key: str, limit: int = 5
    ) -> list[TaskRecord]:
        """The newest tasks of `step` that ran with these exact inputs and finished, newest
        first (the caller still checks the files each one read)."""
        rows = self._db.execute(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE flow = ? AND step = ? AND cache_key = ? "
            "AND status = 'done' ORDER BY task_id DESC LIMIT ?",
            (flow, step, cache_key, limit),
        ).fetchall()
        return [_task_record(row) for row in rows]

    def task(self, task_id: int) -> TaskRecord:
        row = self._db.execute(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = ?", (task_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no task {task_id} in {self.where}")
        return _task_record(row)

    def runs_with(
        self, flow: str, steps: Sequence[str], params: dict[str, Any] | None = None
    ) -> Iterator[int]:
        """Runs of `flow` (with these params) in which every one of `steps` finished, newest
        first. The run itself may have failed later: its finished tasks are still good."""
        wanted = sorted(set(steps))
        marks = ", ".join("?" for _ in wanted)
        rows = self._db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs r WHERE flow = ? AND ? = "
            "(SELECT COUNT(*) FROM (SELECT step FROM tasks t WHERE t.flow = r.flow AND "
            f"t.run_id = r.run_id AND t.step IN ({marks}) GROUP BY step "
            "HAVING SUM(CASE WHEN status IN ('done', 'cached') THEN 0 ELSE 1 END) = 0) "
            "AS finished) "
            "ORDER BY run_id DESC",
            (flow, len(wanted), *wanted),
        )
        for row in rows:
            run = _run_record(row)
            if params is None or run.params == params:
                yield run.run_id

    def latest_run_with(
        self, flow: str, steps: Sequence[str], params: dict[str, Any] | None = None
    ) -> int | None:
        return next(self.runs_with(flow, steps, params), None)

    # -- artifacts ------------------------------------------------------------------------------

    def artifacts(
        self, task: TaskRecord, kinds: Sequence[str] = ("output", "inherited")
    ) -> list[ArtifactRecord]:
        marks = ", ".join("?" for _ in kinds)
        rows = self._db.execute(
            "SELECT a.name, a.key, a.kind, o.size, o.type, o.preview FROM artifacts a "
            f"JOIN objects o ON o.key = a.key WHERE a.task_id = ? AND a.kind IN ({marks}) "
            "ORDER BY a.name",
            (task.data_task_id, *kinds),
        ).fetchall()
        return [
            ArtifactRecord(name, key, kind, size, type_name, json.loads(preview))
            for name, key, kind, size, type_name, preview in rows
        ]

    def inline(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT inline FROM objects WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    # -- garbage collection (`nbflow gc`) -------------------------------------------------------

    @contextmanager
    def exclusive(self, *, dry_run: bool = False) -> Iterator[None]:
        """One write transaction around the calls below, so that nothing a writer commits slips
        between reading what is referenced and deleting what is not. Writers wait for it
        (SQLite's write lock, PostgreSQL's exclusive advisory lock); a dry run is rolled back
        and leaves the database as it was."""
        with self._db.exclusive(rollback=dry_run):
            yield

    def task_links(self) -> list[tuple[int, str, int, tuple[int, ...]]]:
        """Every task as (task_id, flow, run_id, the tasks it reads: parents, origin, data_from)."""
        rows = self._db.execute(
            "SELECT task_id, flow, run_id, parents, origin, data_from FROM tasks"
        ).fetchall()
        links = []
        for task_id, flow, run_id, parents, origin, data_from in rows:
            reads = [*json.loads(parents), origin, data_from]
            links.append((task_id, flow, run_id, tuple(t for t in reads if t is not None)))
        return links

    def remove_runs(self, runs: Sequence[tuple[str, int]], tasks: Sequence[int]) -> None:
        """Delete these runs with their steps, and these tasks with their artifact rows.

        Only inside `exclusive()`: the caller decides from what it read in the same transaction.
        """
        self._check_exclusive()
        for table in ("steps", "run_tags", "runs"):
            self._db.executemany(f"DELETE FROM {table} WHERE flow = ? AND run_id = ?", runs)
        for table in ("artifacts", "tasks"):
            self._db.executemany(f"DELETE FROM {table} WHERE task_id = ?", [(t,) for t in tasks])

    def remove_unreferenced_objects(self) -> list[tuple[str, int, bool]]:
        """Delete the objects rows no artifact row references: their (key, size, inline)."""
        self._check_exclusive()
        rows = self._db.execute(
            "DELETE FROM objects WHERE key NOT IN (SELECT key FROM artifacts) "
            "AND key NOT IN (SELECT notebook_key FROM runs WHERE notebook_key IS NOT NULL) "
            "RETURNING key, size, inline IS NOT NULL"
        ).fetchall()
        return [(key, size, bool(inline)) for key, size, inline in rows]

    def referenced_among(self, keys: Sequence[str]) -> set[str]:
        """Those of `keys` an artifact row or executed notebook references now."""
        if not keys:
            return set()
        marks = ", ".join("?" for _ in keys)
        rows = self._db.execute(
            f"SELECT key FROM artifacts WHERE key IN ({marks}) UNION "
            f"SELECT notebook_key FROM runs WHERE notebook_key IN ({marks})",
            (*keys, *keys),
        )
        return {key for (key,) in rows}

    def referenced_keys(self) -> set[str]:
        """The content key of every artifact row and executed notebook: what must be kept."""
        rows = self._db.execute(
            "SELECT key FROM artifacts UNION "
            "SELECT notebook_key FROM runs WHERE notebook_key IS NOT NULL"
        )
        return {key for (key,) in rows}

    # -- checking (`nbflow fsck`, errors that name an artifact) ----------------------------------

    def stored_values(self) -> Iterator[StoredValue]:
        """Every artifact row and executed notebook, with its task and its `objects` row (None
        fields where a row it needs is missing). Read only; streamed where the driver can."""
        rows = self._db.execute(
            "SELECT t.flow, t.run_id, t.step, a.task_id, a.name, a.kind, a.key, o.size, "
            "o.key IS NOT NULL, LENGTH(o.inline) FROM artifacts a "
            "LEFT JOIN tasks t ON t.task_id = a.task_id LEFT JOIN objects o ON o.key = a.key "
            "UNION ALL "
            "SELECT r.flow, r.run_id, NULL, NULL, NULL, 'notebook', r.notebook_key, o.size, "
            "o.key IS NOT NULL, LENGTH(o.inline) FROM runs r "
            "LEFT JOIN objects o ON o.key = r.notebook_key WHERE r.notebook_key IS NOT NULL"
        )
        for flow, run_id, step, task_id, name, kind, key, size, has_object, inline in rows:
            yield StoredValue(
                flow, run_id, step, task_id, name, kind, key,
                size if has_object else None, inline is not None,
            )  # fmt: skip

    def running_tasks_of_finished_runs(self) -> list[tuple[str, int, str, int]]:
        """(flow, run_id, step, task_id) of each task marked `running` in a run that is not:
        its result was never recorded (a full disk, a crash between the two writes)."""
        rows = self._db.execute(
            "SELECT t.flow, t.run_id, t.step, t.task_id FROM tasks t JOIN runs r ON "
            "r.flow = t.flow AND r.run_id = t.run_id WHERE t.status = 'running' "
            "AND r.status <> 'running' ORDER BY t.task_id"
        ).fetchall()
        return [(flow, int(run_id), step, int(task_id)) for flow, run_id, step, task_id in rows]

    def fail_lost_tasks(self, task_ids: Sequence[int]) -> None:
        """Mark these tasks (of finished runs, still `running`) failed."""
        error = _json(_lost_task_error(LOST_AT_FINISH))
        with self._db.write():
            self._db.executemany(
                "UPDATE tasks SET status = 'failed', finished_at = ?, error = ? "
                "WHERE task_id = ? AND status = 'running'",
                [(time.time(), error, task_id) for task_id in task_ids],
            )

    def inline_values(self) -> Iterator[tuple[str, bytes]]:
        """(key, bytes) of every value kept in its `objects` row rather than in a blob."""
        rows = self._db.execute("SELECT key, inline FROM objects WHERE inline IS NOT NULL")
        for key, inline in rows:
            yield key, bytes(inline)

    def artifacts_with_key(self, key: str, limit: int = 5) -> list[StoredValue]:
        """Artifact rows that reference `key`, to name what a damaged blob spoils: the tasks
        that output it first (the oldest computed it), then those that inherited it."""
        rows = self._db.execute(
            "SELECT t.flow, t.run_id, t.step, a.task_id, a.name, a.kind FROM artifacts a "
            "JOIN tasks t ON t.task_id = a.task_id WHERE a.key = ? "
            "ORDER BY CASE WHEN a.kind = 'output' THEN 0 ELSE 1 END, a.task_id LIMIT ?",
            (key, limit),
        ).fetchall()
        return [
            StoredValue(flow, run_id, step, task_id, name, kind, key, None, False)
            for flow, run_id, step, task_id, name, kind in rows
        ]

    def _check_exclusive(self) -> None:
        if not self._db.in_transaction:
            raise RuntimeError("garbage collection deletes rows only inside exclusive()")


class StoredValue(NamedTuple):
    """One reference to a stored value: an artifact row (or a run's executed notebook)."""

    flow: str | None  # None: the task row it belongs to is missing
    run_id: int | None
    step: str | None
    task_id: int | None
    name: str | None
    kind: str  # output, inherited, context, or notebook
    key: str
    size: int | None  # from its `objects` row; None: that row is missing
    inline: bool  # the bytes are in the `objects` row, not in a blob

    @property
    def where(self) -> str:
        """`'name' of flow/run/step/task`, as messages name an artifact."""
        if self.kind == "notebook":
            return f"the executed notebook of run {self.flow}/{self.run_id}"
        if self.flow is None:
            return f"'{self.name}' of task {self.task_id} (whose task record is missing)"
        return f"'{self.name}' of {self.flow}/{self.run_id}/{self.step}/{self.task_id}"


def _lost_task_error(why: str) -> dict[str, Any]:
    return {
        "ename": "TaskLost",
        "evalue": (
            f"{why}; `%flow resume` (or `nbflow resume NOTEBOOK`) reuses the run's finished tasks"
        ),
        "traceback": "",
        "line": None,
    }


def _reserved_key(task_id: int | None) -> tuple[str, str, tuple[int, ...]]:
    """An INSERT's key column, its placeholder and its value: the id reserved for the task, or
    nothing, so the database picks the next (PostgreSQL refuses an explicit NULL key)."""
    return ("task_id, ", "?, ", (task_id,)) if task_id is not None else ("", "", ())


def _second(row: Sequence[Any]) -> Any:
    return row[1]


# One encoder for every row: json.dumps with options builds a new one per call, and a task
# writes nine JSON columns.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=repr)


def _json(value: Any) -> str:
    return _ENCODER.encode(value)


def _run_record(row: Sequence[Any]) -> RunRecord:
    flow, run_id, status, started, finished, params, tags, notebook, origin = row[:9]
    launcher, notebook_key, heartbeat, error, host, pid, process_start, system = row[9:]
    return RunRecord(
        flow, run_id, status, started, finished, json.loads(params), _tags(tags),
        notebook, origin, launcher, notebook_key, heartbeat, error, host, pid, process_start,
        _tags(system) if system else (),
    )  # fmt: skip


@lru_cache(maxsize=4096)
def _tags(text: str) -> tuple[str, ...]:
    # Runs share their tags (the system tags of one user and host, a sweep's tag): a listing
    # of many runs parses each set once.
    return tuple(json.loads(text))


def _task_record(row: Sequence[Any]) -> TaskRecord:
    task_id, flow, run_id, step, status, path, parents, origin, started, finished = row[:10]
    stdout, stderr, error, attempt, data_from, cache_key, displays, foreach, reads = row[10:]
    return TaskRecord(
        task_id, flow, run_id, step, status, tuple(json.loads(path)),
        tuple(json.loads(parents)), origin, started, finished, stdout, stderr,
        json.loads(error) if error else None, attempt, data_from, cache_key,
        tuple(json.loads(displays)), tuple(json.loads(foreach or "[]")),
        tuple(json.loads(reads or "[]")),
    )  # fmt: skip
