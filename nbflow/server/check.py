"""POST check: the notebook's `%%step` cells read as the kernel would read them, for the badges.

Each `%%step` cell is parsed by the magic's own parser and registered, in notebook order, the
way `Session.register` does it (compile the code, then `nbflow.core.graph.check_step`), so a badge
shows the error the kernel would raise when the cell runs, on the cell it is about. A step's
code is also compared with the code the flow's runs recorded for it: `changed` marks a step
whose cell was edited since it last ran.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nbflow.core.graph import FlowGraph, StepSpec, check_appended
from nbflow.exceptions import GraphError, NbflowError
from nbflow.query.views import CheckResult, CheckStep
from nbflow.server.validation import Cell
from nbflow.store.stores import Store

STEP_MAGIC = "%%step"
DEFAULT_FLOW = "flow"  # the kernel's name for a flow whose notebook names none
RUNS_SEARCHED = 50  # newest runs searched for the code a step last ran with


@dataclass
class StepCell:
    """A `%%step` cell whose line parsed: its step and what is wrong with it, if anything."""

    cell_id: str
    spec: StepSpec
    error: str | None = None


@dataclass
class Checked:
    """The notebook's step cells as the kernel would read them, before any store is read."""

    steps: list[StepCell]
    errors: dict[str, str]  # cell id -> what is wrong with it


def check_cells(cells: Sequence[Cell]) -> Checked:
    """Parse and register the cells: pure work, done before (and outside) a store read, so a
    big notebook keeps no other request of the API waiting."""
    errors: dict[str, str] = {}
    steps: list[StepCell] = []
    for cell in cells:
        try:
            spec = read_step_cell(cell.source)
        except (NbflowError, ValueError, SyntaxError) as error:
            errors[cell.cell_id] = _message(error)
            continue
        if spec is not None:
            steps.append(StepCell(cell.cell_id, spec))
    register_in_order(steps)
    errors.update({step.cell_id: step.error for step in steps if step.error})
    return Checked(steps, errors)


def check_reply(store: Store | None, flow: str | None, cells: Sequence[Cell]) -> CheckResult:
    """`{"flow", "steps": [...], "errors": [{"cell_id", "message"}]}` for these code cells."""
    return checked_reply(store, flow, check_cells(cells))


def checked_reply(store: Store | None, flow: str | None, checked: Checked) -> CheckResult:
    """The reply for cells `check_cells` read, with whether each step changed since it ran."""
    flow = flow or DEFAULT_FLOW
    steps, errors = checked.steps, checked.errors
    ran_with = recorded_code(store, flow, [step.spec.name for step in steps])
    return {
        "flow": flow,
        "steps": [_step_row(step, ran_with) for step in steps],
        "errors": [{"cell_id": cell_id, "message": message} for cell_id, message in errors.items()],
    }


def read_step_cell(source: str) -> StepSpec | None:
    """The step a cell declares (None for a cell that is not a `%%step` cell), with its code
    transformed as IPython hands it to the magic. Raises StepError for a bad `%%step` line."""
    lines = source.splitlines(keepends=True)
    while lines and not lines[0].strip():  # IPython drops leading blank lines too
        lines.pop(0)
    words = lines[0].split(maxsplit=1) if lines else []
    if not words or words[0] != STEP_MAGIC:
        return None
    line, body = (words[1] if len(words) > 1 else ""), "".join(lines[1:])
    # lazy: reading steps as the kernel does (IPython: 0.1 s, the step-line parser, and
    # run.runner below: 50 ms) loads at the first check, not when the server starts
    from IPython.core.inputtransformer2 import TransformerManager  # noqa: PLC0415

    from nbflow.core.stepline import parse_step_line  # noqa: PLC0415

    transformer = TransformerManager()
    return parse_step_line(line.strip(), transformer.transform_cell(body))


def register_in_order(steps: Sequence[StepCell]) -> None:
    """Register the steps top to bottom as Run All would, setting each one's `error`."""
    from nbflow.run.runner import prepare  # noqa: PLC0415 - lazy: see read_step_cell

    everything = _first_definitions(steps)
    graph, failed = FlowGraph(), set[str]()
    levels: dict[str, tuple[str, ...]] = {}
    for step in steps:
        spec = step.spec
        try:
            prepare(spec)  # a syntax error in the cell, as Session.register finds it
            _check_unique(spec, everything)
            _check_parents_above(spec, graph, everything, failed)
            graph = check_appended(graph, spec, levels)
        except GraphError as error:
            step.error = _message(error)
            failed.add(spec.name)


def recorded_code(store: Store | None, flow: str, names: Sequence[str]) -> dict[str, str]:
    """The code each step ran with in the newest run of `flow` that ran it (a run records
    the steps it did not run too: their code never ran, so nothing can be stale against it)."""
    found: dict[str, str] = {}
    if store is None or not names:
        return found
    wanted = set(names)
    for run in store.meta.runs(flow, RUNS_SEARCHED):
        for _, spec, code in store.meta.steps(flow, run.run_id, ran=True):
            if spec["name"] in wanted:
                found.setdefault(spec["name"], code)
        if wanted <= found.keys():
            break
    return found


def _first_definitions(steps: Sequence[StepCell]) -> FlowGraph:
    graph = FlowGraph()
    for step in steps:
        if step.spec.name not in graph:
            graph = graph.with_step(step.spec)
    return graph


def _check_unique(spec: StepSpec, everything: FlowGraph) -> None:
    # In a kernel the later cell would silently replace the earlier step: a notebook mistake.
    if everything[spec.name] is not spec:
        raise GraphError(
            "is also the name of a step in an earlier cell. Each step needs its own name: "
            "rename one of them.",
            step=spec.name,
            line=spec.line,
        )


def _check_parents_above(
    spec: StepSpec, graph: FlowGraph, everything: FlowGraph, failed: set[str]
) -> None:
    """A parent must be registered by a cell above; say why one is not, better than
    "no cell defines it" would."""
    for parent in spec.parents:
        if parent in graph or parent == spec.name:
            continue
        if parent in failed:
            raise GraphError(
                f"needs parent '{parent}', whose cell has an error. Fix that cell first.",
                step=spec.name,
                line=spec.line,
            )
        if parent in everything:
            if spec.name in everything.ancestors(spec.name):
                _raise_cycle(spec.name, everything)
            raise GraphError(
                f"names parent '{parent}', which a later cell defines. Cells run top to "
                f"bottom: move this cell below the cell of '{parent}'.",
                step=spec.name,
                line=spec.line,
            )


def _raise_cycle(name: str, everything: FlowGraph) -> None:
    # The graph's own rule words the cycle; give it only the steps on it, so it names this one.
    on_cycle = {name} | {s for s in everything.ancestors(name) if name in everything.ancestors(s)}
    FlowGraph({s.name: s for s in everything if s.name in on_cycle}).order()


def _step_row(step: StepCell, ran_with: Mapping[str, str]) -> CheckStep:
    spec = step.spec
    code = ran_with.get(spec.name)
    return {
        "cell_id": step.cell_id,
        "name": spec.name,
        "parents": list(spec.parents),
        "foreach": spec.foreach,
        "join": spec.join,
        "error": step.error,
        # Trailing blank lines are not a change (IPython adds a newline to one-line cells).
        "changed": None if code is None else code.rstrip() != spec.code.rstrip(),
    }


def _message(error: BaseException) -> str:
    if isinstance(error, NbflowError):
        return str(error)
    # shlex: "No closing quotation", "No escaped character".
    return f"the %%step line cannot be read ({error}). Check its quotes."
