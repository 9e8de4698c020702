"""`nbflow batch` passes its run options on to each `nbflow run` it starts (no kernel: the
child processes are recorded, not started)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from nbflow.cli import execute, main


class _Finished:
    """A child `nbflow run` that has already exited, successfully, without a report."""

    returncode = 0

    def poll(self) -> int:
        return 0


def test_batch_passes_executor_workers_and_timeout_to_each_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    started: list[list[str]] = []

    def popen(command: list[str], **_: Any) -> _Finished:
        started.append(command)
        return _Finished()

    monkeypatch.setattr(execute.subprocess, "Popen", popen)
    main(["batch", str(notebook), "--grid", "seed=0,1", "--executor", "processes",
          "--workers", "2", "--timeout", "60"])  # fmt: skip
    assert len(started) == 2
    for command in started:
        assert command[command.index("--executor") + 1] == "processes"
        assert command[command.index("--workers") + 1] == "2"
        assert command[command.index("--timeout") + 1] == "60"


def test_batch_refuses_an_unknown_executor_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notebook = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    with pytest.raises(SystemExit):
        main(["batch", str(notebook), "--grid", "seed=0,1", "--executor", "gpu-farm"])
    assert "unknown executor 'gpu-farm'" in capsys.readouterr().err
