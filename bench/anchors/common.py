"""Shared helpers for the Metaflow / numpy anchors.

The anchor scripts use only the standard library themselves: they run under any Python 3.10+
and start the anchors venv's python (bench/.venv-anchors, made by setup.sh) in subprocesses.
Every figure is a median; every Metaflow run gets its own METAFLOW_HOME and local datastore in a
fresh temp dir so that runs never share a content-addressed store by accident.
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
import textwrap
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
ANCHORS_VENV = BENCH / ".venv-anchors"
ANCHORS_PY = ANCHORS_VENV / "bin" / "python"


def anchors_python() -> str:
    if not ANCHORS_PY.exists():
        sys.exit(f"{ANCHORS_PY} is missing: run bench/anchors/setup.sh first")
    return str(ANCHORS_PY)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def scratch_dir(prefix: str) -> Path:
    """A fresh temp dir (on the same disk as the repo's default temp)."""
    return Path(tempfile.mkdtemp(prefix=f"nbflow-bench-{prefix}-"))


def metaflow_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "METAFLOW_HOME": str(home / "mfhome"),
            "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(home / "store"),
            "METAFLOW_DEFAULT_DATASTORE": "local",
            "METAFLOW_DEFAULT_METADATA": "local",
            "METAFLOW_CLIENT_CACHE_PATH": str(home / "client-cache"),
            "USERNAME": "bench",
            "USER": env.get("USER", "bench"),
        }
    )
    (home / "mfhome").mkdir(parents=True, exist_ok=True)
    (home / "store").mkdir(parents=True, exist_ok=True)
    return env


def write_flow(home: Path, name: str, source: str) -> Path:
    path = home / f"{name.lower()}.py"
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def run_flow(home: Path, flow_file: Path, *run_args: str, timeout: float = 3600) -> float:
    """`python flow.py --no-pylint run ARGS` with the anchors venv; returns wall seconds."""
    cmd = [anchors_python(), str(flow_file), "--no-pylint", "run", *run_args]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd,
        cwd=home,
        env=metaflow_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise RuntimeError(f"metaflow run failed ({' '.join(cmd)}):\n{tail}")
    return dt


def run_python(
    code: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    python: str | None = None,
    timeout: float = 600,
) -> tuple[float, str]:
    """Run `python -c code` in a fresh process; returns (wall seconds, stdout)."""
    cmd = [python or anchors_python(), "-c", code]
    # `python -c` puts the cwd first on sys.path: never run from a folder of bench scripts.
    cwd = cwd or Path(tempfile.gettempdir())
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} -c failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return dt, proc.stdout


def last_json_line(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.strip().startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in output:\n{stdout[-2000:]}")


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


def cli(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print one JSON object (for bench/run)")
    p.add_argument("--repeat", type=int, default=3, help="repetitions; the median is reported")
    return p


def emit(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    for k, v in result.items():
        shown = f"{v:.4g}" if isinstance(v, float) else v
        print(f"{k:>32}: {shown}")


def log(msg: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
