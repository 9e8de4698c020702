"""A worker process killed (SIGKILL) mid-task, through a whole headless run with `--retry`.

`nbflow run --executor processes` (local worker processes) and `--executor dask` (a Dask
LocalCluster of nanny-supervised workers) run a foreach whose tasks each write a large
artifact. NBFLOW_CRASH_AT=artifact_writing with NBFLOW_CRASH_ONCE (nbflow.core.faults) kills the
first worker that gets half-way through writing one, whichever it is. The run must finish with
exactly one committed attempt per task, the killed one on record as failed (WorkerDied) and
retried, the other tasks untouched, and no half-written blob under a final name.

A task that kills its worker at every attempt fails alone: its retries are spent, the other
tasks (a sibling branch, the other elements) are committed, and the run is failed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faulttools import (
    blob_report,
    done_per_place,
    fault_env,
    integrity,
    latest_run_id,
    nbflow_cli,
    needs_kernel_fixture,
    run_status,
    tasks,
    write_notebook,
)

pytestmark = [
    pytest.mark.kernel,
    # Dask's own cleanup warnings (ports, leaked semaphores at shutdown) are not ours.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]
kernel_name = needs_kernel_fixture()

FLOW = "workers"
ELEMENTS = 4
CELLS = [
    f"%load_ext nbflow\n%flow name {FLOW}",
    f"%%step start\nxs = list(range({ELEMENTS}))",
    # Each element writes its own 8 MB array: the crash lands in the middle of one of them.
    "%%step work --after start --foreach xs --retry 1\nimport os\nimport numpy as np\n"
    "block = np.full(1_000_000, item)\ny = item * 10\npid = os.getpid()",
    "%%step total --after work --join\ns = sum(i.y for i in inputs)",
]
EXECUTORS = {
    "processes": ["--executor", "processes", "--workers", "2"],
    # Dask alone would run the task again on another worker (allowed-failures); with none
    # allowed, the killed task comes back as failed and nbflow's --retry runs it again.
    "dask": ["--executor", "dask", "--workers", "2"],
}
DASK_ENV = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_worker_killed_mid_write_is_retried_and_committed_once(
    executor: str, tmp_path: Path, kernel_name: str
) -> None:
    datastore, flag = tmp_path / "store", tmp_path / "crashed"
    notebook = write_notebook(tmp_path / "work.ipynb", CELLS)
    env = fault_env(datastore, NBFLOW_CRASH_AT="artifact_writing", NBFLOW_CRASH_ONCE=str(flag),
                    **(DASK_ENV if executor == "dask" else {}))  # fmt: skip
    result = nbflow_cli(["run", str(notebook), *EXECUTORS[executor]], env, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert flag.read_text().startswith("artifact_writing")  # a worker was killed mid-write

    run_id = latest_run_id(datastore, FLOW)
    assert run_status(datastore, FLOW, run_id) == "done"
    # Exactly one committed attempt per task place, however many attempts it took.
    assert set(done_per_place(datastore, FLOW, run_id).values()) == {1}
    work = [t for t in tasks(datastore, FLOW, run_id) if t.step == "work"]
    failed = [t for t in work if t.status == "failed"]
    # The killed attempt; on Dask also those queued on the same worker, which it reports
    # lost with it (KilledWorker) when no failure is allowed.
    assert len(failed) == 1 if executor == "processes" else len(failed) >= 1, work
    for lost in failed:
        assert lost.error is not None and lost.error["ename"] == "WorkerDied"
        retried = [t for t in work if t.path == lost.path]
        assert [(t.attempt, t.status) for t in retried] == [(1, "failed"), (2, "done")]
    assert sorted(t.path for t in work if t.status == "done") == [(i,) for i in range(ELEMENTS)]

    blobs = blob_report(datastore)
    assert (blobs.damaged, blobs.strays) == ([], [])
    assert blobs.temp  # the killed worker's partial file: a temp name, never a final one
    assert integrity(datastore) == "ok"


def test_a_task_that_always_kills_its_worker_fails_alone(tmp_path: Path, kernel_name: str) -> None:
    datastore = tmp_path / "store"
    cells = [
        CELLS[0],
        CELLS[1],
        "%%step work --after start --foreach xs --retry 1\nimport os, signal\n"
        "if item == 2:\n    os.kill(os.getpid(), signal.SIGKILL)\ny = item * 10",
        "%%step side --after start\nimport time\ntime.sleep(1)\nz = len(xs)",
        CELLS[3],
    ]
    notebook = write_notebook(tmp_path / "work.ipynb", cells)
    result = nbflow_cli(["run", str(notebook), *EXECUTORS["processes"]], fault_env(datastore),
                        tmp_path)  # fmt: skip
    assert result.returncode != 0
    assert "work" in result.stderr and "WorkerDied" in result.stderr

    run_id = latest_run_id(datastore, FLOW)
    assert run_status(datastore, FLOW, run_id) == "failed"
    records = tasks(datastore, FLOW, run_id)
    killed = [t for t in records if t.step == "work" and t.path == (2,)]
    assert [(t.attempt, t.status) for t in killed] == [(1, "failed"), (2, "failed")]
    assert {t.error["ename"] for t in killed if t.error} == {"WorkerDied"}
    others = {(t.step, t.path): t.status for t in records if (t.step, t.path) != ("work", (2,))}
    assert others == {
        ("start", ()): "done",
        ("side", ()): "done",
        **{("work", (i,)): "done" for i in (0, 1, 3)},
    }  # everything else committed, once; `total` never started
    assert set(done_per_place(datastore, FLOW, run_id).values()) <= {0, 1}
    assert integrity(datastore) == "ok"
