"""The processes executor, with real worker processes and a real datastore folder."""

from __future__ import annotations

import gc
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from nbflow.run.executors.processes import ProcessExecutor
from nbflow.run.task import TaskPayload, TaskResult
from nbflow.store.blobs import ArtifactStore, LocalBlobStore

Executor = Callable[..., ProcessExecutor]


@pytest.fixture
def store(tmp_path: Any) -> ArtifactStore:
    return ArtifactStore(LocalBlobStore(tmp_path))


@pytest.fixture
def executor(tmp_path: Any) -> Iterator[Executor]:
    made: list[ProcessExecutor] = []

    def make(workers: int = 2, start_method: str | None = None) -> ProcessExecutor:
        made.append(ProcessExecutor(workers, str(tmp_path), start_method=start_method))
        return made[-1]

    yield make
    for ex in made:
        ex.close()


def notebook(source: str) -> dict[str, Any]:
    """Run `source` as a notebook cell would: its functions and classes live in __main__,
    so cloudpickle carries them by value, and a spawned worker never imports this module."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(source, namespace)
    return namespace


NB = notebook(
    """
import os, time

class Box:
    def __init__(self, value):
        self.value = value

def f(x):
    return Box(x * 21)

def sleep_and_time(seconds):
    start = time.time()
    time.sleep(seconds)
    return start, time.time()
