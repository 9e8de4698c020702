"""Shared helpers for the nbflow benchmarks.

Each benchmark script runs in its own process with the repo's venv, makes an in-process IPython
shell (what ipykernel wraps), points NBFLOW_DATASTORE at a fresh temp dir, and drives nbflow only
through what a user types: `%load_ext nbflow`, `%flow ...`, `%%step ...` cells, and the client
(`from nbflow import Flow`). The command-line scripts (nb_cli_*.py) instead write notebooks and
time whole `nbflow run` / `nbflow batch` commands against papermill. Results go to stdout as one
JSON line (with --json).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# bench/, for benchlib (shared with bench/anchors), whichever folder this is run from
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchlib
from benchlib import *  # noqa: F403  (passed on to the scripts: dir_size, emit, median, ...)
from benchlib import ANCHORS_PY, REPO, BenchError

if str(REPO) not in sys.path:  # nbflow from this tree, whether or not it is pip-installed
    sys.path.insert(0, str(REPO))


def cli(description: str | None) -> argparse.ArgumentParser:
    return benchlib.cli(description, repeat=5)


def child_env(datastore: Path | None = None, cache: bool | None = None) -> dict[str, str]:
    """The environment of a child process: nbflow from this tree, `datastore` as the datastore,
    and the cross-run cache on or off (as Kernel's `cache`) when `cache` is given."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    if datastore is not None:
        env["NBFLOW_DATASTORE"] = str(datastore)
    if cache is not None:
        env["NBFLOW_CACHE"] = "on" if cache else "off"
    return env


class Kernel:
    """An in-process IPython shell with nbflow loaded and its datastore in `datastore`."""

    def __init__(self, datastore: Path, quiet: bool = True, cache: bool = False) -> None:
        os.environ["NBFLOW_DATASTORE"] = str(datastore)
        # Timings are of tasks that really run: the cross-run cache is off unless asked for.
        os.environ["NBFLOW_CACHE"] = "on" if cache else "off"
        self.datastore = datastore
        self.quiet = quiet
        from IPython.core.interactiveshell import InteractiveShell

        self.shell = InteractiveShell.instance()
        self.load_ext_s = self.cell("%load_ext nbflow")

    def cell(self, source: str) -> float:
        """Run one cell as a kernel would (stored in history); returns wall seconds.

        The cell's output is captured (and dropped) so that it cannot swamp the report; it is
        still produced, so its cost is in the figure.
        """
        dt, err, output = self._run(source)
        if err is not None:
            raise BenchError(
                f"cell failed: {type(err).__name__}: {err}\n--- cell ---\n{source[:600]}\n"
                f"--- output (tail) ---\n{output[-3000:]}"
            )
        return dt

    def failing_cell(self, source: str) -> tuple[float, BaseException]:
        """Run a cell that must fail (a run whose step raises); returns (wall seconds, error)."""
        dt, err, output = self._run(source)
        if err is None:
            raise BenchError(
                f"cell did not fail as it should:\n--- cell ---\n{source[:600]}\n"
                f"--- output (tail) ---\n{output[-3000:]}"
            )
        return dt, err

    def _run(self, source: str) -> tuple[float, BaseException | None, str]:
        buf = io.StringIO()
        # IPython prints a traceback to stdout too: captured with the rest when quiet.
        ctx = contextlib.redirect_stdout(buf) if self.quiet else contextlib.nullcontext()
        with ctx:
            t0 = time.perf_counter()
            result = self.shell.run_cell(source, store_history=True)
            dt = time.perf_counter() - t0
        return dt, result.error_before_exec or result.error_in_exec, buf.getvalue()

    def ns(self) -> dict[str, Any]:
        return self.shell.user_ns


def prefault(mib: int = 1024) -> None:
    """Touch then free `mib` MiB, right before a timed operation that needs fresh memory.

    This VM hands freed memory back to its host after a moment; the next first touch of such
    memory (a new array, new page cache for a file just written) then costs ~2 s/GiB, and
    whether a timed operation pays it depends on what ran before it. Touching and freeing memory
    first gives every timed operation (nbflow's and numpy's alike) memory that is ready, as on a
    machine where free memory is simply free.
    """
    import numpy as np

    buf = np.ones(mib * 2**20 // 8)
    del buf


def run_python(
    code: str, datastore: Path | None = None, cwd: Path | None = None
) -> tuple[float, str]:
    """`python -c code` in a fresh process of this venv; returns (wall seconds, stdout)."""
    return benchlib.run_python(code, sys.executable, env=child_env(datastore), cwd=cwd)


def task_times(flow: str, step: str) -> list[tuple[float, float, str]]:
    """(started_at, finished_at, status) of each task of `step` in the latest run (epoch s)."""
    from nbflow import Flow

    tasks = Flow(flow).latest_run[step].tasks()
    return [(t.created_at.timestamp(), t.finished_at.timestamp(), t.status) for t in tasks]


def run_statuses(flow: str, steps: list[str]) -> dict[str, Any]:
    """Statuses of the latest run and of its steps' tasks, through the client."""
    from nbflow import Flow

    run = Flow(flow).latest_run
    tasks: dict[str, int] = {}
    for step in steps:
        for task in run[step].tasks():
            tasks[task.status] = tasks.get(task.status, 0) + 1
    return {"run_id": run.pathspec, "run_status": run.status, "task_statuses": tasks}


# ---------------------------------------------------------------- the command line

NBFLOW_CLI = REPO / ".venv" / "bin" / "nbflow"
VENV_PAPERMILL = REPO / ".venv" / "bin" / "papermill"  # the papermill `nbflow run` drives
ANCHORS_PAPERMILL = ANCHORS_PY.parent / "papermill"  # papermill alone: the anchor


def executable(path: Path) -> str:
    if not path.exists():
        sys.exit(
            f"{path} is missing (the project's venv, or bench/anchors/setup.sh for the anchors)"
        )
    return str(path)


def write_notebook(path: Path, cells: list[str], parameters: int | None = None) -> Path:
    """An nbformat 4.5 notebook of code cells for the `python3` kernel; cell `parameters`
    (an index) tagged `parameters`, papermill's convention."""
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{i}",
                "metadata": {"tags": ["parameters"]} if i == parameters else {},
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))
    return path


def run_summary(datastore: Path, pathspec: str, *names: str) -> dict[str, Any]:
    """Status of run `pathspec` ("flow/7") in `datastore`, its tasks' statuses (counted) and
    the artifacts `names` of its last step, through the client, in this process."""
    from nbflow import Run
    from nbflow.config import Config
    from nbflow.store.stores import open_store

    run = Run(pathspec, store=open_store(Config(datastore=str(datastore))))
    tasks: dict[str, int] = {}
    for step in run.steps():
        for task in step.tasks():
            tasks[task.status] = tasks.get(task.status, 0) + 1
    data = {name: getattr(run.data, name) for name in names}
    return {"run_id": run.pathspec, "run_status": run.status, "task_statuses": tasks, **data}
