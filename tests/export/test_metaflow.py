"""`nbflow export --to metaflow`: the example notebooks and the ports of Metaflow's tutorials,
exported, run under Metaflow's local runtime (`python flow.py run`) and compared, task by task,
with `nbflow run` of the same notebook: every artifact nbflow stores, Metaflow has, with the
same value, and Metaflow has no artifact nbflow does not."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
from mftools import command, export, metaflow_artifacts, nbflow_artifacts, same

from nbflow import Flow

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.metaflow,
    pytest.mark.usefixtures("kernel_name", "metaflow_installed"),
]

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
PORTS = REPO / "tests" / "ports"


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
    folder = notebook.parent
    ran = command(root, "-m", "nbflow.cli", "run", notebook.name, cwd=folder)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    flow_file = folder / f"{notebook.stem}_flow.py"
    written = export(root, notebook, "metaflow", flow_file)
    assert written.returncode == 0, written.stderr
    ran = command(root, flow_file.name, "run", "--max-workers", "4", cwd=folder)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    monkeypatch.setenv("NBFLOW_DATASTORE", str(root / "nbflow-store"))
    monkeypatch.setenv("USERNAME", "tester")  # the runs' namespace: user:tester
    name = re.search(r"^class (\w+)\(FlowSpec\)", flow_file.read_text(), re.MULTILINE)
    assert name is not None
    run = Flow(name.group(1)).latest_run
    assert run.status == "done"
    theirs = metaflow_artifacts(root, name.group(1), set(run.params))
    assert theirs.pop("successful") is True
    return run, nbflow_artifacts(run), theirs


def assert_same_artifacts(
    ours: dict[str, list[dict[str, Any]]], theirs: dict[str, Any], random: set[str] = frozenset()
) -> None:
    for step, tasks in ours.items():
        assert step in theirs, f"Metaflow's run has no step {step}"
        assert len(theirs[step]) == len(tasks), step
        for index, (mine, other) in enumerate(zip(tasks, theirs[step], strict=True)):
            assert set(mine) == set(other), (step, index, set(mine) ^ set(other))
            for name in set(mine) - random:
                assert same(mine[name], other[name]), (step, index, name, mine[name], other[name])


def test_quickstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(NOTEBOOKS / "quickstart.ipynb", tmp_path)
    run, ours, theirs = round_trip(tmp_path, monkeypatch, tmp_path / "quickstart.ipynb")
    assert_same_artifacts(ours, theirs)
    assert len(theirs["train"]) == 5 and theirs["report"][0]["summary"] == run.data.summary
    assert [t["alpha"] for t in theirs["train"]] == [0.01, 0.1, 1.0, 10.0, 100.0]


def test_branches_without_its_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # --env is @pypi, which runs only with --environment=pypi (micromamba and the network):
    # the run compares the flow without it; test_export_text checks the decorator.
    shutil.copy(NOTEBOOKS / "branches.ipynb", tmp_path)
    edit = {' --env "pandas==2.2.3"': ""}
    _, ours, theirs = round_trip(tmp_path, monkeypatch, tmp_path / "branches.ipynb", edit)
    assert_same_artifacts(ours, theirs)
    assert theirs["recap"][0]["gifts"] == {
        "give_number": 42, "give_letter": "NNN", "give_something": {"number": 7, "letter": "n"},
    }  # fmt: skip


def ports(root: Path) -> Path:
    shutil.copytree(PORTS / "data", root / "data")
    shutil.copytree(PORTS / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns("make_*.py"))  # fmt: skip
    return root / "notebooks"


def test_tutorial_statistics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebooks = ports(tmp_path)
    run, ours, theirs = round_trip(tmp_path, monkeypatch, notebooks / "02_statistics.ipynb")
    assert_same_artifacts(ours, theirs)
    assert theirs["join"][0]["genre_stats"].keys() == run.data.genre_stats.keys()


def test_tutorial_playlist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebooks = ports(tmp_path)
    _, ours, theirs = round_trip(tmp_path, monkeypatch, notebooks / "01_playlist.ipynb")
    # The tutorial picks its bonus movie and orders its playlist at random.
    assert_same_artifacts(ours, theirs, random={"bonus", "movies", "playlist", "movie"})
    assert sorted(theirs["end"][0]["playlist"]) == sorted(ours["end"][0]["playlist"])


def test_tutorial_helloworld(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebooks = ports(tmp_path)
    _, ours, theirs = round_trip(tmp_path, monkeypatch, notebooks / "00_helloworld.ipynb")
    assert_same_artifacts(ours, theirs)
    assert set(theirs) == {"start", "hello", "end"}
