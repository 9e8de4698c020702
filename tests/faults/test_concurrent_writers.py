"""Concurrent writers on one store: 4 kernels x 2 runs and a `nbflow batch --jobs 4`, at once.

Four in-process IPython shells (tests/kernel/shell_worker.py) each make a "Run All" and a
`%flow run`; a batch runs the same flow in four papermill kernels; all nine processes wait on
one file barrier and start together, while a reader polls the database. Every run must come
out complete with its own results, ids unique, a value all of them bind stored once, no user
shown "database is locked", no reader shown half a task.

The same race with the write transaction weakened (NBFLOW_TEST_HOOK_WEAKEN_WRITES, statements
committing one by one) must break one of those checks: the test would catch that regression.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from faulttools import Race, blob_report, integrity, rows, start_race

pytestmark = pytest.mark.kernel

KERNELS = 4
FLOW_RUNS = 1  # each kernel: one "Run All" and one `%flow run`
BATCH = ["30", "31", "32", "33"]
RUNS = KERNELS * (1 + FLOW_RUNS) + len(BATCH)
LOCKED = "database is locked"


def problems(race: Race) -> list[str]:
    """Everything the race got wrong, as sentences (empty: all is well)."""
    found = _process_problems(race) + _run_problems(race) + _store_problems(race)
    if race.half_committed:
        found.append(f"a reader saw a running task with artifact rows {race.half_committed} times")
    return found


def _process_problems(race: Race) -> list[str]:
    found = []
    for index, (code, report, err) in enumerate(
        zip(race.returncodes, race.reports, race.stderr, strict=True)
    ):
        if code != 0 or report.get("errors"):
            found.append(f"kernel {index} failed ({code}): {report.get('errors')} {err[-500:]}")
        if LOCKED in err + report.get("output", ""):
            found.append(f"kernel {index} showed {LOCKED!r}")
    assert race.batch is not None
    if race.batch.returncode != 0:
        found.append(f"the batch failed: {race.batch.stderr[-800:]}")
    if LOCKED in race.batch.stdout + race.batch.stderr:
        found.append(f"the batch showed {LOCKED!r}")
    return found


def _run_problems(race: Race) -> list[str]:
    runs, found = race.flow.runs, []
    ids = [r.run_id for r in runs]
    if len(ids) != RUNS or len(set(ids)) != len(ids):
        found.append(f"expected {RUNS} distinct runs, got ids {sorted(ids)}")
    for run in runs:
        size = run.params.get("size")
        work = run.steps.get("work", [])
        total = run.steps.get("total", [{}])[-1]
        expected = sum(i * i for i in range(size or 0))
        if run.status != "done" or [t["item"] for t in work] != list(range(size or 0)):
            found.append(f"run {run.id} (size {size}) is {run.status}: {run.statuses()}")
        elif total.get("data", {}).get("total") != expected:
            found.append(f"run {run.id} holds total {total.get('data')}, not {expected}")
    by_id = sorted(runs, key=lambda r: r.run_id)
    found += [
        f"run {b.id} started before run {a.id}"
        for a, b in pairwise(by_id)
        if b.raw["started_at"] < a.raw["started_at"]
    ]
    return found


def _store_problems(race: Race) -> list[str]:
    found = []
    shared = {key for (key,) in rows(race.datastore, "SELECT DISTINCT a.key FROM artifacts a "
                                     "WHERE a.name = 'shared' AND a.kind = 'output'")}  # fmt: skip
    if len(shared) != 1:
        found.append(f"the value every run binds as 'shared' has {len(shared)} keys: {shared}")
    for key in shared:
        (count,) = rows(race.datastore, "SELECT COUNT(*) FROM objects WHERE key = ?", (key,))[0]
        if count != 1:
            found.append(f"'shared' has {count} object rows")
    report = blob_report(race.datastore)
    if not shared <= set(report.verified):
        found.append(f"'shared' is not one verified blob: {report}")
    if report.damaged or report.temp or report.strays:
        found.append(f"blobs left wrong: {report.damaged} {report.temp} {report.strays}")
    if integrity(race.datastore) != "ok":
        found.append(f"integrity_check: {integrity(race.datastore)}")
    return found


def test_four_kernels_and_a_batch_write_one_store_at_once(tmp_path: Path) -> None:
    race = start_race(tmp_path, KERNELS, FLOW_RUNS, batch=BATCH)
    assert problems(race) == []
    assert len({tuple(r["runs"]) for r in race.reports}) == KERNELS  # each kernel made its own


def test_the_race_catches_a_weakened_write_transaction(tmp_path: Path) -> None:
    weak = {"NBFLOW_TEST_HOOK_WEAKEN_WRITES": "1"}
    race = start_race(tmp_path, KERNELS, FLOW_RUNS, batch=BATCH, extra_env=weak)
    assert problems(race), "the race passed with statements committing one by one"
