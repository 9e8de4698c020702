"""Costs that must stay linear in the number of tasks (issue 16), checked by counting, never by
timing: the scheduler never walks its whole queue per task, the graph view reads no task
record, and the live graph keeps one widget and redraws less often as redraws cost more."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magictools import flow_shell, ok

from nbflow import Flow
from nbflow.kernel.magics import LiveGraph
from nbflow.query.views import run_view
from nbflow.run import loop
from nbflow.store.metadata import MetadataStore

N = 300
FOREACH = (
    f"%%step start\nitems = list(range({N}))",
    "%%step body --after start --foreach items\ny = item * 2",
    "%%step join --after body --join\ntotal = sum(inp.y for inp in inputs)",
)


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> InteractiveShell:
    shell = flow_shell(tmp_path, monkeypatch, "scale")
    for cell in FOREACH:
        ok(shell, cell)
    return shell


class CountingDeque(deque[Any]):
    """A deque that counts the elements anyone iterates over (a copy, a scan)."""

    walked = 0

    def __iter__(self) -> Any:
        for item in super().__iter__():
            CountingDeque.walked += 1
            yield item


def test_a_run_never_walks_its_queue_per_task(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "deque", CountingDeque)
    CountingDeque.walked = 0
    ok(ip, "%flow run")
    # A copy of the queue per pass would walk N + (N - 1) + ... = N^2 / 2 elements (45,000).
    assert CountingDeque.walked <= 2 * N
    assert Flow("scale").latest_run.data.total == N * (N - 1)


def test_the_graph_view_and_the_repr_read_no_task_record(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(ip, "%flow run")
    run = Flow("scale").latest_run

    def no_records(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a view of the whole run read every task record")

    monkeypatch.setattr(MetadataStore, "tasks", no_records)
    view = run_view(run)
    body = next(step for step in view["steps"] if step["name"] == "body")
    assert body["tasks"]["total"] == body["tasks"]["done"] == N
    assert body["status"] == "done" and body["duration"] is not None
    assert f"{N:>5} task(s)  done" in repr(run)


class Clock:
    """A clock that moves `tick` seconds at every reading: a redraw (two readings) costs
    one tick, and so does each task between redraws."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_the_live_graph_keeps_one_widget_and_redraws_at_most_its_share(
    ip: InteractiveShell,
) -> None:
    ok(ip, "%flow run")
    run = Flow("scale").latest_run
    store = run._store
    runner: Any = SimpleNamespace(flow=run.flow, run_id=run.run_id, store=store)
    clock = Clock(0.1)  # every redraw takes 0.1 s: 40% of the 0.25 s gap
    live = LiveGraph(every=0.25, share=0.05, clock=clock)
    live(runner, False)
    widget = live.widget
    for _ in range(1000):  # 1,000 tasks finish, a tick apart
        live(runner, False)
        assert live.widget is widget  # refreshed, never a new one
    # At a fixed 0.25 s gap it would redraw ~300 times (100 s / 0.35 s); at 5% of the time
    # (one 0.1 s redraw per 2 s) about 50.
    assert 30 <= live.redraws <= 60
    live(runner, True)
    assert live.widget is None and widget is not None and not widget.comm


def test_a_run_s_results_read_only_its_end_step(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list of runs with their results (the sidebar's, `nbflow runs`) reads each run's end
    step, never the records of its whole foreach."""
    ok(ip, "%flow run")
    read: list[str | None] = []
    records = MetadataStore.tasks

    def counted(self: MetadataStore, flow: str, run_id: int, step: str | None = None) -> Any:
        read.append(step)
        return records(self, flow, run_id, step)

    monkeypatch.setattr(MetadataStore, "tasks", counted)
    run = Flow("scale").latest_run
    assert run.end_step.name == "join" and run.data.total == N * (N - 1)
    assert read and set(read) == {"join"}  # the end step's records, never all (None)
