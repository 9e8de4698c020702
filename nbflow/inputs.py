"""What a join step sees: `inputs`, read-only views of its parents' tasks, and `merge`.

An input's artifacts load lazily, on first attribute access, through an injected loader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any

from nbflow.exceptions import StepError

Loader = Callable[[str], Any]  # blob key -> value


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
    """The parents of a join, in order: `inputs[0]`, `inputs.train`, `for inp in inputs`."""

    def __init__(self, views: list[InputView]) -> None:
        self._views = views

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


def split_conflicts(views: Iterable[Mapping[str, str]]) -> tuple[dict[str, str], set[str]]:
    """Names with one value across the inputs that have them (bound in the join), and the rest."""
    keys: dict[str, set[str]] = {}
    for artifacts in views:
        for name, key in artifacts.items():
            keys.setdefault(name, set()).add(key)
    agreed = {name: next(iter(ks)) for name, ks in keys.items() if len(ks) == 1}
    return agreed, {name for name, ks in keys.items() if len(ks) > 1}


def merge(inputs: Inputs, exclude: Iterable[str] = (), *, into: MutableMapping[str, Any]) -> None:
    """Bind every artifact the inputs agree on into `into`; refuse unresolved conflicts."""
    excluded = set(exclude)
    agreed, conflicts = split_conflicts(v.artifact_keys for v in inputs)
    unresolved = sorted(conflicts - excluded - set(into))
    if unresolved:
        raise StepError(
            f"merge(): the inputs disagree on {', '.join(repr(n) for n in unresolved)}. "
            "Set each one yourself before calling merge (for example "
            f"`{unresolved[0]} = max(inp.{unresolved[0]} for inp in inputs)`), or pass "
            f"exclude={unresolved!r}."
        )
    for view in inputs:
        for name in agreed.keys() - excluded - set(into):
            if name in view.artifact_keys:
                into[name] = getattr(view, name)
