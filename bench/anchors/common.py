"""Shared helpers for the Metaflow / numpy anchors (the generic ones are in bench/benchlib.py).

The anchor scripts use only the standard library themselves: they run under any Python 3.10+
and start the anchors venv's python (bench/.venv-anchors, made by setup.sh) in subprocesses.
Every figure is a median; every Metaflow run gets its own METAFLOW_HOME and local datastore in a
fresh temp dir so that runs never share a content-addressed store by accident.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# bench/, for benchlib (shared with bench/kernel), whichever folder this is run from
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchlib
from benchlib import *  # noqa: F403  (passed on to the scripts: dir_size, emit, median, ...)
from benchlib import ANCHORS_PY, last_json, run_timed, scratch


def anchors_python() -> str:
    if not ANCHORS_PY.exists():
        sys.exit(f"{ANCHORS_PY} is missing: run bench/anchors/setup.sh first")
    return str(ANCHORS_PY)


def cli(description: str | None) -> argparse.ArgumentParser:
    return benchlib.cli(description, repeat=3)


def run_python(
    code: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    python: str | None = None,
) -> tuple[float, str]:
    """`python -c code` with the anchors venv (or `python`); returns (wall seconds, stdout)."""
    return benchlib.run_python(code, python or anchors_python(), env=env, cwd=cwd)


# ---------------------------------------------------------------- Metaflow


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


def flow_source(name: str, steps: str, header: str = "", end: str = "pass") -> str:
    """A whole Metaflow flow file: `class name(FlowSpec)` holding `steps` (class-level source,
    dedented) and a last step `end` whose body is `end`, then the `__main__` guard."""
    body = textwrap.indent(textwrap.dedent(steps).strip("\n"), "    ")
    end_body = textwrap.indent(textwrap.dedent(end).strip("\n"), "        ")
    return (
        f"{textwrap.dedent(header).lstrip()}"
        "from metaflow import FlowSpec, Parameter, step\n\n\n"
        f"class {name}(FlowSpec):\n{body}\n\n"
        f"    @step\n    def end(self):\n{end_body}\n\n\n"
        f'if __name__ == "__main__":\n    {name}()\n'
    )


@contextlib.contextmanager
def metaflow_flow(
    prefix: str, name: str, steps: str, header: str = "", end: str = "pass"
) -> Iterator[tuple[Path, Path]]:
    """(home, flow file): the flow (see flow_source) written into a fresh temp dir, which is
    also its METAFLOW_HOME and local datastore, and which is removed after the `with`."""
    with scratch(prefix) as home:
        path = home / f"{name.lower()}.py"
        path.write_text(flow_source(name, steps, header, end))
        yield home, path


def run_flow(
    home: Path, flow_file: Path, *run_args: str, command: str = "run", timeout: float = 3600
) -> float:
    """`python flow.py --no-pylint run ARGS` (or another command: `resume`) with the anchors
    venv; returns wall seconds. A non-zero exit raises BenchError (with the output's tail)."""
    cmd = [anchors_python(), str(flow_file), "--no-pylint", command, *run_args]
    return run_timed(cmd, env=metaflow_env(home), cwd=home, timeout=timeout)[0]


CLIENT = """
import json, time
{setup}
t0 = time.perf_counter()
from metaflow import Flow, namespace
namespace(None)
t1 = time.perf_counter()
"""


def run_client(home: Path, code: str, setup: str = "") -> tuple[float, dict[str, Any]]:
    """In a fresh process of the anchors venv, on `home`'s datastore: `setup`, then Metaflow's
    client imported between t0 and t1 (`import_s` = t1 - t0), then `code`, which prints one
    JSON line. Returns (wall seconds of the whole process, that JSON object)."""
    wall, out = run_python(CLIENT.format(setup=setup) + code, env=metaflow_env(home), cwd=home)
    return wall, last_json(out)
