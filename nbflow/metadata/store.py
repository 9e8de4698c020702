"""Run, task and artifact records in SQL: one layer, SQLite by default.

Writes are short `BEGIN IMMEDIATE` transactions (WAL, busy timeout), so concurrent kernels
queue instead of failing with "database is locked". A task is committed by one transaction that
writes its artifact rows and flips its status last; a reader never sees half a task.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nbflow.datastore.store import Stored
from nbflow.exceptions import DatastoreError, NotFound
from nbflow.metadata.records import ArtifactRecord, RunRecord, TaskRecord

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS run_ids (flow TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, status TEXT NOT NULL,
    started_at REAL NOT NULL, finished_at REAL, params TEXT NOT NULL, tags TEXT NOT NULL,
    notebook TEXT, origin_run INTEGER, launcher TEXT, notebook_key TEXT,
    PRIMARY KEY (flow, run_id));
CREATE INDEX IF NOT EXISTS runs_by_launcher ON runs (launcher);
CREATE TABLE IF NOT EXISTS steps (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, name TEXT NOT NULL, position INTEGER NOT NULL,
    spec TEXT NOT NULL, code TEXT NOT NULL, planned INTEGER,
    PRIMARY KEY (flow, run_id, name));
CREATE TABLE IF NOT EXISTS tasks (
    task_id INTEGER PRIMARY KEY AUTOINCREMENT, flow TEXT NOT NULL, run_id INTEGER NOT NULL,
    step TEXT NOT NULL, status TEXT NOT NULL, path TEXT NOT NULL, parents TEXT NOT NULL,
    origin INTEGER, started_at REAL, finished_at REAL,
    stdout TEXT NOT NULL DEFAULT '', stderr TEXT NOT NULL DEFAULT '', error TEXT,
    attempt INTEGER NOT NULL DEFAULT 1, data_from INTEGER, cache_key TEXT,
    displays TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS tasks_by_run ON tasks (flow, run_id, step);
CREATE INDEX IF NOT EXISTS tasks_by_cache_key ON tasks (flow, step, cache_key);
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY, size INTEGER NOT NULL, type TEXT NOT NULL, preview TEXT NOT NULL,
    inline BLOB);
CREATE TABLE IF NOT EXISTS artifacts (
    task_id INTEGER NOT NULL, name TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL,
    PRIMARY KEY (task_id, name, kind));
"""

TASK_COLUMNS = (
    "task_id, flow, run_id, step, status, path, parents, origin, started_at, finished_at, "
    "stdout, stderr, error, attempt, data_from, cache_key, displays"
)
RUN_COLUMNS = (
    "flow, run_id, status, started_at, finished_at, params, tags, notebook, origin_run, "
    "launcher, notebook_key"
)


