"""Helpers shared by the in-process magic tests: run a cell and expect success or an error,
and read the side-effect log that counts task executions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from nbflow.kernel.magics import load_ipython_extension


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


def flow_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flow: str, *, cache: bool = False
) -> InteractiveShell:
    """IPython with nbflow loaded and flow `flow` named, its datastore in `tmp_path/store`, no
    other nbflow setting from the environment, and the cross-run cache off (so every task
    really runs) unless `cache`, as in a notebook."""
    for name in ("NBFLOW_EXECUTOR", "NBFLOW_WORKERS", "NBFLOW_METADATA", "NBFLOW_FULL_RUN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NBFLOW_DATASTORE", str(tmp_path / "store"))
    monkeypatch.setenv("NBFLOW_CACHE", "on" if cache else "off")
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    shell.run_cell(f"%flow name {flow}")
    return shell
