"""The metadata in a SQLite file: the embedded default.

WAL mode with a busy timeout, so readers never wait and concurrent kernels queue for the write
lock (`BEGIN IMMEDIATE`) instead of failing with "database is locked".

Test hook: NBFLOW_TEST_HOOK_WEAKEN_WRITES=1 makes `write()` open no transaction at all (each
statement commits alone), the regression tests/faults/test_concurrent_writers.py must catch.
Never set it for real use: a reader could then see half a task.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nbflow.exceptions import DatastoreError
from nbflow.store.metadata.sql import Database, Rows

SQLITE_FULL = 13  # sqlite3.SQLITE_FULL, which typeshed does not know


class SQLiteDatabase(Database):
    errors = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path.parent)  # the datastore folder, as messages always named it
        self._weak_writes = os.environ.get("NBFLOW_TEST_HOOK_WEAKEN_WRITES") == "1"
        # A database that exists but cannot be written here (a colleague's datastore, a
        # read-only mount) is opened read-only: browsing and loading work, writes are refused.
        self.read_only = path.exists() and not _writable(path)
        try:
            if self.read_only:
                self._conn = _connect_read_only(path)
            else:
                self._conn = sqlite3.connect(
                    path, isolation_level=None, check_same_thread=False, timeout=60.0
                )
                self._conn.execute("PRAGMA synchronous = NORMAL")
                self._set_wal()
            self._conn.execute("PRAGMA busy_timeout = 60000")
        except sqlite3.Error as error:
            raise self.unusable(error) from error

    def unusable(self, error: Exception) -> DatastoreError:
        return DatastoreError(
            f"cannot open the metadata database {self.path}: {error}. Set NBFLOW_DATASTORE "
            "(or NBFLOW_METADATA) to a writable location."
        )

    def _set_wal(self) -> None:
        # Switching to WAL needs a moment alone with the file; another process may hold it.
        for _ in range(200):
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError:
                time.sleep(0.05)
        self._conn.execute("PRAGMA journal_mode = WAL")

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Rows:
        return self._conn.execute(sql, args)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    @contextmanager
    def write(self) -> Iterator[None]:
        # SQLite has one writer at a time: taking its lock up front is the whole protocol.
        if self._weak_writes:  # the test hook above: statements commit one by one
            yield
            return
        with self.exclusive():
            yield

    @contextmanager
    def exclusive(self, *, rollback: bool = False) -> Iterator[None]:
        if self.read_only:
            raise self.refused()
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                conn.execute("ROLLBACK" if rollback else "COMMIT")
            except BaseException:
                # SQLite rolls back by itself on some errors (a full disk): rolling back again
                # would raise "no transaction is active" and hide the cause.
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as error:
            if _is_full(error):
                raise self.full(error) from error
            raise

    def refused(self) -> DatastoreError:
        return DatastoreError(
            f"the datastore {self.where} is read-only: its metadata database {self.path} "
            "cannot be written here. nbflow browses and loads from it, but records runs only "
            "in a writable datastore. Fix: set NBFLOW_DATASTORE to a writable folder (or "
            "NBFLOW_METADATA to a writable database)."
        )

    def full(self, error: sqlite3.Error) -> DatastoreError:
        return DatastoreError(
            f"cannot write to the metadata database {self.path}: {error} (the disk that "
            f"holds it, {self.path.parent}, has no space left). Nothing half-written was kept. "
            "Fix: free space there, or set NBFLOW_DATASTORE (or NBFLOW_METADATA) to a "
            "location on a larger disk; then run the step again."
        )

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def reserve_ids(self, table: str, key: str, count: int) -> list[int]:
        # AUTOINCREMENT hands out ids above sqlite_sequence's `seq`: moving it up reserves the
        # ids in between (contiguous: the write lock is held). The row appears with the table's
        # first insert, so before that the largest id there is (none: 0) is where to start.
        row = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))
        found = row.fetchone()
        if found is None:
            (last,) = self._conn.execute(f"SELECT coalesce(max({key}), 0) FROM {table}").fetchone()
            self._conn.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, last + count)
            )
        else:
            last = found[0]
            self._conn.execute(
                "UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (last + count, table)
            )
        return list(range(last + 1, last + count + 1))

    def close(self) -> None:
        self._conn.close()


def _is_full(error: sqlite3.Error) -> bool:
    # SQLITE_FULL, or an I/O error whose cause was ENOSPC (writing the WAL, say).
    code = getattr(error, "sqlite_errorcode", None)
    return (
        code == SQLITE_FULL
        or "disk is full" in str(error)
        or (os.strerror(errno.ENOSPC).lower() in str(error).lower())
    )


def _writable(path: Path) -> bool:
    # SQLite writes beside the file too (its -wal and -shm files): the folder must be writable.
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """`path` opened read-only, writing nothing: no -wal or -shm files are made.

    A WAL database whose -wal and -shm files are there (a writer has it open) is read through
    them. Without a -wal file every committed page is in the main file, which is then read as
    immutable (SQLite cannot make the -shm file in a folder it may not write).
    """
    try:
        return _opened(path, "ro")
    except sqlite3.OperationalError:
        if path.with_name(path.name + "-wal").exists():
            raise
        return _opened(path, "ro&immutable=1")


def _opened(path: Path, mode: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        f"{path.as_uri()}?mode={mode}", uri=True, isolation_level=None,
        check_same_thread=False, timeout=60.0,
    )  # fmt: skip
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # opening is lazy
    except sqlite3.Error:
        conn.close()
        raise
    return conn
