"""Writes that wait for the next transaction: a finished task's commit rides with the next
task's start, one COMMIT where there were two (a COMMIT is most of what a task costs the
metadata: SQLite writes every page it changed).

`Deferring` wraps a `Database`. `later(work)` queues a function of statements; it runs first
in the next write transaction, or in a transaction of its own before the next statement run
outside one (so this process reads everything it queued), or at `flush()` or `close()`.
Another process sees queued writes only once they ran: whoever queues flushes before it
waits (the scheduler, before it blocks for a result). A write transaction inside another
joins it (`write()` nests), and what must happen once a write is durable (the fault
catalogue's crash points) is given to `on_commit`, which runs it after the outermost COMMIT.

If queued work fails (a full disk), the transaction that ran it fails with it, and the task
it would have committed stays `running` until its run is marked failed, as after a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from nbflow.exceptions import DatastoreError
from nbflow.store.metadata.sql import Database, Rows

Work = Callable[[], None]


class Deferring(Database):
    """A `Database` whose writes may wait for the next transaction (see the module)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.where, self.errors, self.read_only = db.where, db.errors, db.read_only
        self._queued: list[Work] = []
        self._committed: list[Work] = []  # to run once the transaction open now commits
        self._depth = 0

    # -- what this layer adds -----------------------------------------------------------------

    def later(self, work: Work) -> None:
        """Run `work` (statements) first in the next transaction, whichever comes."""
        if self.read_only:
            raise self.refused()
        self._queued.append(work)

    def on_commit(self, then: Work) -> None:
        """Run `then` once what was written so far is durable: now, outside a transaction."""
        if self._depth:
            self._committed.append(then)
        else:
            then()

    def flush(self) -> None:
        """Write what is queued now, unless a transaction is open (it is written there)."""
        if self._queued and not self._depth:
            with self.write():
                pass

    # -- the database, with queued work first ------------------------------------------------

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Rows:
        self.flush()
        return self._db.execute(sql, args)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.flush()
        self._db.executemany(sql, rows)

    @contextmanager
    def write(self) -> Iterator[None]:
        if self._depth:  # inside a transaction already: part of it
            yield
            return
        with self._transaction(self._db.write()):
            yield

    @contextmanager
    def exclusive(self, *, rollback: bool = False) -> Iterator[None]:
        self.flush()  # never inside a transaction that may be rolled back (a dry run)
        with self._transaction(self._db.exclusive(rollback=rollback)):
            yield

    @contextmanager
    def _transaction(self, transaction: Any) -> Iterator[None]:
        self._committed = []
        queued, self._queued = self._queued, []
        with transaction:
            self._depth = 1
            try:
                for work in queued:
                    work()
                try:
                    yield
                except BaseException:
                    # The caller's work failed and the transaction rolls back: what was queued
                    # is not lost with it, but waits for the next one.
                    self._queued[:0] = queued
                    raise
            finally:
                self._depth = 0
        committed, self._committed = self._committed, []
        for then in committed:
            then()

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def reserve_ids(self, table: str, key: str, count: int) -> list[int]:
        return self._db.reserve_ids(table, key, count)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._db.close()

    # -- as the database says ----------------------------------------------------------------

    def refused(self) -> DatastoreError:
        return self._db.refused()

    def unusable(self, error: Exception) -> DatastoreError:
        return self._db.unusable(error)

    def ddl(self, statement: str) -> str:
        return self._db.ddl(statement)
