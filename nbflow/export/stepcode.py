"""One step cell as the body of a Metaflow `@step` method.

The cell's code is kept as written (its comments too), run on local variables: the names it
reads that a parent or a parameter provides are loaded from `self` first, and the names it
binds that nbflow would store (nbflow.core.cells' analysis, nbflow's artifact rule: not `_x`,
not modules, not `with ... as` handles, not --transient, only --out when given) are set on
`self` after it. That keeps the user's code byte for byte, and makes the artifacts exactly the
ones `nbflow run` stores.

What Metaflow cannot run as nbflow does is refused here with the cell and the fix.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from nbflow.core.cells import CellAnalysis, analyze
from nbflow.export.client import metaflow_client
from nbflow.export.notebook import StepCell

INDENT = " " * 4
# What a step may not bind in Metaflow: FlowSpec's own attributes (`self.input` ...).
METAFLOW_NAMES = frozenset(
    {"cmd", "foreach_stack", "index", "input", "merge_artifacts", "name", "next", "script_name"}
)
# What only a notebook's kernel has: a step that reads these reads the notebook's display.
KERNEL_NAMES = frozenset({"display", "get_ipython", "In", "Out", "_", "__", "___", "_i", "_ih",
                          "_oh", "_dh", "_ii", "_iii", "exit", "quit"})  # fmt: skip


@dataclass(frozen=True)
class StepContext:
    """What the step's code can see, known from the graph."""

    visible: frozenset[str]  # artifacts of the parents and the parameters
    params: frozenset[str]
    module_names: frozenset[str]  # what the plain cells define (module code)
    step_names: frozenset[str]
    join: bool = False  # takes `inputs` (a switch's merge point does not)
    exclude: tuple[str, ...] = ()  # a foreach join's own names, never taken from the inputs
    reopened: str | None = None  # a foreach join's enclosing foreach element's name, if any


@dataclass(frozen=True)
class StepBody:
    lines: list[str]  # the method body, indented by 0
    stores: frozenset[str]  # the artifacts it sets on self


def step_body(step: StepCell, context: StepContext) -> StepBody:
    spec = step.spec
    if spec.in_kernel:
        raise step.refuse(
            "--in-kernel pins the step to the notebook's kernel (plots, widgets), and an "
            "exported flow has no kernel.",
            "Drop --in-kernel (a plot can be saved with savefig), or keep the step out of "
            "the flow.",
        )
    tree = _parse(step)
    analysis = analyze(spec.code)
    _refuse_kernel_reads(step, analysis, context)
    _refuse_unsupported(step, tree)
    stores = _stored(step, analysis, context)
    lines = [f"# cell {step.cell}: {step.line}"]
    lines += _preamble(step, analysis, context)
    code = spec.code.strip("\n").split("\n")
    first_row = -(len(spec.code) - len(spec.code.lstrip("\n")))  # tree's line 1 in `code`
    if context.join:
        _merge_calls(code, tree, first_row)
    metaflow_client(code, tree, first_row, step.refuse, header=1)
    if spec.catch:
        kept = _postamble(tree, analysis, stores, join=context.join, failed=True)
        lines += _kept_on_error(code, kept)
    else:
        lines += code + _postamble(tree, analysis, stores, join=context.join)
    caught = {spec.catch} if spec.catch else set()
    return StepBody(lines, frozenset(stores) | caught)


def _kept_on_error(code: list[str], postamble: list[str]) -> list[str]:
    """A --catch step's code in `try`, its artifacts set in `finally`: nbflow keeps what a
    caught step bound before its error, and Metaflow's @catch stores what is on `self` then."""
    return [
        "# --catch: what the step bound before an error is kept (nbflow keeps it)",
        "try:",
        *indented(code),
        "finally:",
        *(INDENT + line for line in postamble or ["pass"]),
    ]