"""
)


def payload(task_id: int, code: str, timeout: float | None = None, **values: Any) -> TaskPayload:
    # A blank first line stands where the `%%step` line was; imports as a notebook would have.
    return TaskPayload(
        task_id=task_id,
        step="s",
        code="\nimport os, signal, time\n" + code,
        loads={},
        values=values,
        imports=frozenset({"os", "signal", "sys", "time", "display", "plt"}),
        timeout=timeout,
    )


def run_all(
    ex: ProcessExecutor, payloads: Iterable[TaskPayload], **submit: Any
) -> dict[int, TaskResult]:
    pending = list(payloads)
    expected = len(pending)
    results: dict[int, TaskResult] = {}
    give_up = time.monotonic() + 30
    while len(results) < expected:
        assert time.monotonic() < give_up, f"only {sorted(results)} came back"
        while pending and ex.has_room():
            ex.submit(pending.pop(0), **submit)
        for result in ex.poll(timeout=1):
            results[result.task_id] = result
    return results


def value(store: ArtifactStore, result: TaskResult, name: str) -> Any:
    assert result.error is None, result.error
    stored = result.outputs[name]
    return store.load(stored.key, stored.inline)


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_notebook_code_runs_and_outputs_load_back(
    executor: Executor, store: ArtifactStore, start_method: str
) -> None:
    ex = executor(2, start_method)
    code = "y = f(x)\nprint(y.value)"
    results = run_all(ex, [payload(i, code, f=NB["f"], x=i) for i in range(4)])
    for i, result in results.items():
        box = value(store, result, "y")
        assert type(box).__name__ == "Box"
        assert box.value == i * 21
        assert result.stdout == f"{i * 21}\n"
        assert result.finished_at >= result.started_at > 0


def test_a_big_output_is_written_to_the_store_by_the_worker(
    executor: Executor, store: ArtifactStore
) -> None:
    (result,) = run_all(executor(1), [payload(1, "y = b'x' * n", n=100_000)]).values()
    assert result.outputs["y"].inline is None  # too big to travel inline: a blob file
    assert value(store, result, "y") == b"x" * 100_000


def test_inputs_load_from_the_store_and_inline(executor: Executor, store: ArtifactStore) -> None:
    big, small = store.save(list(range(5000))), store.save(5)
    assert big.inline is None and small.inline is not None
    task = TaskPayload(
        task_id=1,
        step="s",
        code="\ny = sum(a) + b",
        loads={"a": big.key, "b": small.key},
        values={},
        inline={small.key: small.inline},
    )
    (result,) = run_all(executor(1), [task]).values()
    assert value(store, result, "y") == sum(range(5000)) + 5


def test_stdout_is_kept_per_task_not_interleaved(executor: Executor) -> None:
    code = (
        "import sys\n"
        "for i in range(50):\n    print(name, i)\n    time.sleep(0.002)\n"
        "print('oops', file=sys.stderr)"
    )
    results = run_all(executor(2), [payload(i, code, name=f"task{i}") for i in range(2)])
    for i, result in results.items():
        assert result.stdout == "".join(f"task{i} {n}\n" for n in range(50))
        assert result.stderr == "oops\n"


def test_display_of_a_dataframe_gives_html(executor: Executor) -> None:
    import pandas as pd

    code = "from IPython.display import display\ndisplay(df)\ndf.shape"
    frame = pd.DataFrame({"a": [1, 2]})
    (result,) = run_all(executor(1), [payload(1, code, df=frame)]).values()
    assert result.error is None, result.error
    html, last = result.displays
    assert "<table" in html["data"]["text/html"]
    assert last["data"] == {"text/plain": "(2, 1)"}  # the last bare expression


def test_a_figure_left_open_is_shown_as_png(executor: Executor) -> None:
    pytest.importorskip("matplotlib")
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nbackend = plt.get_backend()"
    task = payload(1, code)
    (result,) = run_all(executor(1), [task]).values()
    assert result.error is None, result.error
    assert "image/png" in result.displays[-1]["data"]
    assert "agg" in str(result.outputs["backend"].preview).lower()


def test_tasks_run_in_parallel(executor: Executor, store: ArtifactStore) -> None:
    code = "t = sleep_and_time(0.5)"
    tasks = [payload(i, code, sleep_and_time=NB["sleep_and_time"]) for i in range(2)]
    results = run_all(executor(2), tasks)
    (start0, end0), (start1, end1) = (value(store, results[i], "t") for i in range(2))
    assert start0 < end1 and start1 < end0  # the two intervals overlap


def test_payload_timeout_fails_the_task_and_keeps_the_worker(
    executor: Executor, store: ArtifactStore
) -> None:
    ex = executor(1)
    before = value(store, run_all(ex, [payload(1, "pid = os.getpid()")])[1], "pid")
    slow = run_all(ex, [payload(2, "time.sleep(5)", timeout=0.5)])[2]
    assert slow.error is not None and slow.error["ename"] == "TaskTimeout"
    assert slow.error["line"] == 3
    after = value(store, run_all(ex, [payload(3, "pid = os.getpid()")])[3], "pid")
    assert after == before  # the same worker process ran on


def test_hard_deadline_kills_a_stuck_worker_and_replaces_it(
    executor: Executor, store: ArtifactStore
) -> None:
    ex = executor(1)
    stuck = "signal.signal(signal.SIGALRM, signal.SIG_IGN)\ntime.sleep(10)"
    before = value(store, run_all(ex, [payload(1, "pid = os.getpid()")])[1], "pid")
    started = time.monotonic()
    result = run_all(ex, [payload(2, stuck, timeout=0.5)], timeout=0.5)[2]
    assert time.monotonic() - started < 5
    assert result.error == {
        "ename": "TaskTimeout",
        "evalue": "the task ran longer than its --timeout of 0.5 s; its worker process was stopped",
        "traceback": "",
        "line": None,
    }
    after = value(store, run_all(ex, [payload(3, "pid = os.getpid()")])[3], "pid")
    assert after != before


def test_a_killed_worker_fails_only_its_task(executor: Executor, store: ArtifactStore) -> None:
    ex = executor(2)
    tasks = [
        payload(1, "os.kill(os.getpid(), signal.SIGKILL)"),
        payload(2, "time.sleep(0.3)\ny = 2"),
    ]
    results = run_all(ex, tasks)
    assert results[1].error is not None
    assert results[1].error["ename"] == "WorkerDied"
    assert "SIGKILL" in results[1].error["evalue"]
    assert value(store, results[2], "y") == 2
    again = run_all(ex, [payload(i, "y = i", i=i) for i in range(3, 7)])
    assert [value(store, again[i], "y") for i in range(3, 7)] == [3, 4, 5, 6]


def test_worker_that_exits_gives_worker_died(executor: Executor, store: ArtifactStore) -> None:
    ex = executor(1)
    died = run_all(ex, [payload(1, "os._exit(3)")])[1]
    assert died.error is not None and died.error["ename"] == "WorkerDied"
    assert "exit code 3" in died.error["evalue"]
    assert value(store, run_all(ex, [payload(2, "y = 1")])[2], "y") == 1


def test_system_exit_fails_the_task_not_the_worker(
    executor: Executor, store: ArtifactStore
) -> None:
    ex = executor(1)
    result = run_all(ex, [payload(1, "raise SystemExit(4)")])[1]
    assert result.error is not None and result.error["ename"] == "SystemExit"
    assert value(store, run_all(ex, [payload(2, "y = 1")])[2], "y") == 1


def test_an_unpicklable_value_fails_its_task_only(executor: Executor, store: ArtifactStore) -> None:
    ex = executor(1)
    results = run_all(ex, [payload(1, "y = lock", lock=threading.Lock()), payload(2, "y = 2")])
    error = results[1].error
    assert error is not None
    assert "'lock'" in error["evalue"] and "lock" in error["evalue"].split("is a ")[1]
    assert value(store, results[2], "y") == 2


def test_env_is_set_for_the_task_and_restored(executor: Executor, store: ArtifactStore) -> None:
    ex = executor(1)
    code = "seen = os.environ.get('NBFLOW_TEST_VAR')"
    first = run_all(ex, [payload(1, code)], env={"NBFLOW_TEST_VAR": "0,1"})[1]
    second = run_all(ex, [payload(2, code)])[2]
    assert value(store, first, "seen") == "0,1"
    assert value(store, second, "seen") is None


def test_close_and_garbage_collection_leave_no_process(executor: Executor) -> None:
    ex = executor(2)
    run_all(ex, [payload(1, "y = 1")])
    ex.submit(payload(2, "time.sleep(10)"))  # a busy worker is stopped too
    assert len(multiprocessing.active_children()) == 2
    ex.close()
    ex.close()
    assert multiprocessing.active_children() == []
    assert not ex.has_room()


def test_garbage_collection_stops_the_workers(tmp_path: Any) -> None:
    ex = ProcessExecutor(2, str(tmp_path))
    run_all(ex, [payload(1, "y = 1")])
    assert len(multiprocessing.active_children()) == 2
    del ex
    gc.collect()
    assert multiprocessing.active_children() == []


def test_throughput_of_trivial_tasks(executor: Executor) -> None:
    ex = executor(2)
    run_all(ex, [payload(0, "y = x + 1", x=0)])  # workers started
    started = time.perf_counter()
    results = run_all(ex, [payload(i, "y = x + 1", x=i) for i in range(1000)])
    elapsed = time.perf_counter() - started
    assert all(r.error is None for r in results.values())
    print(f"\n1,000 trivial payloads through 2 workers: {elapsed:.3f} s")
