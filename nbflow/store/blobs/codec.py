"""How a blob's bytes lie on disk: compressed where it pays, raw where it does not.

A blob's key is always the hash of its plain bytes (the NBF1 blob of serialize.py, or raw text),
so deduplication, `get`'s integrity check and `fsck` mean what they meant before compression.
A stored file is one of:

    plain bytes             anything not starting with FRAME (every blob before compression)
    b"NBZ1"                 FRAME magic
    u64  plain_size         little-endian
    zstd frame              the plain bytes, compressed

Whether to compress is decided per blob from a few samples spread over it, compressed at the
fast level: random floats and already-compressed data (images, parquet) stay raw and are
written at disk speed; pickles, repetitive arrays and frames shrink 5-1000x.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterable, Iterator
from typing import IO

import xxhash
import zstandard

from nbflow.exceptions import IntegrityError

FRAME = b"NBZ1"
_HEADER = struct.Struct("<4sQ")
HEADER_SIZE = _HEADER.size

# zstd levels chosen by measurement (bench/kernel/nb_bytes.py's forests, 56 MB of pickled
# random forests, on this machine class): level 3 keeps 0.076 of their size at ~450 MB/s,
# level 1 0.084 at ~500 MB/s, level 5 0.071 at ~140 MB/s, gzip-3 (Metaflow's codec) 0.096 at
# ~145 MB/s; on one 14 MB forest, level 6 writes 11% fewer bytes than level 3 at a quarter of
# its speed. Every step that binds a value pays the compression, so the time is spent where it
# is small: values up to SMALL get level 6 (at most ~0.3 s, about what gzip-3 costs), larger
# ones (arrays of hundreds of MiB, where seconds would show in every re-run) level 3.
LEVEL = 3
SMALL_LEVEL = 6
SMALL = 32 << 20

# Compress only when the samples shrink below this: random float64 compresses to ~0.94 (the
# exponent bits), which saves too little to be worth the time.
WORTH = 0.9

_SAMPLE = 64 << 10  # bytes per sample
_SAMPLES = 4  # spread evenly over the blob: a pickle stream at its head, buffers after it
_PIECE = 8 << 20  # decompression and hashing work in pieces of this size: memory stays flat
_MMAP_MIN = 1 << 20

Chunk = bytes | bytearray | memoryview


def _views(chunks: Iterable[Chunk]) -> list[memoryview]:
    return [memoryview(c).cast("B") for c in chunks]


def _samples(views: list[memoryview], size: int) -> Iterator[memoryview]:
    """Up to _SAMPLES windows of _SAMPLE bytes at even offsets over the joined views."""
    if size <= _SAMPLE * _SAMPLES:
        yield from views
        return
    step = size // _SAMPLES
    starts = [i * step for i in range(_SAMPLES)]
    base = 0
    for view in views:
        for start in starts:
            if base <= start < base + len(view):
                yield view[start - base : start - base + _SAMPLE]
        base += len(view)


def worth_compressing(chunks: Iterable[Chunk]) -> bool:
    """Whether the blob made of `chunks` shrinks enough to be stored compressed."""
    views = _views(chunks)
    if views and bytes(views[0][: len(FRAME)]) == FRAME:
        return False  # already a stored frame (a read cache keeps what the store holds)
    size = sum(len(v) for v in views)
    compressor = zstandard.ZstdCompressor(level=LEVEL)
    sampled = packed = 0
    for sample in _samples(views, size):
        sampled += len(sample)
        packed += len(compressor.compress(sample))
    return sampled > 0 and packed < WORTH * sampled


def compressed(chunks: Iterable[Chunk]) -> Iterator[bytes]:
    """The stored form of the blob made of `chunks`: the header, then the zstd frame in pieces
    as they come, so a large blob is never held compressed and plain at once."""
    views = _views(chunks)
    size = sum(len(v) for v in views)
    yield _HEADER.pack(FRAME, size)
    # Two threads when the blob is large enough for zstd to split (a few MiB): the kernel runs
    # one task at a time, so both cores serve it.
    level = SMALL_LEVEL if size <= SMALL else LEVEL
    compressor = zstandard.ZstdCompressor(level=level, threads=2).compressobj()
    for view in views:
        for start in range(0, len(view), _PIECE):
            if out := compressor.compress(view[start : start + _PIECE]):
                yield out
    yield compressor.flush()


def stored_form(chunks: Iterable[Chunk]) -> Iterable[Chunk]:
    """What to write for a blob: compressed when the samples say it pays, else as it is."""
    pieces = list(chunks)
    return compressed(pieces) if worth_compressing(pieces) else pieces


def plain_size(head: bytes, stored_size: int) -> int:
    """The blob's plain size from its stored file's first HEADER_SIZE bytes."""
    if head[: len(FRAME)] == FRAME and len(head) >= HEADER_SIZE:
        return int(_HEADER.unpack_from(head)[1])
    return stored_size


def _allocate(size: int) -> bytearray | mmap.mmap:
    # As backends._allocate: a lazily zeroed private mapping for large blobs.
    if size < _MMAP_MIN or not hasattr(mmap, "MAP_PRIVATE"):
        return bytearray(size)
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def plain(stored: bytearray | mmap.mmap, key: str, where: str) -> bytearray | mmap.mmap:
    """A stored blob's plain bytes (the buffer itself when it was stored raw)."""
    if len(stored) < HEADER_SIZE or stored[: len(FRAME)] != FRAME:
        return stored
    size = int(_HEADER.unpack_from(stored)[1])
    out = _allocate(size)
    reader = zstandard.ZstdDecompressor().stream_reader(memoryview(stored)[HEADER_SIZE:])
    try:
        with memoryview(out) as view:
            got = _fill(reader, view, size)
        whole = got == size and not reader.read(1)
        reason = f"its frame holds {got} bytes, its header says {size}"
    except zstandard.ZstdError as exc:
        whole, reason = False, f"its frame does not decompress ({exc})"
    if not whole:
        raise IntegrityError(
            f"blob {key} in {where} is damaged: {reason}. It was altered after it was written; "
            "delete that blob and re-run the step that produced it."
        )
    return out


def _fill(reader: zstandard.ZstdDecompressionReader, view: memoryview, size: int) -> int:
    got = 0
    while got < size:
        n = reader.readinto(view[got : got + _PIECE])
        if not n:
            break
        got += n
    return got


def digest(stored: IO[bytes]) -> str:
    """The key of a stored file's plain bytes, read from `stored` in pieces (memory stays flat:
    `nbflow fsck` hashes stores far larger than memory)."""
    hasher = xxhash.xxh3_128()
    head = stored.read(HEADER_SIZE)
    if head[: len(FRAME)] != FRAME or len(head) < HEADER_SIZE:
        hasher.update(head)
        while piece := stored.read(_PIECE):
            hasher.update(piece)
        return hasher.hexdigest()
    size, got = int(_HEADER.unpack_from(head)[1]), 0
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(stored)
        while piece := reader.read(_PIECE):
            hasher.update(piece)
            got += len(piece)
    except zstandard.ZstdError:
        return "a compressed frame that does not decompress"
    # What `plain` refuses, this refuses too: a frame shorter or longer than its header says.
    return hasher.hexdigest() if got == size else f"{got} bytes, where its header says {size}"