def inside_strings(lines: list[str]) -> set[int]:
    """The numbers (from 1) of the lines that continue a multi-line string: indenting them
    would change the string."""
    source = "\n".join(lines) + "\n"
    inside: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                inside.update(range(token.start[0] + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        pass
    return inside


def indented(lines: list[str]) -> list[str]:
    """The lines indented one level, except those inside a multi-line string."""
    inside = inside_strings(lines)
    return [
        line if n in inside or not line else INDENT + line for n, line in enumerate(lines, start=1)
    ]


def _parse(step: StepCell) -> ast.Module:
    try:
        return ast.parse(step.spec.code)
    except SyntaxError as error:
        line = (error.text or "").strip()
        if line.startswith(("%", "!")):
            raise step.refuse(
                f"line {(error.lineno or 0) + 1} `{line}` is IPython syntax (a magic or a shell "
                "command) inside a step, which only a kernel runs.",
                "Write it as Python (subprocess.run([...]) for a shell command), or move it "
                "to a plain cell.",
            ) from None
        raise step.refuse(
            f"the step's code is not valid Python ({error.msg}, line {(error.lineno or 0) + 1}).",
            "Fix the cell; it must run as written.",
        ) from None


def _refuse_kernel_reads(step: StepCell, analysis: CellAnalysis, context: StepContext) -> None:
    reads = (analysis.reads & KERNEL_NAMES) - context.module_names - context.visible
    if reads:
        name = sorted(reads)[0]
        raise step.refuse(
            f"the step reads `{name}` (line {analysis.first_line.get(name, 0) + 1}), which only "
            "the notebook's kernel has: it reads the notebook's display.",
            "Use print() for what the step shows, and artifacts for what it passes on.",
        )
    if "self" in analysis.reads | analysis.binds:
        raise step.refuse(
            "the step uses the name `self`, which is the flow object in a Metaflow step.",
            "Rename it.",
        )


def _refuse_unsupported(step: StepCell, tree: ast.Module) -> None:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            raise step.refuse(
                f"line {node.lineno + 1} declares `{type(node).__name__.lower()} "
                f"{', '.join(node.names)}`: in a Metaflow step the cell's names are a method's "
                "locals, so the declaration would mean something else.",
                "Pass the value as an argument and return the result instead.",
            )
        if isinstance(node, ast.Await):
            raise step.refuse(
                f"line {node.lineno + 1} awaits at top level, which only a kernel runs.",
                "Run the coroutine with asyncio.run(...).",
            )
    for node in tree.body:
        if _calls_merge(node) and not step.spec.gets_inputs:
            raise step.refuse(
                "merge(inputs) is called in a step that is no join.",
                "Call it in a step with --join or --after two steps.",
            )


def _stored(step: StepCell, analysis: CellAnalysis, context: StepContext) -> list[str]:
    """The names nbflow stores for this step, in the order the cell binds them."""
    spec = step.spec
    kept = set(analysis.binds - analysis.imports - spec.transient - {"inputs", "merge"})
    kept = {n for n in kept if not n.startswith("_")}
    kept = kept & spec.out if spec.out is not None else kept - analysis.handles
    for name in sorted(kept & context.params):
        raise step.refuse(
            f"the step binds '{name}' (line {analysis.first_line[name] + 1}), which is a "
            "parameter of the run; parameters are read-only inside steps (nbflow run fails "
            "here too).",
            f"Bind another name, e.g. `{name}_2 = ...`.",
        )
    clashes = kept & (METAFLOW_NAMES | context.step_names)
    for name in sorted(clashes):
        what = "a step's name" if name in context.step_names else "an attribute of FlowSpec"
        raise step.refuse(
            f"the step binds '{name}' (line {analysis.first_line[name] + 1}), which is {what} "
            "in Metaflow, so it cannot be an artifact there.",
            f"Rename it (e.g. `{name}_value`), or add --transient {name} if no step needs it.",
        )
    defined = _definitions(step) & kept
    for name in sorted(defined):
        raise step.refuse(
            f"the step defines `{name}` (line {analysis.first_line[name] + 1}), a function or "
            "class that nbflow stores as an artifact; Metaflow pickles artifacts, and pickle "
            "cannot store a function or class defined inside a step.",
            f"Move `{name}` to a plain cell (module code), or name it `_{name}` (or --transient "
            f"{name}) to keep it inside the step.",
        )
    # An input changed in place is stored again, as nbflow stores it (it loads it fresh).
    kept |= analysis.mutates & context.visible - context.params
    return sorted(kept, key=lambda n: (analysis.first_line.get(n, 0), n))


def _definitions(step: StepCell) -> set[str]:
    return {
        node.name
        for node in _module_level(ast.parse(step.spec.code).body)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


def _module_level(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run at the cell's top level, inside if/for/while/try/with too."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            yield from _module_level(getattr(stmt, name, []))
        for handler in getattr(stmt, "handlers", []):
            yield from _module_level(handler.body)
        for case in getattr(stmt, "cases", []):
            yield from _module_level(case.body)


def _preamble(step: StepCell, analysis: CellAnalysis, context: StepContext) -> list[str]:
    spec = step.spec
    lines: list[str] = []
    visible = set(context.visible)
    if spec.foreach is not None:
        # nbflow's foreach element and its position are artifacts of the task.
        lines.append(f"self.{spec.foreach_as}, self.item_index = self.input, self.index")
        visible |= {spec.foreach_as, "item_index"}
    if context.join:
        lines += [
            "# bind what the inputs agree on, as nbflow's join does",
            join_line(context.exclude),
        ]
    if context.reopened is not None:
        # a join inside another foreach: its element and position again, as nbflow binds them
        lines.append(f"self.{context.reopened}, self.item_index = self.input, self.index")
        visible |= {context.reopened, "item_index"}
    loads = sorted(analysis.reads & visible)
    lines += [f"{name} = self.{name}" for name in loads]
    return lines


def join_line(exclude: tuple[str, ...]) -> str:
    names = f", exclude={list(exclude)!r}" if exclude else ""
    return f"_joined = _join(self, inputs{names})"


def _calls_merge(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "merge"
    )


def _merge_calls(lines: list[str], tree: ast.Module, first_row: int) -> None:
    """Make, in place, each top-level `merge(inputs, ...)` call of the join's code
    `_merge(self, ...)`: nbflow's merge, over Metaflow's merge_artifacts (the generated module
    defines it)."""
    for node in tree.body:
        if _calls_merge(node):
            row = first_row + node.lineno - 1
            lines[row] = lines[row].replace("merge(", "_merge(self, _joined, ", 1)


def _postamble(
    tree: ast.Module, analysis: CellAnalysis, stores: list[str], *, join: bool, failed: bool = False
) -> list[str]:
    """`self.NAME = NAME` for each stored name; `failed`: after an error too (any may be
    unbound)."""
    certain = set() if failed else _certainly_bound(tree)
    tainted = _input_derived(tree) if join else set()
    lines: list[str] = []
    for name in stores:
        guards = []
        if name not in certain:  # bound in a branch or a loop: stored only where it was
            guards.append(f'"{name}" in locals()')
        if name in tainted:  # nbflow stores no view of an input (`best = max(inputs, ...)`)
            guards.append(f"not isinstance({name}, FlowSpec)")
        if guards:
            lines.append(f"if {' and '.join(guards)}:")
            lines.append(f"    self.{name} = {name}")
        else:
            lines.append(f"self.{name} = {name}")
    return lines


def _certainly_bound(tree: ast.Module) -> set[str]:
    """Names every run of the cell binds: by top-level statements (and `with` bodies), not
    deleted afterwards."""
    bound: set[str] = set()
    deleted: set[str] = set()
    for stmt in _straight_line(tree.body):
        if isinstance(stmt, ast.Delete):
            deleted |= {n.id for t in stmt.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif not isinstance(stmt, (ast.If, ast.For, ast.While, ast.Try, ast.Match)):
            bound |= analyze(ast.unparse(stmt)).binds
    for node in ast.walk(tree):
        if isinstance(node, ast.Delete):
            deleted |= {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return bound - deleted


def _straight_line(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    for stmt in body:
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            yield from _straight_line(stmt.body)
        else:
            yield stmt


def _input_derived(tree: ast.Module) -> set[str]:
    """Names that may hold a view of an input, which nbflow never stores: bound to `inputs[i]`,
    `inputs.step`, a call given `inputs` (`max(inputs, key=...)`), a `for` target over it, or
    another such name."""
    tainted = {"inputs"}
    for stmt in _module_level(tree.body):
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            value: ast.expr | None = stmt.iter
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            value = stmt.value
        else:
            continue
        if value is not None and _may_be_view(value, tainted):
            tainted |= _bound_by(stmt)
    return tainted - {"inputs"}


def _may_be_view(node: ast.expr, tainted: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in tainted
    if isinstance(node, (ast.Subscript, ast.Attribute)):
        return (isinstance(node.value, ast.Name) and node.value.id == "inputs") or (
            isinstance(node, ast.Subscript) and _may_be_view(node.value, tainted)
        )
    if isinstance(node, ast.Call):
        return any(_may_be_view(arg, tainted) for arg in node.args)
    if isinstance(node, ast.IfExp):
        return _may_be_view(node.body, tainted) or _may_be_view(node.orelse, tainted)
    return False


def _bound_by(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        targets = [stmt.target]
    elif isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    else:
        return set()
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
