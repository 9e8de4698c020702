"""Several processes making runs of one flow in one datastore at the same moment.

Four processes (in-process IPython shells, see shell_worker.py) wait on a file barrier, then
each makes three runs at once: one interactive "Run All" and two `%flow run`. The store must
come out with twelve distinct, complete runs, each holding exactly its own worker's results.
The race itself is `faulttools.start_race`, shared with tests/faults/test_concurrent_writers.py
(which adds a `nbflow batch` and a weakened write transaction).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from itertools import pairwise
from pathlib import Path

import pytest
from faulttools import Race
from faulttools import start_race as race_of_shells

pytestmark = pytest.mark.kernel

WORKERS = 4
RUNS_EACH = 3
EXTRA_ROUNDS = 4


def start_race(workdir: Path) -> Race:
    return race_of_shells(workdir, WORKERS, RUNS_EACH - 1)


@pytest.fixture(scope="module")
def race(tmp_path_factory: pytest.TempPathFactory) -> Race:
    return start_race(tmp_path_factory.mktemp("race"))


def test_every_worker_finishes_without_an_error(race: Race) -> None:
    assert race.returncodes == [0] * WORKERS, race.stderr
    for report, stderr in zip(race.reports, race.stderr, strict=True):
        assert report["errors"] == [], report
        assert "database is locked" not in stderr + report["output"]


def test_twelve_distinct_complete_runs(race: Race) -> None:
    ids = [run_id for report in race.reports for run_id in report["runs"]]
    assert len(ids) == WORKERS * RUNS_EACH
    assert None not in ids
    assert len(set(ids)) == len(ids), f"run ids given twice: {sorted(ids)}"
    runs = race.flow.runs
    assert sorted(r.id for r in runs) == sorted(ids)
    assert [r.status for r in runs] == ["done"] * len(ids)


def test_each_run_holds_exactly_its_own_results(race: Race) -> None:
    made_by = {run_id: r["worker"] for r in race.reports for run_id in r["runs"]}
    for run in race.flow.runs:
        size = 20 + made_by[run.id]
        assert run.params == {"size": size}
        work = run.tasks("work")
        assert [t["item"] for t in work] == list(range(size))
        assert {t["status"] for ts in run.steps.values() for t in ts} == {"done"}
        assert all(t["error"] is None for ts in run.steps.values() for t in ts)
        total = run.task("total")
        assert total["parents"] == [t["task_id"] for t in work]
        assert total["data"]["total"] == sum(i * i for i in range(size))
        assert total["stdout"] == f"{sum(i * i for i in range(size))}\n"


def out_of_order(race: Race) -> list[tuple[str, float, str, float]]:
    """Pairs of runs (by id) where the later id started first."""
    by_id = sorted(race.flow.runs, key=lambda r: r.run_id)
    return [
        (a.id, a.raw["started_at"], b.id, b.raw["started_at"])
        for a, b in pairwise(by_id)
        if b.raw["started_at"] < a.raw["started_at"]
    ]


def test_run_ids_sort_by_start_time(race: Race, tmp_path: Path) -> None:
    # The order of ids and start times can only break when starts collide, which a single race
    # shows about half the time: a few more rounds make a break near certain, if there is one.
    inverted = out_of_order(race)
    for round_ in range(EXTRA_ROUNDS):
        if inverted:
            break
        inverted = out_of_order(start_race(tmp_path / f"round{round_}"))
    assert not inverted, f"run ids do not sort by start time: {inverted}"


def test_metadata_database_is_intact(race: Race) -> None:
    databases = list(race.datastore.glob("*.sqlite"))
    assert len(databases) == 1, databases
    with closing(sqlite3.connect(databases[0])) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
