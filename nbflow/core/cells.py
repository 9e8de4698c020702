"""Static analysis of one notebook cell: the names it binds, reads and (probably) mutates.

Pure standard library, so the graph core can use it without a kernel. The analysis follows
Python's scoping rules: module-level code runs top to bottom, so a name read before the cell
binds it is an input; function and lambda bodies run later, so a free name inside them is an
input only if the cell never binds it at module level.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["CellAnalysis", "analyze", "top_level_assignments"]

_BUILTINS = frozenset(dir(builtins))

# Methods that change their receiver in place on lists, dicts, sets, numpy arrays, queues and
# scikit-learn estimators. A heuristic: a user class may use these names for pure methods.
_MUTATING_METHODS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "pop",
        "popitem",
        "remove",
        "clear",
        "update",
        "setdefault",
        "add",
        "discard",
        "sort",
        "reverse",
        "fill",
        "resize",
        "fit",
        "partial_fit",
        "put",
        "itemset",
    }
)


@dataclass(frozen=True)
class CellAnalysis:
    """What a cell does to the module namespace it runs in."""

    binds: frozenset[str]  # names bound at module level
    reads: frozenset[str]  # free inputs: module-level names read before (or without) binding
    mutates: frozenset[str]  # inputs the cell probably changes in place
    imports: frozenset[str]  # the binds that come from import statements
    # The binds made only by `with ... as` targets: handles (files, locks, sessions), closed or
    # released by the time the cell ends, so not results.
    handles: frozenset[str]
    first_line: dict[str, int]  # 1-based line of first occurrence, for binds | reads


def analyze(source: str) -> CellAnalysis:
    """Analyze a cell's Python source. A `SyntaxError` propagates to the caller."""
    visitor = _CellVisitor()
    visitor.visit(ast.parse(source))
    return visitor.result()


def top_level_assignments(source: str) -> list[tuple[str, int]]:
    """For a %%params cell: names assigned at top level by simple assignment / annotated
    assignment (`x = 1`, `x: int = 1`, `a = b = 2`, `a, b = 1, 2`), in source order, with their
    line. Anything else at top level (a call, an import, a def) is ignored.

    A name assigned twice appears twice; the caller decides which one wins.
    """
    found: list[tuple[str, int]] = []
    for stmt in ast.parse(source).body:
        for target in _assignment_targets(stmt):
            found.extend((name.id, name.lineno) for name in _target_names(target))
    return found


def _assignment_targets(stmt: ast.stmt) -> list[ast.expr]:
    if isinstance(stmt, ast.Assign):
        return stmt.targets
    # `x: int` without a value declares a type but assigns nothing.
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        return [stmt.target]
    return []


def _target_names(target: ast.expr) -> Iterator[ast.Name]:
    """The plain names an assignment target binds, through tuple/list/starred unpacking."""
    if isinstance(target, ast.Name):
        yield target
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def _root_name(node: ast.expr) -> ast.Name | None:
    """`x` for `x.a.b[1]`: the variable whose object an attribute/subscript chain reaches into."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node if isinstance(node, ast.Name) else None


def _alias_binding(alias: ast.alias) -> str | None:
    """The name an import binds: `import a.b` binds `a`; `*` binds nothing we can see."""
    if alias.name == "*":
        return None
    return alias.asname or alias.name.split(".")[0]


def _walrus_targets(node: ast.AST) -> Iterator[str]:
    """Walrus targets inside comprehensions, which PEP 572 binds in the enclosing scope."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.NamedExpr) and isinstance(child.target, ast.Name):
            yield child.target.id
        # A lambda is its own scope: a walrus inside it binds there.
        if not isinstance(child, ast.Lambda):
            yield from _walrus_targets(child)


def _parameters(args: ast.arguments) -> list[ast.arg]:
    extras = [arg for arg in (args.vararg, args.kwarg) if arg is not None]
    return [*args.posonlyargs, *args.args, *args.kwonlyargs, *extras]


def _has_inplace_true(call: ast.Call) -> bool:
    return any(
        kw.arg == "inplace" and isinstance(kw.value, ast.Constant) and kw.value.value is True
        for kw in call.keywords
    )


