"""Content-addressed blob stores: a local folder (the default) and memory (for tests).

A blob is written once under its key and never changed. Writers race safely: each writes a
private temp file and links it in under the final name, which fails if another writer got
there first; a reader therefore never sees a half-written blob under a final name.
"""

from __future__ import annotations

import contextlib
import errno
import io
import mmap
import os
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from nbflow.core.faults import crash_point
from nbflow.exceptions import DatastoreError, IntegrityError
from nbflow.store.blobs import codec

# What `get` returns: a writable, contiguous buffer owned by the caller. A private anonymous
# mmap for large blobs (see _allocate), a bytearray otherwise; both take slicing, len(),
# bytes() and the buffer protocol.
Buffer = bytearray | mmap.mmap

Chunk = bytes | bytearray | memoryview

_KEY = re.compile(r"[0-9a-f]{8,128}")
_TEMP = re.compile(r"[0-9a-f]{2}/\.tmp-[0-9A-Za-z_-]+")
_FIX = "set NBFLOW_DATASTORE to a writable folder"

# Below this a bytearray costs nothing to allocate (see _allocate), nor is preallocating a
# file worth a system call (see _preallocate).
_MMAP_MIN = 1 << 20


_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
# What a folder that exists but cannot be written answers: no permission, a read-only mount.
_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)


class BlobStore(Protocol):
    """Where blob bytes live, addressed by key. Injected into ArtifactStore."""

    url: str

    def exists(self, key: str) -> bool: ...

    def touch(self, key: str) -> bool:
        """Mark an existing blob as just used (garbage collection spares young blobs); False
        when it is not there (a gc took it since it was looked up)."""
        ...

    def put(self, key: str, chunks: Iterable[Chunk]) -> bool:
        """Create-only: write and return True, or return False (writing nothing) if present.
        The bytes are stored compressed when that pays (see codec); `get` undoes it."""
        ...

    def get(self, key: str) -> Buffer:
        """The blob's plain bytes; DatastoreError naming the key when it is missing."""
        ...


@dataclass(frozen=True)
class BlobEntry:
    """One file of a blob store: a blob (`name` is its key) or a writer's temp file."""

    name: str
    size: int
    modified: float  # seconds since the epoch; gc spares files younger than its grace period


def check_key(key: str) -> str:
    # Keys become file names: refuse anything that could climb out of the store.
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise DatastoreError(f"invalid blob key {key!r}: expected a lowercase hex digest")
    return key


