"""One datastore: the blob store for values plus the metadata database that indexes them."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbflow.config import Config
from nbflow.datastore import ArtifactStore, LocalBlobStore, Stored
from nbflow.metadata import MetadataStore


@dataclass
class Store:
    root: Path
    values: ArtifactStore
    meta: MetadataStore

    def save(self, value: Any) -> Stored:
        return self.values.save(value)

    def load(self, key: str) -> Any:
        return self.values.load(key, self.meta.inline(key))

    def load_bytes(self, key: str) -> bytes | bytearray:
        return self.values.load_bytes(key, self.meta.inline(key))


_open: dict[tuple[Path, Path], Store] = {}
_open_lock = threading.Lock()


def open_store(config: Config | None = None) -> Store:
    """The store for `config` (default: the environment), opened once per process."""
    config = config or Config.from_env()
    root, metadata = config.datastore_path, config.metadata_path
    with _open_lock:
        store = _open.get((root, metadata))
        if store is None:
            values = ArtifactStore(LocalBlobStore(root))  # checks that root is writable
            store = Store(root, values, MetadataStore(metadata))
            _open[(root, metadata)] = store
    return store
