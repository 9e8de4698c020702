"""Which database holds the metadata: a PostgreSQL URL opens PostgreSQL, anything else is the
path of a SQLite file. Above the seam (`sql.py`) and its two sides (`sqlite.py`, `postgres.py`),
which import the seam.
"""

from __future__ import annotations

from pathlib import Path

from nbflow.store.metadata.sql import Database, is_postgres_url


def open_database(location: Path | str) -> Database:
    """The metadata database at `location`: a PostgreSQL URL, or a SQLite file."""
    # lazy: a database's side (and its driver) loads when one opens; `nbflow --help` and
    # `import nbflow.query.client` open none. PostgreSQL's is optional: nbflow[postgres].
    if is_postgres_url(location):
        from nbflow.store.metadata.postgres import PostgresDatabase  # noqa: PLC0415

        return PostgresDatabase(str(location))
    from nbflow.store.metadata.sqlite import SQLiteDatabase  # noqa: PLC0415

    return SQLiteDatabase(Path(location))
