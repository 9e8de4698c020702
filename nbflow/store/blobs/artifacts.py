"""Artifacts: values saved once under the hash of their bytes, verified before every load."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nbflow.exceptions import IntegrityError
from nbflow.store.blobs.backends import BlobStore, Buffer
from nbflow.store.blobs.preview import preview
from nbflow.store.blobs.serialize import Encoded, decode, encode, key_of


@dataclass(frozen=True)
class Stored:
    """What the metadata database records for one artifact."""

    key: str
    size: int
    type_name: str
    inline: bytes | None  # the whole blob when small; the caller keeps it with the record
    preview: dict[str, Any]
    # The blob was there already (an equal value stored before) and this save only refreshed
    # its time: a gc running meanwhile may still take it, so the commit checks it is there.
    refreshed: bool = field(default=False, compare=False)


class ArtifactStore:
    """Saves values as content-addressed blobs and loads them back, verified."""

    def __init__(self, blobs: BlobStore, inline_limit: int = 4096) -> None:
        self.blobs = blobs
        self.inline_limit = inline_limit

    def save(self, value: Any, encoded: Encoded | None = None) -> Stored:
        """Store `value`; raises UnstorableValue when it cannot be pickled.

        `encoded`: `encode(value)`, when the caller made it first. A step's results are all
        encoded before any is written, so that one unstorable value leaves no blob behind.
        """
        encoded = encoded if encoded is not None else encode(value)
        inline: bytes | None = None
        refreshed = False
        if encoded.size <= self.inline_limit:
            # A row in the metadata database is cheaper than a file for a small value.
            inline = b"".join(encoded.chunks)
        elif not self.blobs.put(encoded.key, encoded.chunks):
            # Same bytes, same key: an identical value is never written twice. Its time is
            # refreshed, so `nbflow gc` (which spares young blobs) leaves it to the run that is
            # about to reference it; if a gc took it between the two calls, it is written again.
            refreshed = self.blobs.touch(encoded.key)
            if not refreshed:
                self.blobs.put(encoded.key, encoded.chunks)
        return Stored(
            encoded.key, encoded.size, encoded.type_name, inline, preview(value), refreshed
        )

    def load_bytes(self, key: str, inline: bytes | None = None) -> Buffer:
        """The blob's bytes, checked against `key` (IntegrityError when they differ)."""
        # A copy of inline bytes is writable, so small arrays load writable like big ones.
        data: Buffer = bytearray(inline) if inline is not None else self.blobs.get(key)
        actual = key_of(data)
        if actual != key:
            where = "the inline bytes given" if inline is not None else self.blobs.url
            raise IntegrityError(
                f"blob {key} in {where} is damaged: its bytes hash to {actual}. It was altered "
                "after it was written; delete that blob and re-run the step that produced it."
            )
        return data

    def load(self, key: str, inline: bytes | None = None) -> Any:
        """The value saved under `key`. Bytes are verified before anything is unpickled."""
        return decode(self.load_bytes(key, inline))