class LocalBlobStore:
    """Blobs as files under `root/blobs/<key[:2]>/<key[2:]>`.

    A datastore folder that exists but cannot be written (a colleague's, a mounted archive) is
    opened read-only: its blobs load, and a write is refused naming the folder and the fix.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().absolute()
        self._blobs = self.root / "blobs"
        self.url = self.root.as_uri()
        self.read_only = self._check_writable()

    def _check_writable(self) -> bool:
        """Whether the store is read-only. A store that can be neither written nor read fails
        here with the fix, not at the first artifact of the first step."""
        probe = self._blobs / f".probe-{os.getpid()}-{uuid.uuid4().hex}"
        try:
            self._blobs.mkdir(parents=True, exist_ok=True)
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            if exc.errno in _READ_ONLY and self.root.is_dir() and os.access(self.root, os.R_OK):
                return True
            raise DatastoreError(
                f"cannot use {self.root} as the datastore: {exc.strerror or exc}. Fix: {_FIX}."
            ) from exc
        return False

    def _refuse_write(self, key: str) -> None:
        if self.read_only:
            raise DatastoreError(
                f"cannot write blob {key}: the datastore {self.root} is read-only (its folder "
                f"cannot be written here). nbflow browses and loads from it, but records new "
                f"runs only in a writable one. Fix: {_FIX}."
            )

    def _path(self, key: str) -> Path:
        check_key(key)
        return self._blobs / key[:2] / key[2:]

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def touch(self, key: str) -> bool:
        if self.read_only:  # nothing is collected from a store nobody here can write
            return self.exists(key)
        try:
            os.utime(self._path(key))
        except FileNotFoundError:
            return False
        return True

    def modified(self, key: str) -> float | None:
        """The blob's time as gc sees it (written or last touched); None when it is gone."""
        try:
            return self._path(key).stat().st_mtime
        except FileNotFoundError:
            return None

    def put(self, key: str, chunks: Iterable[Chunk]) -> bool:
        final = self._path(key)
        if final.exists():
            return False
        self._refuse_write(key)
        # Unique per process and thread, so concurrent writers never share a temp file.
        tmp = final.parent / f".tmp-{os.getpid()}-{uuid.uuid4().hex}"
        try:
            final.parent.mkdir(exist_ok=True)
            # No fsync per blob: it would cost ~7x the write (ANCHORS: np.save 0.08 s vs 0.6 s
            # with fsync). A crashed or killed notebook kernel leaves its writes in the OS page
            # cache, so its blobs survive; power loss is out of scope for the embedded default.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0))
            try:
                pieces = codec.stored_form(chunks)
                if isinstance(pieces, list):  # raw: its size is known, reserve it
                    _preallocate(fd, sum(memoryview(c).nbytes for c in pieces))
                for piece in pieces:
                    _write_all(fd, piece)
                    crash_point("artifact_writing")  # test hook (nbflow.core.faults)
            finally:
                os.close(fd)
            return _publish(tmp, final)
        except OSError as exc:
            raise self._write_error(key, exc) from exc
        finally:
            # Gone after a successful link too: the blob lives on under its final name.
            # Never let a failed clean-up mask the write's own outcome.
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def _write_error(self, key: str, exc: OSError) -> DatastoreError:
        if exc.errno in _NO_SPACE:
            return DatastoreError(
                f"cannot write blob {key} to {self._blobs}: no space left on device "
                f"({exc.strerror}). Fix: free space there, or set NBFLOW_DATASTORE to a "
                "folder on a larger disk."
            )
        return DatastoreError(
            f"cannot write blob {key} to {self._blobs}: {exc.strerror or exc}. Fix: {_FIX}."
        )

    def get(self, key: str) -> Buffer:
        path = self._path(key)
        try:
            with open(path, "rb", buffering=0) as file:
                size = os.fstat(file.fileno()).st_size
                if hasattr(os, "posix_fadvise"):
                    # Larger read-ahead on a cold read; harmless when the file is cached.
                    os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
                buffer = _allocate(size)
                got = _read_into(file, buffer, size)
        except FileNotFoundError:
            raise DatastoreError(
                f"blob {key} is missing from {self.url} (expected at {path}). The datastore "
                "was moved or pruned, or NBFLOW_DATASTORE points at another folder than the "
                "one that wrote this run."
            ) from None
        except OSError as exc:
            raise DatastoreError(
                f"cannot read blob {key} at {path}: {exc.strerror or exc}"
            ) from exc
        if got != size:
            raise IntegrityError(f"blob {key} at {path} shrank while it was read: damaged store")
        return codec.plain(buffer, key, str(path))

    # -- checking, for `nbflow fsck` ---------------------------------------------------------------

    def where(self, key: str) -> str:
        """Where the blob lives, for messages that tell a user which file to remove."""
        return str(self._path(key))

    def digest(self, key: str) -> str | None:
        """The key the stored bytes hash to (None: no such blob), read in pieces, never decoded."""
        try:
            with open(self._path(key), "rb") as file:
                return codec.digest(file)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DatastoreError(f"cannot read blob {key}: {exc.strerror or exc}") from exc

    def plain_size(self, key: str) -> int | None:
        """The size of the blob's plain bytes (what its record says), read from its header."""
        try:
            with open(self._path(key), "rb") as file:
                return codec.plain_size(
                    file.read(codec.HEADER_SIZE), os.fstat(file.fileno()).st_size
                )
        except FileNotFoundError:
            return None

    # -- listing and deleting, for `nbflow gc` ----------------------------------------------------

    def keys(self) -> Iterator[str]:
        """Every key stored, in key order."""
        return (entry.name for entry in self.entries())

    def entries(self) -> Iterator[BlobEntry]:
        """Every blob with its size and modification time, in key order."""
        return self._files(temp=False)

    def temp_entries(self) -> Iterator[BlobEntry]:
        """Writers' temp files (`<xx>/.tmp-*`): in use while a write runs, left by a killed one."""
        return self._files(temp=True)

    def delete(self, key: str) -> bool:
        """Remove a blob; False if it was not there. Its folder stays: a writer may be in it."""
        return _unlink(self._path(key))

    def delete_temp(self, name: str) -> bool:
        """Remove a temp file, named as `temp_entries` names it; False if it was not there."""
        if not _TEMP.fullmatch(name):
            raise DatastoreError(f"invalid temp file name {name!r}: expected 'xx/.tmp-...'")
        return _unlink(self._blobs / name)

    def _files(self, *, temp: bool) -> Iterator[BlobEntry]:
        folders = (f for f in sorted(self._blobs.glob("[0-9a-f][0-9a-f]")) if f.is_dir())
        for folder in folders:
            for path in sorted(folder.iterdir()):
                name = f"{folder.name}/{path.name}"
                if temp and _TEMP.fullmatch(name):
                    entry = _entry(path, name)
                elif not temp and _KEY.fullmatch(folder.name + path.name):
                    entry = _entry(path, folder.name + path.name)
                else:
                    continue
                if entry is not None:
                    yield entry


