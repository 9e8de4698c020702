"""Helpers of the fault tests: kernels and processes to kill, and what to check afterwards.

Every check reads the datastore from the test process, as any later process would: the
metadata database with sqlite3 (statuses, attempts, `PRAGMA integrity_check`) and every blob
file, read back and verified against its key.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from kerneltools import HERE as KERNEL_TESTS
from kerneltools import KERNEL_NAME, TIMEOUT, FlowState, kernel_env, read_flow
from shell_worker import CELLS

from nbflow.exceptions import IntegrityError
from nbflow.store.blobs import ArtifactStore
from nbflow.store.blobs.backends import LocalBlobStore

# A dead run is found within a second or two; a live one beats five times a second.
FAST_LIVENESS = {"NBFLOW_HEARTBEAT_S": "0.2", "NBFLOW_STALE_S": "1.5"}
STALE_S = float(FAST_LIVENESS["NBFLOW_STALE_S"])


def ensure_kernel_spec() -> str:
    """`python3`, made to start this venv's interpreter (as tests/kernel/conftest.py does)."""
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        program = spec.argv[0] if spec.argv else ""
    except NoSuchKernel:
        program = ""
    if not (program.startswith("python") or Path(program).resolve() == Path(sys.executable)):
        subprocess.run(
            [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME],
            check=True,
            capture_output=True,
        )
    return KERNEL_NAME


def fault_env(datastore: Path, **extra: str) -> dict[str, str]:
    """A kernel's (or process's) environment on `datastore`, with fast heartbeats."""
    return {**kernel_env(datastore), **FAST_LIVENESS, "NBFLOW_CACHE": "off", **extra}


def write_notebook(path: Path, sources: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, path)
    return path


