"""Where runs are stored and how they execute: environment variables, overridden per kernel."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from nbflow.exceptions import NbflowError

ENV_PREFIX = "NBFLOW_"
# Metadata given as one of these URLs is on a PostgreSQL server (nbflow.store.metadata.postgres).
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class Config:
    # a folder, or an fsspec URL (s3://bucket/prefix, gs://, az://, ...); empty: `.nbflow/` in
    # the working directory
    datastore: str = ""
    # a SQLite file, or a `postgresql://user:password@host:port/db` URL (also `postgres://`);
    # empty: `metadata.sqlite` inside the datastore
    metadata: str = ""
    executor: str = "kernel"
    workers: int = 0  # 0: the number of CPU cores
    cache: str = "on"  # "off": full runs never reuse earlier tasks
    storage_options: str = ""  # a JSON object for fsspec (endpoint_url, key, secret, ...)
    # An MLflow tracking URI (sqlite:///mlflow.db, http://host:5000, a folder): every run is
    # also logged there as an MLflow run (nbflow.integrations.mlflow_log); empty: not logged.
    mlflow: str = ""
    # The end artifact logged as an MLflow model with each finished run; empty: none.
    mlflow_log_model: str = ""

    @classmethod
    def from_env(cls) -> Config:
        values = {
            f.name: os.environ[env_name(f.name)]
            for f in fields(cls)
            if env_name(f.name) in os.environ
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
            parsed["executor"] = check_executor(values["executor"])
        if "cache" in values:
            parsed["cache"] = _choice("cache", values["cache"].lower(), ("on", "off"))
        if "storage_options" in values:
            _json_object("storage_options", values["storage_options"])
        if values.get("mlflow_log_model"):
            _identifier("mlflow_log_model", values["mlflow_log_model"])
        return replace(self, **parsed)  # type: ignore[arg-type]

    @property
    def remote(self) -> bool:
        """True when the datastore is an object store (any URL but file://)."""
        return "://" in self.datastore and not self.datastore.startswith("file://")

    @property
    def datastore_path(self) -> Path:
        if self.remote:
            raise ValueError(f"the datastore {self.datastore} is not a folder")
        if not self.datastore:
            return Path(".nbflow").resolve()
        if self.datastore.startswith("file://"):
            return _file_url_path(self.datastore)
        return Path(self.datastore).expanduser().resolve()

    @property
    def datastore_location(self) -> str:
        """The datastore as the blob store opens it: the URL, or the folder's absolute path."""
        return self.datastore if self.remote else str(self.datastore_path)

    @property
    def storage_options_dict(self) -> dict[str, Any]:
        return _json_object("storage_options", self.storage_options) if self.storage_options else {}

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
        if self.remote:
            raise NbflowError(
                f"the datastore {self.datastore} is an object store, which cannot hold the "
                "metadata database: set NBFLOW_METADATA (or %flow config metadata=...) to a "
                "postgresql://user:password@host/db URL shared by everyone using this datastore "
                "(or a local SQLite file, for one machine)."
            )
        return self.datastore_path / "metadata.sqlite"

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


# Where a setting's environment variable is not NBFLOW_ + its key in capitals: the name
# MLflow users know (MLFLOW_TRACKING_URI), prefixed.
_ENV_NAMES = {"mlflow": "NBFLOW_MLFLOW_TRACKING_URI"}


def env_name(key: str) -> str:
    """The environment variable of a setting: `datastore` is NBFLOW_DATASTORE."""
    return _ENV_NAMES.get(key, ENV_PREFIX + key.upper())


def absolute_tracking_uri(uri: str, base: Path) -> str:
    """An MLflow tracking URI another process (a headless kernel, in the notebook's folder)
    reads alike: a relative `sqlite:///file` or folder made absolute against `base`."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str((base / uri.removeprefix("sqlite:///")).resolve())
    if uri and "://" not in uri:  # a folder: MLflow's file store
        return str((base / uri).expanduser().resolve())
    return uri


def _identifier(key: str, text: str) -> str:
    if not text.isidentifier():
        raise NbflowError(
            f"{key} names an artifact of the run's last step, a Python name; {text!r} is not "
            "one (for example mlflow_log_model=best_model)."
        )
    return text


def _file_url_path(url: str) -> Path:
    """The folder a `file://` URL names, percent-decoded as URLs are (`data%20store` is
    `data store`)."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise NbflowError(
            f"the datastore {url} names host '{parts.netloc}': a file:// URL is a folder on "
            f"this machine. Write it as file:///path (three slashes) or as a plain path."
        )
    return Path(unquote(parts.path)).expanduser().resolve()


def _positive_int(key: str, text: str | int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise NbflowError(f"{key} must be a positive whole number, not {text!r}.")
    return value


def _json_object(key: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise NbflowError(f"{key} must be a JSON object, not {text!r} ({error}).") from None
    if not isinstance(value, dict):
        raise NbflowError(
            f'{key} must be a JSON object, for example {{"client_kwargs": {{"endpoint_url": '
            f'"http://127.0.0.1:9000"}}}}, not {text!r}.'
        )
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


EXECUTOR_FORMS = "kernel, processes, dask or dask://HOST:PORT"


def check_executor(name: str) -> str:
    """`name` if it names an executor (argparse's `type=` and `%flow config` use this)."""
    if name in ("kernel", "processes", "dask") or name.startswith(("dask://", "tcp://", "tls://")):
        return name
    raise NbflowError(f"unknown executor {name!r}: use {EXECUTOR_FORMS}.")
