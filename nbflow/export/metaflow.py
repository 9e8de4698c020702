"""A notebook's flow as one Metaflow `FlowSpec` file (`nbflow export NOTEBOOK --to metaflow`).

How nbflow's notebook maps onto Metaflow:

- each `%%step` cell is a `@step` method (stepcode.py: its code as written, artifacts on
  `self`); a join (`--join`, or `--after` two steps) takes `inputs` and first binds what its
  inputs agree on (nbflow's join rule, over `merge_artifacts`); `merge(inputs, ...)` is
  nbflow's merge over the same;
- `--after` becomes the parents' `self.next(...)`: one child, a static split, a foreach
  (`foreach="VAR"` on the parent of the `--foreach` step) or, where every child carries
  `--when` and they meet again in one step, Metaflow's switch (`condition=`);
- Metaflow begins at `start` and ends at `end`: where the notebook's flow does not, an empty
  `start` (before the roots) or `end` (after the last step, a join when there are several) is
  added;
- `--retry/--retry-delay`, `--timeout`, `--catch`, `--resources`, `--env/--python` and
  `%flow env` are `@retry`, `@timeout`, `@catch`, `@resources`, `@pypi` and `@pypi_base`;
- `%%params` are `Parameter`s (JSON for lists and dicts); plain cells before the last step are
  module code; plain cells after it look at runs and are left out.

Pure translation: the text of the file, from the notebook read by notebook.py.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field

from nbflow.core.cells import analyze
from nbflow.core.graph import FlowGraph, StepSpec, check_graph
from nbflow.core.resources import parse_resources
from nbflow.exceptions import ExportError, GraphError
from nbflow.export.client import metaflow_client
from nbflow.export.notebook import FlowNotebook, Param, PlainCell, StepCell
from nbflow.export.stepcode import StepContext, inside_strings, join_line, step_body

INDENT = " " * 4
KEEP = "\x00"  # marks a line inside a multi-line string: never indented


@dataclass
class Node:
    """A Metaflow step: a notebook's step cell, or an empty `start`/`end` that Metaflow needs."""

    name: str
    cell: StepCell | None
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    join: bool = False  # takes `inputs`
    exclude: tuple[str, ...] = ()  # a foreach join's own names, never taken from the inputs
    reopened: str | None = None  # a foreach join's enclosing foreach element's name, if any
    switch: dict[str, str] | None = None  # child -> its --when, where the parent switches
    foreach: str | None = None  # the artifact its one next step runs a task per element of

    @property
    def spec(self) -> StepSpec:
        return self.cell.spec if self.cell is not None else StepSpec(self.name)


def export_metaflow(flow: FlowNotebook) -> str:
    """The FlowSpec file's text."""
    nodes = _nodes(flow)
    helpers: set[str] = set()
    methods = _methods(flow, nodes, helpers)
    return _module(flow, methods, helpers)


# -- the graph ------------------------------------------------------------------------------


def _nodes(flow: FlowNotebook) -> dict[str, Node]:
    graph = FlowGraph({s.spec.name: s.spec for s in flow.steps})
    try:
        check_graph(graph)
    except GraphError as error:
        cell = flow.step(error.step) if error.step and error.step in graph else flow.steps[0]
        raise cell.refuse(str(error), "") from None
    levels = graph.levels()
    nodes = {
        name: Node(name, flow.step(name), list(graph[name].parents), graph.children(name))
        for name in graph.order()
    }
    _add_start(flow, nodes)
    _add_end(flow, nodes, levels)
    for node in nodes.values():  # before _shape: a switch's merge step is then no join
        _mark_join(node, nodes, levels)
    for node in nodes.values():
        _shape(node, nodes)
    return nodes


def _add_start(flow: FlowNotebook, nodes: dict[str, Node]) -> None:
    roots = [n for n in nodes.values() if not n.parents]
    if [r.name for r in roots] == ["start"] and roots[0].spec.foreach is None:
        return
    if "start" in nodes:
        raise flow.step("start").refuse(
            "Metaflow's flow begins at its one step 'start', and this notebook's 'start' is "
            "not its only first step (or it has --foreach).",
            "Rename the step, or make it the one step without --after.",
        )
    start = Node("start", None, children=[r.name for r in roots])
    for root in roots:
        root.parents = ["start"]
    nodes["start"] = start
    nodes.update({n: nodes.pop(n) for n in list(nodes) if n != "start"})  # start first


