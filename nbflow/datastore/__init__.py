"""Where artifact bytes live: one blob format, a content-addressed store, previews.

    ArtifactStore(blobs)   save(value) -> Stored, load(key, inline) -> value (verified)
    BlobStore              the injected interface: LocalBlobStore(root), MemoryBlobStore()
    encode / decode        value <-> blob (cloudpickle, protocol 5, raw out-of-band buffers)
    preview(value)         the JSON-able summary stored beside each artifact

Importing this package does not import numpy or pandas.
"""

from nbflow.datastore.blobs import BlobStore, Buffer, LocalBlobStore, MemoryBlobStore
from nbflow.datastore.preview import preview
from nbflow.datastore.serialize import Encoded, UnstorableValue, decode, encode, key_of
from nbflow.datastore.store import ArtifactStore, Stored

__all__ = [
    "ArtifactStore",
    "BlobStore",
    "Buffer",
    "Encoded",
    "LocalBlobStore",
    "MemoryBlobStore",
    "Stored",
    "UnstorableValue",
    "decode",
    "encode",
    "key_of",
    "preview",
]
