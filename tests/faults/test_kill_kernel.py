"""A kernel killed (SIGKILL) at each point of a run loses no finished work and shows nothing
half-written; the run it leaves `running` is found dead at once: its process is gone.

Each case runs a real kernel: the step cells once (interactive runs), then `%flow run` with
NBFLOW_CRASH_AT set (nbflow.core.faults), so the kernel kills itself at that point of the run.
Then, from the test process (on the same host, its stale time an hour, so the heartbeat
cannot tell): listing runs marks it (and its running task) failed; every committed task's
artifacts load and verify; every blob under a final name verifies (a half-written one is
only a temp file); `PRAGMA integrity_check` is ok. Last, `%flow resume` in a fresh kernel
takes over every committed task and runs the rest.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pgserver
import pytest
from faulttools import (
    STALE_S,
    blob_report,
    fault_env,
    integrity,
    latest_run_id,
    needs_kernel_fixture,
    rows,
    run_status,
    stored_value,
    tasks,
)
from kerneltools import LiveKernel, text
from nbclient.exceptions import DeadKernelError

from nbflow import Flow
from nbflow.config import Config
from nbflow.exceptions import DatastoreError
from nbflow.store.blobs.serialize import encode
from nbflow.store.metadata import MetadataStore
from nbflow.store.stores import open_store

pytestmark = pytest.mark.kernel
kernel_name = needs_kernel_fixture()

FLOW = "crash"
SETUP = ["%load_ext nbflow", f"%flow name {FLOW}"]
STEPS = [
    "%%params\nbase = 0",
    "%%step start\nxs = [1, 2, 3]",
    "%%step square --after start --foreach xs\ny = item * item",
    "%%step big --after square --join\nimport numpy as np\nys = [i.y for i in inputs]\n"
    "arr = np.arange(2_000_000) + base  # 16 MB: a blob written in pieces",
    "%%step total --after big\nt = int(arr.sum()) + sum(ys)",
]
# The killed run has base=1: its large blob is new (the step cells' runs wrote base=0's).
BASE = 1
TOTAL = int(np.arange(2_000_000).sum()) + 2_000_000 * BASE + 1 + 4 + 9
TASKS = 6  # start, square x 3, big, total


@dataclass(frozen=True)
class Case:
    crash_at: str  # NBFLOW_CRASH_AT: the point, and which time it is reached (":N")
    committed: int  # tasks of the run committed (done) when it was killed
    lost: int  # tasks left `running` by the kill


CASES = {
    "after the run record": Case("run_created", 0, 0),
    "after a task starts": Case("task_started:3", 2, 1),
    "writing a large artifact": Case("artifact_writing", 4, 1),
    # A finished task's commit rides with the next task's start (nbflow.store.metadata.later):
    # once it is durable, so is the running row of the task after it.
    "after a task commit": Case("task_committed:3", 3, 1),
    "before the run is marked done": Case("run_finishing", TASKS, 0),
}


@pytest.fixture
def datastore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The store, as this test process sees it: a stale time no test waits out."""
    monkeypatch.setenv("NBFLOW_STALE_S", "3600")
    yield tmp_path / "store"


def killed_run(workdir: Path, datastore: Path, crash_at: str, kernel: str) -> int:
    """Run the flow in a kernel that kills itself at `crash_at`; the run's id."""
    flag = workdir / "crashed"
    env = fault_env(datastore, NBFLOW_CRASH_ONCE=str(flag))
    with LiveKernel(workdir, env, kernel) as live:
        for cell in SETUP + STEPS:
            live.run(cell)
        live.run(f"%env NBFLOW_CRASH_AT={crash_at}")
        with pytest.raises(DeadKernelError):
            live.execute(f"%flow run -p base={BASE}")
    assert flag.read_text().startswith(crash_at.partition(":")[0])  # killed there, by itself
    return latest_run_id(datastore, FLOW)


def resumed_run(workdir: Path, datastore: Path, case: Case, kernel: str) -> tuple[int, str]:
    """`%flow resume` in a fresh kernel: the new run's id and what it printed."""
    with LiveKernel(workdir, fault_env(datastore), kernel) as live:
        for cell in SETUP:
            live.run(cell)
        if case.crash_at == "run_created":  # killed before it recorded its steps
            for cell in STEPS:
                live.run(cell)
        cell = live.run("_run = %flow resume\nprint('t =', _run.data.t)")
    return latest_run_id(datastore, FLOW), text(cell)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_kernel_killed_mid_run_loses_nothing_finished(
    case: Case, tmp_path: Path, datastore: Path, kernel_name: str
) -> None:
    run_id = killed_run(tmp_path, datastore, case.crash_at, kernel_name)
    assert run_status(datastore, FLOW, run_id) == "running"  # as the kernel left it

    store = open_store(Config(datastore=str(datastore)))
    listed = {run.run_id: run.status for run in Flow(FLOW, store=store).runs()}
    assert listed[run_id] == "failed"  # found dead when listed: its process is gone
    records = tasks(datastore, FLOW, run_id)
    done = [t for t in records if t.status == "done"]
    assert len(done) == case.committed
    lost = [t for t in records if t.status == "failed"]
    assert len(lost) == case.lost
    assert not [t for t in records if t.status == "running"]
    for task in lost:
        assert task.error is not None and task.error["ename"] == "TaskLost"
        assert "its kernel died" in task.error["evalue"]
        assert "%flow resume" in task.error["evalue"]

    for task in done:  # every committed task is intact: its values load, verified
        keys = rows(datastore, "SELECT key FROM artifacts WHERE task_id = ?", (task.task_id,))
        for (key,) in keys:
            stored_value(datastore, key)
    blobs = blob_report(datastore)
    assert (blobs.damaged, blobs.strays) == ([], [])
    arr_key = key_of_arange()
    if case.crash_at == "artifact_writing":
        assert blobs.temp  # killed with part of its bytes written...
        assert arr_key not in blobs.verified  # ...which never showed under the final name
    assert integrity(datastore) == "ok"

    resumed, printed = resumed_run(tmp_path, datastore, case, kernel_name)
    assert f"t = {TOTAL}" in printed
    assert run_status(datastore, FLOW, resumed) == "done"
    new = tasks(datastore, FLOW, resumed)
    reused = {t.origin for t in new if t.status == "cached"}
    assert reused == {t.task_id for t in done}  # every committed task, and only those
    assert len(new) == TASKS
    assert arr_key in blob_report(datastore).verified


