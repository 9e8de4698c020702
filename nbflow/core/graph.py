"""The flow graph: steps, their parents, foreach levels, and the checks that keep it valid.

Pure: no IPython, storage or process imports. Each check is a small rule that raises a
`GraphError` naming the step, the cell line and the fix.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from nbflow.exceptions import GraphError

RESERVED_NAMES = frozenset({"inputs", "merge"})
# How a step's tasks run (not what they compute): recorded as they are.
OPTIONS = (
    "when", "retry", "retry_delay", "timeout", "catch", "resources", "cache", "in_kernel",
    "env", "python",
)  # fmt: skip


@dataclass(frozen=True)
class StepSpec:
    """One `%%step` cell: its name, options and (transformed) code."""

    name: str
    code: str = ""
    parents: tuple[str, ...] = ()
    foreach: str | None = None
    foreach_as: str = "item"
    join: bool = False
    transient: frozenset[str] = frozenset()
    out: frozenset[str] | None = None
    when: str | None = None  # run only where this expression over the parent's artifacts holds
    retry: int = 0
    retry_delay: float = 0.0
    timeout: float | None = None
    catch: str | None = None  # store the last attempt's exception here and go on
    resources: str = ""  # as written: "cpu=2,memory=4G,gpu=1"
    cache: bool = True
    in_kernel: bool = False  # pinned to the kernel, whatever executor runs the rest (plots)
    env: tuple[str, ...] = ()  # requirements of its own environment (uv), or the flow's
    python: str | None = None  # the environment's Python version, "X.Y"
    line: int | None = None  # cell line of the `%%step` line, for error messages

    @property
    def is_static_join(self) -> bool:
        return len(self.parents) > 1

    @property
    def gets_inputs(self) -> bool:
        return self.join or self.is_static_join

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], code: str) -> StepSpec:
        """The inverse of `as_dict`, as a run recorded it."""
        return cls(
            name=data["name"],
            code=code,
            parents=tuple(data["parents"]),
            foreach=data["foreach"],
            foreach_as=data["foreach_as"],
            join=data["join"],
            transient=frozenset(data["transient"]),
            out=frozenset(data["out"]) if data["out"] is not None else None,
            **{key: data[key] for key in OPTIONS if key in data and key != "env"},
            env=tuple(data.get("env") or ()),
        )

    @property
    def has_environment(self) -> bool:
        return bool(self.env or self.python)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "parents": list(self.parents),
            "foreach": self.foreach,
            "foreach_as": self.foreach_as,
            "join": self.join,
            "transient": sorted(self.transient),
            "out": sorted(self.out) if self.out is not None else None,
            **{key: getattr(self, key) for key in OPTIONS},
        }


@dataclass(frozen=True)
class FlowGraph:
    """Steps by name, in the order they were registered (the notebook's order)."""

    steps: Mapping[str, StepSpec] = field(default_factory=dict)

    def with_step(self, spec: StepSpec) -> FlowGraph:
        """A new graph with `spec` added, or replacing the step of the same name in place."""
        steps = dict(self.steps)
        steps[spec.name] = spec
        return FlowGraph(steps)

    def __contains__(self, name: object) -> bool:
        return name in self.steps

    def __getitem__(self, name: str) -> StepSpec:
        return self.steps[name]

    def __iter__(self) -> Iterator[StepSpec]:
        return iter(self.steps.values())

    def __len__(self) -> int:
        return len(self.steps)

    def children(self, name: str) -> list[str]:
        return [s.name for s in self if name in s.parents]

    def descendants(self, name: str) -> set[str]:
        found: set[str] = set()
        frontier = [name]
        while frontier:
            for child in self.children(frontier.pop()):
                if child not in found:
                    found.add(child)
                    frontier.append(child)
        return found

    def ancestors(self, name: str) -> set[str]:
        found: set[str] = set()
        frontier = list(self.steps[name].parents)
        while frontier:
            parent = frontier.pop()
            if parent not in found and parent in self.steps:
                found.add(parent)
                frontier.extend(self.steps[parent].parents)
        return found

    def split_of(self, steps: Iterable[str]) -> str | None:
        """The nearest step that every one of `steps` is or descends from: where a static
        join's branches split. None when they share no ancestor (separate roots)."""
        common: set[str] | None = None
        for name in steps:
            lineage = self.ancestors(name) | {name}
            common = lineage if common is None else common & lineage
        if not common:
            return None
        # The set holds every ancestor of its members: the last in DAG order is a nearest one.
        return max(common, key=self.order().index)

    def order(self) -> list[str]:
        """Topological order, ties broken by registration order (stable, readable)."""
        done: list[str] = []
        placed: set[str] = set()
        pending = list(self.steps)
        while pending:
            ready = [
                n for n in pending if all(self._placed(p, placed) for p in self.steps[n].parents)
            ]
            if not ready:
                raise _cycle_error(self, pending)
            for name in ready:
                done.append(name)
                placed.add(name)
            pending = [n for n in pending if n not in placed]
        return done

    def _placed(self, parent: str, placed: set[str]) -> bool:
        # An unknown parent is reported by check_parents_exist, not mistaken for a cycle.
        return parent in placed or parent not in self.steps

    def levels(self) -> dict[str, tuple[str, ...]]:
        """For each step, the foreach steps still open there (outermost first)."""
        levels: dict[str, tuple[str, ...]] = {}
        for name in self.order():
            levels[name] = _level_of(self.steps[name], levels)
        return levels

    def end_steps(self) -> list[str]:
        return [s.name for s in self if not self.children(s.name)]

    def as_dict(self) -> dict[str, Any]:
        return {"steps": [s.as_dict() for s in self]}


def _level_of(spec: StepSpec, levels: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    if not spec.parents:
        return ()
    level = levels[spec.parents[0]]
    if spec.join:
        return level[:-1]
    if spec.foreach:
        return (*level, spec.name)
    return level


# -- checks -------------------------------------------------------------------------------------

Check = Callable[[StepSpec, FlowGraph], None]


def check_name(spec: StepSpec, graph: FlowGraph) -> None:
    if not spec.name.isidentifier() or keyword.iskeyword(spec.name):
        raise GraphError(
            f"'{spec.name}' is not a valid step name. Use a Python identifier such as "
            f"'{_identifier_like(spec.name)}'.",
            step=spec.name,
            line=spec.line,
        )
    if spec.name in RESERVED_NAMES:
        raise GraphError(
            f"'{spec.name}' is reserved inside steps; choose another step name.",
            step=spec.name,
            line=spec.line,
        )


def check_parents_exist(spec: StepSpec, graph: FlowGraph) -> None:
    for parent in spec.parents:
        if parent not in graph:
            known = ", ".join(graph.steps) or "none yet"
            raise GraphError(
                f"names parent '{parent}', which no cell defines (steps so far: {known}). "
                f"Define it (run its cell first), or fix --after.",
                step=spec.name,
                line=spec.line,
            )


def check_no_self_parent(spec: StepSpec, graph: FlowGraph) -> None:
    if spec.name in spec.parents:
        raise GraphError(
            "lists itself in --after, which would make a cycle. Remove it from --after.",
            step=spec.name,
            line=spec.line,
        )


def check_single_parent_options(spec: StepSpec, graph: FlowGraph) -> None:
    if spec.foreach and spec.join:
        raise GraphError(
            "uses both --foreach and --join. Close the foreach in one step and open the next "
            "foreach in a step after it.",
            step=spec.name,
            line=spec.line,
        )
    for option, used in (("--foreach", spec.foreach), ("--join", spec.join)):
        if used and len(spec.parents) != 1:
            raise GraphError(
                f"{option} needs exactly one parent in --after (got {len(spec.parents)}). "
                + (
                    "To close a foreach whose body branches, join the branches first with a "
                    "static join step."
                    if option == "--join" and spec.parents
                    else "Name the step whose artifact it iterates with --after."
                ),
                step=spec.name,
                line=spec.line,
            )


CHECKS: tuple[Check, ...] = (
    check_name,
    check_no_self_parent,
    check_parents_exist,
    check_single_parent_options,
)


def check_graph(graph: FlowGraph) -> None:
    """Run every rule over every step; raise the first problem found, in notebook order."""
    for spec in graph:
        for rule in CHECKS:
            rule(spec, graph)
    order = graph.order()  # raises on a cycle
    levels: dict[str, tuple[str, ...]] = {}
    for name in order:
        spec = graph[name]
        _check_levels(spec, levels)
        levels[name] = _level_of(spec, levels)


def _check_levels(spec: StepSpec, levels: Mapping[str, tuple[str, ...]]) -> None:
    if spec.join and not levels[spec.parents[0]]:
        raise GraphError(
            f"uses --join but no foreach is open after '{spec.parents[0]}'. Remove --join, "
            "or add --foreach VAR to a step above it.",
            step=spec.name,
            line=spec.line,
        )
    if spec.is_static_join:
        seen = {p: levels[p] for p in spec.parents}
        if len(set(seen.values())) > 1:
            described = "; ".join(f"'{p}' in {_describe_level(lv)}" for p, lv in seen.items())
            raise GraphError(
                f"joins parents at different foreach levels ({described}). Close each foreach "
                "with a --join step before joining them.",
                step=spec.name,
                line=spec.line,
            )


def check_appended(
    graph: FlowGraph, spec: StepSpec, levels: dict[str, tuple[str, ...]]
) -> FlowGraph:
    """`check_step` for a step appended below steps already checked, each of whose parents is
    in `graph` (so no cycle can form): its own rules and foreach level only, so checking a
    notebook of N steps costs O(N), not O(N²). `levels` (step -> open foreaches) grows."""
    for rule in CHECKS:
        rule(spec, graph)
    _check_levels(spec, levels)
    levels[spec.name] = _level_of(spec, levels)
    return graph.with_step(spec)


def check_step(graph: FlowGraph, spec: StepSpec) -> FlowGraph:
    """Validate `spec` as it would be registered; return the new graph."""
    for rule in CHECKS:
        rule(spec, graph)
    new_graph = graph.with_step(spec)
    check_graph(new_graph)
    return new_graph


def _cycle_error(graph: FlowGraph, pending: Iterable[str]) -> GraphError:
    stuck = list(pending)
    cycle = _find_cycle(graph, stuck)
    first = graph[cycle[0]]
    return GraphError(
        f"the steps form a cycle: {' -> '.join([*cycle, cycle[0]])}. "
        "Remove one of these parents from --after.",
        step=first.name,
        line=first.line,
    )


def _find_cycle(graph: FlowGraph, stuck: list[str]) -> list[str]:
    # Walk parent links from a stuck step until a step repeats: that loop is the cycle.
    path: list[str] = []
    name = stuck[0]
    while name not in path:
        path.append(name)
        name = next(p for p in graph[name].parents if p in stuck)
    cycle = path[path.index(name) :]
    cycle.reverse()  # parent before child reads naturally
    first = min(cycle, key=list(graph.steps).index)  # start at the earliest cell
    start = cycle.index(first)
    return cycle[start:] + cycle[:start]


def _describe_level(level: tuple[str, ...]) -> str:
    return f"foreach {' > '.join(level)}" if level else "no foreach"


def _identifier_like(name: str) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in name).strip("_") or "step"
    if keyword.iskeyword(cleaned):
        return f"{cleaned}_step"
    return f"step_{cleaned}" if cleaned[0].isdigit() else cleaned


def parent_of_split(graph: FlowGraph, foreach_step: str) -> str:
    """The step whose task opens a foreach (the foreach step's single parent)."""
    return graph[foreach_step].parents[0]
