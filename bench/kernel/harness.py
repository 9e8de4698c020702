"""Shared helpers for the nbflow ("inside the kernel") benchmarks.

Each benchmark script runs in its own process with the repo's venv, makes an in-process IPython
shell (what ipykernel wraps), points NBFLOW_DATASTORE at a fresh temp dir, and drives nbflow only
through what a user types: `%load_ext nbflow`, `%flow ...`, `%%step ...` cells, and the client
(`from nbflow import Flow`). Results go to stdout as one JSON line (with --json).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent.parent
REPO = BENCH.parent
SCRATCH = Path(tempfile.gettempdir())

if str(REPO) not in sys.path:  # nbflow from this tree, whether or not it is pip-installed
    sys.path.insert(0, str(REPO))


class BenchError(RuntimeError):
    pass


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"nbflow-bench-{prefix}-", dir=SCRATCH))


def child_env(datastore: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    if datastore is not None:
        env["NBFLOW_DATASTORE"] = str(datastore)
    return env


class Kernel:
    """An in-process IPython shell with nbflow loaded and its datastore in `datastore`."""

    def __init__(self, datastore: Path, quiet: bool = True) -> None:
        os.environ["NBFLOW_DATASTORE"] = str(datastore)
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
        buf = io.StringIO()
        ctx = contextlib.redirect_stdout(buf) if self.quiet else contextlib.nullcontext()
        with ctx:
            t0 = time.perf_counter()
            result = self.shell.run_cell(source, store_history=True)
            dt = time.perf_counter() - t0
        if not result.success:
            err = result.error_before_exec or result.error_in_exec
            raise BenchError(
                f"cell failed: {type(err).__name__}: {err}\n--- cell ---\n{source[:600]}\n"
                f"--- output (tail) ---\n{buf.getvalue()[-3000:]}"
            )
        return dt

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
    code: str, datastore: Path | None = None, cwd: Path | None = None, timeout: float = 600
) -> tuple[float, str]:
    """`python -c code` in a fresh process of this venv; returns (wall seconds, stdout)."""
    cmd = [sys.executable, "-c", code]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd,
        env=child_env(datastore),
        cwd=cwd or SCRATCH,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise BenchError(
            f"python -c failed (exit {proc.returncode}):\n{code[:800]}\n"
            f"--- stderr ---\n{proc.stderr[-4000:]}"
        )
    return dt, proc.stdout


def last_json(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.strip().startswith("{"):
            return json.loads(line)
    raise BenchError(f"no JSON line in:\n{stdout[-2000:]}")


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total


def file_count(path: Path) -> int:
    return sum(len(files) for _r, _d, files in os.walk(path))


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def run_statuses(flow: str, steps: list[str]) -> dict[str, Any]:
    """Statuses of the latest run and of its steps' tasks, through the client."""
    from nbflow import Flow

    run = Flow(flow).latest_run
    tasks: dict[str, int] = {}
    for step in steps:
        for task in run[step].tasks():
            tasks[task.status] = tasks.get(task.status, 0) + 1
    return {"run_id": run.id, "run_status": run.status, "task_statuses": tasks}


def cli(description: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print one JSON object (for bench/run)")
    p.add_argument("--repeat", type=int, default=5, help="repetitions; the median is reported")
    return p


def emit(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    for k, v in result.items():
        shown = f"{v:.4g}" if isinstance(v, float) else v
        print(f"{k:>32}: {shown}")


def log(msg: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
