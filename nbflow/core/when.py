"""`--when EXPR`: whether a conditional step runs, decided over its parent's artifacts."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from typing import Any

from nbflow.core.cells import analyze
from nbflow.core.graph import StepSpec
from nbflow.exceptions import StepError


def skips(
    spec: StepSpec,
    inherited: Mapping[str, str],
    params: Mapping[str, Any],
    load: Callable[[str], Any],
) -> bool:
    """True when the step's --when expression is false for a task with these inputs."""
    assert spec.when is not None
    namespace: dict[str, Any] = {"__builtins__": builtins}
    for name in analyze(spec.when).reads:
        if name in inherited:
            namespace[name] = load(inherited[name])
        elif name in params:
            namespace[name] = params[name]
    try:
        return not eval(spec.when, namespace)  # the user's own expression, as in the cell
    except Exception as error:
        raise StepError(
            f"--when {spec.when!r} raised {type(error).__name__}: {error}. It is evaluated over "
            "the parent's artifacts and the parameters; fix the expression.",
            step=spec.name,
            line=spec.line,
        ) from None