def _add_end(
    flow: FlowNotebook, nodes: dict[str, Node], levels: dict[str, tuple[str, ...]]
) -> None:
    leaves = [n for n in nodes.values() if not n.children]
    if [leaf.name for leaf in leaves] == ["end"]:
        return
    if "end" in nodes:
        raise flow.step("end").refuse(
            "Metaflow's flow ends at its one step 'end', and this notebook's 'end' is not its "
            "only last step.",
            "Rename the step, or make every other step lead to it.",
        )
    for leaf in leaves:
        if leaf.cell is not None and levels[leaf.name]:
            raise leaf.cell.refuse(
                f"step '{leaf.name}' ends the flow inside a foreach; Metaflow joins every "
                "foreach before its end.",
                f"Add a step with `--after {leaf.name} --join`.",
            )
    end = Node("end", None, parents=[leaf.name for leaf in leaves], join=len(leaves) > 1)
    for leaf in leaves:
        leaf.children = ["end"]
    nodes["end"] = end


def _mark_join(node: Node, nodes: dict[str, Node], levels: dict[str, tuple[str, ...]]) -> None:
    spec = node.spec
    if node.cell is not None and (spec.join or spec.is_static_join):
        node.join = True
    if spec.join:
        opened = levels[spec.parents[0]]
        node.exclude = (nodes[opened[-1]].spec.foreach_as, "item_index")
        if len(opened) > 1:  # nbflow binds the enclosing element again after the join
            node.reopened = nodes[opened[-2]].spec.foreach_as


def _shape(node: Node, nodes: dict[str, Node]) -> None:
    children = [nodes[c] for c in node.children]
    conditional = [c for c in children if c.spec.when is not None]
    foreach = [c for c in children if c.spec.foreach is not None]
    if foreach and len(children) > 1:
        raise _refuse_at(
            foreach[0],
            f"Metaflow's foreach splits from a step with one next step, and '{node.name}' "
            f"has {len(children)}.",
            f"Add a step between them: `--after {node.name}` on a new step that "
            f"'{foreach[0].name}' follows.",
        )
    if foreach:
        node.foreach = foreach[0].spec.foreach
    if conditional:
        _shape_switch(node, children, conditional, nodes)


def _shape_switch(
    node: Node, children: list[Node], conditional: list[Node], nodes: dict[str, Node]
) -> None:
    first = conditional[0]
    if len(conditional) != len(children):
        raise _refuse_at(
            first,
            f"'{node.name}' leads to steps with --when and without; Metaflow's switch takes "
            "one of its next steps.",
            f"Put --when on every step after '{node.name}', or add a step between.",
        )
    merge_points = {tuple(c.children) for c in conditional}
    after = next(iter(merge_points))
    meets = (
        len(merge_points) == 1
        and len(after) == 1
        and set(nodes[after[0]].parents) == set(node.children)
    )
    if len(conditional) < 2 or not meets:
        raise _refuse_at(
            first,
            "a step with --when maps to Metaflow's switch, which takes one of several next "
            f"steps of '{node.name}' and needs them to meet again in one step.",
            f"Give '{node.name}' a step for each case (e.g. --when 'not (...)' on another) and "
            f"a step after them all: `--after {' '.join(node.children)}`"
            + (
                " (each case one step: a case that splits or switches again, or a merge step "
                "that follows other steps too, is not exported)."
                if len(conditional) > 1
                else "."
            ),
        )
    merge = nodes[after[0]]
    if merge.cell is not None and "inputs" in analyze(merge.spec.code).reads:
        raise _refuse_at(
            merge,
            f"after a switch, Metaflow runs '{merge.name}' on the one case that ran, so it "
            "has no `inputs`.",
            "Read the artifacts by name (the case's are bound directly).",
        )
    merge.join = False
    node.switch = {c.name: c.spec.when or "" for c in conditional}


def _refuse_at(node: Node, message: str, fix: str) -> ExportError:
    assert node.cell is not None
    return node.cell.refuse(message, fix)


# -- the methods ----------------------------------------------------------------------------


def _methods(flow: FlowNotebook, nodes: dict[str, Node], helpers: set[str]) -> list[str]:
    params = frozenset(p.name for p in flow.params)
    module_names = (
        frozenset().union(*(analyze(p.code).binds for p in flow.plain))
        if flow.plain
        else frozenset()
    )
    step_names = frozenset(nodes)
    seen: dict[str, frozenset[str]] = {}  # step -> what its task has: visible + stored
    methods = []
    for node in nodes.values():
        visible = params | frozenset().union(*(seen[p] for p in node.parents))
        context = StepContext(
            visible, params, module_names, step_names, node.join, node.exclude, node.reopened
        )
        body, stores = _body(node, context, helpers)
        seen[node.name] = visible | stores
        methods.append(_method(node, body, helpers))
    return methods