class _LocalNames(ast.NodeVisitor):
    """Collects what a function body binds. Python makes such a name local to the whole body,
    even where it is read before the binding, so this must be known before visiting the body."""

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.global_decls: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        # `del x` is a binding operation too: it makes `x` local.
        if not isinstance(node.ctx, ast.Load):
            self.bound.add(node.id)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.bound.add(node.name)  # the nested body is its own scope

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.bound.add(node.name)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        pass  # its own scope

    def _visit_comprehension(self, node: ast.AST) -> None:
        self.bound.update(_walrus_targets(node))  # its loop variables stay inside

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _visit_comprehension

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        self.bound.update(name for name in map(_alias_binding, node.names) if name)

    visit_ImportFrom = visit_Import

    def visit_Global(self, node: ast.Global) -> None:
        self.global_decls.update(node.names)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        self._bind_optional(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        self._bind_optional(node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        self._bind_optional(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        self._bind_optional(node.rest)
        self.generic_visit(node)

    def _bind_optional(self, name: str | None) -> None:
        if name is not None:
            self.bound.add(name)


# "inline" scopes (comprehensions) run immediately and keep their names to themselves.
_ScopeKind = Literal["module", "function", "class", "inline"]


@dataclass
class _Scope:
    kind: _ScopeKind
    # Module and class bodies run top to bottom, so their names grow as we visit; function and
    # comprehension names are known up front.
    names: set[str] = field(default_factory=set)
    global_decls: frozenset[str] = frozenset()


def _function_scope(args: ast.arguments, body: Iterable[ast.AST]) -> _Scope:
    collector = _LocalNames()
    for node in body:
        collector.visit(node)
    # A `nonlocal` name may stay in `names`: it resolves to an enclosing function, which is
    # just as local from the module's point of view.
    names = (collector.bound | {arg.arg for arg in _parameters(args)}) - collector.global_decls
    return _Scope("function", names, frozenset(collector.global_decls))


def _class_scope(body: Iterable[ast.stmt]) -> _Scope:
    collector = _LocalNames()
    for stmt in body:
        collector.visit(stmt)
    return _Scope("class", global_decls=frozenset(collector.global_decls))


# Where a name read resolves: a local of some nested scope, the module right now (top-level
# code), or the module later (inside a function body, which runs when called).
_Resolution = Literal["local", "now", "later"]


class _CellVisitor(ast.NodeVisitor):
    """Walks a cell in execution order, keeping a stack of scopes."""

    def __init__(self) -> None:
        self._module = _Scope("module")  # its names are the cell's binds so far
        self._stack = [self._module]
        self._imports: set[str] = set()
        self._with_targets: set[str] = set()  # module names bound by a `with ... as`
        self._bound_otherwise: set[str] = set()  # ... and by anything else
        self._in_with_target = False
        self._reads_now: set[str] = set()
        self._reads_later: set[str] = set()
        self._mutated_now: set[str] = set()
        self._mutated_later: set[str] = set()
        self._first_line: dict[str, int] = {}

    def result(self) -> CellAnalysis:
        binds = frozenset(self._module.names)
        # A function body sees the module as it is when called, i.e. after the whole cell ran.
        reads = frozenset((self._reads_now | (self._reads_later - binds)) - _BUILTINS)
        mutates = (self._mutated_now | (self._mutated_later - binds)) & reads
        lines = {name: line for name, line in self._first_line.items() if name in binds | reads}
        handles = frozenset(self._with_targets - self._bound_otherwise)
        return CellAnalysis(
            binds, reads, frozenset(mutates), frozenset(self._imports), handles, lines
        )

    # --- name resolution -------------------------------------------------------------------

    def _resolve(self, name: str) -> _Resolution:
        innermost = self._stack[-1]
        deferred = False
        for scope in reversed(self._stack[1:]):
            # Methods and comprehensions inside a class body do not see the class's names.
            if scope.kind == "class" and scope is not innermost:
                continue
            deferred = deferred or scope.kind == "function"
            if name in scope.global_decls:
                break
            if name in scope.names:
                return "local"
        return "later" if deferred else "now"

    def _is_input(self, name: str) -> _Resolution | None:
        """Whether a read of `name` here reads the cell's input, and when."""
        where = self._resolve(name)
        if where == "later" or (where == "now" and name not in self._module.names):
            return where
        return None

    def _load(self, name: str, line: int) -> None:
        where = self._is_input(name)
        if where is not None:
            (self._reads_now if where == "now" else self._reads_later).add(name)
            self._note_line(name, line)

    def _store(self, name: str, line: int, *, walrus: bool = False) -> bool:
        """Bind `name` in the scope it belongs to; True when that is the module."""
        scope = self._stack[-1]
        if walrus:  # PEP 572: a walrus in a comprehension binds in the enclosing scope
            scope = next(s for s in reversed(self._stack) if s.kind != "inline")
        if scope.kind != "module" and name not in scope.global_decls:
            scope.names.add(name)
            return False
        self._module.names.add(name)
        handle = self._in_with_target and not walrus  # `as d[(i := 0)]` binds i as data
        (self._with_targets if handle else self._bound_otherwise).add(name)
        self._note_line(name, line)
        return True

    def _mutate(self, node: ast.Name) -> None:
        # Only an input can be mutated: `x = []; x.append(1)` changes the cell's own list.
        where = self._is_input(node.id)
        if where is not None:
            (self._mutated_now if where == "now" else self._mutated_later).add(node.id)

    def _note_line(self, name: str, line: int) -> None:
        # Visiting order is execution order, not source order (`for x in xs` visits xs first).
        self._first_line[name] = min(line, self._first_line.get(name, line))

    def _visit_all(self, nodes: Iterable[ast.AST | None]) -> None:
        for node in nodes:
            if node is not None:
                self.visit(node)

    # --- names and targets -----------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        # `del x` reads x (it must exist) and does not bind it.
        if isinstance(node.ctx, ast.Store):
            self._store(node.id, node.lineno)
        else:
            self._load(node.id, node.lineno)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._visit_chain(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self._visit_chain(node)

    def _visit_chain(self, node: ast.Attribute | ast.Subscript) -> None:
        # `x.a = 1`, `x[0] += 1` and `del x[0]` change x's object, not the name x.
        root = _root_name(node)
        if root is not None and not isinstance(node.ctx, ast.Load):
            self._mutate(root)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        self._visit_all(node.targets)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        target = node.target
        if not isinstance(target, ast.Name):
            self._visit_all([target, node.value])
            return
        # `x += [1]` extends a list in place, and reads x before rebinding it.
        self._mutate(target)
        self._load(target.id, target.lineno)
        self.visit(node.value)
        self._store(target.id, target.lineno)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.annotation)
        if node.value is not None:
            self._visit_all([node.value, node.target])
        elif not isinstance(node.target, ast.Name):
            # `x.a: int` evaluates x but assigns nothing, so it is not a mutation.
            self._visit_all(ast.iter_child_nodes(node.target))

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self._store(node.target.id, node.target.lineno, walrus=True)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        # The iterable is evaluated before the target is bound: `for x in x` reads x.
        self._visit_all([node.iter, node.target, *node.body, *node.orelse])

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._visit_with_target(item.optional_vars)
        self._visit_all(node.body)

    visit_AsyncWith = visit_With

    def _visit_with_target(self, target: ast.expr) -> None:
        self._in_with_target = True
        try:
            self.visit(target)
        finally:
            self._in_with_target = False

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute):
            self._note_method_call(node.func, node)
        self.generic_visit(node)

    def _note_method_call(self, method: ast.Attribute, call: ast.Call) -> None:
        receiver = method.value
        if isinstance(receiver, ast.Name) and method.attr in _MUTATING_METHODS:
            self._mutate(receiver)
        # `df["a"].fillna(0, inplace=True)` changes df too, so follow the chain to its root.
        root = _root_name(receiver)
        if root is not None and _has_inplace_true(call):
            self._mutate(root)

    # --- imports, handlers, patterns -------------------------------------------------------

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            name = _alias_binding(alias)
            if name is not None and self._store(name, alias.lineno):
                self._imports.add(name)

    visit_ImportFrom = visit_Import

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        self._visit_all([node.type])
        if node.name is not None:
            self._store(node.name, node.lineno)
        self._visit_all(node.body)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        self.generic_visit(node)
        if node.name is not None:
            self._store(node.name, node.lineno)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name is not None:
            self._store(node.name, node.lineno)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        self.generic_visit(node)
        if node.rest is not None:
            self._store(node.rest, node.lineno)

    # --- scopes ----------------------------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        # Decorators, defaults and annotations are evaluated when the def statement runs.
        self._visit_all(node.decorator_list)
        self._visit_definition_time(node.args)
        self._visit_all([node.returns])
        self._store(node.name, node.lineno)
        self._in_scope(_function_scope(node.args, node.body), node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_definition_time(node.args)
        self._in_scope(_function_scope(node.args, [node.body]), [node.body])

    def _visit_definition_time(self, args: ast.arguments) -> None:
        self._visit_all([*args.defaults, *args.kw_defaults])
        self._visit_all(arg.annotation for arg in _parameters(args))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._visit_all([*node.decorator_list, *node.bases])
        self._visit_all(keyword.value for keyword in node.keywords)
        self._in_scope(_class_scope(node.body), node.body)
        self._store(node.name, node.lineno)

    def visit_ListComp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp) -> None:
        self._visit_comprehension(node.generators, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._visit_comprehension(node.generators, [node.key, node.value])

    def _visit_comprehension(
        self, generators: list[ast.comprehension], results: list[ast.expr]
    ) -> None:
        # The first iterable is evaluated outside the comprehension; everything else inside.
        self.visit(generators[0].iter)
        loop_names = {name.id for gen in generators for name in _target_names(gen.target)}
        inner: list[ast.AST] = [generators[0].target, *generators[0].ifs]
        for gen in generators[1:]:
            inner.extend([gen.iter, gen.target, *gen.ifs])
        self._in_scope(_Scope("inline", loop_names), [*inner, *results])

    def _in_scope(self, scope: _Scope, nodes: Iterable[ast.AST]) -> None:
        self._stack.append(scope)
        try:
            self._visit_all(nodes)
        finally:
            self._stack.pop()
