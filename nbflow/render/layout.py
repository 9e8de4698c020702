"""A layered (Sugiyama style) layout of a flow graph: boxes in rows, edges as polylines.

Pure and standard library only, so the widgets, the SVG fallback and the HTML report all draw
the same picture. The steps are:

1. cycles are broken (a depth-first search in notebook order drops its back edges), because a
   graph being edited can be cyclic for a moment and a picture must never hang;
2. layers by longest path from the roots, top to bottom;
3. edges spanning several layers get one dummy node per layer crossed, so they bend around boxes;
4. the order within each layer starts from notebook order and is improved by barycenter sweeps,
   keeping the order with the fewest crossings (stable sorts, so the output is deterministic);
5. x positions: each layer in turn is pulled towards the mean x of its neighbours in the layer
   above (then below), solved exactly under the minimum spacing by isotonic regression. A chain
   therefore lies on one vertical line and the children of a step sit side by side under it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

__all__ = ["Box", "Edge", "Layout", "layout"]

_ORDER_SWEEPS = 16  # down and up alternately; cheap next to the x placement
_PLACE_ROUNDS = 6  # up+down rounds of the x placement; it settles after a few
_DUMMY_WEIGHT = 4.0  # how strongly a long edge's bends keep it straight, against real boxes


@dataclass(frozen=True)
class Box:
    """One step's box: top-left corner, size, and the layer (row) it sits in."""

    name: str
    x: float
    y: float
    width: float
    height: float
    layer: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "x": self.x,
            "y": self.y,
            "width": self.width,
            "height": self.height,
            "layer": self.layer,
        }


@dataclass(frozen=True)
class Edge:
    """A parent-to-child edge: a polyline from the bottom of `source` to the top of `target`."""

    source: str
    target: str
    points: tuple[tuple[float, float], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "points": [[x, y] for x, y in self.points],
        }


@dataclass(frozen=True)
class Layout:
    """Boxes by step name (in notebook order), edges, and the size of the drawing."""

    boxes: dict[str, Box]
    edges: tuple[Edge, ...]
    width: float
    height: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "boxes": [box.as_dict() for box in self.boxes.values()],
            "edges": [edge.as_dict() for edge in self.edges],
            "width": self.width,
            "height": self.height,
        }


def layout(
    steps: Sequence[Mapping[str, Any]],
    *,
    box_width: float = 180.0,
    box_height: float = 64.0,
    gap_x: float = 36.0,
    gap_y: float = 56.0,
) -> Layout:
    """Lay out `steps` (dicts with `name` and `parents`, in notebook order) top to bottom.

    Unknown parents, self-loops and repeated names are ignored; edges closing a cycle are left
    out of the drawing.
    """
    names, parents = _read_steps(steps)
    if not names:
        return Layout(boxes={}, edges=(), width=0.0, height=0.0)
    edges = _acyclic_edges(len(names), parents)
    layer_of = _longest_path_layers(len(names), edges)
    graph = _LayeredGraph.build(layer_of, edges)
    graph.order_layers()
    raw_x = graph.place_x(box_width, gap_x)
    left = min(x - graph.width_of(node, box_width) / 2 for node, x in enumerate(raw_x))
    centre_x = [round(x - left, 2) for x in raw_x]  # short numbers in the SVG and the JSON
    row = box_height + gap_y
    boxes = {
        name: Box(
            name=name,
            x=round(centre_x[node] - box_width / 2, 2),
            y=layer_of[node] * row,
            width=box_width,
            height=box_height,
            layer=layer_of[node],
        )
        for node, name in enumerate(names)
    }
    routes = graph.routes(edges, centre_x, box_height, row)
    drawn = tuple(
        Edge(source=names[source], target=names[target], points=points)
        for (source, target), points in zip(
            edges, _with_ports(routes, edges, boxes, names), strict=True
        )
    )
    width = round(
        max(x + graph.width_of(node, box_width) / 2 for node, x in enumerate(centre_x)), 2
    )
    height = (max(layer_of) + 1) * row - gap_y
    return Layout(boxes=boxes, edges=drawn, width=width, height=height)


def _read_steps(steps: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[int]]]:
    """Names in notebook order (first of each name wins) and each step's known parents."""
    index: dict[str, int] = {}
    names: list[str] = []
    raw_parents: list[Iterable[Any]] = []
    for step in steps:
        name = str(step.get("name", ""))
        if name in index:
            continue
        index[name] = len(names)
        names.append(name)
        given = step.get("parents") or ()
        raw_parents.append([given] if isinstance(given, str) else given)
    parents: list[list[int]] = []
    for node, given in enumerate(raw_parents):
        known = (index.get(str(parent), -1) for parent in given)
        parents.append(list(dict.fromkeys(p for p in known if p >= 0 and p != node)))
    return names, parents


