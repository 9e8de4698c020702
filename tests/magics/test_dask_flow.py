"""`%flow run --executor dask`: whole flows on a real Dask cluster (LocalCluster, separate
worker processes) — a cluster nbflow starts, one the notebook made, one reached by address —
and the faults: a worker killed mid-task, an unreachable scheduler, impossible resources.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import distributed
import pytest
from IPython.core.interactiveshell import InteractiveShell
from magictools import fails, flow_shell, ok

from nbflow import Flow
from nbflow.exceptions import NbflowError, StepFailed
from nbflow.run.executors import dask_cluster
from nbflow.run.executors.processes import spawnable_main

pytestmark = [
    # Dask's own cleanup warnings (ports, leaked semaphores at shutdown) are not ours.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:distributed.*"),
    pytest.mark.filterwarnings("ignore:Port .* is already in use:UserWarning"),
]


def local_cluster(n_workers: int = 2) -> distributed.LocalCluster:
    """Single-threaded worker processes on 127.0.0.1, each declaring one CPU."""
    spawnable_main()  # an IPython shell of an earlier test may stand in for __main__
    return distributed.LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, resources={"CPU": 1}, silence_logs=50,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    """Two workers, shared by the tests that leave them alive."""
    with local_cluster() as cluster:
        yield cluster


@pytest.fixture
def doomed() -> Iterator[distributed.LocalCluster]:
    """Two workers for a test whose tasks kill them: the nanny restarts a killed worker, but
    on a loaded machine not always before the next test, so the others never share these.
    A task is given up after killing two workers (Dask's default: four, each restart 10-30 s
    on a loaded machine)."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), local_cluster() as c:
        yield c


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    shell = flow_shell(tmp_path, monkeypatch, "dk")
    spawnable_main()  # the shell's __main__: the nanny spawns a killed worker's replacement
    yield shell


# Step cells also run at once in the kernel when entered: only a Dask worker may die.
KERNEL_PID = "import os\nKERNEL = os.getpid()"


def foreach_flow(ip: InteractiveShell, n: int = 6) -> None:
    ok(ip, f"%%step start\nxs = list(range({n}))")
    ok(ip, "%%step work --after start --foreach xs\nimport os\ny = item * 10\npid = os.getpid()\n"
           "print('element', item)")  # fmt: skip
    ok(ip, "%%step total --after work --join\ns = sum(i.y for i in inputs)")