def key_of_arange() -> str:
    return encode(np.arange(2_000_000) + BASE).key


# -- the heartbeat itself -------------------------------------------------------------------------


def seen_from_another_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process looks at runs as a process on another machine does: by heartbeat only."""
    monkeypatch.setattr("nbflow.store.metadata.liveness.socket.gethostname", lambda: "elsewhere")


def test_a_long_task_in_the_kernel_keeps_its_run_alive(
    tmp_path: Path, datastore: Path, kernel_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task holding the kernel's main thread (pure Python, 3 s: twice the stale time) does not
    stop the heartbeat: this process, on "another host", reaping every 0.2 s meanwhile, never
    takes its run."""
    monkeypatch.setenv("NBFLOW_STALE_S", str(STALE_S))
    seen_from_another_host(monkeypatch)
    meta = None
    with LiveKernel(tmp_path, fault_env(datastore), kernel_name) as live:
        for cell in SETUP:
            live.run(cell)
        live.run("%%step quick\nx = 1")
        meta = MetadataStore(datastore / "metadata.sqlite")
        live.client.kc.execute(
            "%%step quick\nimport time\nend = time.time() + 3\nwhile time.time() < end:\n"
            "    pass\nx = 2"
        )
        reaped, seen_running = [], False
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            reaped += meta.reap_dead_runs()
            seen_running |= any(r.status == "running" for r in meta.runs(FLOW))
            if seen_running and all(r.status == "done" for r in meta.runs(FLOW)):
                break
            time.sleep(0.2)
    assert meta is not None
    statuses = [r.status for r in meta.runs(FLOW)]
    meta.close()
    assert seen_running and reaped == [] and statuses == ["done", "done"]


# -- both databases -------------------------------------------------------------------------------


postgres_server = pgserver.postgres_server
postgres_url = pgserver.postgres_url


location = pgserver.location


def test_dead_runs_are_found_and_live_ones_kept_on_both_databases(
    location: str | Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBFLOW_HEARTBEAT_S", "0.1")
    monkeypatch.setenv("NBFLOW_STALE_S", "0.6")
    meta, reaper = MetadataStore(location), MetadataStore(location)
    try:
        live = meta.create_run("f", {})
        dead = meta.create_run("f", {})
        task = meta.start_task("f", dead.run_id, "a", (), ())
        # Both runs' process (this one) is alive: only an observer elsewhere goes by beats.
        assert reaper.reap_dead_runs(now=time.time() + 3600) == []
        seen_from_another_host(monkeypatch)
        with meta.beating("f", live.run_id):
            time.sleep(1.0)
            assert reaper.reap_dead_runs() == [("f", dead.run_id)]
            beat = reaper.run("f", live.run_id).heartbeat
            assert beat is not None and beat > live.started_at + 0.5  # it kept beating
        assert reaper.run("f", live.run_id).status == "running"
        assert reaper.run("f", dead.run_id).status == "failed"
        error = reaper.task(task).error
        assert error is not None and "no heartbeat since" in error["evalue"]
        assert reaper.reap_dead_runs() == []  # nothing more: it stays cheap
        time.sleep(0.8)  # the live run's process "stops" beating (left beating())
        assert reaper.reap_dead_runs(now=time.time()) == [("f", live.run_id)]
    finally:
        meta.close()
        reaper.close()


def test_a_bad_liveness_setting_names_the_variable_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = MetadataStore(tmp_path / "metadata.sqlite")
    try:
        monkeypatch.setenv("NBFLOW_STALE_S", "soon")
        with pytest.raises(DatastoreError, match=r"NBFLOW_STALE_S='soon' is not a number"):
            meta.reap_dead_runs()
        monkeypatch.delenv("NBFLOW_STALE_S")
        monkeypatch.setenv("NBFLOW_HEARTBEAT_S", "-1")
        run = meta.create_run("f", {})
        with (
            pytest.raises(DatastoreError, match=r"NBFLOW_HEARTBEAT_S='-1'.*positive number"),
            meta.beating("f", run.run_id),
        ):
            pass  # refused before the run starts
    finally:
        meta.close()
