"""`nbflow export --to metaflow`: the example notebooks and the ports of Metaflow's tutorials,
exported, run under Metaflow's local runtime (`python flow.py run`) and compared, task by task,
with `nbflow run` of the same notebook: every artifact nbflow stores, Metaflow has, with the
same value, and Metaflow has no artifact nbflow does not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mftools import assert_same_artifacts, round_trip, run_both

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


def test_tutorials_that_read_another_flows_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """03 and 04 read MovieStatsFlow's latest successful run with the client
    (`from nbflow import Flow`). Exported, the client is Metaflow's: each reads Metaflow's run of
    the exported 02, as nbflow's run reads nbflow's, and both find the same statistics."""
    notebooks = ports(tmp_path)
    run_both(tmp_path, notebooks / "02_statistics.ipynb")  # MovieStatsFlow on both sides
    redux = notebooks / "03_playlist_redux_fixed.ipynb"
    run, ours, theirs = round_trip(tmp_path, monkeypatch, redux)
    # The bonus movie is picked at random, the playlist shuffled.
    random = {"random_index", "bonus", "movies", "playlist", "movie"}
    assert_same_artifacts(ours, theirs, random=random)
    assert sorted(theirs["join"][0]["playlist"]) == sorted(run.data.playlist)
    # `index` is an attribute of Metaflow's FlowSpec: the export refuses it as an artifact and
    # says to add --transient index, which nbflow's run then honours too.
    plus = notebooks / "04_playlist_plus_fixed.ipynb"
    step = "%%step bonus_movie --after start"
    run, ours, theirs = round_trip(tmp_path, monkeypatch, plus, {step: f"{step} --transient index"})
    assert_same_artifacts(ours, theirs, random={"movies", "playlist", "movie"})
    assert theirs["join"][0]["bonus"] == run.data.bonus == ("Metaflow the Release", "Documentary")


def test_hearthstone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example a user meets first after quickstart: DataFrames, a foreach of forests, a
    join that picks the best, a model applied after it. Smaller, so the test is quick."""
    shutil.copy(NOTEBOOKS / "hearthstone.ipynb", tmp_path)
    smaller = {
        "n_decks = 3000": "n_decks = 800",
        "n_estimators = [50, 150]": "n_estimators = [5, 10]",
    }
    run, ours, theirs = round_trip(tmp_path, monkeypatch, tmp_path / "hearthstone.ipynb", smaller)
    assert_same_artifacts(ours, theirs)  # the forests too: the same pickle, seeded alike
    assert len(theirs["train"]) == 6
    assert theirs["end"][0]["summary"] == run.data.summary
