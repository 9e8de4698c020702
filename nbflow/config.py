"""Where runs are stored and how they execute: environment variables, overridden per kernel."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path

from nbflow.exceptions import NbflowError

ENV_PREFIX = "NBFLOW_"
# Metadata given as one of these URLs is on a PostgreSQL server (nbflow.metadata.postgres).
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class Config:
    datastore: str = ""  # a folder; empty: `.nbflow/` in the working directory
    # a SQLite file, or a `postgresql://user:password@host:port/db` URL (also `postgres://`);
    # empty: `metadata.sqlite` inside the datastore
    metadata: str = ""
    executor: str = "kernel"
    workers: int = 0  # 0: the number of CPU cores
    cache: str = "on"  # "off": full runs never reuse earlier tasks

    @classmethod
    def from_env(cls) -> Config:
        values = {
            f.name: os.environ[ENV_PREFIX + f.name.upper()]
            for f in fields(cls)
            if ENV_PREFIX + f.name.upper() in os.environ
        }
        return cls().updated(**values)

    def updated(self, **values: str) -> Config:
        """A copy with `key=value` settings applied, as `%flow config` gives them."""
        known = {f.name for f in fields(self)}
        for key in values:
            if key not in known:
                raise NbflowError(
                    f"unknown setting '{key}'. Known settings: {', '.join(sorted(known))} "
                    "(for example `%flow config datastore=/data/nbflow`)."
                )
        parsed: dict[str, object] = dict(values)
        if "workers" in values:
            parsed["workers"] = _positive_int("workers", values["workers"])
        if "executor" in values:
            from nbflow.executors import check_executor

            parsed["executor"] = check_executor(values["executor"])
        if "cache" in values:
            parsed["cache"] = _choice("cache", values["cache"].lower(), ("on", "off"))
        return replace(self, **parsed)  # type: ignore[arg-type]

    @property
    def datastore_path(self) -> Path:
        root = self.datastore.removeprefix("file://") if self.datastore else ".nbflow"
        return Path(root).expanduser().resolve()

    @property
    def metadata_url(self) -> str | None:
        """The PostgreSQL server holding the metadata, when `metadata` names one."""
        return self.metadata if self.metadata.startswith(POSTGRES_SCHEMES) else None

    @property
    def metadata_path(self) -> Path:
        """The SQLite file holding the metadata (when `metadata_url` is None)."""
        if self.metadata_url:
            raise ValueError("the metadata is on a PostgreSQL server, not in a file")
        if self.metadata:
            return Path(self.metadata.removeprefix("sqlite:///")).expanduser().resolve()
        return self.datastore_path / "metadata.sqlite"

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


def _positive_int(key: str, text: str | int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise NbflowError(f"{key} must be a positive whole number, not {text!r}.")
    return value


def _choice(key: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise NbflowError(f"{key} must be one of {', '.join(choices)}, not {value!r}.")
    return value


@contextmanager
def temporary_environment(env: dict[str, str] | None) -> Iterator[None]:
    """Set `env` in os.environ for a while (a task, a headless kernel), then restore it."""
    if not env:
        yield
        return
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
