"""One datastore: the blob store for values plus the metadata database that indexes them."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbflow.config import Config
from nbflow.exceptions import DamagedArtifact, IntegrityError
from nbflow.store.blobs import ArtifactStore, Buffer, Encoded, Stored, decode, open_blob_store
from nbflow.store.metadata import MetadataStore
from nbflow.store.trust import warn_if_untrusted


@dataclass
class Store:
    root: str  # the datastore: a folder's absolute path or an object store's URL
    values: ArtifactStore
    meta: MetadataStore

    def save(self, value: Any, encoded: Encoded | None = None) -> Stored:
        return self.values.save(value, encoded)

    def load(self, key: str, artifact: str | None = None) -> Any:
        """The value under `key`, its bytes verified first. `artifact` (`'x' of flow/3/a/7`)
        names it when they do not match; otherwise every artifact row with that key does."""
        # Unpickling runs code: say so once when the store is another user's (nbflow.store.trust).
        warn_if_untrusted(self.root)
        return decode(self.load_bytes(key, artifact))

    def load_bytes(self, key: str, artifact: str | None = None) -> Buffer:
        try:
            return self.values.load_bytes(key, self.meta.inline(key))
        except IntegrityError as error:
            # Also every record that shares the bytes: the one that produced them names the
            # step to re-run.
            rows = [a.where for a in self.meta.artifacts_with_key(key)]
            named = list(dict.fromkeys([artifact, *rows] if artifact else rows))
            raise DamagedArtifact(key, named, str(error)) from error


_open: dict[tuple[str, Path | str], Store] = {}
_open_lock = threading.Lock()
# Stores a forked child inherited. Never used there (a connection must not be shared across
# processes) and never closed or collected either: closing would end the parent's connection.
_inherited: list[Store] = []


def _forget_inherited_stores() -> None:
    _inherited.extend(_open.values())
    _open.clear()


os.register_at_fork(after_in_child=_forget_inherited_stores)


def open_store(config: Config | None = None) -> Store:
    """The store for `config` (default: the environment), opened once per process."""
    config = config or Config.from_env()
    root = config.datastore_location
    metadata = config.metadata_url or config.metadata_path
    options = config.storage_options_dict
    if options:
        # Worker processes and headless kernels open the same store: they read it from here.
        os.environ["NBFLOW_STORAGE_OPTIONS"] = config.storage_options
    with _open_lock:
        store = _open.get((root, metadata))
        if store is None:
            # Checks that the folder is writable, or that the object store answers.
            values = ArtifactStore(open_blob_store(root, options or None))
            store = Store(root, values, MetadataStore(metadata))
            _open[(root, metadata)] = store
    return store