class MetadataStore:
    """The metadata database of one datastore. One connection per process and path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=60.0
            )
            self._conn.execute("PRAGMA busy_timeout = 60000")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._set_wal()
            with self._write() as conn:
                for statement in SCHEMA.split(";"):
                    conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
                )
        except sqlite3.Error as error:
            raise DatastoreError(
                f"cannot open the metadata database {path}: {error}. Set NBFLOW_DATASTORE "
                "(or NBFLOW_METADATA) to a writable location."
            ) from error
        self._lock = threading.RLock()

    def _set_wal(self) -> None:
        # Switching to WAL needs a moment alone with the file; another process may hold it.
        for _ in range(200):
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError:
                time.sleep(0.05)
        self._conn.execute("PRAGMA journal_mode = WAL")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()

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
    ) -> RunRecord:
        """A new run with the next id of its flow.

        The id and the start time are both taken inside the write lock, so ids sort by start
        time even when several kernels start runs at once; an id is never given out twice.
        """
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO run_ids VALUES (?, 0)", (flow,))
            (run_id,) = conn.execute(
                "UPDATE run_ids SET last = last + 1 WHERE flow = ? RETURNING last", (flow,)
            ).fetchone()
            started = time.time()
            conn.execute(
                f"INSERT INTO runs ({RUN_COLUMNS}) "
                "VALUES (?, ?, 'running', ?, NULL, ?, ?, ?, ?, ?, NULL)",
                (
                    flow, run_id, started, _json(params), _json(list(tags)), notebook,
                    origin_run, launcher,
                ),
            )  # fmt: skip
        return self.run(flow, run_id)

    def discard_run(self, flow: str, run_id: int) -> None:
        """Remove a run that never ran a task (a step refused before it started).

        Its tasks are reused copies pointing at other runs' results, so no result is lost.
        """
        with self._write() as conn:
            owned = conn.execute(
                "SELECT COUNT(*) FROM tasks WHERE flow = ? AND run_id = ? AND origin IS NULL",
                (flow, run_id),
            ).fetchone()[0]
            if owned:
                raise ValueError(f"run {flow}/{run_id} ran tasks of its own; it is kept")
            for table in ("tasks", "steps", "runs"):
                conn.execute(f"DELETE FROM {table} WHERE flow = ? AND run_id = ?", (flow, run_id))

    def finish_run(self, flow: str, run_id: int, status: str) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ? WHERE flow = ? AND run_id = ?",
                (status, time.time(), flow, run_id),
            )

    def reopen_run(self, flow: str, run_id: int) -> None:
        """An interactive run grows cell by cell: it is `running` again while a step runs."""
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET status = 'running' WHERE flow = ? AND run_id = ?", (flow, run_id)
            )

    def run(self, flow: str, run_id: int) -> RunRecord:
        row = self._conn.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE flow = ? AND run_id = ?", (flow, run_id)
        ).fetchone()
        if row is None:
            raise NotFound(f"no run {flow}/{run_id} in {self.path.parent}")
        return _run_record(row)

    def runs(self, flow: str, limit: int | None = None, offset: int = 0) -> list[RunRecord]:
        rows = self._conn.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE flow = ? ORDER BY run_id DESC LIMIT ? OFFSET ?",
            (flow, -1 if limit is None else limit, offset),
        ).fetchall()
        return [_run_record(row) for row in rows]

    def runs_by_launcher(self, launcher: str) -> list[RunRecord]:
        """The runs one headless execution made, oldest first."""
        rows = self._conn.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE launcher = ? ORDER BY started_at", (launcher,)
        ).fetchall()
        return [_run_record(row) for row in rows]

    def set_run_notebook(self, flow: str, run_id: int, notebook: Stored) -> None:
        """Keep the executed notebook (a stored value) with the run."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO objects VALUES (?, ?, ?, ?, ?)",
                (notebook.key, notebook.size, notebook.type_name, "{}", notebook.inline),
            )
            conn.execute(
                "UPDATE runs SET notebook_key = ? WHERE flow = ? AND run_id = ?",
                (notebook.key, flow, run_id),
            )

    def flows(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT DISTINCT flow FROM runs ORDER BY flow")]

    # -- steps (the graph as the run saw it) ------------------------------------------------------

    def save_steps(
        self, flow: str, run_id: int, steps: Sequence[tuple[int, dict[str, Any], str]]
    ) -> None:
        """Record steps as the run saw them: (position in the notebook, spec, code)."""
        with self._write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?, NULL)",
                [
                    (flow, run_id, spec["name"], position, _json(spec), code)
                    for position, spec, code in steps
                ],
            )

    def set_planned(self, flow: str, run_id: int, step: str, count: int) -> None:
        """How many tasks a step has, known once it is planned: a live view shows k of n."""
        with self._write() as conn:
            conn.execute(
                "UPDATE steps SET planned = ? WHERE flow = ? AND run_id = ? AND name = ?",
                (count, flow, run_id, step),
            )

    def planned(self, flow: str, run_id: int) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT name, planned FROM steps WHERE flow = ? AND run_id = ? AND planned IS NOT NULL",
            (flow, run_id),
        )
        return dict(rows.fetchall())

    def steps(self, flow: str, run_id: int) -> list[tuple[int, dict[str, Any], str]]:
        rows = self._conn.execute(
            "SELECT position, spec, code FROM steps WHERE flow = ? AND run_id = ? "
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
    ) -> int:
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO tasks (flow, run_id, step, status, path, parents, started_at, "
                "attempt, cache_key, origin) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                (
                    flow, run_id, step, _json(list(path)), _json(list(parents)), time.time(),
                    attempt, cache_key, origin,
                ),
            )  # fmt: skip
        assert cursor.lastrowid is not None
        return cursor.lastrowid

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
        cacheable: bool = True,
    ) -> None:
        """Write the task's artifact rows, then mark it finished: all in one transaction.

        A task that is not `cacheable` (its failure was caught) loses its cache key, so no
        later run reuses it."""
        with self._write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO objects VALUES (?, ?, ?, ?, ?)",
                [(o.key, o.size, o.type_name, _json(o.preview), o.inline) for o in objects],
            )
            conn.executemany(
                "INSERT INTO artifacts VALUES (?, ?, ?, ?)",
                [(task_id, name, key, kind) for name, key, kind in artifacts],
            )
            if not cacheable:
                conn.execute("UPDATE tasks SET cache_key = NULL WHERE task_id = ?", (task_id,))
            conn.execute(
                "UPDATE tasks SET status = ?, finished_at = ?, stdout = ?, stderr = ?, error = ?, "
                "displays = ? WHERE task_id = ?",
                (
                    status,
                    time.time(),
                    stdout,
                    stderr,
                    _json(error) if error else None,
                    _json(list(displays)),
                    task_id,
                ),
            )

    def fail_running_tasks(self, flow: str, run_id: int, reason: str) -> None:
        """Mark a run's tasks still `running` as failed: their process is gone."""
        error = _json({"ename": "TaskLost", "evalue": reason})
        with self._write() as conn:
            conn.execute(
                "UPDATE tasks SET status = 'failed', finished_at = ?, error = ? "
                "WHERE flow = ? AND run_id = ? AND status = 'running'",
                (time.time(), error, flow, run_id),
            )

    def reuse_tasks(self, flow: str, run_id: int, tasks: Sequence[TaskRecord]) -> dict[int, int]:
        """Copy task records into a run as `cached`, pointing at their origin: no data moves.

        `tasks` must come parents first; returns old task id -> new task id.
        """
        mapping: dict[int, int] = {}
        with self._write() as conn:
            for task in tasks:
                # In the same transaction as the copy: `nbflow gc` may have removed the task
                # since it was looked up, and a copy must never point at nothing.
                if not conn.execute(
                    "SELECT 1 FROM tasks WHERE task_id = ?", (task.data_task_id,)
                ).fetchone():
                    raise NotFound(
                        f"task {task.flow}/{task.run_id}/{task.step}/{task.task_id} was removed "
                        "(nbflow gc) while this run was taking it over; run the step again."
                    )
                parents = [mapping.get(p, p) for p in task.parents]
                cursor = conn.execute(
                    "INSERT INTO tasks (flow, run_id, step, status, path, parents, origin, "
                    "data_from, started_at, finished_at, stdout, stderr, cache_key) "
                    "VALUES (?, ?, ?, 'cached', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
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
                    ),
                )
                assert cursor.lastrowid is not None
                mapping[task.task_id] = cursor.lastrowid
        return mapping

    def tasks(self, flow: str, run_id: int, step: str | None = None) -> list[TaskRecord]:
        query = f"SELECT {TASK_COLUMNS} FROM tasks WHERE flow = ? AND run_id = ?"
        args: tuple[Any, ...] = (flow, run_id)
        if step is not None:
            query += " AND step = ?"
            args += (step,)
        rows = self._conn.execute(query + " ORDER BY task_id", args).fetchall()
        return [_task_record(row) for row in rows]

    def cached_task(self, flow: str, step: str, cache_key: str) -> TaskRecord | None:
        """The newest task of `step` that ran with these exact inputs and finished."""
        row = self._conn.execute(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE flow = ? AND step = ? AND cache_key = ? "
            "AND status = 'done' ORDER BY task_id DESC LIMIT 1",
            (flow, step, cache_key),
        ).fetchone()
        return None if row is None else _task_record(row)

    def task(self, task_id: int) -> TaskRecord:
        row = self._conn.execute(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = ?", (task_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no task {task_id} in {self.path.parent}")
        return _task_record(row)

    def runs_with(
        self, flow: str, steps: Sequence[str], params: dict[str, Any] | None = None
    ) -> Iterator[int]:
        """Runs of `flow` (with these params) in which every one of `steps` finished, newest
        first. The run itself may have failed later: its finished tasks are still good."""
        wanted = sorted(set(steps))
        marks = ", ".join("?" for _ in wanted)
        rows = self._conn.execute(
            f"SELECT {RUN_COLUMNS} FROM runs r WHERE flow = ? AND ? = "
            "(SELECT COUNT(*) FROM (SELECT step FROM tasks t WHERE t.flow = r.flow AND "
            f"t.run_id = r.run_id AND t.step IN ({marks}) GROUP BY step "
            "HAVING SUM(status NOT IN ('done', 'cached')) = 0)) "
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
        rows = self._conn.execute(
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
        row = self._conn.execute("SELECT inline FROM objects WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    # -- garbage collection (`nbflow gc`) -------------------------------------------------------

    @contextmanager
    def exclusive(self, *, dry_run: bool = False) -> Iterator[None]:
        """One write transaction around the calls below, so that nothing a writer commits slips
        between reading what is referenced and deleting what is not. Writers wait for it
        (BEGIN IMMEDIATE); a dry run is rolled back and leaves the database as it was."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("ROLLBACK" if dry_run else "COMMIT")

    def task_links(self) -> list[tuple[int, str, int, tuple[int, ...]]]:
        """Every task as (task_id, flow, run_id, the tasks it reads: parents, origin, data_from)."""
        rows = self._conn.execute(
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
        conn = self._conn
        for table in ("steps", "runs"):
            conn.executemany(f"DELETE FROM {table} WHERE flow = ? AND run_id = ?", runs)
        for table in ("artifacts", "tasks"):
            conn.executemany(f"DELETE FROM {table} WHERE task_id = ?", [(t,) for t in tasks])

    def remove_unreferenced_objects(self) -> list[tuple[str, int, bool]]:
        """Delete the objects rows no artifact row references: their (key, size, inline)."""
        self._check_exclusive()
        rows = self._conn.execute(
            "DELETE FROM objects WHERE key NOT IN (SELECT key FROM artifacts) "
            "AND key NOT IN (SELECT notebook_key FROM runs WHERE notebook_key IS NOT NULL) "
            "RETURNING key, size, inline IS NOT NULL"
        ).fetchall()
        return [(key, size, bool(inline)) for key, size, inline in rows]

    def referenced_keys(self) -> set[str]:
        """The content key of every artifact row and executed notebook: what must be kept."""
        rows = self._conn.execute(
            "SELECT key FROM artifacts UNION "
            "SELECT notebook_key FROM runs WHERE notebook_key IS NOT NULL"
        )
        return {key for (key,) in rows}

    def _check_exclusive(self) -> None:
        if not self._conn.in_transaction:
            raise RuntimeError("garbage collection deletes rows only inside exclusive()")


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=repr)


def _run_record(row: Sequence[Any]) -> RunRecord:
    flow, run_id, status, started, finished, params, tags, notebook, origin = row[:9]
    launcher, notebook_key = row[9:]
    return RunRecord(
        flow, run_id, status, started, finished, json.loads(params), tuple(json.loads(tags)),
        notebook, origin, launcher, notebook_key,
    )  # fmt: skip


def _task_record(row: Sequence[Any]) -> TaskRecord:
    task_id, flow, run_id, step, status, path, parents, origin, started, finished = row[:10]
    stdout, stderr, error, attempt, data_from, cache_key, displays = row[10:]
    return TaskRecord(
        task_id, flow, run_id, step, status, tuple(json.loads(path)),
        tuple(json.loads(parents)), origin, started, finished, stdout, stderr,
        json.loads(error) if error else None, attempt, data_from, cache_key,
        tuple(json.loads(displays)),
    )  # fmt: skip
