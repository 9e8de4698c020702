"""One case per syntax form for the static analysis of a cell (`nbflow.core.cells`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from textwrap import dedent

import pytest

from nbflow.core import cells
from nbflow.core.cells import analyze, top_level_assignments


def case(case_id: str, source: str, binds: set[str], reads: set[str]) -> object:
    return pytest.param(dedent(source).strip("\n"), binds, reads, id=case_id)


BINDS_AND_READS = [
    # --- assignment targets
    case("simple", "x = 1", {"x"}, set()),
    case("tuple-nested", "a, (b, c) = t", {"a", "b", "c"}, {"t"}),
    case("list-target", "[a, b] = t", {"a", "b"}, {"t"}),
    case("starred", "first, *rest = t", {"first", "rest"}, {"t"}),
    case("chained", "a = b = make()", {"a", "b"}, {"make"}),
    case("self-reference", "x = x + 1", {"x"}, {"x"}),
    case("augmented", "x += 1", {"x"}, {"x"}),
    case("augmented-after-bind", "x = 0\nx += 1", {"x"}, set()),
    case("annotated-with-value", "x: Frame = y", {"x"}, {"Frame", "y"}),
    case("annotated-without-value", "x: Frame", set(), {"Frame"}),
    case("attribute-target", "obj.a = 1", set(), {"obj"}),
    case("subscript-target", "obj[i] = 1", set(), {"obj", "i"}),
    case("attribute-annotation-no-value", "obj.a: Frame", set(), {"obj", "Frame"}),
    # --- walrus (PEP 572)
    case("walrus-top-level", "(y := f(x))", {"y"}, {"f", "x"}),
    case("walrus-in-comprehension", "[(y := v) for v in data]", {"y"}, {"data"}),
    case("walrus-nested-comprehension", "[[(y := v) for v in r] for r in grid]", {"y"}, {"grid"}),
    case(
        "walrus-in-function-stays-local",
        """
        def f():
            (y := 1)
            return y
        """,
        {"f"},
        set(),
    ),
    case(
        "walrus-in-comprehension-in-function-stays-local",
        """
        def f():
            [(y := v) for v in data]
            return y
        """,
        {"f"},
        {"data"},
    ),
    case("walrus-in-lambda-stays-local", "g = lambda: (y := 1)", {"g"}, set()),
    # --- loops, with, except
    case(
        "for-target",
        """
        for i, item in enumerate(items):
            last = item
        """,
        {"i", "item", "last"},
        {"items"},
    ),
    case("for-iterable-read-first", "for x in x:\n    pass", {"x"}, {"x"}),
    case("for-else", "for x in xs:\n    pass\nelse:\n    done = x", {"x", "done"}, {"xs"}),
    case("async-for", "async for x in stream():\n    last = x", {"x", "last"}, {"stream"}),
    case(
        "with-as", "with open(path) as fh, lock:\n    text = fh", {"fh", "text"}, {"path", "lock"}
    ),
    case("with-tuple-target", "with ctx() as (a, b):\n    pass", {"a", "b"}, {"ctx"}),
    case("async-with", "async with session() as s:\n    pass", {"s"}, {"session"}),
    case(
        "except-as",
        """
        try:
            run()
        except Oops as err:
            msg = err
        """,
        {"err", "msg"},
        {"run", "Oops"},
    ),
    case("conditional-bind-counts", "if flag:\n    x = 1\ny = x", {"x", "y"}, {"flag"}),
    case("while-loop-carried-read", "while more():\n    n = step(n)", {"n"}, {"more", "step", "n"}),
    case("while-after-bind", "n = 0\nwhile more():\n    n = step(n)", {"n"}, {"more", "step"}),
    case("fstring", "s = f'{name!r:>{width}}'", {"s"}, {"name", "width"}),
    # --- imports
    case("import", "import os", {"os"}, set()),
    case("import-dotted", "import a.b.c", {"a"}, set()),
    case("import-dotted-as", "import a.b as c", {"c"}, set()),
    case("from-import-as", "from m import x as y, z", {"y", "z"}, set()),
    case("from-import-relative", "from . import sibling", {"sibling"}, set()),
    case("from-import-star", "from m import *", set(), set()),
    case("import-in-function-is-local", "def f():\n    import os\n    return os", {"f"}, set()),
    # --- definitions
    case("def", "def f(a, b=1):\n    return a + b", {"f"}, set()),
    case("async-def", "async def f(a):\n    return await a", {"f"}, set()),
    case("class", "class C(Base, metaclass=Meta):\n    pass", {"C"}, {"Base", "Meta"}),
    case("decorator-read", "@register\ndef f():\n    pass", {"f"}, {"register"}),
    case("class-decorator-read", "@dataclass\nclass C:\n    pass", {"C"}, {"dataclass"}),
    case(
        "default-arg-read",
        "def f(a=default, *, k=kdefault):\n    pass",
        {"f"},
        {"default", "kdefault"},
    ),
    case("default-arg-read-at-definition", "def f(a=x):\n    pass\nx = 1", {"f", "x"}, {"x"}),
    case("param-annotations-read", "def f(a: Frame) -> Out:\n    pass", {"f"}, {"Frame", "Out"}),
    case(
        "params-not-read",
        "def f(a, /, b, *args, k, **kw):\n    return a, b, args, k, kw",
        {"f"},
        set(),
    ),
    case("function-locals-do-not-leak", "def f():\n    tmp = 1\n    return tmp", {"f"}, set()),
    case("function-free-variable", "def f():\n    return scale * 2", {"f"}, {"scale"}),
    case(
        "function-free-variable-bound-later",
        "def f():\n    return scale\nscale = 2",
        {"f", "scale"},
        set(),
    ),
    case("function-recursion", "def f(n):\n    return f(n - 1)", {"f"}, set()),
    case("function-local-read-before-assign", "def f():\n    print(x)\n    x = 1", {"f"}, set()),
    case("function-del-makes-local", "def f():\n    del x", {"f"}, set()),
    case("lambda-params", "g = lambda a, b=d: a + b + c", {"g"}, {"c", "d"}),
    case(
        "nonlocal",
        """
        def outer():
            n = 0
            def inner():
                nonlocal n
                n += 1
            return inner
        """,
        {"outer"},
        set(),
    ),
    case(
        "nested-function-sees-enclosing",
        "def f():\n    a = 1\n    def g():\n        return a + b",
        {"f"},
        {"b"},
    ),
    case(
        "global-assign-binds",
        "def f():\n    global counter\n    counter = 1",
        {"f", "counter"},
        set(),
    ),
    case("global-read", "def f():\n    global counter\n    return counter", {"f"}, {"counter"}),
    case(
        "global-skips-enclosing-function",
        """
        def outer():
            x = 1
            def inner():
                global x
                return x
        """,
        {"outer"},
        {"x"},
    ),
    case(
        "walrus-in-lambda-in-comprehension-in-function",
        """
        def f():
            [lambda: (y := 1) for _ in r]
            return y
        """,
        {"f"},
        {"r", "y"},
    ),
    case("global-in-class-body", "class C:\n    global x\n    x = 1", {"C", "x"}, set()),
    case("global-at-top-level-is-noop", "global x\ny = x", {"y"}, {"x"}),
    # --- comprehensions
    case("list-comprehension", "[v for v in data if v > cut]", set(), {"data", "cut"}),
    case("set-comprehension", "{v for v in data}", set(), {"data"}),
    case("dict-comprehension", "{k: v for k, v in pairs}", set(), {"pairs"}),
    case("generator-expression", "total = sum(v for v in data)", {"total"}, {"data"}),
    case("nested-comprehension", "[(i, j) for i in rows for j in i]", set(), {"rows"}),
    case("comprehension-first-iterable-outside", "[x for x in x]", set(), {"x"}),
    case("comprehension-after-bind", "data = []\n[v for v in data]", {"data"}, set()),
    case(
        "comprehension-in-function", "def f(data):\n    return [v * k for v in data]", {"f"}, {"k"}
    ),
    # --- match
    case(
        "match-patterns",
        """
        match cmd:
            case [action, *rest]:
                pass
            case {"k": v, **others}:
                pass
            case Point(x=px) as p if p.ok(limit):
                pass
            case Color.RED | None:
                pass
            case _:
                pass
        """,
        {"action", "rest", "v", "others", "px", "p"},
        {"cmd", "Point", "Color", "limit"},
    ),
    # --- class bodies
    case(
        "class-body-names-do-not-leak",
        "class C:\n    size = 1\n    double = size * 2",
        {"C"},
        set(),
    ),
    case("class-body-reads-module", "class C:\n    y = x", {"C"}, {"x"}),
    case(
        "method-does-not-see-class-body",
        "class C:\n    size = 1\n    def m(self):\n        return size",
        {"C"},
        {"size"},
    ),
    case(
        "class-body-comprehension-does-not-see-class-body",
        "class C:\n    k = 2\n    ys = [k * v for v in vs]",
        {"C"},
        {"k", "vs"},
    ),
    # --- order of reads and binds
    case("bind-before-read", "x = 1\ny = x", {"x", "y"}, set()),
    case("read-before-bind", "y = x\nx = 1", {"x", "y"}, {"x"}),
    case("builtins-not-read", "n = len(items)\nprint(n)", {"n"}, {"items"}),
    case("shadowed-builtin-is-bound", "len = 3\ny = len", {"len", "y"}, set()),
    case("del-reads-not-binds", "del x", set(), {"x"}),
    case("del-after-bind", "x = 1\ndel x", {"x"}, set()),
]


@pytest.mark.parametrize(("source", "binds", "reads"), BINDS_AND_READS)
def test_binds_and_reads(source: str, binds: set[str], reads: set[str]) -> None:
    analysis = analyze(source)
    assert analysis.binds == binds
    assert analysis.reads == reads


MUTATING_METHODS = [
    "append", "extend", "insert", "pop", "popitem", "remove", "clear", "update", "setdefault",
    "add", "discard", "sort", "reverse", "fill", "resize", "fit", "partial_fit", "put", "itemset",
]  # fmt: skip


@pytest.mark.parametrize("method", MUTATING_METHODS)
def test_mutating_method_call(method: str) -> None:
    analysis = analyze(f"x.{method}(arg)")
    assert analysis.mutates == {"x"}
    assert analysis.reads == {"x", "arg"}


MUTATIONS = [
    pytest.param("x[0] = 1", {"x"}, id="subscript-assign"),
    pytest.param("x.a = 2", {"x"}, id="attribute-assign"),
    pytest.param("x.a.b[1] += 3", {"x"}, id="chain-augmented-assign"),
    pytest.param("x[0], y = 1, 2", {"x"}, id="subscript-in-tuple-target"),
    pytest.param("del x[0]", {"x"}, id="del-subscript"),
    pytest.param("del x.a", {"x"}, id="del-attribute"),
    pytest.param("x += [1]", {"x"}, id="augmented-name"),
    pytest.param("for x[0] in range(3):\n    pass", {"x"}, id="subscript-for-target"),
    pytest.param("df.drop(columns=['a'], inplace=True)", {"df"}, id="inplace-true"),
    pytest.param("df['a'].fillna(0, inplace=True)", {"df"}, id="inplace-true-on-chain"),
    pytest.param("def f():\n    x.append(1)", {"x"}, id="in-function-body"),
    pytest.param("[x.append(v) for v in vs]", {"x"}, id="in-comprehension"),
    # Calls and reads that leave the object alone.
    pytest.param("df.head()", set(), id="non-mutating-method"),
    pytest.param("df.drop(columns=['a'])", set(), id="no-inplace"),
    pytest.param("df.drop(columns=['a'], inplace=False)", set(), id="inplace-false"),
    pytest.param("y = x[0]\nz = x.a", set(), id="subscript-and-attribute-reads"),
    pytest.param("append(x)", set(), id="bare-function-named-like-method"),
    pytest.param("x: Frame", set(), id="annotation-only"),
    pytest.param("x.a: Frame", set(), id="attribute-annotation-only"),
    # The cell's own objects are not inputs.
    pytest.param("x = []\nx.append(1)", set(), id="own-object"),
    pytest.param("y = x\nx = []\nx.append(1)", set(), id="rebound-before-mutation"),
    pytest.param("def f():\n    x.append(1)\nx = []", set(), id="function-mutates-own-later-bind"),
    pytest.param("def f(x):\n    x.append(1)", set(), id="function-parameter"),
    pytest.param(
        "y = x\nx = []\ndef f():\n    x.append(1)", set(), id="function-mutates-own-rebound-input"
    ),
    pytest.param("[x.append(1) for x in xs]", set(), id="comprehension-variable"),
]


@pytest.mark.parametrize(("source", "mutates"), MUTATIONS)
def test_mutates(source: str, mutates: set[str]) -> None:
    analysis = analyze(source)
    assert analysis.mutates == mutates
    assert analysis.mutates <= analysis.reads


def test_imports_are_the_import_bound_names() -> None:
    source = "import os\nimport a.b\nfrom m import x as y\nz = 1\ndef f():\n    import json"
    analysis = analyze(source)
    assert analysis.imports == {"os", "a", "y"}
    assert analysis.binds == {"os", "a", "y", "z", "f"}


def handles_case(case_id: str, source: str, handles: set[str]) -> object:
    return pytest.param(source, handles, id=case_id)


HANDLES = [
    handles_case("with-as", "with open(path) as fh:\n    text = fh.read()", {"fh"}),
    handles_case("with-items", "with open(a) as fa, open(b) as fb, lock:\n    pass", {"fa", "fb"}),
    handles_case("with-tuple-target", "with ctx() as (a, [b, *c]):\n    pass", {"a", "b", "c"}),
    handles_case("async-with", "async with session() as s:\n    pass", {"s"}),
    handles_case("nested-with", "with a() as x:\n    with b() as y:\n        pass", {"x", "y"}),
    handles_case("with-in-loop", "for p in ps:\n    with open(p) as f:\n        pass", {"f"}),
    # Bound by something else too: the value may be real data at the end, so it is stored.
    handles_case("with-then-assigned", "with open(p) as f:\n    pass\nf = 1", set()),
    handles_case("assigned-then-with", "f = 1\nwith open(p) as f:\n    pass", set()),
    handles_case("with-walrus-in-item", "with open(p := 'x') as f:\n    pass", {"f"}),
    handles_case("with-target-attribute", "with open(p) as obj.fh:\n    pass", set()),
    handles_case("with-in-function", "def g():\n    with open(p) as f:\n        pass", set()),
]


@pytest.mark.parametrize(("source", "handles"), HANDLES)
def test_with_targets_are_handles(source: str, handles: set[str]) -> None:
    analysis = analyze(source)
    assert analysis.handles == handles
    assert analysis.handles <= analysis.binds


def test_first_line_is_earliest_occurrence() -> None:
    source = dedent(
        """\
        import os
        @dec
        def f(a):
            return later + a
        x = y + 1
        y = 2
        for i in items:
            pass
        class C:
            def m(self):
                return C
        """
    )
    analysis = analyze(source)
    assert analysis.first_line == {
        "os": 1,
        "dec": 2,
        "f": 3,
        "later": 4,
        "x": 5,
        "y": 5,  # read on line 5 before its bind on line 6
        "i": 7,
        "items": 7,
        "C": 9,  # visited after its body, which names it on line 11
    }


def test_first_line_covers_exactly_binds_and_reads() -> None:
    analysis = analyze("def f(a):\n    tmp = a\n    return tmp\nprint(f(v))")
    assert set(analysis.first_line) == analysis.binds | analysis.reads == {"f", "v"}


def test_top_level_assignments_of_params_cell() -> None:
    source = dedent(
        """\
        alpha = 0.1
        epochs: int = 10
        a = b = 2
        c, (d, *e) = 1, (2, 3)
        label: str
        print(alpha)
        import os
        def f():
            inner = 1
        cfg.x = 1
        if True:
            hidden = 1
        alpha = 0.2
        """
    )
    assert top_level_assignments(source) == [
        ("alpha", 1),
        ("epochs", 2),
        ("a", 3),
        ("b", 3),
        ("c", 4),
        ("d", 4),
        ("e", 4),
        ("alpha", 13),
    ]


def test_top_level_assignments_line_of_each_name() -> None:
    assert top_level_assignments("(x,\n y) = 1, 2") == [("x", 1), ("y", 2)]


@pytest.mark.parametrize("function", [analyze, top_level_assignments])
def test_syntax_error_propagates(function: Callable[[str], object]) -> None:
    with pytest.raises(SyntaxError):
        function("x = (")


def test_analysis_is_frozen() -> None:
    analysis = analyze("x = 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        analysis.binds = frozenset()  # type: ignore[misc]


def test_public_api() -> None:
    assert set(cells.__all__) == {"CellAnalysis", "analyze", "top_level_assignments"}
