"""Helpers of the export tests: `nbflow export`, `nbflow run` and `python flow.py run` as a
user types them, each in a folder of its own, and the two runs' artifacts read back through
the two clients (Metaflow's in a subprocess, since it reads its configuration at import)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

TIMEOUT = 300
# Metaflow's client, reading one flow's latest run: every task's artifacts, by step, in
# foreach order (Metaflow's own names and the parameters, which it stores as artifacts, left
# out).
READ_METAFLOW = """
import pickle, sys
from metaflow import Flow, namespace
namespace(None)
run = Flow(sys.argv[1]).latest_run
params = set(sys.argv[3].split(",")) if sys.argv[3] else set()
found = {"successful": run.successful}
for step in run:
    def place(t):
        return [f.index for f in t["_foreach_stack"].data] if "_foreach_stack" in t else []
    def kept(a):
        return not a.id.startswith("_") and a.id != "name" and a.id not in params
    found[step.id] = [{a.id: a.data for a in task if kept(a)} for task in sorted(step, key=place)]
pickle.dump(found, open(sys.argv[2], "wb"))
"""


def env(root: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith(("NBFLOW_", "METAFLOW_"))}
    values.update(
        NBFLOW_DATASTORE=str(root / "nbflow-store"),
        METAFLOW_HOME=str(root / "metaflow-home"),
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(root / "metaflow-store"),
        METAFLOW_DEFAULT_DATASTORE="local",
        METAFLOW_DEFAULT_METADATA="local",
        USERNAME="tester",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
        PYTHONHASHSEED="0",  # one order of a set of strings in both runs (tutorial 02)
    )
    return values


def command(root: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd or root, env=env(root), capture_output=True,
        text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip


def export(root: Path, notebook: Path, to: str, output: Path) -> subprocess.CompletedProcess[str]:
    return command(root, "-m", "nbflow.cli", "export", str(notebook), "--to", to, "-o", str(output))


def metaflow_artifacts(root: Path, flow: str, params: set[str]) -> dict[str, Any]:
    out = root / f"{flow}-metaflow.pickle"
    done = command(root, "-c", READ_METAFLOW, flow, str(out), ",".join(sorted(params)))
    assert done.returncode == 0, done.stderr
    with out.open("rb") as file:
        found: dict[str, Any] = pickle.load(file)  # our own test's file
    return found


def nbflow_artifacts(run: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        step.name: [{name: task.data[name] for name in task.artifacts} for task in step.tasks()]
        for step in run.steps()
    }


def same(a: Any, b: Any) -> bool:
    """Equal values, arrays and objects without `==` (a numpy Generator) included."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    try:
        if bool(a == b):
            return True
    except (TypeError, ValueError):
        pass
    return type(a) is type(b) and pickle.dumps(a) == pickle.dumps(b)
