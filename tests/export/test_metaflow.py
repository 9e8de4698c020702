"""`nbflow export --to metaflow`: the example notebooks and the ports of Metaflow's tutorials,
exported, run under Metaflow's local runtime (`python flow.py run`) and compared, task by task,
with `nbflow run` of the same notebook: every artifact nbflow stores, Metaflow has, with the
same value, and Metaflow has no artifact nbflow does not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mftools import assert_same_artifacts, round_trip

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.metaflow,
    pytest.mark.usefixtures("kernel_name", "metaflow_installed"),
]

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
PORTS = REPO / "tests" / "ports"


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