def _body(node: Node, context: StepContext, helpers: set[str]) -> tuple[list[str], frozenset[str]]:
    if node.join:
        helpers.add("_join")
    if node.cell is None:
        begins = "begins at 'start'" if node.name == "start" else "ends at 'end'"
        lines = [f"# added: Metaflow's flow {begins}"]
        if node.join:
            lines.append(join_line(()))
        elif not node.children:
            lines.append("pass")
        return lines, frozenset()
    made = step_body(node.cell, context)  # stores a --catch step's VAR too
    if any("_merge(self, " in line for line in made.lines):
        helpers.add("_merge")
    return made.lines, made.stores


def _method(node: Node, body: list[str], helpers: set[str]) -> str:
    inputs = ", inputs" if node.join else ""
    lines = [*_decorators(node), "@step", f"def {node.name}(self{inputs}):"]
    lines += [_indented(line) for line in _marked(body)]
    lines += [INDENT + line for line in _next(node, helpers)]
    return "\n".join(lines)


def _marked(lines: list[str]) -> list[str]:
    """The lines, those inside a multi-line string marked with KEEP: indenting them would
    change the string, so no indent is added to them (the mark is removed at the end)."""
    inside = inside_strings(lines)
    return [KEEP + line if n in inside else line for n, line in enumerate(lines, start=1)]


def _indented(line: str) -> str:
    return line if not line or line.startswith(KEEP) else INDENT + line


def _next(node: Node, helpers: set[str]) -> list[str]:
    if not node.children:
        return []
    if node.switch is not None:
        helpers.add("_case")
        cases = ", ".join(f'"{c}": "{_escaped(w)}"' for c, w in node.switch.items())
        targets = ", ".join(f'"{c}": self.{c}' for c in node.switch)
        return [
            "# the next steps run on a condition (--when): Metaflow's switch takes the one",
            "# that holds",
            f"self._case = _case(self, {{{cases}}})",
            f'self.next({{{targets}}}, condition="_case")',
        ]
    targets = ", ".join(f"self.{c}" for c in node.children)
    if node.foreach is not None:
        return [f'self.next({targets}, foreach="{node.foreach}")']
    return [f"self.next({targets})"]


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _decorators(node: Node) -> list[str]:
    spec = node.spec
    found = []
    if spec.catch:
        found.append(f'@catch(var="{spec.catch}")')
    if spec.retry:
        minutes = math.ceil(spec.retry_delay / 60)  # Metaflow counts whole minutes
        found.append(f"@retry(times={spec.retry}, minutes_between_retries={minutes})")
    if spec.timeout:
        found.append(f"@timeout(seconds={math.ceil(spec.timeout)})")
    if spec.resources:
        found.append(_resources(spec))
    if spec.env or spec.python:
        found.append(_pypi("pypi", spec.env, spec.python))
    return found


def _resources(spec: StepSpec) -> str:
    given = {
        item.split("=")[0].strip().lower()
        for item in re.split(r"[\s,]+(?=\w+\s*=)", spec.resources)
    }
    wanted = parse_resources(spec.resources, step=spec.name)
    values = []
    if "cpu" in given:
        values.append(f"cpu={wanted.cpu:g}")
    if "memory" in given:
        values.append(f"memory={math.ceil(wanted.memory / 1024**2)}")  # Metaflow counts MB
    if "gpu" in given:
        values.append(f"gpu={wanted.gpu}")
    return f"@resources({', '.join(values)})"


def _pypi(name: str, requirements: tuple[str, ...], python: str | None) -> str:
    packages = dict(_requirement(r) for r in requirements)
    shown = ", ".join(f'"{n}": "{v}"' for n, v in packages.items())
    python_arg = f', python="{python}"' if python else ""
    return f"@{name}(packages={{{shown}}}{python_arg})"


def _requirement(text: str) -> tuple[str, str]:
    """`pandas==2.2.3` -> ("pandas", "2.2.3"); `numpy>=2` -> ("numpy", ">=2"), as @pypi takes."""
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?)\s*(.*)", text)
    name, version = (found.group(1), found.group(2).strip()) if found else (text, "")
    return name, version.removeprefix("==")


# -- the module -----------------------------------------------------------------------------


def _module(flow: FlowNotebook, methods: list[str], helpers: set[str]) -> str:
    class_name = flow.name if flow.name.isidentifier() else "Flow_" + re.sub(r"\W", "_", flow.name)
    parts = [_docstring(flow), _imports(flow, methods, helpers)]
    parts += [f"# cell {p.cell}\n{_plain_code(p)}" for p in flow.plain]
    parts += [HELPERS[name] for name in sorted(helpers)]
    body = [_parameter(p) for p in flow.params] + [_indent_block(m) for m in methods]
    decorator = (
        _pypi("pypi_base", flow.env, flow.python) + "\n" if (flow.env or flow.python) else ""
    )
    parts.append(f"{decorator}class {class_name}(FlowSpec):\n" + "\n\n".join(body))
    parts.append(f'if __name__ == "__main__":\n{INDENT}{class_name}()')
    return ("\n\n\n".join(parts) + "\n").replace(KEEP, "")


