"""Run a step's code in this process, in a namespace of its own.

Like IPython's `run_cell`: the value of a last bare expression is displayed, and tracebacks
show the cell's own lines. stdout and stderr still reach the notebook and are also kept.
"""

from __future__ import annotations

import ast
import io
import linecache
import os
import sys
import time
import traceback
import types
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from nbflow.run.timeout import TaskTimeout

Display = Callable[[Any], None]
FormatTraceback = Callable[[BaseException], list[str]]


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

    def __init__(self, target: TextIO, header: list[tuple[str, TextIO]]) -> None:
        self._target = target
        self._parts: list[str] = []
        self._header = header  # shared by stdout and stderr: shown once, before either

    def write(self, text: str) -> int:
        if self._header and text:
            line, stream = self._header.pop()
            stream.write(line + "\n")
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


def compile_cell(code: str, filename: str) -> tuple[Any, Any]:
    """Compile a cell into (body, last expression or None); register its source for tracebacks."""
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    tree = ast.parse(code, filename)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
        last = compile(last, filename, "eval")
    return compile(tree, filename, "exec"), last


# nbflow's package folder: frames of files below it are nbflow's own.
_NBFLOW = str(Path(__file__).resolve().parents[1]) + os.sep


def user_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """`tb` without nbflow's own frames (the `exec` of the cell, `inputs`' lookups, `merge`),
    as IPython hides its own: the user's code is what is worth reading. A traceback of
    nbflow's frames only (a fault in nbflow itself, not in the cell) is kept whole."""
    kept = []
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_NBFLOW):
            kept.append(tb)
        tb = tb.tb_next
    shown = None
    for frame in reversed(kept):
        shown = types.TracebackType(shown, frame.tb_frame, frame.tb_lasti, frame.tb_lineno)
    return shown


def cell_traceback(error: BaseException) -> list[str]:
    """The lines of `error`'s traceback as the cell's author reads it (see `user_frames`)."""
    tb = user_frames(error.__traceback__) or error.__traceback__
    return traceback.format_exception(type(error), error, tb)


default_format_traceback = cell_traceback


def execute(
    compiled: tuple[Any, Any],
    namespace: dict[str, Any],
    *,
    display: Display,
    format_traceback: FormatTraceback = default_format_traceback,
    header: str = "",
) -> Outcome:
    """Run the cell's code; `header`, if any, is printed before its first output."""
    body, last = compiled
    pending = [(header, sys.stdout)] if header else []
    out, err = _Tee(sys.stdout, pending), _Tee(sys.stderr, pending)
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
