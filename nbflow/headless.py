"""Run a whole notebook headless in a fresh kernel; report the runs it made.

Uses nbclient for now. (Issue 03 moves this to papermill for parameters and sweeps.)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbflow.config import Config
from nbflow.metadata import RunRecord
from nbflow.storage import open_store

Progress = Callable[[int, int, str], None]


@dataclass
class HeadlessResult:
    notebook: Any  # the executed nbformat notebook
    runs: list[RunRecord]
    error: Exception | None  # nbclient's CellExecutionError when a cell failed


def run_notebook(
    path: Path, *, timeout: int = 600, progress: Progress | None = None
) -> HeadlessResult:
    """Execute every cell of `path` in a new kernel, working directory beside the notebook."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    sockets = tempfile.TemporaryDirectory(prefix="nbflow-kernel-")
    client = NotebookClient(
        notebook,
        # IPC sockets in a temporary folder: a local kernel needs no TCP ports (and ipykernel
        # warns about unencrypted TCP).
        km=KernelManager(
            kernel_name="python3", transport="ipc", ip=str(Path(sockets.name) / "kernel")
        ),
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    if progress is not None:
        report = progress

        def on_cell_executed(cell: Any, cell_index: int, execute_reply: Any) -> None:
            done = code_cells.index(cell) + 1 if cell in code_cells else 0
            first_line = cell.source.splitlines()[0] if cell.source else ""
            report(done, len(code_cells), first_line)

        client.on_cell_executed = on_cell_executed
    started = time.time()
    error: Exception | None = None
    try:
        # The kernel process's own log lines are not the notebook's output: keep them quiet.
        client.execute(stderr=subprocess.DEVNULL)
    except CellExecutionError as failure:
        error = failure
    finally:
        sockets.cleanup()
    store = open_store(config_beside(path))
    return HeadlessResult(notebook, store.meta.runs_since(started), error)


def config_beside(path: Path) -> Config:
    # The kernel ran beside the notebook, so its default datastore is `.nbflow/` there.
    config = Config.from_env()
    if not config.datastore:
        config = config.updated(datastore=str(path.parent.resolve() / ".nbflow"))
    return config


def print_progress(done: int, total: int, first_line: str) -> None:
    print(f"  [{done}/{total}] {first_line[:70]}", file=sys.stderr, flush=True)
