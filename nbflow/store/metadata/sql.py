"""One SQL for the metadata, whichever database holds it: the connection seam.

The store writes its statements once, in the SQL that SQLite (3.35+) and PostgreSQL both speak:
`?` placeholders, `INSERT ... ON CONFLICT`, `RETURNING`. A `Database` is one connection that
runs them; it owns what genuinely differs between the two: opening, the placeholder style,
how a write transaction excludes other writers, and the column types of the DDL.

Which database: a `postgresql://` (or `postgres://`) URL opens PostgreSQL (psycopg is imported
only then), anything else is the path of a SQLite file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from nbflow.config import POSTGRES_SCHEMES
from nbflow.exceptions import DatastoreError


def is_postgres_url(location: object) -> bool:
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


class Rows(Protocol):
    """What a statement returns: a DB-API cursor of either driver."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Database(ABC):
    """One connection to the metadata database."""

    #: Where the database is, for messages (never with a password).
    where: str
    #: The driver's errors: while opening, one of them means the database cannot be used.
    errors: tuple[type[Exception], ...]
    #: Opened for reading only (a datastore that cannot be written here): every write refused.
    read_only: bool = False

    def refused(self) -> DatastoreError:
        """The error a write to a read-only database raises."""
        return DatastoreError(f"the metadata database {self.where} is read-only")

    @abstractmethod
    def unusable(self, error: Exception) -> DatastoreError:
        """The error to raise when `error` stops the database from being opened."""

    @abstractmethod
    def execute(self, sql: str, args: Sequence[Any] = ()) -> Rows: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abstractmethod
    def write(self) -> AbstractContextManager[None]:
        """A short write transaction. Writers queue behind each other rather than fail, and
        every write waits while an `exclusive()` transaction holds the database."""

    @abstractmethod
    def exclusive(self, *, rollback: bool = False) -> AbstractContextManager[None]:
        """A write transaction no other writer runs beside (garbage collection, migrations).
        Readers go on. With `rollback`, nothing it did is kept (a dry run)."""

    @property
    @abstractmethod
    def in_transaction(self) -> bool: ...

    def ddl(self, statement: str) -> str:
        """`statement`, written with SQLite's column types, in this database's types."""
        return statement

    @abstractmethod
    def reserve_ids(self, table: str, key: str, count: int) -> list[int]:
        """`count` ids of `table`'s autoincrement `key`, increasing, that no other insert will
        take; inside a `write()` transaction. Rows then inserted with them keep that order
        whatever order they are inserted in."""

    @abstractmethod
    def close(self) -> None: ...
