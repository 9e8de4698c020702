"""The metadata in a SQLite file: the embedded default.

WAL mode with a busy timeout, so readers never wait and concurrent kernels queue for the write
lock (`BEGIN IMMEDIATE`) instead of failing with "database is locked".

Test hook: NBFLOW_TEST_HOOK_WEAKEN_WRITES=1 makes `write()` open no transaction at all (each
statement commits alone), the regression tests/faults/test_concurrent_writers.py must catch.
Never set it for real use: a reader could then see half a task.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nbflow.exceptions import DatastoreError
from nbflow.metadata.sql import Database, Rows


class SQLiteDatabase(Database):
    errors = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path.parent)  # the datastore folder, as messages always named it
        self._weak_writes = os.environ.get("NBFLOW_TEST_HOOK_WEAKEN_WRITES") == "1"
        try:
            self._conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=60.0
            )
            self._conn.execute("PRAGMA busy_timeout = 60000")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._set_wal()
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
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("ROLLBACK" if rollback else "COMMIT")

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def close(self) -> None:
        self._conn.close()
