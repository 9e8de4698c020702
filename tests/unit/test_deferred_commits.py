"""A finished task's commit that rides with the next transaction (nbflow.store.metadata.later,
issue 16: one COMMIT per task instead of two), on SQLite and PostgreSQL: this process reads it
at once, another process sees it no later than the next task's start or the scheduler's next
wait, a failure of the next transaction does not lose it, and a run whose tasks were all
committed that way has every task `done` once it ends, also seen from another connection
while a later task is still running."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pgserver
import pytest
from IPython.core.interactiveshell import InteractiveShell

from nbflow import load_ipython_extension
from nbflow.store.metadata import MetadataStore

postgres_server = pgserver.postgres_server
postgres_url = pgserver.postgres_url


location = pgserver.location


@pytest.fixture
def meta(location: str | Path) -> Iterator[MetadataStore]:
    store = MetadataStore(location)
    yield store
    store.close()


@pytest.fixture
def other(location: str | Path, meta: MetadataStore) -> Iterator[MetadataStore]:
    """Another connection to the same database: what another process sees."""
    store = MetadataStore(location)
    yield store
    store.close()


def status(meta: MetadataStore, run_id: int, task_id: int) -> str:
    (task,) = [t for t in meta.tasks("f", run_id) if t.task_id == task_id]
    return task.status


def test_a_deferred_commit_is_read_here_at_once_and_elsewhere_after_the_next_start(
    meta: MetadataStore, other: MetadataStore
) -> None:
    run = meta.create_run("f", {})
    first = meta.start_task("f", run.run_id, "body", (0,), ())
    meta.commit_task(first, status="done", defer=True)
    assert status(other, run.run_id, first) == "running"  # queued: not written yet
    assert status(meta, run.run_id, first) == "done"  # a read here writes it first
    assert status(other, run.run_id, first) == "done"
    second = meta.start_task("f", run.run_id, "body", (1,), ())
    meta.commit_task(second, status="done", defer=True)
    third = meta.start_task("f", run.run_id, "body", (2,), ())  # the commit rides with it
    assert status(other, run.run_id, second) == "done"
    assert status(other, run.run_id, third) == "running"
    meta.commit_task(third, status="done", defer=True)
    meta.flush()  # what the scheduler does before it waits
    assert status(other, run.run_id, third) == "done"


def test_one_transaction_holds_the_commit_the_lookup_and_the_next_start(
    meta: MetadataStore, other: MetadataStore
) -> None:
    run = meta.create_run("f", {})
    first = meta.start_task("f", run.run_id, "body", (0,), (), cache_key="k")
    meta.commit_task(first, status="done", defer=True)
    with meta.together():
        # The lookup inside sees the queued commit (a duplicate element is found cached) ...
        assert [t.task_id for t in meta.cached_tasks("f", "body", "k")] == [first]
        second = meta.start_task("f", run.run_id, "body", (1,), (), cache_key="k")
        # ... and nothing of it is visible elsewhere before the transaction commits.
        assert status(other, run.run_id, first) == "running"
    assert status(other, run.run_id, first) == "done"
    assert status(other, run.run_id, second) == "running"


def test_a_failed_transaction_keeps_the_queued_commit_for_the_next(
    meta: MetadataStore, other: MetadataStore
) -> None:
    run = meta.create_run("f", {})
    first = meta.start_task("f", run.run_id, "body", (0,), ())
    meta.commit_task(first, status="done", defer=True)
    with pytest.raises(RuntimeError, match="the caller's own failure"), meta.together():
        meta.start_task("f", run.run_id, "body", (1,), ())
        raise RuntimeError("the caller's own failure")
    assert [t.path for t in other.tasks("f", run.run_id)] == [(0,)]  # the start rolled back
    meta.fail_running_tasks("f", run.run_id, "stopped")  # the next write: the commit first
    assert status(other, run.run_id, first) == "done"  # finished, so never marked failed


def test_close_writes_what_waits(location: str | Path) -> None:
    meta = MetadataStore(location)
    run = meta.create_run("f", {})
    task = meta.start_task("f", run.run_id, "body", (0,), ())
    meta.commit_task(task, status="done", defer=True)
    meta.close()
    reopened = MetadataStore(location)
    try:
        assert status(reopened, run.run_id, task) == "done"
    finally:
        reopened.close()


def test_a_commit_with_a_check_is_never_deferred(meta: MetadataStore, other: MetadataStore) -> None:
    """The gc check's error belongs to the call that commits (it fails the task there)."""
    run = meta.create_run("f", {})
    task = meta.start_task("f", run.run_id, "body", (0,), ())
    checked: list[int] = []
    meta.commit_task(task, status="done", defer=True, check=lambda: checked.append(task))
    assert checked == [task]
    assert status(other, run.run_id, task) == "done"


def test_a_run_sees_its_finished_tasks_while_a_later_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the kernel: the join looks, from another connection, at the tasks before it; they
    are all `done` (committed with the join's start); then the whole run is `done`."""
    for name in ("NBFLOW_EXECUTOR", "NBFLOW_WORKERS", "NBFLOW_METADATA", "NBFLOW_TAGS"):
        monkeypatch.delenv(name, raising=False)
    store = tmp_path / "store"
    monkeypatch.setenv("NBFLOW_DATASTORE", str(store))
    monkeypatch.setenv("NBFLOW_CACHE", "off")
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    seen: list[list[tuple[str, str]]] = []

    def look() -> None:  # a connection of its own, as another process has
        with closing(MetadataStore(store / "metadata.sqlite")) as other:
            (latest, *_) = other.runs("deferred")
            seen.append(sorted((t.step, t.status) for t in other.tasks("deferred", latest.run_id)))

    shell.user_ns["look"] = look
    try:
        for cell in [
            "%flow name deferred",
            "%%step start\nxs = [1, 2, 3]",
            "%%step body --after start --foreach xs\ny = item * 2",
            "%%step check --after body --join\nlook()\ntotal = sum(i.y for i in inputs)",
            "%flow run",
        ]:
            shell.run_cell(cell).raise_error()
        # What another process saw while the join ran (the last look): all before it done.
        assert seen[-1] == sorted(
            [("body", "done")] * 3 + [("check", "running"), ("start", "done")]
        )
    finally:
        shell.reset(new_session=True)
    with closing(MetadataStore(store / "metadata.sqlite")) as other:
        (latest, *_) = other.runs("deferred")
        assert latest.status == "done"
        assert [t.status for t in other.tasks("deferred", latest.run_id)] == ["done"] * 5
