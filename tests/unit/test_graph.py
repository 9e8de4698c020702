"""The graph model and its checks, without a kernel. Shapes are data, as in Metaflow's tests."""

from __future__ import annotations

import pickle

import pytest

from nbflow.core.graph import FlowGraph, StepSpec, check_graph, check_step
from nbflow.exceptions import GraphError


def graph_of(*specs: StepSpec) -> FlowGraph:
    graph = FlowGraph()
    for spec in specs:
        graph = graph.with_step(spec)
    return graph


def S(name: str, *parents: str, **options: object) -> StepSpec:
    return StepSpec(name, parents=parents, line=1, **options)  # type: ignore[arg-type]


SHAPES = {
    "linear": [S("start"), S("a", "start"), S("end", "a")],
    "branch": [S("start"), S("a", "start"), S("b", "start"), S("c", "start"),
               S("join", "a", "b", "c")],
    "foreach": [S("start"), S("body", "start", foreach="xs"), S("join", "body", join=True)],
    "foreach_body": [S("start"), S("f", "start", foreach="xs"), S("g", "f"), S("h", "g"),
                     S("join", "h", join=True)],
    "nested": [S("start"), S("outer", "start", foreach="xs"), S("inner", "outer", foreach="ys"),
               S("inner_join", "inner", join=True), S("outer_join", "inner_join", join=True)],
    "branch_in_foreach": [S("start"), S("f", "start", foreach="xs"), S("a", "f"), S("b", "f"),
                          S("both", "a", "b"), S("join", "both", join=True)],
}  # fmt: skip

LEVELS = {
    "linear": {"start": (), "a": (), "end": ()},
    "branch": {"start": (), "a": (), "b": (), "c": (), "join": ()},
    "foreach": {"start": (), "body": ("body",), "join": ()},
    "foreach_body": {"start": (), "f": ("f",), "g": ("f",), "h": ("f",), "join": ()},
    "nested": {"start": (), "outer": ("outer",), "inner": ("outer", "inner"),
               "inner_join": ("outer",), "outer_join": ()},
    "branch_in_foreach": {"start": (), "f": ("f",), "a": ("f",), "b": ("f",), "both": ("f",),
                          "join": ()},
}  # fmt: skip


@pytest.mark.parametrize("shape", SHAPES)
def test_valid_shapes_check_and_have_levels(shape: str) -> None:
    graph = graph_of(*SHAPES[shape])
    check_graph(graph)
    assert graph.levels() == LEVELS[shape]
    order = graph.order()
    for spec in graph:
        assert all(order.index(p) < order.index(spec.name) for p in spec.parents)


def test_order_keeps_registration_order_among_ready_steps() -> None:
    graph = graph_of(*SHAPES["branch"])
    assert graph.order() == ["start", "a", "b", "c", "join"]


def test_descendants_and_ancestors() -> None:
    graph = graph_of(*SHAPES["foreach_body"])
    assert graph.descendants("f") == {"g", "h", "join"}
    assert graph.ancestors("h") == {"start", "f", "g"}
    assert graph.end_steps() == ["join"]


@pytest.mark.parametrize(
    ("shape", "steps", "split"),
    [
        ("branch", ("a", "b", "c"), "start"),
        ("branch_in_foreach", ("a", "b"), "f"),
        ("linear", ("a", "end"), "a"),  # one branch is an ancestor of the other
        ("linear", ("start",), "start"),
    ],
)
def test_split_of_is_the_nearest_common_ancestor(
    shape: str, steps: tuple[str, ...], split: str
) -> None:
    assert graph_of(*SHAPES[shape]).split_of(steps) == split


def test_split_of_nested_branches_and_separate_roots() -> None:
    graph = graph_of(
        S("start"), S("a", "start"), S("b", "start"), S("aa", "a"), S("ab", "a"),
        S("a_join", "aa", "ab"), S("root2"), S("solo", "root2"),
    )  # fmt: skip
    assert graph.split_of(("aa", "ab")) == "a"
    assert graph.split_of(("a_join", "b")) == "start"
    assert graph.split_of(("a_join", "solo")) is None


def test_replacing_a_step_keeps_its_position() -> None:
    graph = graph_of(S("start"), S("a", "start"), S("b", "a"))
    graph = graph.with_step(S("a", "start", foreach="xs"))
    assert list(graph.steps) == ["start", "a", "b"]
    assert graph["a"].foreach == "xs"


BAD = {
    "not_identifier": ([S("my-step")], "'my-step' is not a valid step name", "my_step"),
    "keyword": ([S("class")], "not a valid step name", "Use a Python identifier"),
    "reserved": ([S("inputs")], "reserved", "choose another step name"),
    "unknown_parent": ([S("start"), S("train", "prep")], "names parent 'prep'", "fix --after"),
    "self_parent": ([S("a", "a")], "lists itself", "Remove it"),
    "cycle": ([S("a", "c"), S("b", "a"), S("c", "b")], "cycle: ", "Remove one of these"),
    "join_without_foreach": ([S("start"), S("j", "start", join=True)],
                             "no foreach is open after 'start'", "Remove --join"),
    "join_two_parents": ([S("s"), S("f", "s", foreach="xs"), S("a", "f"), S("b", "f"),
                          S("j", "a", "b", join=True)], "exactly one parent", "static join"),
    "foreach_two_parents": ([S("a"), S("b"), S("f", "a", "b", foreach="xs")],
                            "exactly one parent", "--after"),
    "foreach_and_join": ([S("s"), S("f", "s", foreach="xs"), S("j", "f", join=True,
                          foreach="ys")], "both --foreach and --join", "Close the foreach"),
    "mixed_levels": ([S("s"), S("f", "s", foreach="xs"), S("other", "s"), S("j", "f", "other")],
                     "different foreach levels", "--join step"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD)
def test_bad_graphs_name_step_line_and_fix(case: str) -> None:
    specs, problem, fix = BAD[case]
    with pytest.raises(GraphError) as caught:
        check_graph(graph_of(*specs))
    message = str(caught.value)
    assert problem in message
    assert fix in message
    assert "(cell line 1)" in message
    assert caught.value.step is not None


def test_cycle_message_lists_the_loop_in_order() -> None:
    with pytest.raises(GraphError, match=r"a -> b -> c -> a"):
        check_graph(graph_of(S("a", "c"), S("b", "a"), S("c", "b")))


def test_check_step_refuses_a_cycle_made_by_re_registering() -> None:
    graph = graph_of(S("a"), S("b", "a"))
    with pytest.raises(GraphError, match="cycle"):
        check_step(graph, S("a", "b"))
    # The graph the caller holds is unchanged by a refused step.
    assert graph["a"].parents == ()


def test_unknown_parent_lists_known_steps() -> None:
    with pytest.raises(GraphError, match=r"steps so far: start, a"):
        check_step(graph_of(S("start"), S("a", "start")), S("b", "nope"))


def test_graph_errors_survive_pickling() -> None:
    with pytest.raises(GraphError) as caught:
        check_graph(graph_of(S("a", "a")))
    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == str(caught.value)
    assert copy.step == "a"


def test_graph_core_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, nbflow.core.graph, nbflow.core.cells, nbflow.core.plan;"
        "heavy = {'IPython', 'numpy', 'pandas', 'sqlite3', 'multiprocessing'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
