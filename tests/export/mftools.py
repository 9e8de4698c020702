"""Helpers of the export tests: `nbflow export`, `nbflow run` and `python flow.py run` as a
user types them, each in a folder of its own, and the two runs' artifacts read back through
the two clients (Metaflow's in a subprocess, since it reads its configuration at import)."""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
from numbers import Number
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest

from nbflow import Flow

TIMEOUT = 300
# Metaflow's client, reading one flow's latest run: every task's artifacts, by step, in
# foreach order (Metaflow's own names and the parameters, which it stores as artifacts, left
# out). Metaflow's own objects (@catch's MetaflowExceptionWrapper) are read as a dict of what
# they say: unpickling them here would import Metaflow in the test's process.
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
    def plain(v):
        if not type(v).__module__.startswith("metaflow"):
            return v
        return {"metaflow": type(v).__name__, "type": getattr(v, "type", None), "text": str(v)}
    found[step.id] = [
        {a.id: plain(a.data) for a in task if kept(a)} for task in sorted(step, key=place)
    ]
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
    """Every task's artifacts, by step; a task `--when` skipped is left out (Metaflow's switch
    has no task for a case not taken), and a step with no task left."""
    found = {
        step.name: [
            {name: task.data[name] for name in task.artifacts}
            for task in step.tasks()
            if task.status != "skipped"
        ]
        for step in run.steps()
    }
    return {step: tasks for step, tasks in found.items() if tasks}


def notebook(path: Path, *cells: str) -> Path:
    """A notebook of these code cells, for the `python3` kernel."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)
    return path


def same(a: Any, b: Any) -> bool:
    """Equal values: arrays, DataFrames (values and dtypes) and objects without `==` (a numpy
    Generator, a fitted model: their pickled state, compared the same way) included."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b)) and np.asarray(a).dtype == np.asarray(b).dtype
    if type(a) is not type(b):
        return isinstance(a, Number) and isinstance(b, Number) and a == b
    if type(a).__module__.startswith("pandas") and hasattr(a, "equals"):
        return bool(a.equals(b)) and _dtypes(a) == _dtypes(b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(same, a, b))
    return _same_object(a, b)


def _dtypes(value: Any) -> list[Any]:
    return list(value.dtypes) if hasattr(value, "columns") else [value.dtype]


def _same_object(a: Any, b: Any) -> bool:
    try:
        if bool(a == b):
            return True
    except (TypeError, ValueError):
        pass
    # A model's pickle holds its arrays' memory layout as well; its state is what it means.
    left, right = a.__reduce_ex__(4), b.__reduce_ex__(4)
    if isinstance(left, tuple) and isinstance(right, tuple) and len(left) == len(right):
        return all(map(same, left[1:3], right[1:3]))
    return pickle.dumps(a) == pickle.dumps(b)


def round_trip(
    root: Path, monkeypatch: pytest.MonkeyPatch, notebook: Path, edit: dict[str, str] | None = None
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Run the notebook with nbflow and its export with Metaflow; both runs' artifacts."""
    if edit:
        nb = nbformat.read(notebook, as_version=4)
        for old, new in edit.items():
            assert any(old in c.source for c in nb.cells), old
            for cell in nb.cells:
                cell.source = cell.source.replace(old, new)
        nbformat.write(nb, notebook)
    return read_both(root, monkeypatch, run_both(root, notebook))


def run_both(root: Path, notebook: Path) -> str:
    """`nbflow run` of the notebook, then `python flow.py run` of its export, both in the
    notebook's folder; the flow's name. No state of this process changes (threads may call it
    for several notebooks under one root)."""
    folder = notebook.parent
    ran = command(root, "-m", "nbflow.cli", "run", notebook.name, cwd=folder)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    flow_file = folder / f"{notebook.stem}_flow.py"
    written = export(root, notebook, "metaflow", flow_file)
    assert written.returncode == 0, written.stderr
    ran = command(root, flow_file.name, "run", "--max-workers", "4", cwd=folder)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    name = re.search(r"^class (\w+)\(FlowSpec\)", flow_file.read_text(), re.MULTILINE)
    assert name is not None
    return name.group(1)


def read_both(
    root: Path, monkeypatch: pytest.MonkeyPatch, flow: str
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The flow's latest nbflow run, and both runs' artifacts (nbflow_artifacts' shape)."""
    monkeypatch.setenv("NBFLOW_DATASTORE", str(root / "nbflow-store"))
    monkeypatch.setenv("USERNAME", "tester")  # the runs' namespace: user:tester
    run = Flow(flow).latest_run
    assert run.status == "done"
    theirs = metaflow_artifacts(root, flow, set(run.params))
    assert theirs.pop("successful") is True
    return run, nbflow_artifacts(run), theirs


def assert_same_artifacts(
    ours: dict[str, list[dict[str, Any]]], theirs: dict[str, Any], random: set[str] = frozenset()
) -> None:
    added = set(theirs) - set(ours)
    assert added <= {"start", "end"}, f"steps only Metaflow's run has: {added}"
    for step, tasks in ours.items():
        assert step in theirs, f"Metaflow's run has no step {step}"
        assert len(theirs[step]) == len(tasks), step
        for index, (mine, other) in enumerate(zip(tasks, theirs[step], strict=True)):
            assert set(mine) == set(other), (step, index, set(mine) ^ set(other))
            for name in set(mine) - random:
                assert same(mine[name], other[name]), (step, index, name, mine[name], other[name])