def test_a_flow_runs_on_the_cluster_by_address_with_the_same_results(
    ip: InteractiveShell, cluster: distributed.LocalCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    foreach_flow(ip)
    local = ok(ip, "%flow run --executor kernel")
    address = cluster.scheduler_address.removeprefix("tcp://")
    run = ok(ip, f"%flow run --executor dask://{address}")
    assert run.status == "done" and run.data.s == local.data.s == 150
    work = run["work"].tasks()
    assert [t.status for t in work] == ["done"] * 6
    assert os.getpid() not in {t.data.pid for t in work}  # ran in the worker processes
    # Each task's output came back with it and is kept with the task.
    assert [t.stdout.strip() for t in work] == [f"element {i}" for i in range(6)]
    assert "element 3" in capsys.readouterr().out


def test_a_client_made_in_the_notebook_is_used(
    ip: InteractiveShell, cluster: distributed.LocalCluster
) -> None:
    foreach_flow(ip, n=3)
    with distributed.Client(cluster):
        run = ok(ip, "%flow run --executor dask")
    assert run.data.s == 30
    assert {t.status for t in run["work"].tasks()} == {"done"}


def test_a_worker_killed_mid_task_runs_it_again_and_commits_it_once(
    ip: InteractiveShell, doomed: distributed.LocalCluster, tmp_path: Path
) -> None:
    cluster = doomed
    flag = tmp_path / "killed-once"
    ok(ip, KERNEL_PID)
    ok(ip, "%%step start\nxs = [1, 2, 3]")
    ok(ip, "%%step work --after start --foreach xs\nimport os, pathlib\n"
           f"flag = pathlib.Path({str(flag)!r})\n"
           "if item == 2 and not flag.exists() and os.getpid() != KERNEL:\n    flag.touch()\n"
           "    os._exit(1)  # the worker dies\n"
           "y = item * 10")  # fmt: skip
    ok(ip, "%%step total --after work --join\ns = sum(i.y for i in inputs)")
    run = ok(ip, f"%flow run --executor {cluster.scheduler_address}")
    assert flag.exists()  # the first attempt did kill its worker
    assert run.status == "done" and run.data.s == 60
    tasks = run["work"].tasks()
    assert sorted(t.item for t in tasks) == [1, 2, 3]  # one record each: nothing twice
    assert {t.status for t in tasks} == {"done"}


def test_a_task_that_always_kills_its_worker_fails_alone(
    ip: InteractiveShell, doomed: distributed.LocalCluster
) -> None:
    cluster = doomed
    ok(ip, KERNEL_PID)
    ok(ip, "%%step start\nxs = [1, 2]")
    ok(ip, "%%step work --after start --foreach xs\nimport os\n"
           "if item == 2 and os.getpid() != KERNEL:\n    os._exit(1)  # the worker dies\n"
           "y = item")  # fmt: skip
    error = fails(ip, f"%flow run --executor {cluster.scheduler_address}")
    assert isinstance(error, StepFailed)
    run = Flow("dk").latest_run
    done, failed = sorted(run["work"].tasks(), key=lambda t: t.status)
    assert (done.status, done.item, failed.status) == ("done", 1, "failed"), done.error
    assert failed.error["ename"] == "WorkerDied"


def test_a_cluster_left_without_workers_fails_its_tasks_naming_it(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No worker ever joins (or all died and none came back): the tasks fail after
    NO_WORKERS_S (shortened here), naming the cluster, instead of waiting forever."""
    monkeypatch.setattr(dask_cluster, "NO_WORKERS_S", 3.0)
    ok(ip, "%%step start\nx = 1")
    with local_cluster(n_workers=0) as empty:
        started = time.perf_counter()
        error = fails(ip, f"%flow run --executor {empty.scheduler_address}")
        waited = time.perf_counter() - started
    assert isinstance(error, StepFailed)
    assert "has had no worker for 3 s" in str(error) and empty.scheduler_address in str(error)
    assert waited < 60  # the guard, not the test's timeout
    (task,) = Flow("dk").latest_run["start"].tasks()
    assert task.status == "failed" and task.error["ename"] == "NoWorkers"


def test_an_unreachable_scheduler_fails_fast_naming_it(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nx = 1")
    started = time.perf_counter()
    error = fails(ip, "%flow run --executor dask://127.0.0.1:9")
    assert isinstance(error, NbflowError)
    assert "tcp://127.0.0.1:9" in str(error) and "dask scheduler" in str(error)
    assert time.perf_counter() - started < 30  # CONNECT_TIMEOUT, not a hang


def test_resources_map_to_worker_resources_and_impossible_ones_are_refused(
    ip: InteractiveShell, cluster: distributed.LocalCluster
) -> None:
    ok(ip, "%%step start\nxs = [1, 2]")
    ok(ip, "%%step one --after start --foreach xs --resources cpu=1\ny = item")
    run = ok(ip, f"%flow run --executor {cluster.scheduler_address}")
    assert {t.status for t in run["one"].tasks()} == {"done"}
    ok(ip, "%%step big --after start --resources cpu=2\nz = 1")
    error = fails(ip, f"%flow run --executor {cluster.scheduler_address}")
    assert "CPU=2" in str(error) and "no Dask worker has that much" in str(error)


def test_an_unknown_executor_names_the_forms(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nx = 1")
    error = fails(ip, "%flow run --executor spark")
    assert "dask://HOST:PORT" in str(error)


def test_a_step_pinned_to_the_kernel_runs_here_the_rest_on_the_cluster(
    ip: InteractiveShell, cluster: distributed.LocalCluster
) -> None:
    foreach_flow(ip, n=4)
    ok(ip, "%%step plot --after total --in-kernel\nimport os\nplotted_in = os.getpid()\n"
           "figure = f'sum {s}'")  # fmt: skip
    run = ok(ip, f"%flow run --executor {cluster.scheduler_address}")
    assert run.status == "done"
    assert run["plot"].task.data.plotted_in == os.getpid()  # in the kernel
    assert run["plot"].task.data.figure == "sum 60"
    assert os.getpid() not in {t.data.pid for t in run["work"].tasks()}  # on the workers
