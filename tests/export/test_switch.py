"""`--when` exported as Metaflow's switch (`self.next({...}, condition="_case")`): notebooks
whose every next step of one step carries `--when` (exclusive, exhaustive) and whose cases meet
in one step, run by `nbflow run` and, exported, by Metaflow's local runtime; every task's
artifacts compared. nbflow marks the cases not taken `skipped`; Metaflow has no task for them
(mftools.nbflow_artifacts leaves skipped tasks out, and a step only one run has fails)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mftools import assert_same_artifacts, notebook, round_trip

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.metaflow,
    pytest.mark.usefixtures("kernel_name", "metaflow_installed"),
]


def test_exclusive_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = notebook(
        tmp_path / "pair.ipynb",
        "%load_ext nbflow\n%flow name pair",
        "%%params\nn = 3",
        "%%step start\nx = n * 2",
        "%%step big --after start --when 'x > 4'\nlabel = 'big'\nsize = x",
        "%%step small --after start --when 'x <= 4'\nlabel = 'small'\nsize = -x",
        "%%step report --after big small\nresult = label + str(size)",
    )
    run, ours, theirs = round_trip(tmp_path, monkeypatch, path)
    assert [t.status for t in run["small"].tasks()] == ["skipped"]
    assert "small" not in theirs  # Metaflow's switch took the one case
    assert_same_artifacts(ours, theirs)
    assert theirs["report"][0]["result"] == run.data.result == "big6"
    assert set(theirs) == {"start", "big", "report", "end"}  # the export adds `end`


def test_three_cases_over_a_parameter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The middle case, and conditions that read a parameter beside the parent's artifact.
    path = notebook(
        tmp_path / "three.ipynb",
        "%load_ext nbflow\n%flow name three",
        "%%params\nlow = 3\nhigh = 10",
        "%%step start\nscore = 7\nhistory = ['start']",
        "%%step cold --after start --when 'score < low'\nband = 'cold'\nhistory = history + [band]",
        "%%step warm --after start --when 'low <= score < high'\nband = 'warm'\n"
        "history = history + [band]",
        "%%step hot --after start --when 'score >= high'\nband = 'hot'\nhistory = history + [band]",
        "%%step end --after cold warm hot\nsummary = f'{band}: {score}'",
    )
    run, ours, theirs = round_trip(tmp_path, monkeypatch, path)
    assert {s.name: s.tasks()[0].status for s in run.steps()} == {
        "start": "done", "cold": "skipped", "warm": "done", "hot": "skipped", "end": "done",
    }  # fmt: skip
    assert_same_artifacts(ours, theirs)
    assert set(theirs) == {"start", "warm", "end"}
    assert theirs["end"][0] == {"score": 7, "history": ["start", "warm"], "band": "warm",
                                "summary": "warm: 7"}  # fmt: skip
