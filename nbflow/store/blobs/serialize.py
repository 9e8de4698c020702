"""One blob format for every value: a cloudpickle stream plus raw out-of-band buffers.

Layout of a blob (all integers little-endian):

    b"NBF1"            magic; the digit is the format version
    u32  n             number of out-of-band buffers
    u64  stream_len    length of the pickle stream
    u64  × n           length of each buffer
    stream             pickle protocol 5, made by cloudpickle
    (pad, buffer) × n  each buffer starts at the next multiple of ALIGN from the blob's start;
                       padding bytes are zero

The key is the xxh3-128 of exactly these bytes in this order, so the pieces are hashed and
written one after another: a large array is never copied into a new bytes object.
"""

from __future__ import annotations

import io
import pickle
import struct
import sys
from collections import ChainMap
from dataclasses import dataclass
from typing import Any, ClassVar

import cloudpickle
import xxhash

from nbflow.exceptions import IntegrityError

MAGIC = b"NBF1"
_FIXED = struct.Struct("<4sIQ")  # magic, buffer count, stream length
_LENGTH = struct.Struct("<Q")

# Buffers start 64-byte aligned (a cache line; more than any numpy dtype needs), so an array
# decoded in place is aligned and numpy's fast paths stay on. Costs at most 63 bytes a buffer.
ALIGN = 64
_ZEROS = bytes(ALIGN)

# Smaller buffers go in-band: copying a few KiB is free, and it keeps small blobs (which are
# stored inline in the metadata database) free of per-buffer header entries and padding.
OUT_OF_BAND_MIN = 4096


class UnstorableValue(TypeError):
    """A value cannot be pickled (a lock, a generator, an open file, a socket, ...)."""

    def __init__(self, type_name: str, reason: str) -> None:
        super().__init__(f"cannot store a value of type {type_name}: {reason}")
        self.type_name = type_name
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-free rebuild, so executors can carry it across processes.
        return (type(self), (self.type_name, self.reason))


@dataclass(frozen=True)
class Encoded:
    """A value as blob pieces, to be hashed and written in order without joining them."""

    key: str
    chunks: tuple[bytes | memoryview, ...]
    size: int
    type_name: str


def type_name(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def _padding(offset: int) -> int:
    return -offset % ALIGN


def _refuse_open_file(obj: Any) -> Any:
    # cloudpickle would read a text file's whole contents into a StringIO: a file handle bound
    # in a step is a mistake to report, not data to copy. Standard streams keep its behaviour.
    if obj is sys.stdout or obj is sys.stderr:
        return getattr, (sys, "stdout" if obj is sys.stdout else "stderr")
    raise TypeError(
        f"cannot pickle '{type_name(obj)}' object (an open file; store its path or contents)"
    )


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]
    dispatch_table: ClassVar[ChainMap[type, Any]] = ChainMap(
        {io.TextIOWrapper: _refuse_open_file}, cloudpickle.Pickler.dispatch_table
    )


_PLAIN = frozenset({int, float, bool, str, bytes, type(None)})


def encode(value: Any) -> Encoded:
    """Pickle `value` with its large contiguous buffers out-of-band, zero copy."""
    buffers: list[memoryview] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        # Returning True keeps the buffer in-band (copied into the stream).
        try:
            raw = buffer.raw()
        except BufferError:
            return True  # not contiguous: cannot be written as one raw run of bytes
        if raw.nbytes < OUT_OF_BAND_MIN:
            return True
        buffers.append(raw)
        return False

    try:
        if type(value) in _PLAIN:
            # The commonest values of a foreach (its elements, indexes, scalar results): the
            # standard pickler writes the very bytes cloudpickle would, without building one.
            stream = pickle.dumps(value, protocol=5)
        else:
            with io.BytesIO() as file:
                _Pickler(file, protocol=5, buffer_callback=out_of_band).dump(value)
                stream = file.getvalue()
    except MemoryError:
        raise
    except Exception as exc:
        raise UnstorableValue(type_name(value), _reason(exc)) from exc

    header = bytearray(_FIXED.pack(MAGIC, len(buffers), len(stream)))
    for raw in buffers:
        header += _LENGTH.pack(raw.nbytes)

    chunks: list[bytes | memoryview] = [bytes(header), stream]
    offset = len(header) + len(stream)
    for raw in buffers:
        pad = _padding(offset)
        if pad:
            chunks.append(_ZEROS[:pad])
        chunks.append(raw)
        offset += pad + raw.nbytes

    digest = xxhash.xxh3_128()
    for chunk in chunks:
        digest.update(chunk)
    return Encoded(digest.hexdigest(), tuple(chunks), offset, type_name(value))


def _reason(exc: BaseException) -> str:
    # Pickle's own messages ("cannot pickle '_thread.lock' object") read well alone; anything
    # else raised from a __reduce__ needs its class to make sense.
    text = str(exc)
    if isinstance(exc, (TypeError, pickle.PicklingError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def decode(blob: bytes | bytearray | memoryview | Any) -> Any:
    """Unpickle a blob; out-of-band buffers are slices of `blob` itself (no copy).

    Arrays come back writable when `blob` is writable (a bytearray or a private mmap) and
    keep `blob` alive for as long as they exist. Callers verify the key first.
    """
    view = memoryview(blob).cast("B")
    size = view.nbytes
    if size < _FIXED.size:
        raise IntegrityError(f"not an nbflow blob: {size} bytes is shorter than the header")
    magic, count, stream_len = _FIXED.unpack_from(view)
    if magic != MAGIC:
        raise IntegrityError(f"not an nbflow blob: magic {bytes(magic)!r}, expected {MAGIC!r}")
    start = _FIXED.size + count * _LENGTH.size
    if start > size:
        raise IntegrityError(f"not an nbflow blob: header lists {count} buffers in {size} bytes")
    lengths = [_LENGTH.unpack_from(view, _FIXED.size + i * _LENGTH.size)[0] for i in range(count)]

    offset = start + stream_len
    slices = []
    for length in lengths:
        offset += _padding(offset)
        slices.append(view[offset : offset + length])
        offset += length
    if offset != size:
        raise IntegrityError(
            f"not an nbflow blob: header describes {offset} bytes, the blob has {size}"
        )
    return pickle.loads(view[start : start + stream_len], buffers=slices)


def raw(data: bytes, type_name: str) -> Encoded:
    """Bytes stored as they are (an executed notebook's JSON): read back with `decode_text`,
    never unpickled."""
    return Encoded(key_of(data), (data,), len(data), type_name)


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise IntegrityError(f"a stored text names {module}.{name}: it is not plain text")


def decode_text(blob: bytes | bytearray | memoryview | Any) -> str:
    """Text stored `raw`; or, as nbflow before schema 3 stored notebooks, a pickled plain
    string, unpickled without resolving any global: no code can run either way."""
    view = memoryview(blob).cast("B")
    if bytes(view[: len(MAGIC)]) != MAGIC:
        return bytes(view).decode("utf-8")
    _, count, stream_len = _FIXED.unpack_from(view)
    start = _FIXED.size + count * _LENGTH.size
    value = _NoGlobals(io.BytesIO(view[start : start + stream_len])).load()
    if not isinstance(value, str):
        raise IntegrityError(f"a stored text holds a {type(value).__name__}, not a str")
    return value


def key_of(blob: bytes | bytearray | memoryview | Any) -> str:
    """The content key of a blob's bytes."""
    return xxhash.xxh3_128(blob).hexdigest()
