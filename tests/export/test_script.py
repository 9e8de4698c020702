"""`nbflow export --to script`: `python flow.py` makes a real nbflow run, visible to the client,
and `-p NAME=VALUE` overrides a parameter."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mftools import command, export

from nbflow import Flow

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("kernel_name")]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def test_script_makes_nbflow_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(NOTEBOOKS / "quickstart.ipynb", tmp_path / "quickstart.ipynb")
    written = export(tmp_path, tmp_path / "quickstart.ipynb", "script", tmp_path / "nightly.py")
    assert written.returncode == 0, written.stderr
    (tmp_path / "quickstart.ipynb").unlink()  # the script carries the notebook's cells
    default = command(tmp_path, "nightly.py")
    assert default.returncode == 0, default.stdout + default.stderr
    overridden = command(tmp_path, "nightly.py", "-p", "n_samples=200", "-p", "alphas=[1.0, 2.0]")
    assert overridden.returncode == 0, overridden.stdout + overridden.stderr

    monkeypatch.setenv("NBFLOW_DATASTORE", str(tmp_path / "nbflow-store"))
    monkeypatch.setenv("USERNAME", "tester")
    first, second = reversed(Flow("quickstart").runs())
    assert first.status == second.status == "done"
    assert first.params["n_samples"] == 400 and len(first["train"].tasks()) == 5
    assert second.params == {"n_samples": 200, "noise": 0.5, "alphas": [1.0, 2.0]}
    assert [t.data.alpha for t in second["train"].tasks()] == [1.0, 2.0]
    assert second.data.summary.startswith("best alpha ")
    assert "n_samples" in command(tmp_path, "-m", "nbflow.cli", "runs", "quickstart").stdout


def test_script_refuses_a_bad_parameter(tmp_path: Path) -> None:
    shutil.copy(NOTEBOOKS / "quickstart.ipynb", tmp_path / "quickstart.ipynb")
    export(tmp_path, tmp_path / "quickstart.ipynb", "script", tmp_path / "nightly.py")
    done = command(tmp_path, "nightly.py", "-p", "n_samples")
    assert done.returncode == 2 and "NAME=VALUE" in done.stdout
