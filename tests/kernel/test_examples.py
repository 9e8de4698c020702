"""The example notebooks of `notebooks/`, headless in fresh kernels (small data), their results
read back through the client: the branching flow, the Hearthstone predictor (batch of runs)
and the analysis over its runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from nbflow import Flow
from nbflow.config import Config
from nbflow.store.stores import open_store

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "notebooks"
# Small enough for CI: a few seconds per run.
SMALL = ["-p", "n_decks", "600", "-p", "n_estimators", "[10, 30]"]

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The three notebooks copied into a folder of their own (its datastore: `.nbflow/`)."""
    folder = tmp_path_factory.mktemp("examples")
    for name in ("branches", "hearthstone", "analysis"):
        shutil.copy(EXAMPLES / f"{name}.ipynb", folder)
    return folder


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBFLOW_")}
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done


def flow(folder: Path, name: str) -> Flow:
    return Flow(name, store=open_store(Config(datastore=str(folder / ".nbflow"))))


def test_branches_runs_the_three_branches_and_joins_them(folder: Path) -> None:
    run("nbflow.cli", "run", "branches.ipynb", cwd=folder)
    latest = flow(folder, "branches").latest_run
    assert latest.status == "done"
    assert [s.name for s in latest.steps()] == [
        "start", "check_version", "give_number", "give_letter", "give_something", "recap", "end",
    ]  # fmt: skip
    recap = latest["recap"].task.data
    assert recap.gifts == {
        "give_number": 42, "give_letter": "NNN", "give_something": {"number": 7, "letter": "n"},
    }  # fmt: skip
    python = ".".join(map(str, sys.version_info[:3]))
    assert set(recap.environments.python) == {python}
    # check_version ran in its own environment, with another pandas than the kernel's.
    check = latest["check_version"].task
    assert check.data.checked["pandas"] == "2.2.3" != recap.environments.pandas.iloc[0]
    assert check.data.same_as_start is False
    assert check.environment["packages"]["pandas"] == "2.2.3"


def test_hearthstone_learns_the_archetypes_and_labels_every_deck(folder: Path) -> None:
    batch = run(
        "nbflow.cli", "batch", "hearthstone.ipynb", *SMALL, "--grid", "seed=0,1", "--jobs", "2",
        cwd=folder,
    )  # fmt: skip
    assert "2 runs of hearthstone.ipynb" in batch.stdout + batch.stderr
    runs = flow(folder, "hearthstone").runs()
    assert len(runs) == 2 and {r.status for r in runs} == {"done"}
    for finished in runs:
        data = finished.end_step.task.data
        chance = data.chance
        assert 0 < chance < 0.1  # 24 archetypes
        assert data.accuracy > 5 * chance, (finished.pathspec, data.accuracy)
        train = finished["train"].tasks()
        assert len(train) == 6  # 2 forest sizes x 3 depths, one task each
        assert data.accuracy == max(t.data.accuracy for t in train)
        decks = finished["start"].task.data
        predicted = finished["label"].task.data.predicted
        assert len(predicted) == len(decks.unlabelled) > 0
        assert predicted.archetype.notna().all()
        assert set(predicted.archetype) <= set(decks.labelled.archetype)
        # About 40% of the decks came without an archetype.
        assert 0.3 < len(decks.unlabelled) / len(decks.decks) < 0.5


def test_analysis_sees_every_run_of_the_predictor(folder: Path) -> None:
    if not flow(folder, "hearthstone").runs():
        run("nbflow.cli", "run", "hearthstone.ipynb", *SMALL, cwd=folder)
    runs = [r.pathspec for r in flow(folder, "hearthstone").runs()]
    run("papermill", "analysis.ipynb", "analysis.out.ipynb", "--no-progress-bar", cwd=folder)
    done = nbformat.read(folder / "analysis.out.ipynb", as_version=4)
    text = "\n".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for cell in done.cells
        for output in cell.get("outputs", [])
    )
    assert f"{len(runs)} finished runs of hearthstone" in text
    for run_id in runs:
        assert text.count(run_id) >= 3, run_id  # durations, best models, forests
    outputs = [output for cell in done.cells for output in cell.get("outputs", [])]
    kinds = {kind for output in outputs for kind in output.get("data", {})}
    assert "image/png" in kinds  # accuracy against a hyper-parameter
    assert "application/vnd.jupyter.widget-view+json" in kinds  # the compare widget


def test_without_scikit_learn_the_predictor_names_the_install_command(tmp_path: Path) -> None:
    # A sitecustomize that hides scikit-learn, as on a machine without it.
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\nsys.modules['sklearn'] = None  # import sklearn raises ImportError\n"
    )
    shutil.copy(EXAMPLES / "hearthstone.ipynb", tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBFLOW_")}
    env["PYTHONPATH"] = str(hide)
    failed = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "run", "hearthstone.ipynb"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert failed.returncode != 0
    assert "pip install scikit-learn" in failed.stdout + failed.stderr
