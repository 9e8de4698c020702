"""Two notebooks with the same requirements share one step environment: each runs headless in
its own kernel (`nbflow run`), the first builds the environment, the second finds it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from nbflow import Flow
from nbflow.config import Config
from nbflow.store.stores import open_store

pytestmark = pytest.mark.kernel

REQUIREMENT = "pandas==2.2.3"


def _notebook(path: Path, flow: str) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            f'%load_ext nbflow\n%flow name {flow}\n%flow env "{REQUIREMENT}"'
        ),
        nbformat.v4.new_code_cell("%%step start\nimport pandas\nversion = pandas.__version__"),
        nbformat.v4.new_code_cell("%%step end --after start\nprint('pandas', version)"),
    ]
    nbformat.write(notebook, path)


def _nbflow(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbflow.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_two_notebooks_share_one_environment(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "NBFLOW_CACHE_DIR": str(cache), "NBFLOW_DATASTORE": str(tmp_path / "s")}
    markers = []
    for flow in ("first", "second"):
        _notebook(tmp_path / f"{flow}.ipynb", flow)
        done = _nbflow(["run", f"{flow}.ipynb"], tmp_path, env)
        assert done.returncode == 0, done.stderr
        built = [p for p in (cache / "envs").iterdir() if not p.name.startswith(".")]
        assert len(built) == 1
        markers.append(json.loads((built[0] / "nbflow-env.json").read_text()))
    first, second = markers
    assert second["created"] == first["created"]  # found by the second kernel, not built again
    assert second["last_used"] > first["last_used"]
    shown = [
        json.loads(_nbflow(["show", f"{flow}/1", "--json"], tmp_path, env).stdout)
        for flow in ("first", "second")
    ]
    for run in shown:
        steps = {s["name"]: s for s in run["steps"]}
        assert steps["start"]["env"] == [REQUIREMENT]
    store = open_store(Config(datastore=str(tmp_path / "s")))
    for flow in ("first", "second"):
        run = Flow(flow, store=store).latest_run
        assert run.data.version == "2.2.3"  # the environment's pandas, read back here
        assert run["start"].task.environment["key"] == built[0].name
    # Both runs are on the environment's record of its users.
    listed = _nbflow(["env", "list"], tmp_path, env).stdout
    assert built[0].name in listed and "second/1, first/1" in listed
