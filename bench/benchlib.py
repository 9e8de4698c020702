"""Helpers shared by every benchmark script: bench/anchors (Metaflow, numpy), bench/kernel (nbflow)
and bench/runner.py.

Standard library only: the anchor scripts run under any Python 3.10+, the nbflow scripts under
the repo's venv. bench/anchors/common.py and bench/kernel/harness.py put this folder on sys.path
and add what is particular to their side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# What common.py and harness.py pass on to the scripts as it is (`from benchlib import *`); `cli`
# and `run_python` each side wraps with its own defaults.
__all__ = [
    "REPO",
    "BenchError",
    "dir_size",
    "emit",
    "file_count",
    "last_json",
    "log",
    "median",
    "rmtree",
    "run_timed",
    "scratch",
]

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
ANCHORS_PY = BENCH / ".venv-anchors" / "bin" / "python"
SCRATCH = Path(tempfile.gettempdir())


class BenchError(RuntimeError):
    pass


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def scratch_dir(prefix: str) -> Path:
    """A fresh temp dir (in the system temp dir)."""
    return Path(tempfile.mkdtemp(prefix=f"nbflow-bench-{prefix}-", dir=SCRATCH))


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A fresh temp dir for the body of the `with`, removed after it."""
    path = scratch_dir(prefix)
    try:
        yield path
    finally:
        rmtree(path)


def run_timed(
    cmd: list[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
) -> tuple[float, str]:
    """Run `cmd` with its output captured; returns (wall seconds, stdout).

    `cwd` defaults to the system temp dir: `python -c` puts the cwd first on sys.path, so a child
    must never start in a folder of bench scripts.
    """
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd,
        env=env,
        cwd=cwd or SCRATCH,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        shown = " ".join(a if len(a) <= 800 else a[:800] + "..." for a in cmd)
        raise BenchError(
            f"failed (exit {proc.returncode}): {shown}\n--- stdout (tail) ---\n"
            f"{proc.stdout[-2000:]}\n--- stderr (tail) ---\n{proc.stderr[-4000:]}"
        )
    return dt, proc.stdout


def run_python(
    code: str,
    python: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
) -> tuple[float, str]:
    """`python -c code` in a fresh process; returns (wall seconds, stdout)."""
    return run_timed([python, "-c", code], env=env, cwd=cwd, timeout=timeout)


def last_json(stdout: str) -> dict[str, Any]:
    """The last line of `stdout` that holds a JSON object (how every script reports)."""
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


def cli(description: str | None, repeat: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print one JSON object (for bench/run)")
    p.add_argument("--repeat", type=int, default=repeat, help="repetitions; the median is reported")
    p.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="skip the warm-up where it costs whole processes (bench/run --smoke)",
    )
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
