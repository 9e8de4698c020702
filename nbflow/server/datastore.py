"""The one datastore this server shows, and reading it off the event loop.

Which datastore: `c.NbflowServer.datastore` (and `.metadata`) in the Jupyter config, else
`$NBFLOW_DATASTORE` (and `$NBFLOW_METADATA`), else `.nbflow` in the server's root directory.
The kernels this server starts are told the same place through the environment, so a notebook
in any subfolder writes where the sidebar reads.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from traitlets import Unicode
from traitlets.config import Configurable

from nbflow.config import ENV_PREFIX, Config
from nbflow.store.stores import Store, open_store

DATASTORE_ENV, METADATA_ENV = ENV_PREFIX + "DATASTORE", ENV_PREFIX + "METADATA"

T = TypeVar("T")


class NbflowServer(Configurable):
    """nbflow's settings in Jupyter's config, e.g. in jupyter_server_config.py:
    `c.NbflowServer.datastore = "/data/nbflow"`, or `--NbflowServer.datastore=/data/nbflow`."""

    datastore = Unicode(
        "",
        help="The datastore folder the sidebar shows and the kernels write to. Default: "
        "$NBFLOW_DATASTORE, else .nbflow in the server's root directory.",
    ).tag(config=True)
    metadata = Unicode(
        "",
        help="The metadata SQLite file. Default: $NBFLOW_METADATA, else metadata.sqlite "
        "inside the datastore.",
    ).tag(config=True)


def served_config(serverapp: Any) -> Config:
    """The datastore to serve, as an absolute path (a relative one is taken from the root)."""
    settings = NbflowServer(parent=serverapp)
    root = str(serverapp.root_dir)
    datastore = settings.datastore or os.environ.get(DATASTORE_ENV) or ".nbflow"
    metadata = settings.metadata or os.environ.get(METADATA_ENV) or ""
    return Config(
        datastore=_absolute(datastore.removeprefix("file://"), root),
        metadata=_absolute(metadata.removeprefix("sqlite:///"), root) if metadata else "",
    )


def export_to_kernels(config: Config) -> list[str]:
    """Point kernels started from now on at `config`'s datastore, where the environment does
    not already name it as an absolute path. Returns the variables set."""
    wanted = {DATASTORE_ENV: config.datastore, METADATA_ENV: config.metadata}
    changed = []
    for name, value in wanted.items():
        current = os.environ.get(name, "")
        if value and (not current or not os.path.isabs(os.path.expanduser(current))):
            os.environ[name] = value
            changed.append(name)
    return changed


def kernels_elsewhere(config: Config) -> str | None:
    """The datastore kernels were told to use, when it is not the one served."""
    told = os.environ.get(DATASTORE_ENV, "")
    absolute = os.path.abspath(os.path.expanduser(told.removeprefix("file://")))
    return absolute if told and absolute != config.datastore else None


def _absolute(path: str, root: str) -> str:
    """A folder or file relative to the server's root made absolute; a URL (postgresql://,
    s3://) as it is."""
    if "://" in path:
        return path
    return os.path.abspath(os.path.join(root, os.path.expanduser(path)))


# One metadata connection per process is shared by every request: reads take turns.
_reading = threading.Lock()


class ServedStore:
    """The configured datastore, opened on first use. Until its folder exists (nothing has
    run yet) readers get None and answer with empty lists."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @property
    def path(self) -> str:
        return self.config.datastore_location

    async def read(self, reader: Callable[[Store | None], T]) -> T:
        """`reader(store)` in a worker thread: SQLite reads never block the event loop."""
        return await asyncio.to_thread(self._read, reader)

    def _read(self, reader: Callable[[Store | None], T]) -> T:
        with _reading:
            exists = self.config.remote or self.config.datastore_path.is_dir()
            store = open_store(self.config) if exists else None
            return reader(store)