def _entry(path: Path, name: str) -> BlobEntry | None:
    try:
        info = path.stat()
    except FileNotFoundError:  # removed while we listed
        return None
    return BlobEntry(name, info.st_size, info.st_mtime)


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _preallocate(fd: int, size: int) -> None:
    # Reserving the extents first makes a large write ~1.5x faster on ext4 (it is what
    # np.save does) and fails with ENOSPC before any byte is written. Best effort otherwise.
    if size < _MMAP_MIN or not hasattr(os, "posix_fallocate"):
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise


def _write_all(fd: int, chunk: Chunk) -> None:
    # os.write may write less than asked (Linux caps one call near 2 GiB): loop on a view.
    with memoryview(chunk) as whole, whole.cast("B") as view:
        done = 0
        while done < len(view):
            done += os.write(fd, view[done:])


def _publish(tmp: Path, final: Path) -> bool:
    try:
        os.link(tmp, final)  # atomic and create-only: never replaces an existing blob
        return True
    except FileExistsError:
        return False  # another writer won the race with the same bytes
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
    # The filesystem has no hard links (FAT, some network mounts). An atomic rename is still
    # never half-written; if it replaces a racing writer's file the bytes are identical.
    if final.exists():
        return False
    os.replace(tmp, final)
    return True


def _allocate(size: int) -> Buffer:
    # bytearray(n) zero-fills its memory, then the read writes it again: for 256 MiB that
    # is 0.1 s on 4 KiB pages, 4x np.load. A private anonymous mapping is zeroed lazily by
    # the kernel, and with a transparent-huge-page hint (what numpy does for large arrays)
    # faults 2 MiB at a time: the read then runs at np.load's speed.
    if size < _MMAP_MIN or not hasattr(mmap, "MAP_PRIVATE"):
        return bytearray(size)
    buffer = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        with contextlib.suppress(OSError):  # THP disabled: still correct, only slower
            buffer.madvise(mmap.MADV_HUGEPAGE)
    return buffer


def _read_into(file: io.FileIO, buffer: Buffer, size: int) -> int:
    got = 0
    with memoryview(buffer) as view:
        while got < size:
            n = file.readinto(view[got:])
            if not n:
                break
            got += n
    return got


class MemoryBlobStore:
    """Blobs in a dict: the BlobStore contract without a disk, for tests."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.url = f"memory://{id(self):x}"

    def exists(self, key: str) -> bool:
        return check_key(key) in self._blobs

    def touch(self, key: str) -> bool:
        """Nothing to refresh: in memory, every blob counts as old."""
        return check_key(key) in self._blobs

    def modified(self, key: str) -> float | None:
        return 0.0 if check_key(key) in self._blobs else None

    def put(self, key: str, chunks: Iterable[Chunk]) -> bool:
        check_key(key)
        if key in self._blobs:
            return False
        data = b"".join(codec.stored_form(chunks))
        with self._lock:
            if key in self._blobs:
                return False
            self._blobs[key] = data
            return True

    def get(self, key: str) -> Buffer:
        try:
            stored = bytearray(self._blobs[check_key(key)])
        except KeyError:
            raise DatastoreError(f"blob {key} is missing from {self.url}") from None
        return codec.plain(stored, key, self.url)

    def where(self, key: str) -> str:
        return f"{self.url}/{check_key(key)}"

    def digest(self, key: str) -> str | None:
        data = self._blobs.get(check_key(key))
        return None if data is None else codec.digest(io.BytesIO(data))

    def plain_size(self, key: str) -> int | None:
        data = self._blobs.get(check_key(key))
        return None if data is None else codec.plain_size(data[: codec.HEADER_SIZE], len(data))

    # -- listing and deleting, for `nbflow gc` ----------------------------------------------------

    def keys(self) -> Iterator[str]:
        return iter(sorted(self._blobs))

    def entries(self) -> Iterator[BlobEntry]:
        # No modification times are kept in memory: every blob counts as old.
        return (BlobEntry(key, len(self._blobs[key]), 0.0) for key in sorted(self._blobs))

    def temp_entries(self) -> Iterator[BlobEntry]:
        return iter(())

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._blobs.pop(check_key(key), None) is not None
