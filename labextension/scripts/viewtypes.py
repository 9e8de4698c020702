"""Write labextension/src/views.ts, the TypeScript interfaces of the views the REST API and the
widgets send, from the TypedDicts of nbflow.query.views, so the two cannot describe a view apart.

Run it after changing a view: `make views` (or `.venv/bin/python labextension/scripts/viewtypes.py`,
or `jlpm build:views` in labextension/ with the venv's python on PATH), then `jlpm build`.
tests/unit/test_viewtypes.py fails while the checked-in file differs from what this writes.

Each TypedDict becomes an interface of the same name with its own keys in order (NotRequired
ones optional, a key's `# comment` kept) extending those of its bases, each module-level
Literal alias a union type. Types map as JSON carries them: str to
string, int and float to number, bool to boolean, None to null, list[X] to X[], dict[str, X] to
Record<string, X>, Any and object to unknown, a TypedDict or a Literal alias to its name.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "labextension" / "src" / "views.ts"
HEADER = """\
// Generated from the TypedDicts of nbflow/query/views.py by labextension/scripts/viewtypes.py: do
// not edit. After changing a view, run `make views` (or `.venv/bin/python
// labextension/scripts/viewtypes.py`); tests/unit/test_viewtypes.py fails while this file is stale.
"""
WIDTH = 100  # Prettier's printWidth (package.json): longer lines are laid out as it would

SCALARS: dict[Any, str] = {
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
    Any: "unknown",
    object: "unknown",
}


def views_module() -> types.ModuleType:
    # Imported when asked for, after __main__ has put this checkout first on sys.path.
    import nbflow.query.views

    return nbflow.query.views


def typeddicts(module: types.ModuleType) -> list[type]:
    """The module's own TypedDicts, in the order they are defined."""
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and is_typeddict(value) and value.__module__ == module.__name__
    ]
    return sorted(found, key=lambda cls: inspect.getsourcelines(cls)[1])


def literal_aliases(module: types.ModuleType) -> dict[str, Any]:
    """Module-level names bound to a Literal (`TaskStatus = Literal[...]`)."""
    return {name: value for name, value in vars(module).items() if get_origin(value) is Literal}


def fields(cls: type) -> list[tuple[str, Any, bool]]:
    """(key, type, required) of a TypedDict, inherited keys first. NotRequired is read from the
    hints themselves: under `from __future__ import annotations`, Python 3.10 and 3.11 list
    every key in __required_keys__."""
    not_required = views_module().NotRequired
    rows = []
    for key, hint in get_type_hints(cls, include_extras=True).items():
        optional = get_origin(hint) is not_required
        rows.append((key, get_args(hint)[0] if optional else hint, not optional))
    return rows


def required_keys(cls: type) -> set[str]:
    return {key for key, _, required in fields(cls) if required}


def all_keys(cls: type) -> set[str]:
    return {key for key, _, _ in fields(cls)}


def ts_type(hint: Any, aliases: dict[str, Any]) -> str:
    named = next((name for name, alias in aliases.items() if hint == alias), None)
    if named is None and isinstance(hint, type) and is_typeddict(hint):
        named = hint.__name__
    if named is None and hint in SCALARS:
        named = SCALARS[hint]
    return named if named is not None else _composite(hint, aliases)


def _composite(hint: Any, aliases: dict[str, Any]) -> str:
    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        return " | ".join(_literal(value) for value in args)
    if origin in (Union, types.UnionType):
        return " | ".join(ts_type(arg, aliases) for arg in args)
    if origin is list:
        item = ts_type(args[0], aliases)
        return f"({item})[]" if " " in item else f"{item}[]"
    if origin is dict and args[0] is str:
        return f"Record<string, {ts_type(args[1], aliases)}>"
    raise TypeError(f"viewtypes.py does not know how to write {hint!r} in TypeScript")


def _literal(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"a Literal of {value!r} has no TypeScript form here")


def _doc(cls: type) -> list[str]:
    text = inspect.cleandoc(cls.__doc__ or "")
    if not text or cls.__doc__ == dict.__doc__:
        return []
    lines = text.splitlines()
    if len(lines) == 1 and len(f"/** {lines[0]} */") <= WIDTH:
        return [f"/** {lines[0]} */"]
    return ["/**", *(f" * {line}".rstrip() for line in lines), " */"]


def bases(cls: type) -> list[type]:
    """The TypedDicts `cls` extends, as its class statement names them (a TypedDict's __mro__
    does not keep them)."""
    module = sys.modules[cls.__module__]
    statement = ast.parse(inspect.getsource(cls)).body[0]
    assert isinstance(statement, ast.ClassDef)
    named = [getattr(module, base.id) for base in statement.bases if isinstance(base, ast.Name)]
    return [base for base in named if is_typeddict(base)]


def comments(cls: type) -> dict[str, str]:
    """The `# ...` comment after each key of the class body, by key."""
    found: dict[str, str] = {}
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"\s+(\w+): .*?  # (.*)$", line)
        if match:
            found[match[1]] = match[2]
    return found


def interface(cls: type, aliases: dict[str, Any]) -> str:
    """The interface of `cls`: its own keys, extending the interfaces of its bases."""
    parents = bases(cls)
    inherited = set().union(*(all_keys(base) for base in parents))
    noted = comments(cls)
    rows = []
    for key, hint, required in fields(cls):
        if key in inherited:
            continue
        row = f"  {key}{'' if required else '?'}: {ts_type(hint, aliases)};"
        if len(row) > WIDTH:
            raise ValueError(f"{cls.__name__}.{key}: its line is longer than Prettier's width")
        note = noted.get(key)
        if note and len(f"{row} // {note}") <= WIDTH:
            row = f"{row} // {note}"
        elif note:
            row = f"  // {note}\n{row}"
        rows.append(row)
    extends = f" extends {', '.join(base.__name__ for base in parents)}" if parents else ""
    return "\n".join([*_doc(cls), f"export interface {cls.__name__}{extends} {{", *rows, "}"])


def alias(name: str, value: Any) -> str:
    members = [_literal(arg) for arg in get_args(value)]
    line = f"export type {name} = {' | '.join(members)};"
    if len(line) <= WIDTH:
        return line
    union = f"  {' | '.join(members)};"
    if len(union) <= WIDTH:  # Prettier breaks after `=` first, when the union fits then
        return f"export type {name} =\n{union}"
    head, *rest = [f"export type {name} =", *(f"  | {m}" for m in members)]
    return "\n".join([head, *rest[:-1], rest[-1] + ";"])


def render() -> str:
    module = views_module()
    aliases = literal_aliases(module)
    blocks = [alias(name, value) for name, value in aliases.items()]
    blocks += [interface(cls, aliases) for cls in typeddicts(module)]
    return HEADER + "\n" + "\n\n".join(blocks) + "\n"


if __name__ == "__main__":
    # This checkout's views, not those of whichever nbflow the interpreter has installed.
    sys.path.insert(0, str(REPO))
    TARGET.write_text(render())
    print(f"wrote {TARGET}")
