"""Cache keys: a task is reused when its code, inputs, parameters and elements are the same.

A key covers the step's code and options (its environment among them), the blob key of every
value the task loads, every parameter it is given by value, its foreach elements at every
level, and a fingerprint of the code it calls: notebook functions and classes, and the source
of the user's own modules (any module outside the interpreter's install and its packages, by
`import m; m.f()` as by `from m import f`), so that editing a helper in a plain cell or in a
`.py` file beside the notebook invalidates the tasks that use it. The files a task reads are
not known before it runs: they are recorded with it and checked before reuse (`nbflow.run.reads`).
"""

from __future__ import annotations

import functools
import marshal
import os
import sys
import types
from typing import Any

import xxhash

from nbflow.core.graph import StepSpec
from nbflow.run import reads
from nbflow.run.task import TaskPayload
from nbflow.store.blobs import UnstorableValue, encode

CODE_TYPES = (
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    functools.partial,
    type,
)


def is_code(value: Any) -> bool:
    """Code travels with the task and is never recorded as data: modules, functions, classes."""
    return isinstance(value, CODE_TYPES)


def cache_key(payload: TaskPayload, spec: StepSpec) -> str | None:
    """The task's cache key, or None when one of its values cannot be fingerprinted."""
    digest = xxhash.xxh3_128()
    digest.update(payload.code.encode())
    # Where a task runs does not change what it computes.
    options = {k: v for k, v in spec.as_dict().items() if k != "in_kernel"}
    digest.update(repr(sorted(options.items())).encode())
    for name, key in sorted(payload.loads.items()):
        digest.update(f"load {name}={key};".encode())
    # The foreach elements at every level, not only those the code reads: two tasks that
    # read the same things under different outer elements are different tasks (a random draw
    # per element must not be shared between siblings).
    for frame in payload.foreach:
        digest.update(f"element {frame['step']}[{frame['index']}]={frame['key']};".encode())
    for name, value in sorted(payload.values.items()):
        if name in payload.new:
            continue  # the element and its index: in its frame above
        part = fingerprint(value)
        if part is None:
            return None
        digest.update(f"value {name}={part};".encode())
    for given in payload.join_inputs or ():
        digest.update(f"input {given.step} {sorted(given.artifacts.items())};".encode())
    if payload.join_inputs is not None:  # what merge compares with; all an empty join sees
        digest.update(f"before {sorted(payload.join_before.artifacts.items())};".encode())
    return digest.hexdigest()


def fingerprint(value: Any, depth: int = 0) -> str | None:  # noqa: PLR0911 (one per kind)
    """What a value is, as far as a cache is concerned."""
    if isinstance(value, types.ModuleType):
        source = user_source(value)
        if source is not None:
            return f"module {value.__name__} {source}"
        return f"module {value.__name__} {getattr(value, '__version__', '')}"
    if isinstance(value, types.FunctionType):
        return _function(value, depth)
    if isinstance(value, type):
        return _class(value, depth)
    if isinstance(value, (types.BuiltinFunctionType, types.MethodType, functools.partial)):
        owner = getattr(value, "__self__", None) if isinstance(value, types.MethodType) else None
        code = fingerprint(getattr(value, "__func__", None), depth + 1) if owner else ""
        return f"callable {getattr(value, '__qualname__', type(value).__qualname__)} {code}"
    try:
        return encode(value).key
    except UnstorableValue:
        return None


def user_source(module: types.ModuleType) -> str | None:
    """A digest of the source of a user's module and of the user's modules it reaches (the
    modules, functions and classes among its globals, and a package's loaded submodules);
    None for a module of Python or of an installed package."""
    if _user_file(module) is None:
        return None
    known = _sources.get(module.__name__)
    if known is not None and all(_stamp(path) == stamp for path, stamp in known[0]):
        return known[1]  # no file of the walk changed since: no walk (one per task otherwise)
    digest, todo = xxhash.xxh3_128(), [module]
    seen: set[str] = set()
    stamps: list[tuple[str, tuple[int, int] | None]] = []
    while todo:
        current = todo.pop()
        path = _user_file(current)
        if path is None or current.__name__ in seen or len(seen) >= _MAX_MODULES:
            continue
        seen.add(current.__name__)
        entry = reads.file_entry(path)
        digest.update(f"{current.__name__}={entry['hash'] if entry else 'gone'};".encode())
        stamps.append((path, _stamp(path)))
        todo.extend(_reached(current))
    _sources[module.__name__] = (stamps, digest.hexdigest())
    return digest.hexdigest()


_MAX_MODULES = 200  # a bound on the walk: a huge source tree of one's own is hashed in part
# module name -> ((path, stamp) of every file its walk hashed, the digest)
_sources: dict[str, tuple[list[tuple[str, tuple[int, int] | None]], str]] = {}


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _user_file(module: types.ModuleType) -> str | None:
    path: str | None = getattr(module, "__file__", None)
    if not path or not path.endswith(".py") or reads.is_installed(os.path.realpath(path)):
        return None
    return os.path.realpath(path)


def _reached(module: types.ModuleType) -> list[types.ModuleType]:
    found = []
    for value in list(vars(module).values()):
        if isinstance(value, types.ModuleType):
            found.append(value)
        elif isinstance(value, (types.FunctionType, type)):
            owner = sys.modules.get(getattr(value, "__module__", "") or "")
            if owner is not None:
                found.append(owner)
    prefix = module.__name__ + "."
    found += [m for name, m in list(sys.modules.items()) if name.startswith(prefix) and m]
    return found


def _function(function: types.FunctionType, depth: int) -> str | None:
    # The code (marshal covers nested functions and constants) and, a few levels deep, the
    # notebook globals it uses: a helper that calls a changed helper changes too. A function
    # of a user's module also carries that module's source.
    parts = [xxhash.xxh3_128_hexdigest(marshal.dumps(function.__code__))]
    owner = sys.modules.get(function.__module__ or "")
    if owner is not None and function.__module__ != "__main__":
        source = user_source(owner)
        if source is not None:
            parts.append(f"source {source}")
    if depth < 3:
        for name in sorted(set(function.__code__.co_names) & function.__globals__.keys()):
            part = fingerprint(function.__globals__[name], depth + 1)
            if part is None:
                return None
            parts.append(f"{name}={part}")
    return "function " + " ".join(parts)


def _class(cls: type, depth: int) -> str | None:
    if cls.__module__ != "__main__":
        owner = sys.modules.get(cls.__module__)
        source = user_source(owner) if owner is not None else None
        return f"class {cls.__module__}.{cls.__qualname__} {source or ''}"
    parts = [f"class {cls.__qualname__}"]
    for name, member in sorted(vars(cls).items()):
        if isinstance(member, types.FunctionType):
            part = _function(member, depth + 1)
            if part is None:
                return None
            parts.append(f"{name}:{part}")
    return " ".join(parts)