def _plain_code(plain: PlainCell) -> str:
    """A plain cell as module code, nbflow's client made Metaflow's."""
    try:
        tree = ast.parse(plain.code)
    except SyntaxError:
        return plain.code  # the file is compiled before it is written, which says where
    lines = plain.code.split("\n")

    def refuse(message: str, fix: str) -> ExportError:
        first = plain.code.split("\n", 1)[0]
        return ExportError(message, cell=plain.cell, first_line=first, fix=fix)

    metaflow_client(lines, tree, 0, refuse)
    return "\n".join(lines)


def _docstring(flow: FlowNotebook) -> str:
    left_out = ""
    if flow.after_steps:
        cells = ", ".join(str(c) for c in flow.after_steps)
        left_out = (
            f"\nLeft out: cell(s) {cells}, after the last step (they look at runs, not part of "
            "the flow).\n"
        )
    return (
        f'"""Flow \'{flow.name}\' of {flow.path.name}, for Metaflow\n'
        "(written by `nbflow export --to metaflow`).\n\n"
        f"    python {flow.name}.py run               # a run on Metaflow's local runtime\n"
        f"    python {flow.name}.py argo-workflows create  # or step-functions / airflow create\n"
        f"{left_out}"
        '"""'
    )


def _imports(flow: FlowNotebook, methods: list[str], helpers: set[str]) -> str:
    text = "\n".join(methods) + "\n".join(helpers)
    names = ["FlowSpec", "step"]
    names += [n for n in ("catch", "retry", "timeout", "resources", "pypi") if f"@{n}(" in text]
    if flow.params:
        names.append("Parameter")
    if any(isinstance(p.default, (list, dict)) for p in flow.params):
        names.append("JSONType")
    if flow.env or flow.python:
        names.append("pypi_base")
    lines = []
    if any(isinstance(p.default, (list, dict)) for p in flow.params):
        lines.append("import json")
    if "_case" in helpers:
        lines.append("import builtins")
    lines.append(f"from metaflow import {', '.join(sorted(set(names), key=str.lower))}")
    if "_join" in helpers:
        lines.append("from metaflow.exception import UnhandledInMergeArtifactsException")
    return "\n".join(lines)


def _parameter(param: Param) -> str:
    if isinstance(param.default, (list, dict)):
        default = f"json.dumps({param.source})"
        typed = f"type=JSONType, default={default}"
    else:
        typed = f"default={param.source}"
    return f'{INDENT}{param.name} = Parameter("{param.name}", {typed})  # cell {param.cell}'


def _indent_block(text: str) -> str:
    return "\n".join(_indented(line) for line in text.split("\n"))


HELPERS = {
    "_join": '''\
def _join(flow, inputs, exclude=()):
    """nbflow's join: bind what every input agrees on (or only one has); a name on which the
    inputs differ stays in `inputs`. Returns the names it bound."""
    before = set(vars(flow))
    try:
        flow.merge_artifacts(inputs, exclude=list(exclude))
    except UnhandledInMergeArtifactsException as differ:
        flow.merge_artifacts(inputs, exclude=[*exclude, *differ.artifact_names])
    return set(vars(flow)) - before''',
    "_merge": '''\
def _merge(flow, joined, inputs, include=None, exclude=None):
    """nbflow's merge(inputs, include=, exclude=) after _join: what it leaves out does not
    flow further."""
    if include is not None:
        missing = [n for n in include if not hasattr(flow, n)]
        if missing:
            raise ValueError(f"merge(): include= names {missing}, which no input has")
    for name in joined:
        if (include is not None and name not in include) or name in (exclude or ()):
            delattr(flow, name)''',
    "_case": '''\
def _case(flow, conditions):
    """Which of the next steps runs: the one whose --when holds over the step's artifacts.
    nbflow runs every step whose condition holds; Metaflow's switch runs one."""

    class Artifacts(dict):
        def __missing__(self, name):
            return getattr(flow, name)

    scope = {"__builtins__": builtins}
    holding = [c for c, when in conditions.items() if eval(when, scope, Artifacts())]
    if len(holding) != 1:
        raise ValueError(
            f"--when: {len(holding)} of the conditions {conditions} hold here; the exported "
            "flow takes exactly one (Metaflow's switch). Make them exclusive and exhaustive."
        )
    return holding[0]''',
}
