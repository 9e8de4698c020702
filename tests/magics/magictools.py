"""Helpers shared by the in-process magic tests: run a cell and expect success or an error,
and read the side-effect log that counts task executions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from IPython.core.interactiveshell import InteractiveShell


def ok(ip: InteractiveShell, code: str) -> Any:
    result = ip.run_cell(code)
    result.raise_error()
    return result.result


def fails(ip: InteractiveShell, code: str) -> BaseException:
    result = ip.run_cell(code)
    assert result.error_in_exec is not None, f"expected an error from:\n{code}"
    return result.error_in_exec


def marks(tmp_path: Path) -> list[str]:
    """The task executions since the last `clear_marks`, in order."""
    log = tmp_path / "log.txt"
    return log.read_text().split() if log.exists() else []


def clear_marks(tmp_path: Path) -> None:
    (tmp_path / "log.txt").unlink(missing_ok=True)
