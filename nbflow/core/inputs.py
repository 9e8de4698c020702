"""What a join step sees: `inputs`, read-only views of its parents' tasks, and `merge`.

What a join inherits (`join_artifacts`), without any call of `merge`:

- a name with the same value in every input, or that only one input has, is bound directly;
- a name whose value differs between the inputs is left to `inputs` (`inp.score`): no error;
- the closed foreach's own names (`item` or its `--as` name, `item_index`) are never taken from
  the inputs: the join gets them as the task that opened the foreach had them (the outer
  foreach's element, in a nested foreach), or not at all;
- with no inputs at all (an empty foreach, every branch skipped), what the task before the
  split could see.

`merge(inputs, include=, exclude=)` is Metaflow's `merge_artifacts` on top of that rule: it
refuses only a real ambiguity, a name that existed before the split (in the task that opened
the foreach, or where a static join's branches split) and that the branches changed
differently; a name created inside the branches that differs stays in `inputs`, as above.
Names the join binds itself before calling merge are left alone. `include` binds only the
names it lists (an error if one is missing or differs); `exclude` binds all but those. Either
way, what merge does not bind does not flow to the steps below the join either.

An input's artifacts load lazily, on first attribute access, through an injected loader.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, MutableMapping
from collections.abc import Set as AbstractSet
from typing import Any

from nbflow.exceptions import StepError

Loader = Callable[[str], Any]  # blob key -> value
# Where a join's merge binds: its namespace, what it was given, the names not to pass on.
MergeTarget = tuple[MutableMapping[str, Any], MutableMapping[str, Any], set[str]]


class InputView:
    """One parent task as a join sees it: `inp.score`, `inp.step`, `inp.index`."""

    __slots__ = ("_artifacts", "_cache", "_loader", "index", "step", "task_id")

    def __init__(
        self, step: str, task_id: int, index: int, artifacts: Mapping[str, str], loader: Loader
    ) -> None:
        # Set through object.__setattr__: assignment is refused to keep inputs read-only.
        for name, value in (
            ("step", step),
            ("task_id", task_id),
            ("index", index),
            ("_artifacts", dict(artifacts)),
            ("_loader", loader),
            ("_cache", {}),
        ):
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name not in self._artifacts:
            raise AttributeError(
                f"input {self.index} (step '{self.step}') has no artifact '{name}'. "
                f"It has: {', '.join(sorted(self._artifacts)) or 'none'}."
            )
        if name not in self._cache:
            self._cache[name] = self._loader(self._artifacts[name])
        return self._cache[name]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("inputs are read-only; bind a new name in the join step instead")

    def __dir__(self) -> list[str]:
        return sorted(self._artifacts)

    @property
    def artifact_keys(self) -> dict[str, str]:
        return dict(self._artifacts)

    def __repr__(self) -> str:
        return f"<input {self.index} from step '{self.step}': {', '.join(sorted(self._artifacts))}>"


class Inputs:
    """The parents of a join, in order: `inputs[0]`, `inputs.train`, `for inp in inputs`.

    It also knows, for `merge`, what existed before the split (`before`, and the step that had
    it) and which names belong to the closed foreach (`owned`)."""

    def __init__(
        self,
        views: list[InputView],
        *,
        step: str | None = None,
        before: Mapping[str, str] | None = None,
        before_step: str | None = None,
        owned: AbstractSet[str] = frozenset(),
    ) -> None:
        self._views = views
        self._step = step  # the join's own step, for merge's errors
        self._before = dict(before or {})
        self._before_step = before_step
        self._owned = frozenset(owned)
        # The join's namespace, what it was given, and the names not to pass on: where
        # `merge(inputs)` binds (set by the task that runs the join: `bind_merge`).
        self._target: MergeTarget | None = None

    def bind_merge(
        self, into: MutableMapping[str, Any], given: MutableMapping[str, Any], dropped: set[str]
    ) -> None:
        """Where `merge(self)` binds: the join's namespace `into`, `given` what it got before
        its code ran (so a name the code bound itself is told from an inherited one), and
        `dropped`, which collects the inherited names that are not to flow further."""
        self._target = (into, given, dropped)

    def __len__(self) -> int:
        return len(self._views)

    def __iter__(self) -> Iterator[InputView]:
        return iter(self._views)

    def __getitem__(self, index: int) -> InputView:
        return self._views[index]

    def __getattr__(self, step: str) -> InputView:
        for view in self._views:
            if view.step == step:
                return view
        steps = ", ".join(dict.fromkeys(v.step for v in self._views))
        raise AttributeError(f"no input from step '{step}'; the inputs come from: {steps}")

    def __repr__(self) -> str:
        return f"<inputs: {len(self)} from {', '.join(dict.fromkeys(v.step for v in self))}>"

    def _keys(self) -> list[dict[str, str]]:
        """Each input's artifacts, without the closed foreach's own names."""
        return [
            {n: k for n, k in v.artifact_keys.items() if n not in self._owned} for v in self._views
        ]


def split_conflicts(views: Iterable[Mapping[str, str]]) -> tuple[dict[str, str], set[str]]:
    """Names with one value across the inputs that have them (bound in the join), and the rest."""
    keys: dict[str, set[str]] = {}
    for artifacts in views:
        for name, key in artifacts.items():
            keys.setdefault(name, set()).add(key)
    agreed = {name: next(iter(ks)) for name, ks in keys.items() if len(ks) == 1}
    return agreed, {name for name, ks in keys.items() if len(ks) > 1}


def join_artifacts(
    views: Collection[Mapping[str, str]], before: Mapping[str, str], owned: AbstractSet[str]
) -> dict[str, str]:
    """What a join inherits (the rule is in this module's docstring): name -> blob key."""
    if not views:
        return dict(before)
    agreed, _ = split_conflicts({n: k for n, k in v.items() if n not in owned} for v in views)
    return {**{n: k for n, k in before.items() if n in owned}, **agreed}


def merge(
    inputs: Inputs, exclude: Iterable[str] | None = None, include: Iterable[str] | None = None
) -> None:
    """Metaflow's `merge_artifacts(inputs, exclude=, include=)` (see the module docstring), in
    a join step: `merge(inputs)`, also after `from nbflow import merge`. Nothing is bound or
    dropped when it raises."""
    __tracebackhide__ = True  # the error is the caller's: IPython shows their line
    target = inputs._target if isinstance(inputs, Inputs) else None
    if target is None:
        raise StepError(
            f"merge() takes a join step's `inputs` (merge(inputs), merge(inputs, exclude=[...])), "
            f"not {type(inputs).__name__}: call it in a step with --join or --after two steps."
        )
    into, given, dropped = target
    step = inputs._step
    included, excluded = _names("include", include, step), _names("exclude", exclude, step)
    if included and excluded:
        raise StepError(
            "merge(): pass include= or exclude=, not both (include= binds only the names it "
            "lists, exclude= all but those).",
            step=step,
        )
    own = {n for n in into if not (n in given and given[n] is into[n])}
    views = inputs._keys()
    offered = set().union(*views)
    wanted = (included or offered - excluded) - own
    agreed, conflicts = split_conflicts({n: k for n, k in v.items() if n in wanted} for v in views)
    _refuse_changed(inputs, sorted(n for n in conflicts if n in inputs._before))
    _refuse_included(inputs, sorted(conflicts & included), sorted(included - offered - own))
    for name in sorted(agreed.keys() - into.keys()):
        view = next(v for v in inputs if name in v.artifact_keys)
        # Inherited already under the same key: given, so it is not stored again as a result.
        into[name] = given[name] = getattr(view, name)
    inherited = join_artifacts(views, inputs._before, inputs._owned)
    drop = (inherited.keys() - included if included else inherited.keys() & excluded) - own
    drop -= inputs._owned  # the outer foreach's element stays what it was
    for name in drop:
        into.pop(name, None)
        given.pop(name, None)
    dropped.update(drop)


def _names(option: str, names: Iterable[str] | None, step: str | None) -> set[str]:
    if isinstance(names, str):  # exclude="ab" would exclude 'a' and 'b'
        raise StepError(
            f"merge(): {option}= takes a list of names, e.g. {option}=[{names!r}].", step=step
        )
    return set(names or ())


def _refuse_changed(inputs: Inputs, names: list[str]) -> None:
    if not names:
        return
    where = f" (in step '{inputs._before_step}')" if inputs._before_step else ""
    raise StepError(
        f"merge(): the inputs disagree on {_listed(names)}, which existed before the split"
        f"{where} and the branches changed differently. {_set_it_yourself(names)}, or pass "
        f"exclude={names!r}.",
        step=inputs._step,
    )


def _refuse_included(inputs: Inputs, differ: list[str], missing: list[str]) -> None:
    if differ:
        raise StepError(
            f"merge(): include= names {_listed(differ)}, on which the inputs disagree. "
            f"{_set_it_yourself(differ)}, or leave it out of include=.",
            step=inputs._step,
        )
    if missing:
        offered = sorted(set().union(*inputs._keys()))
        raise StepError(
            f"merge(): include= names {_listed(missing)}, which no input has (they have: "
            f"{', '.join(offered) or 'nothing'}). Fix include=.",
            step=inputs._step,
        )


def _listed(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _set_it_yourself(names: list[str]) -> str:
    first = names[0]
    return (
        "Set each one yourself before calling merge (for example "
        f"`{first} = max(inp.{first} for inp in inputs)`)"
    )
