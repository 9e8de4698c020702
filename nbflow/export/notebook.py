"""A notebook read for export: its flow name, parameters, step cells and plain cells, each with
the cell number it came from (1-based over every cell, as `nbflow run`'s messages count).

The `%%step` lines are read by nbflow.core.stepline (the one option table) and the `%%params`
cells by nbflow.core.cells, so an export sees a notebook exactly as a run does. What cannot be
read statically (a computed parameter default, a magic nbflow does not know) is refused here
with an ExportError naming the cell.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from nbflow.core.cells import top_level_assignments
from nbflow.core.graph import StepSpec
from nbflow.core.stepline import flow_env_parser, parse_step_line
from nbflow.exceptions import ExportError, GraphError

# Line magics a plain cell may hold that mean nothing outside a kernel: dropped.
_KERNEL_ONLY = ("%load_ext", "%reload_ext", "%matplotlib", "%config", "%autoreload")


@dataclass(frozen=True)
class Param:
    name: str
    default: Any  # a literal: what the cell assigns
    source: str  # the default as written, for the generated file
    cell: int


@dataclass(frozen=True)
class StepCell:
    spec: StepSpec
    cell: int
    line: str  # the `%%step` line as written

    def refuse(self, message: str, fix: str) -> ExportError:
        return ExportError(message, cell=self.cell, first_line=self.line, fix=fix)


@dataclass(frozen=True)
class PlainCell:
    code: str  # the cell without nbflow's and IPython's kernel-only lines
    cell: int


@dataclass
class FlowNotebook:
    path: Path
    name: str
    params: list[Param] = field(default_factory=list)
    steps: list[StepCell] = field(default_factory=list)
    plain: list[PlainCell] = field(default_factory=list)  # before the last step cell
    after_steps: list[int] = field(default_factory=list)  # plain cells after it: not the flow
    env: tuple[str, ...] = ()  # `%flow env`: the flow's requirements
    python: str | None = None
    cells: dict[int, str] = field(default_factory=dict)  # every code cell's source, by number

    def step(self, name: str) -> StepCell:
        return next(s for s in self.steps if s.spec.name == name)


def read_notebook(path: Path) -> FlowNotebook:
    """The notebook at `path` as its flow; an ExportError names the first cell that cannot be
    read."""
    notebook = nbformat.read(path, as_version=4)
    flow = FlowNotebook(path=path, name=_identifier(path.stem))
    pending_plain: list[PlainCell] = []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        flow.cells[number] = cell.source
        first = cell.source.lstrip().split("\n", 1)[0]
        if first.startswith("%%step"):
            flow.steps.append(_step_cell(cell.source, number, first))
            flow.plain.extend(pending_plain)
            pending_plain = []
        elif first.startswith("%%params"):
            flow.params.extend(_params(cell.source, number, first))
        elif first.startswith("%%"):
            raise ExportError(
                f"the cell magic {first.split()[0]} runs only in a kernel.",
                cell=number,
                first_line=first,
                fix="Write the cell as plain Python, or leave it out of the notebook to export.",
            )
        else:
            plain = _plain_cell(flow, cell.source, number)
            if plain is not None:
                pending_plain.append(plain)
    flow.after_steps = [p.cell for p in pending_plain]
    if not flow.steps:
        raise ExportError(
            "the notebook has no %%step cell, so it has no flow to export.",
            cell=1,
            first_line=str(path),
            fix="Mark the cells of the pipeline with %%step NAME.",
        )
    return flow


def _step_cell(source: str, number: int, first: str) -> StepCell:
    header, _, code = source.lstrip().partition("\n")
    try:
        spec = parse_step_line(header.removeprefix("%%step"), code)
    except GraphError as error:
        raise ExportError(str(error), cell=number, first_line=first, fix="") from None
    return StepCell(spec, number, first)


def _params(source: str, number: int, first: str) -> list[Param]:
    code = source.lstrip().partition("\n")[2]
    try:
        tree = ast.parse(code)
    except SyntaxError as error:
        raise ExportError(
            f"the %%params cell is not valid Python ({error.msg}, line {error.lineno}).",
            cell=number,
            first_line=first,
            fix="Fix the cell; it must run as written.",
        ) from None
    values: dict[int, ast.expr] = {}
    for stmt in tree.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            values[stmt.lineno] = stmt.value
    found: dict[str, Param] = {}  # a name assigned twice: the last one wins, as when it runs
    for name, line in top_level_assignments(code):
        node = next(v for at, v in values.items() if at <= line <= (v.end_lineno or at))
        found[name] = _param(name, node, code, number, first)
    return list(found.values())


def _param(name: str, node: ast.expr, code: str, number: int, first: str) -> Param:
    written = ast.get_source_segment(code, node) or ""
    if isinstance(node, ast.Tuple) or not _is_literal(node):
        raise ExportError(
            f"parameter '{name}' = {written} is not a literal; an exported flow's parameters "
            "are declared with their default values (a number, a string, a bool, a list or a "
            "dict).",
            cell=number,
            first_line=first,
            fix=f"Write the value itself (e.g. `{name} = 10`), and compute from it in a step.",
        )
    return Param(name, ast.literal_eval(node), written, number)


def _is_literal(node: ast.expr) -> bool:
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return False
    return isinstance(value, (bool, int, float, str, list, dict)) or value is None


def _plain_cell(flow: FlowNotebook, source: str, number: int) -> PlainCell | None:
    """A plain cell's code, with `%flow name/env` applied and kernel-only lines dropped."""
    kept: list[str] = []
    for line in source.splitlines():
        word = line.strip().split(" ", 1)[0]
        if word == "%flow":
            _flow_line(flow, line.strip(), number)
        elif word in _KERNEL_ONLY:
            continue
        elif word.startswith(("%", "!")):
            raise ExportError(
                f"the line `{line.strip()}` is IPython syntax, which only a kernel runs.",
                cell=number,
                first_line=source.lstrip().split("\n", 1)[0],
                fix="Write it as Python (subprocess.run([...]) for a shell command), or delete it.",
            )
        else:
            kept.append(line)
    code = "\n".join(kept).strip("\n")
    return PlainCell(code, number) if code.strip() else None


def _flow_line(flow: FlowNotebook, line: str, number: int) -> None:
    words = shlex.split(line)[1:]
    if words[:1] == ["name"] and len(words) == 2:
        flow.name = words[1]
    elif words[:1] == ["env"]:
        try:
            parsed = flow_env_parser().parse_args(words[1:])
        except GraphError as error:
            raise ExportError(str(error), cell=number, first_line=line, fix="") from None
        flow.env = () if parsed.clear else tuple(parsed.requirements)
        flow.python = None if parsed.clear else parsed.python
    # other %flow commands (run, config, show, ...) act on a kernel's runs: not the flow


def _identifier(text: str) -> str:
    # As nbflow.kernel.session.flow_name_for names a flow after its notebook.
    name = re.sub(r"\W+", "_", text).strip("_")
    if not name:
        return "flow"
    return f"flow_{name}" if name[0].isdigit() else name
