"""What a run's status means: `done` only when every registered step of the flow ran (or was
reused); a run that stopped short of that without a failure is `incomplete`, and can be
resumed. Every run's graph lists every step of the flow, those that did not run as `not_run`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magictools import fails, flow_shell, ok

from nbflow import Flow, Run
from nbflow.exceptions import StepFailed
from nbflow.query.views import run_view

START = "%%step start\nx = 1"
MID_BROKEN = "%%step mid --after start\nraise ValueError('mid is broken')"
MID = "%%step mid --after start\ny = x + 1"
END = "%%step end --after mid\nz = y + 1"


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    yield flow_shell(tmp_path, monkeypatch, "demo")


def statuses(run: Run) -> dict[str, str]:
    return {step["name"]: step["status"] for step in run_view(run)["steps"]}


def test_a_step_fixed_by_hand_after_a_failed_run_leaves_an_incomplete_run(
    ip: InteractiveShell,
) -> None:
    for cell in (START, MID, END):
        ok(ip, cell)
    # An edit breaks the middle step: its cell fails, and so does the run it made.
    assert isinstance(fails(ip, MID_BROKEN), StepFailed)
    failed = Flow("demo").latest_run
    assert failed.status == "failed"
    assert statuses(failed) == {"start": "cached", "mid": "failed", "end": "not_run"}

    # The user fixes the cell and runs it by hand: the run it makes lacks `end`.
    ok(ip, MID.replace("x + 1", "x + 5"))
    fixed = Flow("demo").latest_run
    assert fixed.run_id == failed.run_id + 1
    assert fixed.status == "incomplete"
    assert not fixed.successful
    assert statuses(fixed) == {"start": "cached", "mid": "done", "end": "not_run"}
    assert Flow("demo").latest_successful_run.run_id < failed.run_id

    # Resume takes that run over and runs what it lacks: now it is done.
    resumed = ok(ip, "%flow resume")
    assert resumed.status == "done"
    assert resumed.successful
    assert statuses(resumed) == {"start": "cached", "mid": "cached", "end": "done"}
    assert resumed["end"].task.data.z == 7


def test_cells_run_top_to_bottom_make_a_done_run(ip: InteractiveShell) -> None:
    for cell in (START, MID, END):
        ok(ip, cell)
        assert Flow("demo").latest_run.status == "done"  # every step registered so far ran
    (run,) = Flow("demo").runs()
    assert statuses(run) == {"start": "done", "mid": "done", "end": "done"}


def test_growing_an_incomplete_run_cell_by_cell_completes_it(ip: InteractiveShell) -> None:
    for cell in (START, MID, END):
        ok(ip, cell)
    ok(ip, MID.replace("x + 1", "x + 2"))  # an edit: a new run without `end` yet
    edited = Flow("demo").latest_run
    assert edited.status == "incomplete"
    ok(ip, END)  # the next cell grows that same run
    grown = Flow("demo").latest_run
    assert grown.run_id == edited.run_id
    assert grown.status == "done"
    assert grown["end"].task.data.z == 4


def test_flow_runs_filters_by_the_new_status(ip: InteractiveShell) -> None:
    for cell in (START, MID, END):
        ok(ip, cell)
    ok(ip, MID.replace("x + 1", "x + 2"))
    assert [r.run_id for r in Flow("demo").runs(status="incomplete")] == [2]
    error = fails(ip, "from nbflow import Flow; Flow('demo').runs(status='partial')")
    assert "incomplete" in str(error)
