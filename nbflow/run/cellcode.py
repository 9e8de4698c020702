"""Run a step's code in this process, in a namespace of its own.

Like IPython's `run_cell`: the value of a last bare expression is displayed, and tracebacks
show the cell's own lines. stdout and stderr still reach the notebook and are also kept.
"""

from __future__ import annotations

import ast
import io
import linecache
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from types import CodeType
from typing import Any, TextIO

from nbflow.run.timeout import TaskTimeout

Display = Callable[[Any], None]
FormatTraceback = Callable[[BaseException], list[str]]
# a cell's body, and its last bare expression (displayed) if it ends with one
Compiled = tuple[CodeType, CodeType | None]


@dataclass
class Outcome:
    """What running a task's code produced."""

    stdout: str = ""
    stderr: str = ""
    error: BaseException | None = None
    traceback: list[str] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float = 0.0


class _Tee(io.TextIOBase):
    """Writes through to the notebook's stream and keeps a copy for the task record."""

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        self._parts.append(text)
        return self._target.write(text)

    def flush(self) -> None:
        self._target.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8")

    def getvalue(self) -> str:
        return "".join(self._parts)


def compile_cell(code: str, filename: str) -> Compiled:
    """Compile a cell into (body, last expression or None); register its source for tracebacks."""
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    tree = ast.parse(code, filename)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        expression = tree.body.pop()
        assert isinstance(expression, ast.Expr)  # checked just above
        last = compile(ast.Expression(expression.value), filename, "eval")
    return compile(tree, filename, "exec"), last


def default_format_traceback(error: BaseException) -> list[str]:
    # Drop our own frame: the user's code is the first frame worth reading.
    tb = error.__traceback__.tb_next if error.__traceback__ else None
    return traceback.format_exception(type(error), error, tb)


def execute(
    compiled: Compiled,
    namespace: dict[str, Any],
    *,
    display: Display,
    format_traceback: FormatTraceback = default_format_traceback,
) -> Outcome:
    body, last = compiled
    out, err = _Tee(sys.stdout), _Tee(sys.stderr)
    outcome = Outcome(started_at=time.time())
    try:
        with redirect_stdout(out), redirect_stderr(err):
            exec(body, namespace)
            if last is not None:
                value = eval(last, namespace)
                if value is not None:
                    display(value)
    except (Exception, TaskTimeout) as error:
        outcome.error = error
        outcome.traceback = format_traceback(error)
    outcome.finished_at = time.time()
    outcome.stdout, outcome.stderr = out.getvalue(), err.getvalue()
    return outcome