def _acyclic_edges(size: int, parents: list[list[int]]) -> list[tuple[int, int]]:
    """(parent, child) edges in notebook order, without the back edges of a DFS in that order."""
    children: list[list[int]] = [[] for _ in range(size)]
    for child, ps in enumerate(parents):
        for parent in ps:
            children[parent].append(child)
    back: set[tuple[int, int]] = set()
    state = [0] * size  # 0 unseen, 1 on the DFS path, 2 finished
    for root in range(size):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, iter(children[root]))]
        while stack:  # iterative: a 10,000-step chain must not hit the recursion limit
            node, pending = stack[-1]
            child = next(pending, -1)
            if child < 0:
                state[node] = 2
                stack.pop()
            elif state[child] == 1:
                back.add((node, child))
            elif state[child] == 0:
                state[child] = 1
                stack.append((child, iter(children[child])))
    return [
        (parent, child)
        for child, ps in enumerate(parents)
        for parent in ps
        if (parent, child) not in back
    ]


def _longest_path_layers(size: int, edges: list[tuple[int, int]]) -> list[int]:
    children: list[list[int]] = [[] for _ in range(size)]
    indegree = [0] * size
    for parent, child in edges:
        children[parent].append(child)
        indegree[child] += 1
    layer = [0] * size
    ready = [node for node in range(size) if indegree[node] == 0]
    while ready:
        node = ready.pop()
        for child in children[node]:
            layer[child] = max(layer[child], layer[node] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return layer


@dataclass
class _LayeredGraph:
    """Real nodes (0..real-1) plus dummy nodes, every edge between adjacent layers."""

    real: int
    node_layer: list[int]
    layers: list[list[int]]
    upper: list[list[int]]  # neighbours one layer up
    lower: list[list[int]]  # neighbours one layer down
    chains: dict[tuple[int, int], list[int]]  # long edge -> its dummies, top to bottom

    @property
    def size(self) -> int:
        return len(self.upper)

    @classmethod
    def build(cls, layer_of: list[int], edges: list[tuple[int, int]]) -> _LayeredGraph:
        real = len(layer_of)
        node_layer = list(layer_of)
        upper: list[list[int]] = [[] for _ in range(real)]
        lower: list[list[int]] = [[] for _ in range(real)]
        chains: dict[tuple[int, int], list[int]] = {}
        for source, target in edges:
            previous, dummies = source, []
            for layer in range(layer_of[source] + 1, layer_of[target]):
                dummy = len(node_layer)
                node_layer.append(layer)
                upper.append([previous])
                lower.append([])
                lower[previous].append(dummy)
                dummies.append(dummy)
                previous = dummy
            lower[previous].append(target)
            upper[target].append(previous)
            if dummies:
                chains[(source, target)] = dummies
        layers: list[list[int]] = [[] for _ in range(max(layer_of) + 1)]
        for node in _initial_order(real, chains):
            layers[node_layer[node]].append(node)
        return cls(
            real=real, node_layer=node_layer, layers=layers, upper=upper, lower=lower, chains=chains
        )

    def width_of(self, node: int, box_width: float) -> float:
        return box_width if node < self.real else 0.0

    def order_layers(self) -> None:
        """Barycenter sweeps from notebook order; keep the order with the fewest crossings."""
        best = [list(layer) for layer in self.layers]
        best_crossings = self.crossings()
        for sweep in range(_ORDER_SWEEPS):
            if best_crossings == 0:
                break
            downward = sweep % 2 == 0
            indices = (
                range(1, len(self.layers)) if downward else range(len(self.layers) - 2, -1, -1)
            )
            neighbours = self.upper if downward else self.lower
            for index in indices:
                self._sort_by_barycenter(index, neighbours)
            crossings = self.crossings()
            if crossings < best_crossings:
                best, best_crossings = [list(layer) for layer in self.layers], crossings
        self.layers = best

    def _sort_by_barycenter(self, index: int, neighbours: list[list[int]]) -> None:
        fixed = self.layers[index - 1] if neighbours is self.upper else self.layers[index + 1]
        position = {node: float(at) for at, node in enumerate(fixed)}
        layer = self.layers[index]
        keys: dict[int, float] = {}
        for at, node in enumerate(layer):
            around = neighbours[node]
            # A node without neighbours on that side keeps its place among the others.
            keys[node] = sum(position[n] for n in around) / len(around) if around else float(at)
        layer.sort(key=keys.__getitem__)

    def crossings(self) -> int:
        total = 0
        for top, bottom in pairwise(self.layers):
            position = {node: at for at, node in enumerate(bottom)}
            ends = [
                position[child]
                for node in top
                for child in sorted(self.lower[node], key=position.__getitem__)
            ]
            total += _inversions(ends, len(bottom))
        return total

    def place_x(self, box_width: float, gap: float) -> list[float]:
        """Centre x of every node: each layer pulled towards its neighbours, spacing kept."""
        x = [0.0] * self.size
        for layer in self.layers:
            at = 0.0
            for index, node in enumerate(layer):
                if index:
                    at += self._spacing(layer[index - 1], node, box_width, gap)
                x[node] = at
        down = range(1, len(self.layers))
        # Ending on a downward pass puts children under their parents, which reads best.
        for round_ in range(_PLACE_ROUNDS + 1):
            if round_:
                for index in reversed(down):
                    self._pull_layer(index - 1, self.lower, x, box_width, gap)
            for index in down:
                self._pull_layer(index, self.upper, x, box_width, gap)
        return x

    def _spacing(self, left: int, right: int, box_width: float, gap: float) -> float:
        return (self.width_of(left, box_width) + self.width_of(right, box_width)) / 2 + gap

    def _pull_layer(
        self,
        index: int,
        neighbours: list[list[int]],
        x: list[float],
        box_width: float,
        gap: float,
    ) -> None:
        layer = self.layers[index]
        offsets, wanted, weights = [], [], []
        offset = 0.0
        for at, node in enumerate(layer):
            if at:
                offset += self._spacing(layer[at - 1], node, box_width, gap)
            around = neighbours[node]
            target = sum(x[n] for n in around) / len(around) if around else x[node]
            offsets.append(offset)
            wanted.append(target - offset)
            weights.append(_DUMMY_WEIGHT if node >= self.real else 1.0)
        for node, offset, shifted in zip(layer, offsets, _isotonic(wanted, weights), strict=True):
            x[node] = shifted + offset

    def routes(
        self,
        edges: list[tuple[int, int]],
        x: list[float],
        box_height: float,
        row: float,
    ) -> list[list[tuple[float, float]]]:
        """Each edge's bend points between its ends: down each crossed layer at the dummy's x."""
        routes: list[list[tuple[float, float]]] = []
        for edge in edges:
            points: list[tuple[float, float]] = []
            for dummy in self.chains.get(edge, ()):
                layer_top = self.node_layer[dummy] * row
                points += [(x[dummy], layer_top), (x[dummy], layer_top + box_height)]
            routes.append(points)
        return routes


def _initial_order(real: int, chains: dict[tuple[int, int], list[int]]) -> list[int]:
    """Notebook order; a long edge's dummies just after the step the edge leaves."""
    after: dict[int, list[int]] = {}
    for (source, _target), dummies in chains.items():
        after.setdefault(source, []).extend(dummies)
    order: list[int] = []
    for node in range(real):
        order.append(node)
        order.extend(after.get(node, ()))
    return order


def _inversions(values: list[int], bound: int) -> int:
    """Pairs i < j with values[i] > values[j], counted with a Fenwick tree (values < bound)."""
    tree = [0] * (bound + 1)
    count = 0
    for seen, value in enumerate(values):
        at, not_greater = value + 1, 0
        while at > 0:
            not_greater += tree[at]
            at -= at & -at
        count += seen - not_greater
        at = value + 1
        while at <= bound:
            tree[at] += 1
            at += at & -at
    return count


def _isotonic(wanted: list[float], weights: list[float]) -> list[float]:
    """The non-decreasing sequence closest to `wanted` in weighted least squares (pool adjacent
    violators). Applied to x minus the cumulative spacing, it keeps boxes apart and in order."""
    blocks: list[list[float]] = []  # [weighted sum, weight, count]
    for value, weight in zip(wanted, weights, strict=True):
        blocks.append([value * weight, weight, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            last = blocks.pop()
            for slot in range(3):
                blocks[-1][slot] += last[slot]
    fitted: list[float] = []
    for total, weight, count in blocks:
        fitted.extend([total / weight] * int(count))
    return fitted


def _with_ports(
    routes: list[list[tuple[float, float]]],
    edges: list[tuple[int, int]],
    boxes: dict[str, Box],
    names: list[str],
) -> list[tuple[tuple[float, float], ...]]:
    """Full polylines: several edges leaving (or entering) one box spread over its middle half,
    ordered by where they head, so they do not cross at the box."""
    out_ports = _ports(edges, routes, boxes, names, leaving=True)
    in_ports = _ports(edges, routes, boxes, names, leaving=False)
    polylines: list[tuple[tuple[float, float], ...]] = []
    for number, ((source, target), bends) in enumerate(zip(edges, routes, strict=True)):
        start = (out_ports[number], boxes[names[source]].y + boxes[names[source]].height)
        end = (in_ports[number], boxes[names[target]].y)
        polylines.append((start, *bends, end))
    return polylines


def _ports(
    edges: list[tuple[int, int]],
    routes: list[list[tuple[float, float]]],
    boxes: dict[str, Box],
    names: list[str],
    *,
    leaving: bool,
) -> list[float]:
    by_box: dict[int, list[tuple[float, int]]] = {}
    for number, ((source, target), bends) in enumerate(zip(edges, routes, strict=True)):
        here, there = (source, target) if leaving else (target, source)
        far = boxes[names[there]]
        heading = far.x + far.width / 2
        if bends:  # a long edge heads for its first (or last) bend
            heading = bends[0][0] if leaving else bends[-1][0]
        by_box.setdefault(here, []).append((heading, number))
    ports = [0.0] * len(edges)
    for here, heads in by_box.items():
        box = boxes[names[here]]
        heads.sort()
        for slot, (_heading, number) in enumerate(heads):
            share = (slot + 1) / (len(heads) + 1)  # a single edge: the middle
            ports[number] = box.x + box.width / 4 + share * box.width / 2
    return ports
