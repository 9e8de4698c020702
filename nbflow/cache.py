"""Cache keys: a task is reused when its code, inputs, parameters and item are the same.

A key covers the step's code, the blob key of every value the task loads, every parameter and
item it is given by value, and a fingerprint of the notebook functions and classes it calls, so
that changing a helper defined in a plain cell invalidates the tasks that use it.
"""

from __future__ import annotations

import functools
import marshal
import types
from typing import Any

import xxhash

from nbflow.datastore import UnstorableValue, encode
from nbflow.graph import StepSpec
from nbflow.task import TaskPayload

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
    for name, value in sorted(payload.values.items()):
        part = fingerprint(value)
        if part is None:
            return None
        digest.update(f"value {name}={part};".encode())
    for given in payload.join_inputs or ():
        digest.update(f"input {given.step} {sorted(given.artifacts.items())};".encode())
    if payload.join_inputs is not None:  # what merge compares with; all an empty join sees
        digest.update(f"before {sorted(payload.join_before.artifacts.items())};".encode())
    return digest.hexdigest()


def fingerprint(value: Any, depth: int = 0) -> str | None:
    """What a value is, as far as a cache is concerned."""
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__} {getattr(value, '__version__', '')}"
    if isinstance(value, types.FunctionType):
        return _function(value, depth)
    if isinstance(value, type):
        return _class(value, depth)
    if isinstance(value, (types.BuiltinFunctionType, types.MethodType, functools.partial)):
        return f"callable {getattr(value, '__qualname__', type(value).__qualname__)}"
    try:
        return encode(value).key
    except UnstorableValue:
        return None


def _function(function: types.FunctionType, depth: int) -> str | None:
    # The code (marshal covers nested functions and constants) and, a few levels deep, the
    # notebook globals it uses: a helper that calls a changed helper changes too.
    parts = [xxhash.xxh3_128_hexdigest(marshal.dumps(function.__code__))]
    if depth < 3:
        for name in sorted(set(function.__code__.co_names) & function.__globals__.keys()):
            part = fingerprint(function.__globals__[name], depth + 1)
            if part is None:
                return None
            parts.append(f"{name}={part}")
    return "function " + " ".join(parts)


def _class(cls: type, depth: int) -> str | None:
    if cls.__module__ != "__main__":
        return f"class {cls.__module__}.{cls.__qualname__}"
    parts = [f"class {cls.__qualname__}"]
    for name, member in sorted(vars(cls).items()):
        if isinstance(member, types.FunctionType):
            part = _function(member, depth + 1)
            if part is None:
                return None
            parts.append(f"{name}:{part}")
    return " ".join(parts)
