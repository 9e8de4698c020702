"""nbflow's client in an exported flow becomes Metaflow's.

A step (or a plain cell) that reads another flow's runs, as Metaflow's tutorial 03 reads
MovieStatsFlow's statistics, imports nbflow's client: `from nbflow import Flow`. Exported, the
flow runs under Metaflow and must read Metaflow's runs of that flow, so the import is made
`from metaflow import Flow`: the client's names and their use (`Flow(name).latest_successful_run`,
`run.data.x`, `run["start"].task.data.x`, `namespace(None)`, `current.run_id`) are Metaflow's.
What has no Metaflow counterpart is refused with the line and the fix, never left to read
nbflow's store from inside a Metaflow run.

Pure: source lines in, source lines out, the same number of them (the other rewrites of a
step's code address its lines by number).
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from nbflow.exceptions import ExportError

# nbflow's names that Metaflow's client has with the same meaning.
SAME_IN_METAFLOW = frozenset(
    {"Flow", "Run", "Step", "Task", "namespace", "get_namespace", "default_namespace", "current"}
)
# `current` fields that only nbflow has, and what Metaflow offers instead.
NBFLOW_ONLY_CURRENT = {
    "attempt": "current.retry_count + 1",
    "foreach": "self.index and self.input, or the foreach artifact itself",
    "foreach_stack": "self.foreach_stack()",
}

# Where the client lives inside nbflow (other modules, such as nbflow.examples, are a library
# the exported flow may use like any other).
CLIENT_MODULES = ("nbflow.query", "nbflow.run", "nbflow.core.inputs")

Refuse = Callable[[str, str], ExportError]


def metaflow_client(
    lines: list[str], tree: ast.Module, first_row: int, refuse: Refuse, header: int = 0
) -> None:
    """Rewrite, in place, each `from nbflow import ...` of `tree` (whose line 1 is
    `lines[first_row]`) as Metaflow's import; refuse what cannot be, naming the cell's line
    (`header`: the lines above the code, 1 for a step's `%%step` line)."""
    for node in ast.walk(tree):
        row = node.lineno + header if isinstance(node, ast.stmt | ast.expr) else 0
        if isinstance(node, ast.Import):
            _refuse_module_import(node, row, refuse)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "nbflow":
                _rewrite(lines, node, first_row, row, refuse)
            elif node.module.startswith(CLIENT_MODULES):
                raise refuse(
                    f"line {row} imports from {node.module}, nbflow's client inside, which "
                    "reads nbflow's runs, not Metaflow's.",
                    "Import the client's names from nbflow itself (`from nbflow import Flow`): "
                    "the export makes them Metaflow's.",
                )
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "current"
            and node.attr in NBFLOW_ONLY_CURRENT
        ):
            raise refuse(
                f"line {row} reads current.{node.attr}, which Metaflow's current has not.",
                f"Use {NBFLOW_ONLY_CURRENT[node.attr]} instead.",
            )


def _refuse_module_import(node: ast.Import, row: int, refuse: Refuse) -> None:
    for alias in node.names:
        if alias.name == "nbflow" or alias.name.startswith(CLIENT_MODULES):
            raise refuse(
                f"line {row} imports {alias.name}; in the exported flow it would read "
                "nbflow's runs, not Metaflow's.",
                "Import the names the step uses (`from nbflow import Flow`): the export makes "
                "them Metaflow's.",
            )


def _rewrite(
    lines: list[str], node: ast.ImportFrom, first_row: int, row: int, refuse: Refuse
) -> None:
    names = [alias for alias in node.names if alias.name != "merge"]  # merge: the module's own
    unknown = [alias.name for alias in names if alias.name not in SAME_IN_METAFLOW]
    if unknown:
        raise refuse(
            f"line {row} imports {', '.join(unknown)} from nbflow, which Metaflow's "
            "client has not.",
            f"Use Metaflow's names ({', '.join(sorted(SAME_IN_METAFLOW))}) in a step to export.",
        )
    shown = ", ".join(a.name if a.asname is None else f"{a.name} as {a.asname}" for a in names)
    statement = f"from metaflow import {shown}" if names else "pass"  # only merge: _merge
    start, end = first_row + node.lineno - 1, first_row + (node.end_lineno or node.lineno) - 1
    # ast's columns count UTF-8 bytes
    prefix = lines[start].encode()[: node.col_offset].decode()
    suffix = lines[end].encode()[node.end_col_offset :].decode()
    lines[start] = prefix + statement + suffix
    for blank in range(start + 1, end + 1):
        lines[blank] = ""
