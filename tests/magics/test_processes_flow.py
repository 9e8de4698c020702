"""`%flow run --executor processes`: whole flows on local worker processes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magictools import flow_shell, ok

from nbflow import Flow
from nbflow.exceptions import StepFailed


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    shell = flow_shell(tmp_path, monkeypatch, "par")
    yield shell


def test_foreach_elements_overlap_on_two_workers(ip: InteractiveShell) -> None:
    ok(ip, "import time\ndef slow(x):\n    time.sleep(0.4)\n    return x * 10")
    ok(ip, "%%step start\nxs = [1, 2, 3, 4]")
    ok(
        ip,
        "%%step work --after start --foreach xs\n"
        "began = time.time()\ny = slow(item)\nended = time.time()",
    )
    ok(ip, "%%step total --after work --join\ns = sum(i.y for i in inputs)")
    run = ok(ip, "%flow run --executor processes --workers 2")
    assert run.status == "done"
    assert run.data.s == 100
    spans = sorted((t.data.began, t.data.ended) for t in run["work"].tasks())
    overlapping = sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
    assert overlapping >= 1, spans  # at least two elements ran at the same time
    assert {t.status for s in run for t in s.tasks()} == {"done"}


def test_branches_run_side_by_side_and_join(ip: InteractiveShell) -> None:
    ok(ip, "import time")
    ok(ip, "%%step start\nx = 1")
    ok(ip, "%%step left --after start\nl0 = time.time(); time.sleep(0.4); l1 = time.time()")
    ok(ip, "%%step right --after start\nr0 = time.time(); time.sleep(0.4); r1 = time.time()")
    ok(ip, "%%step both --after left right\nspan = (l0, l1, r0, r1)")
    run = ok(ip, "%flow run --executor processes --workers 2")
    l0, l1, r0, r1 = run.data.span
    assert r0 < l1 and l0 < r1


def test_each_tasks_output_is_shown_together_and_kept(ip: InteractiveShell, capsys: Any) -> None:
    ok(ip, "%%step start\nxs = ['a', 'b', 'c']")
    ok(ip, "%%step say --after start --foreach xs\nfor i in range(3):\n    print(item, i)")
    capsys.readouterr()
    run = ok(ip, "%flow run --executor processes --workers 2")
    out = capsys.readouterr().out
    for index, letter in enumerate("abc"):
        block = f"── say[{index}] ──\n{letter} 0\n{letter} 1\n{letter} 2\n"
        assert block in out
    assert [t.stdout for t in run["say"].tasks()] == [f"{c} 0\n{c} 1\n{c} 2\n" for c in "abc"]


def test_notebook_functions_and_classes_travel_to_workers(ip: InteractiveShell) -> None:
    ok(
        ip,
        "class Scaler:\n"
        "    def __init__(self, k):\n        self.k = k\n"
        "    def __call__(self, v):\n        return v * self.k",
    )
    ok(ip, "triple = Scaler(3)\nsquare = lambda v: v * v")
    ok(ip, "%%step start\nxs = [1, 2]")
    ok(ip, "%%step apply --after start --foreach xs\ny = triple(square(item))")
    ok(ip, "%%step out --after apply --join\nys = [i.y for i in inputs]")
    run = ok(ip, "%flow run --executor processes --workers 2")
    assert run.data.ys == [3, 12]


def test_a_killed_worker_fails_only_its_task_and_retry_recovers(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    marker = tmp_path / "killed-once"
    # The step cell runs once in this process to register it: only a worker may be killed.
    ok(ip, f"import os, signal\nmarker = {str(marker)!r}\nkernel_pid = os.getpid()")
    ok(ip, "%%step start\nxs = [1, 2, 3]")
    ok(
        ip,
        "%%step work --after start --foreach xs --retry 1\n"
        "if item == 2 and os.getpid() != kernel_pid and not os.path.exists(marker):\n"
        "    open(marker, 'w').close()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "y = item",
    )
    run = ok(ip, "%flow run --executor processes --workers 2")
    assert run.status == "done"
    second = run["work"].tasks()[1]
    assert [a.status for a in second.attempts] == ["failed", "done"]
    assert second.attempts[0].error["ename"] == "WorkerDied"
    assert [t.data.y for t in run["work"].tasks()] == [1, 2, 3]


def test_a_failure_keeps_finished_tasks_and_names_the_step(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nxs = [1, 0, 2]")
    ip.run_cell("%%step div --after start --foreach xs\ny = 1 / item")  # fails, but registers
    result = ip.run_cell("%flow run --executor processes --workers 2")
    error = result.error_in_exec
    assert isinstance(error, StepFailed)
    assert error.step == "div"
    assert error.ename == "ZeroDivisionError"
    run = Flow("par").latest_run
    assert run.status == "failed"
    # The failure stops new work; what was running finishes and is kept.
    tasks = {t.path: t for t in run["div"].tasks()}
    assert tasks[(1,)].status == "failed"
    assert tasks[(0,)].status == "done"
    assert tasks[(0,)].data.y == 1.0


def test_a_worker_timeout_stops_the_task(ip: InteractiveShell) -> None:
    ok(ip, "import time")
    ok(ip, "%%step start\nx = 1")
    ok(ip, "%%step nap --after start --timeout 0.5 --catch err\ntime.sleep(30)")
    run = ok(ip, "%flow run --executor processes --workers 1")
    task = run["nap"].task
    assert task.status == "done"
    assert task.data.err.ename == "TaskTimeout"


def test_an_impossible_resource_request_fails_before_anything_runs(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nx = 1")
    ok(ip, "%%step train --after start --resources gpu=64\ny = 2")
    result = ip.run_cell("%flow run --executor processes")
    assert "asks for gpu=64" in str(result.error_in_exec)
    assert Flow("par").latest_run.pathspec == "par/1"  # no new run was started


def test_a_full_run_draws_its_graph_live_and_updates_it(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[dict[str, Any]] = []
    publish = ip.display_pub.publish

    def recording(data: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        published.append(data)
        publish(data, *args, **kwargs)

    monkeypatch.setattr(ip.display_pub, "publish", recording)
    ok(ip, "import time")
    ok(ip, "%%step start\nxs = [1, 2, 3]")
    ok(ip, "%%step work --after start --foreach xs\ntime.sleep(0.3)\ny = item")
    published.clear()
    run = ok(ip, "%flow run --executor processes --workers 1")
    pictures = [d["image/svg+xml"] for d in published if "image/svg+xml" in d]
    assert len(pictures) >= 2  # drawn at the start, redrawn as tasks finished
    assert "work" in pictures[0]
    assert pictures[0] != pictures[-1]
    # While its elements run, the foreach step is "running", k of the 3 it planned.
    assert any('data-step="work" data-status="running"' in p for p in pictures)
    assert any("/3<" in p for p in pictures)
    assert published[-1] == {"text/plain": f"run {run.pathspec}: done"}
    assert "image/svg+xml" in run._repr_mimebundle_()
