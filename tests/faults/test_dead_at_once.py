"""A run whose process is gone is known dead at once on its host, not a minute later.

Real processes, killed for real (SIGKILL): a small Python process that opened a run, a headless
kernel in the middle of a step, and `nbflow run` itself (its kernel follows it). The heartbeat's
stale time is left at its default (60 s) or longer, so nothing here can pass by waiting: the
process's pid and start time, recorded with the run, tell. Also: a pid reused by another process
(another start time) is gone; a process on another host is left to its heartbeat.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pgserver
import pytest
from faulttools import nbflow_cli, rows, run_status, tasks, write_notebook
from kerneltools import TIMEOUT, kernel_env

from nbflow.store.metadata import MetadataStore

postgres_server = pgserver.postgres_server
postgres_url = pgserver.postgres_url

OPEN_A_RUN = """
import sys, time
from nbflow.store.metadata import MetadataStore
meta = MetadataStore(sys.argv[1])
run = meta.create_run("f", {})
meta.start_task("f", run.run_id, "a", (), ())
print(run.run_id, flush=True)
time.sleep(600)
"""


location = pgserver.location


@pytest.fixture
def meta(location: str | Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MetadataStore]:
    monkeypatch.setenv("NBFLOW_STALE_S", "3600")  # the heartbeat cannot be what tells
    store = MetadataStore(location)
    yield store
    store.close()


def open_a_run(location: str | Path) -> tuple[subprocess.Popen[str], int]:
    """A process that opened run f/N with a running task and waits: it and N."""
    child = subprocess.Popen(
        [sys.executable, "-c", OPEN_A_RUN, str(location)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": _pythonpath()},
    )  # fmt: skip
    assert child.stdout is not None
    return child, int(child.stdout.readline())


def _pythonpath() -> str:
    return os.pathsep.join([str(Path(__file__).resolve().parents[2]), *sys.path])


def test_a_killed_process_is_dead_at_once_and_a_live_one_is_not(
    meta: MetadataStore, location: str | Path
) -> None:
    killed, dead_id = open_a_run(location)
    alive, live_id = open_a_run(location)
    try:
        assert meta.reap_dead_runs() == []  # both processes run: nothing is dead
        _kill(killed)
        assert meta.reap_dead_runs() == [("f", dead_id)]  # at once, not 60 s later
        dead = meta.run("f", dead_id)
        assert dead.status == "failed"
        assert dead.error == f"its kernel died (process {killed.pid} on {dead.host} is gone)"
        (task,) = meta.tasks("f", dead_id)
        assert task.status == "failed" and task.error is not None
        assert task.error["ename"] == "TaskLost" and "its kernel died" in task.error["evalue"]
        assert meta.run("f", live_id).status == "running"
    finally:
        _kill(alive)
        _kill(killed)
    assert meta.reap_dead_runs() == [("f", live_id)]


def _kill(child: subprocess.Popen[str]) -> None:
    child.kill()
    child.wait()
    if child.stdout is not None:
        child.stdout.close()


def test_a_reused_pid_is_a_dead_process_and_another_host_waits_for_its_heartbeat(
    meta: MetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reused = meta.create_run("f", {})  # recorded as this (live) process...
    elsewhere = meta.create_run("f", {})
    ticks, _, space = (reused.process_start or "").partition("@")
    assert ticks.isdigit() and space, reused.process_start
    # ...but started at another time: the pid now belongs to another process.
    _set(meta, reused.run_id, "process_start = ?", (f"{int(ticks) - 1}@{space}",))
    _set(meta, elsewhere.run_id, "host = ?, pid = ?", ("another-host", 999_999_999))
    assert meta.reap_dead_runs() == [("f", reused.run_id)]
    assert meta.run("f", elsewhere.run_id).status == "running"  # no pid to check there
    monkeypatch.setenv("NBFLOW_STALE_S", "0.2")
    time.sleep(0.3)
    assert meta.reap_dead_runs() == [("f", elsewhere.run_id)]  # its heartbeat went stale
    assert "no heartbeat since" in (meta.run("f", elsewhere.run_id).error or "")


def _set(meta: MetadataStore, run_id: int, assignments: str, args: tuple[object, ...]) -> None:
    db = meta._db
    with db.write():
        db.execute(f"UPDATE runs SET {assignments} WHERE flow = 'f' AND run_id = ?",
                   (*args, run_id))  # fmt: skip


# -- headless: a killed kernel, a killed `nbflow run` ------------------------------------------

NOTEBOOK = [
    "%load_ext nbflow",
    "%%step start\nx = 1",
    "%%step work --after start\nimport os, pathlib, time\n"
    "mode = os.environ.get('MODE', 'ok')\n"
    "if mode == 'fail':\n    raise ValueError('an older failure')\n"
    "if mode == 'hang':\n"
    "    pathlib.Path(os.environ['MARK']).write_text(str(os.getpid()))\n"
    "    time.sleep(600)\n"
    "y = x + 1",
    "%%step total --after work\nt = y * 10",
]


@pytest.mark.kernel
@pytest.mark.parametrize(
    ("killed", "then"),
    [("the kernel", "resume"), ("nbflow run", "resume"), ("nbflow run", "fsck --repair")],
)
def test_resume_takes_the_killed_run_at_once_not_an_older_failed_one(
    killed: str, then: str, tmp_path: Path
) -> None:
    """Killing the kernel, `nbflow run` settles the run itself; killing `nbflow run` (its
    kernel follows it), nobody does: the next look at the datastore finds it dead."""
    notebook = write_notebook(tmp_path / "train-model.ipynb", NOTEBOOK)
    datastore = tmp_path / ".nbflow"
    env = kernel_env(datastore)  # NBFLOW_STALE_S unset: the 60 s default
    older = nbflow_cli(["run", str(notebook)], {**env, "MODE": "fail"}, tmp_path)
    assert older.returncode == 1 and "an older failure" in older.stderr

    mark = tmp_path / "kernel.pid"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "nbflow.cli", "run", str(notebook)],
        env={**env, "MODE": "hang", "MARK": str(mark)}, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    kernel = int(_wait_for(lambda: mark.exists() and mark.read_text(), "the step to start"))
    os.kill(kernel if killed == "the kernel" else launcher.pid, signal.SIGKILL)
    if killed == "nbflow run":
        launcher.wait()
        _wait_for(lambda: not Path(f"/proc/{kernel}").exists(), "its kernel to follow it")
    else:
        launcher.wait(timeout=TIMEOUT)  # it settles what it can and exits
    flow = "train_model"  # named after the file, made an identifier
    # The killed run recorded the kernel as its process.
    assert rows(datastore, "SELECT pid FROM runs WHERE flow = ? AND run_id = 2", (flow,)) == [
        (kernel,)
    ]

    if then == "fsck --repair":  # fsck sees it dead, and --repair marks it
        fsck = nbflow_cli(["fsck", "--repair", "--json"], env, tmp_path)
        assert json.loads(fsck.stdout)["repaired"]["dead_runs"] == [f"{flow}/2"], fsck.stdout
        assert run_status(datastore, flow, 2) == "failed"

    started = time.monotonic()
    resumed = nbflow_cli(["resume", str(notebook)], {**env, "MODE": "ok"}, tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert time.monotonic() - started < 50  # never waited out a stale heartbeat
    why = "the notebook stopped" if killed == "the kernel" else "its kernel died"
    assert f"resumed run {flow}/2 (failed: {why}" in resumed.stderr, resumed.stderr
    assert rows(datastore, "SELECT origin_run, status FROM runs WHERE flow = ? AND run_id = 3",
                (flow,)) == [(2, "done")]  # fmt: skip
    statuses = {t.step: t.status for t in tasks(datastore, flow, 3)}
    assert statuses == {"start": "cached", "work": "done", "total": "done"}


def _wait_for(condition: object, what: str, timeout: float = TIMEOUT) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()  # type: ignore[operator]
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
