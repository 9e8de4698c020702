"""The `nbflow` command on real notebooks, in fresh kernels: the example and a failing one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
NBFLOW = [sys.executable, "-m", "nbflow.cli"]

pytestmark = pytest.mark.kernel


def nbflow(*args: str, cwd: Path, store: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NBFLOW_DATASTORE"}
    if store is not None:
        env["NBFLOW_DATASTORE"] = str(store)
    return subprocess.run(
        [*NBFLOW, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_example_notebook_runs_headless_and_is_readable(tmp_path: Path) -> None:
    shutil.copy(REPO / "notebooks" / "quickstart.ipynb", tmp_path)
    done = nbflow("run", "quickstart.ipynb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "run quickstart/1: done" in done.stdout
    # The summary `nbflow show` prints: a row per step (status, tasks), then the results.
    assert re.search(r"^train +done +5 ", done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"^results .*best_alpha=1, ", done.stdout, re.MULTILINE), done.stdout
    assert "[7/7]" in done.stderr  # progress, cell by cell
    assert (tmp_path / ".nbflow" / "metadata.sqlite").exists()  # beside the notebook
    store = tmp_path / ".nbflow"
    runs = json.loads(nbflow("runs", "quickstart", "--json", cwd=REPO, store=store).stdout)
    shown = json.loads(nbflow("show", "quickstart/1", "--json", cwd=REPO, store=store).stdout)
    assert [r["id"] for r in runs] == ["quickstart/1"]
    assert set(runs[0]) >= {"id", "flow", "status", "started_at", "finished_at", "duration",
                            "params", "tags"}  # fmt: skip
    assert runs[0]["params"]["alphas"] == [0.01, 0.1, 1.0, 10.0, 100.0]
    steps = {s["name"]: s for s in shown["steps"]}
    assert [t["status"] for t in steps["train"]["tasks"]] == ["done"] * 5
    assert steps["train"]["foreach"] == "alphas"


def test_a_failing_notebook_exits_non_zero_naming_the_run(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext nbflow\n%flow name broken"),
        nbformat.v4.new_code_cell("%%step start\nx = 1"),
        nbformat.v4.new_code_cell("%%step divide --after start\ny = x / 0"),
    ]
    nbformat.write(notebook, tmp_path / "broken.ipynb")
    failed = nbflow("run", "broken.ipynb", cwd=tmp_path)
    assert failed.returncode == 1
    assert "run broken/1: failed" in failed.stdout
    assert "run broken/1 failed: step 'divide' failed at cell line 2" in failed.stderr
    assert "nbflow resume broken.ipynb --run 1" in failed.stderr
    assert "ZeroDivisionError" in failed.stderr


def test_a_missing_notebook_is_a_clear_error(tmp_path: Path) -> None:
    missing = nbflow("run", "nowhere.ipynb", cwd=tmp_path)
    assert missing.returncode == 1
    assert "no notebook at nowhere.ipynb" in missing.stderr


def test_help_explains_the_commands(tmp_path: Path) -> None:
    shown = nbflow("--help", cwd=tmp_path)
    assert shown.returncode == 0
    for command in ("run", "runs", "show"):
        assert command in shown.stdout
    assert "NBFLOW_DATASTORE" in shown.stdout
