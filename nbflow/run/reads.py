"""The files a task reads: found while its code runs, recorded with it, checked before reuse.

Python raises an audit event for every file it opens (`open()`, `io.open`, `os.open`, and the
libraries built on them: pandas, numpy, csv, json). One process-wide audit hook (installed on
first use; audit hooks cannot be removed) notes the paths opened for reading while a task's
code runs, in that task's context only, so another thread's files and nbflow's own loading of
inputs (`paused`) are not counted. What a task read is recorded as (path, size, hash); a
cached result is reused only while every file it read still has the same content.

Not seen: files read by code that bypasses Python's file objects (a C library opening a path
itself, e.g. pyarrow's parquet reader), and threads the task starts.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import xxhash

_opened: ContextVar[list[str] | None] = ContextVar("nbflow_opened", default=None)
_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_CHUNK = 1 << 20
# (path, size, mtime_ns) -> content hash: a file is hashed once while it is unchanged.
_digests: dict[tuple[str, int, int], str] = {}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "open":
        return
    opened = _opened.get()
    if opened is None:
        return
    path, mode, flags = args
    if isinstance(path, int) or path is None:
        return  # an open file descriptor: its path was seen when it was opened
    writing = any(c in mode for c in "wax+") if isinstance(mode, str) else flags & _WRITING
    if not writing:
        opened.append(os.fsdecode(path))


@functools.cache
def _install_hook() -> None:
    sys.addaudithook(_hook)  # once per process: an audit hook stays until the process ends


@contextmanager
def recording() -> Iterator[list[str]]:
    """Collect the paths the code in this context opens for reading (raw: see `describe`)."""
    _install_hook()
    opened: list[str] = []
    token = _opened.set(opened)
    try:
        yield opened
    finally:
        _opened.reset(token)


@contextmanager
def paused() -> Iterator[None]:
    """nbflow's own reads inside a task (its inputs, loaded lazily) are not the task's."""
    token = _opened.set(None)
    try:
        yield
    finally:
        _opened.reset(token)


def describe(paths: Iterable[str]) -> list[dict[str, Any]]:
    """The data files among `paths`, each once: path (absolute), size and content hash.
    Python's own files (the interpreter, installed packages, bytecode caches) are left out
    (the environment is part of the cache key already), and so are the system's and the
    user's configuration and caches (/etc, ~/.cache, ~/.config)."""
    found: dict[str, dict[str, Any]] = {}
    for raw in paths:
        path = os.path.realpath(raw)
        if path in found or is_installed(path):
            continue
        entry = file_entry(path)
        if entry is not None:
            found[path] = entry
    return list(found.values())


def file_entry(path: str) -> dict[str, Any] | None:
    """{path, size, hash} of a regular file; None if it is gone or not a plain file."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    marker = (path, stat.st_size, stat.st_mtime_ns)
    digest = _digests.get(marker)
    if digest is None:
        try:
            digest = _hash_file(path)
        except OSError:
            return None
        _digests[marker] = digest
    return {"path": path, "size": stat.st_size, "hash": digest}


def changed_file(reads: Iterable[dict[str, Any]]) -> str | None:
    """The first file of `reads` whose content is not what it was then (gone, or other bytes);
    None when every one is unchanged."""
    for read in reads:
        entry = file_entry(read["path"])
        if entry is None or entry["hash"] != read["hash"]:
            return str(read["path"])
    return None


def _hash_file(path: str) -> str:
    digest = xxhash.xxh3_128()
    with paused(), open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@functools.cache
def _install_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots |= {p for p in sysconfig.get_paths().values() if p}
    roots |= {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}  # nbflow/
    # The system's and the user's configuration and caches (time zones, fonts matplotlib
    # lists, certificates): read by libraries, not data a step means to depend on.
    home = os.path.expanduser("~")
    roots |= {"/etc", os.path.join(home, ".cache"), os.path.join(home, ".config")}
    roots |= {os.environ[v] for v in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME") if os.environ.get(v)}
    return tuple(sorted(os.path.realpath(r) + os.sep for r in roots))


def is_installed(path: str) -> bool:
    """Whether `path` belongs to Python or an installed package (or is no data file)."""
    if path.endswith((".pyc", ".pyo", ".so")) or f"{os.sep}__pycache__{os.sep}" in path:
        return True
    return path.startswith((*_install_roots(), "/proc/", "/sys/", "/dev/"))
