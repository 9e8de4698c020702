"""Where artifact bytes live: one blob format, a content-addressed store, previews.

    ArtifactStore(blobs)   save(value) -> Stored, load(key, inline) -> value (verified)
    BlobStore              the injected interface: LocalBlobStore(root), MemoryBlobStore(),
                           FsspecBlobStore(url) (S3, GCS, Azure, ... through fsspec)
    open_blob_store(url)   the blob store a datastore URL or folder names
    encode / decode        value <-> blob (cloudpickle, protocol 5, raw out-of-band buffers)
    preview(value)         the JSON-able summary stored beside each artifact

Importing this package does not import numpy or pandas.
"""

from nbflow.store.blobs.artifacts import ArtifactStore, Stored
from nbflow.store.blobs.backends import BlobStore, Buffer, LocalBlobStore, MemoryBlobStore
from nbflow.store.blobs.preview import preview
from nbflow.store.blobs.remote import FsspecBlobStore, open_blob_store
from nbflow.store.blobs.retry import RetryPolicy
from nbflow.store.blobs.serialize import (
    Encoded,
    UnstorableValue,
    decode,
    decode_text,
    encode,
    key_of,
    raw,
)

__all__ = [
    "ArtifactStore",
    "BlobStore",
    "Buffer",
    "Encoded",
    "FsspecBlobStore",
    "LocalBlobStore",
    "MemoryBlobStore",
    "RetryPolicy",
    "Stored",
    "UnstorableValue",
    "decode",
    "decode_text",
    "encode",
    "key_of",
    "open_blob_store",
    "preview",
    "raw",
]