def nbflow_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`nbflow ARGS` in a new process (its kernels and workers are real processes too)."""
    return subprocess.run(
        [sys.executable, "-m", "nbflow.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


# -- reading the metadata database ----------------------------------------------------------------


def database(datastore: Path) -> Path:
    return datastore / "metadata.sqlite"


def rows(datastore: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(database(datastore))) as conn:
        return conn.execute(sql, args).fetchall()


def integrity(datastore: Path) -> str:
    (result,) = rows(datastore, "PRAGMA integrity_check")[0]
    return str(result)


def run_status(datastore: Path, flow: str, run_id: int) -> str:
    return str(rows(datastore, "SELECT status FROM runs WHERE flow=? AND run_id=?",
                    (flow, run_id))[0][0])  # fmt: skip


def latest_run_id(datastore: Path, flow: str) -> int:
    return int(rows(datastore, "SELECT MAX(run_id) FROM runs WHERE flow = ?", (flow,))[0][0])


@dataclass(frozen=True)
class TaskRow:
    task_id: int
    step: str
    path: tuple[int, ...]
    status: str
    attempt: int
    origin: int | None
    error: dict[str, Any] | None


def tasks(datastore: Path, flow: str, run_id: int) -> list[TaskRow]:
    found = rows(
        datastore,
        "SELECT task_id, step, path, status, attempt, origin, error FROM tasks "
        "WHERE flow = ? AND run_id = ? ORDER BY task_id",
        (flow, run_id),
    )
    return [
        TaskRow(task_id, step, tuple(json.loads(path)), status, attempt, origin,
                json.loads(error) if error else None)
        for task_id, step, path, status, attempt, origin, error in found
    ]  # fmt: skip


def done_per_place(datastore: Path, flow: str, run_id: int) -> dict[tuple[str, str], int]:
    """How many finished (`done`) attempts each task place (step, path) of the run has."""
    found = rows(
        datastore,
        "SELECT step, path, SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END) FROM tasks "
        "WHERE flow = ? AND run_id = ? GROUP BY step, path",
        (flow, run_id),
    )
    return {(step, path): int(count) for step, path, count in found}


def artifact_keys(datastore: Path, task_id: int) -> list[str]:
    return [key for (key,) in rows(datastore, "SELECT key FROM artifacts WHERE task_id = ?",
                                   (task_id,))]  # fmt: skip


# -- blobs ----------------------------------------------------------------------------------------


@dataclass
class BlobReport:
    verified: list[str] = field(default_factory=list)  # final names whose bytes match the key
    damaged: list[str] = field(default_factory=list)  # final names whose bytes do not
    temp: list[str] = field(default_factory=list)  # writers' temp files (a killed writer's)
    strays: list[str] = field(default_factory=list)  # anything else under blobs/


def blob_report(datastore: Path) -> BlobReport:
    """Every file under the blob folder, sorted out; each blob read back and verified."""
    blobs = LocalBlobStore(datastore)
    values = ArtifactStore(blobs)
    report = BlobReport(temp=[entry.name for entry in blobs.temp_entries()])
    for key in (entry.name for entry in blobs.entries()):
        try:
            values.load_bytes(key)
            report.verified.append(key)
        except IntegrityError:
            report.damaged.append(key)
    known = {k[:2] + "/" + k[2:] for k in report.verified + report.damaged} | set(report.temp)
    for path in (datastore / "blobs").rglob("*"):
        name = path.relative_to(datastore / "blobs").as_posix()
        if path.is_file() and name not in known:
            report.strays.append(name)
    return report


def stored_value(datastore: Path, key: str) -> Any:
    """The value stored under `key` (inline in the database, or a verified blob)."""
    inline = rows(datastore, "SELECT inline FROM objects WHERE key = ?", (key,))
    return ArtifactStore(LocalBlobStore(datastore)).load(key, inline[0][0] if inline else None)


# -- concurrent writers ---------------------------------------------------------------------------


@dataclass
class Race:
    datastore: Path
    reports: list[dict[str, Any]]
    stderr: list[str]
    returncodes: list[int]
    flow: FlowState
    batch: subprocess.CompletedProcess[str] | None = None
    half_committed: int = 0  # times a reader saw a task `running` with artifact rows


def start_race(
    workdir: Path,
    workers: int,
    flow_runs: int,
    *,
    batch: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Race:
    """`workers` in-process IPython shells (tests/kernel/shell_worker.py), each making one "Run
    All" and `flow_runs` `%flow run`s of flow `race`, in one new datastore, all released at once;
    with `batch` (its grid values), also `nbflow batch --jobs N` of the same flow, whose kernels
    wait on the same barrier. A reader watches the database meanwhile for half-committed tasks."""
    datastore = workdir / "store"
    barrier = workdir / "barrier"
    barrier.mkdir(parents=True)
    # Every run really runs (no cross-run cache), so each one writes its own task records.
    env = {**kernel_env(datastore), "NBFLOW_CACHE": "off", **(extra_env or {})}
    parties = workers + len(batch or [])
    command = [sys.executable, str(KERNEL_TESTS / "shell_worker.py"), str(barrier)]
    launched = []
    if batch:
        notebook = write_notebook(workdir / "race.ipynb", batch_cells(barrier, parties))
        launched.append(_batch_process(notebook, batch, env, workdir))
    launched += [
        subprocess.Popen(
            [*command, str(i), str(parties), str(flow_runs)],
            env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(workers)
    ]  # fmt: skip
    with watching(datastore) as watch:
        outputs = [process.communicate(timeout=TIMEOUT) for process in launched]
    batch_result = None
    if batch:
        batch_process, (out, err) = launched.pop(0), outputs.pop(0)
        batch_result = subprocess.CompletedProcess(
            batch_process.args, batch_process.returncode, out, err
        )
    reports = [json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
               for out, _ in outputs]  # fmt: skip
    return Race(
        datastore,
        reports,
        [err for _, err in outputs],
        [process.returncode for process in launched],
        read_flow(datastore, "race"),
        batch_result,
        watch.half_committed,
    )


def batch_cells(barrier: Path, parties: int) -> list[str]:
    """The shell workers' flow as a notebook whose kernels wait on their barrier first."""
    wait = (
        "import os, pathlib, time\n"
        f"barrier = pathlib.Path({str(barrier)!r})\n"
        "(barrier / f'batch-{os.getpid()}.ready').touch()\n"
        "deadline = time.monotonic() + 60\n"
        f"while len(list(barrier.glob('*.ready'))) < {parties} and time.monotonic() < deadline:\n"
        "    time.sleep(0.002)"
    )
    params = CELLS[0].format(size=0)  # the grid gives each run its size
    return [wait, "%load_ext nbflow\n%flow name race", params, *CELLS[1:]]


def _batch_process(
    notebook: Path, grid: list[str], env: dict[str, str], cwd: Path
) -> subprocess.Popen[str]:
    args = ["batch", str(notebook), "--grid", f"size={','.join(grid)}", "--jobs", str(len(grid)),
            "--json"]  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "nbflow.cli", *args],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@dataclass
class Watch:
    half_committed: int = 0
    polls: int = 0


@contextmanager
def watching(datastore: Path) -> Iterator[Watch]:
    """A reader polling the database while writers work: a task is committed by one
    transaction, so no reader may ever see a `running` task that already has artifact rows."""
    watch, stop = Watch(), threading.Event()

    def poll() -> None:
        while not stop.is_set() and not database(datastore).exists():
            stop.wait(0.01)
        with closing(sqlite3.connect(database(datastore), timeout=60)) as conn:
            while not stop.is_set():
                try:
                    (count,) = conn.execute(
                        "SELECT COUNT(*) FROM tasks t WHERE t.status = 'running' AND EXISTS "
                        "(SELECT 1 FROM artifacts a WHERE a.task_id = t.task_id)"
                    ).fetchone()
                except sqlite3.OperationalError:  # the schema is being created
                    count = 0
                watch.half_committed += count
                watch.polls += 1

    reader = threading.Thread(target=poll, daemon=True)
    reader.start()
    try:
        yield watch
    finally:
        stop.set()
        reader.join(timeout=10)


def needs_kernel_fixture() -> Any:
    """The `kernel_name` fixture for a test module of this folder."""

    @pytest.fixture(scope="session")
    def kernel_name() -> str:
        return ensure_kernel_spec()

    return kernel_name
