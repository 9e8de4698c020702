"""The metadata schema and its migrations: numbered steps, applied in order, recorded.

The `meta` table's `schema_version` says which steps a database has. Opening a database applies
the steps it lacks, all in one exclusive transaction (two processes opening a new database at
once do not both create it), and refuses a database newer than this code. A later version of
nbflow that changes the schema appends a step here; it never edits one that has shipped.

Statements are written with SQLite's column types; `Database.ddl` gives PostgreSQL its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nbflow.exceptions import DatastoreError
from nbflow.store.metadata.sql import Database


@dataclass(frozen=True)
class Migration:
    version: int  # the schema version once it is applied: 1, 2, ... in order
    summary: str
    statements: tuple[str, ...]
    # Fills what the statements added from the rows already there (same transaction).
    backfill: Callable[[Database], None] | None = None


META_TABLE = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"

# Version 1, as the first nbflow wrote it: existing SQLite datastores are at this version.
INITIAL_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS run_ids (flow TEXT PRIMARY KEY, last INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS runs (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, status TEXT NOT NULL,
    started_at REAL NOT NULL, finished_at REAL, params TEXT NOT NULL, tags TEXT NOT NULL,
    notebook TEXT, origin_run INTEGER, launcher TEXT, notebook_key TEXT,
    PRIMARY KEY (flow, run_id))""",
    "CREATE INDEX IF NOT EXISTS runs_by_launcher ON runs (launcher)",
    """CREATE TABLE IF NOT EXISTS steps (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, name TEXT NOT NULL, position INTEGER NOT NULL,
    spec TEXT NOT NULL, code TEXT NOT NULL, planned INTEGER,
    PRIMARY KEY (flow, run_id, name))""",
    """CREATE TABLE IF NOT EXISTS tasks (
    task_id INTEGER PRIMARY KEY AUTOINCREMENT, flow TEXT NOT NULL, run_id INTEGER NOT NULL,
    step TEXT NOT NULL, status TEXT NOT NULL, path TEXT NOT NULL, parents TEXT NOT NULL,
    origin INTEGER, started_at REAL, finished_at REAL,
    stdout TEXT NOT NULL DEFAULT '', stderr TEXT NOT NULL DEFAULT '', error TEXT,
    attempt INTEGER NOT NULL DEFAULT 1, data_from INTEGER, cache_key TEXT,
    displays TEXT NOT NULL DEFAULT '[]')""",
    "CREATE INDEX IF NOT EXISTS tasks_by_run ON tasks (flow, run_id, step)",
    "CREATE INDEX IF NOT EXISTS tasks_by_cache_key ON tasks (flow, step, cache_key)",
    """CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY, size INTEGER NOT NULL, type TEXT NOT NULL, preview TEXT NOT NULL,
    inline BLOB)""",
    """CREATE TABLE IF NOT EXISTS artifacts (
    task_id INTEGER NOT NULL, name TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL,
    PRIMARY KEY (task_id, name, kind))""",
)

# Version 2: a process running a run beats in `heartbeat` (seconds since the epoch), so a run
# whose process died (a killed kernel) is found and marked failed instead of `running` forever.
# The index keeps that search to the running runs.
HEARTBEAT = (
    "ALTER TABLE runs ADD COLUMN heartbeat REAL",
    "CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status)",
)

# Version 3: what a task's result depends on beyond its inputs, and why a run failed.
# `tasks.foreach`: the enclosing foreach elements, outermost first (JSON: step, name, index,
# count, key of the element), so a task knows its elements at every level even when a name
# shadows another or --out drops it. `tasks.reads`: the files the task opened for reading
# (JSON: path, size, hash), checked before its result is reused. `runs.error`: why a run that
# did not finish its notebook is failed (a headless notebook that stopped at a cell).
LINEAGE = (
    "ALTER TABLE tasks ADD COLUMN foreach TEXT",
    "ALTER TABLE tasks ADD COLUMN reads TEXT",
    "ALTER TABLE runs ADD COLUMN error TEXT",
)

# Version 4: the process that runs a run (its host, pid and start time: see
# nbflow.store.metadata.liveness), so a process on the same host knows at once that a run whose
# process is gone (a killed kernel) is dead, without waiting for its heartbeat to go stale.
PROCESS = (
    "ALTER TABLE runs ADD COLUMN host TEXT",
    "ALTER TABLE runs ADD COLUMN pid INTEGER",
    "ALTER TABLE runs ADD COLUMN process_start TEXT",
)

# Version 5: system tags (who made a run and how: user:, host:, notebook:, executor:, nbflow:)
# and one row per tag of a run, so that runs are listed by tag (and by namespace, a `user:` tag)
# in SQL over an index. `runs.tags` stays the user tags, as before; `run_tags` holds both kinds.
# Runs made before this version have no system tags: they belong to every namespace.
TAGS = (
    "ALTER TABLE runs ADD COLUMN system_tags TEXT",
    """CREATE TABLE IF NOT EXISTS run_tags (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, tag TEXT NOT NULL,
    PRIMARY KEY (flow, run_id, tag))""",
    "CREATE INDEX IF NOT EXISTS run_tags_by_tag ON run_tags (flow, tag, run_id)",
)


def _index_user_tags(db: Database) -> None:
    rows = db.execute("SELECT flow, run_id, tags FROM runs").fetchall()
    db.executemany(
        "INSERT INTO run_tags VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [(flow, run_id, tag) for flow, run_id, tags in rows for tag in json.loads(tags)],
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "runs, steps, tasks, objects and artifacts", INITIAL_SCHEMA),
    Migration(2, "runs.heartbeat: dead runs are found", HEARTBEAT),
    Migration(3, "tasks.foreach, tasks.reads, runs.error: lineage and failed notebooks", LINEAGE),
    Migration(4, "runs.host, runs.pid, runs.process_start: dead runs known at once", PROCESS),
    Migration(
        5, "runs.system_tags, run_tags: system tags, runs listed by tag", TAGS, _index_user_tags
    ),
)


def schema_version(db: Database) -> int:
    """The version a database is at: 0 for a new one."""
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return 0 if row is None else int(row[0])


def migrate(db: Database, migrations: Sequence[Migration] | None = None) -> int:
    """Bring `db` to the newest version of `migrations` (default: MIGRATIONS); its version."""
    steps = MIGRATIONS if migrations is None else migrations
    if [step.version for step in steps] != list(range(1, len(steps) + 1)):
        raise ValueError("migrations must be numbered 1, 2, 3, ... in order")
    latest = steps[-1].version
    if db.read_only:  # nothing may be written: it is readable as it is, or not at all
        current = schema_version(db)
        if current != latest:
            raise DatastoreError(
                f"the metadata database {db.where} is read-only and at schema version "
                f"{current}; this nbflow reads version {latest} and cannot upgrade it there. "
                "Copy the datastore to a writable folder (cp -r) and set NBFLOW_DATASTORE to "
                "the copy, or read it with the nbflow version that wrote it."
            )
        return current
    with db.exclusive():
        db.execute(db.ddl(META_TABLE))
        current = schema_version(db)
        if current > latest:
            raise DatastoreError(
                f"the metadata database {db.where} has schema version {current}, made by a newer "
                f"nbflow; this one knows versions up to {latest}. Upgrade nbflow "
                "(pip install -U nbflow) in every kernel and process that uses this datastore."
            )
        for step in steps:
            if step.version > current:
                for statement in step.statements:
                    db.execute(db.ddl(statement))
                if step.backfill is not None:
                    step.backfill(db)
        if latest > current:
            db.execute(
                "INSERT INTO meta VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(latest),),
            )
    return latest
