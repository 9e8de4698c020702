"""A step's figures as the database counts them (`MetadataStore.step_summaries`): the same
answer as the task records give (`latest_attempts`, `wall_span`, `wall_time`), read in a number
of statements that does not grow with the number of tasks (issue 16: a live graph of a
100,000-task foreach must not read 100,000 records at every redraw)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from nbflow.store.metadata import MetadataStore
from nbflow.store.metadata.records import (
    StepSummary,
    latest_attempts,
    summarize_steps,
    wall_span,
    wall_time,
)


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetadataStore]:
    with closing(MetadataStore(tmp_path / "meta.sqlite")) as store:
        yield store


def foreach_run(meta: MetadataStore, n: int) -> int:
    """start, then n body tasks (all done), then a join: a run as a foreach makes it."""
    run = meta.create_run("f", {})
    start = meta.start_task("f", run.run_id, "start", (), ())
    meta.commit_task(start, status="done")
    body = []
    for i in range(n):
        body.append(meta.start_task("f", run.run_id, "body", (i,), (start,)))
        meta.commit_task(body[-1], status="done")
    meta.commit_task(meta.start_task("f", run.run_id, "join", (), body), status="done")
    return run.run_id


def from_records(meta: MetadataStore, run_id: int) -> dict[str, StepSummary]:
    """The summaries as the task records define them."""
    records = meta.tasks("f", run_id)
    found = {}
    for step in dict.fromkeys(t.step for t in records):
        tasks = [t for t in records if t.step == step]
        counted = Counter(t.status for t in latest_attempts(tasks))
        started, finished = wall_span(tasks)
        summary = StepSummary(tuple(sorted(counted.items())), started, finished,
                              wall_time(tasks) is None)  # fmt: skip
        found[step] = summary
    return found


@contextmanager
def statements(meta: MetadataStore) -> Iterator[list[str]]:
    seen: list[str] = []
    conn = meta._db._db._conn  # type: ignore[attr-defined]  # SQLite's: the test counts its SQL
    conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


def test_summaries_agree_with_the_task_records(meta: MetadataStore) -> None:
    run_id = foreach_run(meta, 5)
    assert meta.step_summaries("f", run_id) == from_records(meta, run_id)
    assert list(meta.step_summaries("f", run_id)) == ["start", "body", "join"]
    body = meta.step_summaries("f", run_id)["body"]
    assert (body.total, body.count("done"), body.count("failed")) == (5, 5, 0)
    assert body.duration is not None and body.duration >= 0


def test_a_retried_place_counts_its_last_attempt_and_every_attempt_its_time(
    meta: MetadataStore,
) -> None:
    run = meta.create_run("f", {})
    first = meta.start_task("f", run.run_id, "s", (0,), ())
    meta.commit_task(first, status="failed", error={"ename": "E", "evalue": ""})
    meta.commit_task(meta.start_task("f", run.run_id, "s", (0,), (), attempt=2), status="done")
    meta.start_task("f", run.run_id, "s", (1,), ())  # still running
    summary = meta.step_summaries("f", run.run_id)["s"]
    assert summary == from_records(meta, run.run_id)["s"]
    assert summary.statuses == (("done", 1), ("running", 1))  # the failed attempt is replaced
    assert summary.unfinished and summary.duration is None


def test_the_statements_do_not_grow_with_the_tasks(meta: MetadataStore) -> None:
    small, large = foreach_run(meta, 3), foreach_run(meta, 300)
    with statements(meta) as seen_small:
        meta.step_summaries("f", small)
    with statements(meta) as seen_large:
        meta.step_summaries("f", large)
    assert len(seen_small) == len(seen_large) == 2  # counted in the database, no record read


def test_summarize_steps_keeps_the_last_row_of_a_place() -> None:
    rows = [
        ("s", "[0]", "failed", 1.0, 2.0),
        ("s", "[0]", "done", 3.0, 4.0),
        ("s", "[1]", "done", 0.5, 5.0),
        ("t", "[]", "running", 6.0, None),
    ]
    found = summarize_steps(rows)
    assert found["s"] == StepSummary((("done", 2),), 0.5, 5.0, False)
    assert found["t"] == StepSummary((("running", 1),), 6.0, None, True)
    assert list(found) == ["s", "t"]
