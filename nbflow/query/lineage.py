"""Where an artifact comes from: `run.lineage("model")`.

The task that made it (a task that inherited it points, through its parents, at the one whose
cell bound it; a reused task at the one that really ran), the files that task read (recorded
when it ran), the parameters its cell read, and the artifacts its cell read, each with its own
lineage. What a cell reads is found from its code, as the graph finds it (nbflow.core.cells).
Everything comes from records; nothing is unpickled.
"""

from __future__ import annotations

import ast
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nbflow.core.cells import analyze
from nbflow.exceptions import NotFound

if TYPE_CHECKING:
    from nbflow.query.client import Task


@dataclass(frozen=True)
class Lineage:
    """Artifact `name`, made by `task`: from `files` (path, size, hash), `params` (name ->
    value) and `inputs` (the lineage of each artifact its cell read)."""

    name: str
    task: Task
    files: tuple[dict[str, Any], ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[Lineage, ...] = ()

    @property
    def step(self) -> str:
        return str(self.task.step)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task.pathspec,
            "step": self.step,
            "files": [dict(f) for f in self.files],
            "params": dict(self.params),
            "inputs": [i.as_dict() for i in self.inputs],
        }

    def walk(self) -> list[Lineage]:
        """This lineage and every one above it, each artifact once, nearest first."""
        seen: dict[tuple[str, str], Lineage] = {}
        todo = [self]
        while todo:
            one = todo.pop(0)
            if (one.name, one.task.pathspec) not in seen:
                seen[one.name, one.task.pathspec] = one
                todo.extend(one.inputs)
        return list(seen.values())

    @property
    def all_files(self) -> list[dict[str, Any]]:
        """Every file the artifact depends on, through all its inputs, once each."""
        found: dict[tuple[Any, ...], dict[str, Any]] = {}
        for one in self.walk():
            for read in one.files:
                found.setdefault((read["path"], read["hash"]), dict(read))
        return list(found.values())

    def __repr__(self) -> str:
        return "\n".join(self._lines(""))

    def _lines(self, indent: str) -> list[str]:
        lines = [f"{indent}{self.name}  made by {self.task.pathspec}"]
        lines += [f"{indent}  file  {f['path']} ({f['size']} bytes)" for f in self.files]
        lines += [f"{indent}  param {k} = {v!r}" for k, v in self.params.items()]
        for one in self.inputs:
            lines += one._lines(indent + "  ")
        return lines


def lineage(task: Task, name: str) -> Lineage:
    if name not in task.artifacts:
        raise NotFound(
            f"{task.pathspec} has no artifact '{name}'. "
            f"It has: {', '.join(sorted(task.artifacts)) or 'none'}."
        )
    return _lineage(task, name, {})


def _lineage(task: Task, name: str, done: dict[tuple[int, str], Lineage]) -> Lineage:
    maker = _maker(task, name)
    if (maker.task_id, name) in done:
        return done[maker.task_id, name]
    reads = _cell_reads(maker)
    params = maker.run.params
    used_params = {k: params[k] for k in sorted(reads) if k in params}
    # The value each name had before the cell ran: a parent's (even where the cell rebinds it).
    holders = [(other, _parent_holding(maker, other)) for other in sorted(reads - set(params))]
    inputs = tuple(_lineage(parent, other, done) for other, parent in holders if parent)
    if "inputs" in reads:  # a join: what it reads of each input (`inputs.a`, `i.score`)
        wanted = _attributes(maker.run._code.get(maker.step, ""))
        inputs += tuple(
            _lineage(parent, other, done)
            for parent in _parents(maker)
            for other in sorted(wanted & set(parent.artifacts) - {name} - set(params))
        )
    found = Lineage(name, maker, tuple(maker.reads), used_params, inputs)
    done[maker.task_id, name] = found
    return found


def _maker(task: Task, name: str) -> Task:
    """The task whose cell bound `name` (the value `task` holds), following reuse and parents."""
    while True:
        if task.origin is not None:
            task = task.origin  # a reused task: the one that ran holds the same rows
        artifact = task.artifacts[name]
        if artifact.kind != "inherited":
            return task
        parent = _parent_with(task, name, artifact.key)
        if parent is None:
            return task  # its parents are gone (nbflow gc): the nearest known holder
        task = parent


def _parents(task: Task) -> list[Task]:
    found = []
    for parent_id in task._record.parents:
        with contextlib.suppress(NotFound):  # removed by nbflow gc: not known any more
            found.append(type(task)(task._store.meta.task(parent_id), store=task._store))
    return found


def _parent_with(task: Task, name: str, key: str) -> Task | None:
    held = [p for p in _parents(task) if name in p.artifacts and p.artifacts[name].key == key]
    return held[0] if held else None


def _parent_holding(task: Task, name: str) -> Task | None:
    held = [p for p in _parents(task) if name in p.artifacts]
    return held[0] if held else None


def _cell_reads(task: Task) -> frozenset[str]:
    """The names the cell of the task's step reads from outside it (none if unparsable)."""
    code = task.run._code.get(task.step, "")
    try:
        return analyze(_python_lines(code)).reads
    except SyntaxError:
        return frozenset()


def _attributes(code: str) -> set[str]:
    """Every attribute name the code reads (`x.score` -> score)."""
    try:
        tree = ast.parse(_python_lines(code))
    except SyntaxError:
        return set()
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


def _python_lines(code: str) -> str:
    # Lines IPython would transform (!shell, %magic) cannot be parsed as Python; what they
    # read is not known, so they are left out.
    lines = code.split("\n")
    return "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in lines)
