"""The dask executor: ready tasks go to a Dask cluster (`distributed`).

Where the cluster comes from, in this order: an address (`dask://HOST:PORT` or
`tcp://HOST:PORT`), a `distributed.Client` the notebook already made, or a LocalCluster sized
to this machine (one single-threaded worker process per core), started once per kernel and
reused by later runs.

A task travels as the same cloudpickled TaskPayload the processes executor sends; the worker
reads its inputs from the datastore and writes its artifacts there itself, and only the small
TaskResult (artifact keys, logs, displays) comes back. The kernel alone writes metadata, so a
task whose worker dies is run again by Dask or fails, and is never committed twice.

`--resources cpu=N,memory=SIZE,gpu=N` becomes Dask worker resources (`CPU`, `MEMORY`, `GPU`),
used only where the cluster's workers declare them: a request no worker can meet is refused
before the task waits forever. A `--timeout` is enforced from here (Dask cannot stop a running
thread): the task fails with TaskTimeout when it passes, and its worker thread is left to end.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from typing import TYPE_CHECKING, Any

import cloudpickle

from nbflow.exceptions import NbflowError
from nbflow.run.executors import worker
from nbflow.run.executors.processes import spawnable_main
from nbflow.run.task import TaskPayload, TaskResult

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

CONNECT_TIMEOUT = 10  # seconds: an unreachable scheduler fails fast, naming its address
# Tasks handed to Dask per worker thread: a deep queue keeps workers busy between round trips
# (a task counts as running from then on).
IN_FLIGHT_PER_THREAD = 50
# A cluster left without workers (all died and none came back, or none ever joined) would hold
# its tasks forever: after this long with tasks waiting and no worker, they fail, naming it.
# Long enough for nannies to restart killed workers on a loaded machine (seen: 20-60 s).
# Asked at most every WORKER_CHECK_S (one round trip to the scheduler).
NO_WORKERS_S = 180.0
WORKER_CHECK_S = 2.0
# The clients this kernel made, kept for later runs: "local:<workers>" or a scheduler address.
_clients: dict[str, Client] = {}


class DaskExecutor:
    """Runs TaskPayloads on a Dask cluster; same surface as ProcessExecutor."""

    name = "dask"
    in_process = False  # values travel through the datastore, never as objects
    manages_resources = True  # the cluster's worker resources, not this machine's

    def __init__(self, client: Client, datastore_root: str) -> None:
        from distributed import as_completed  # noqa: PLC0415 - optional: nbflow[dask]

        self.client = client
        self.datastore_root = str(datastore_root)
        # future -> task id, submitted at, deadline
        self._futures: dict[Future[TaskResult], tuple[int, float, float | None]] = {}
        self._done: list[TaskResult] = []
        # Results are fetched in the background as tasks finish, many per round trip; one
        # whose worker died before it was fetched is computed again by Dask meanwhile.
        self._finished = as_completed(loop=client.loop, with_results=True, raise_errors=False)
        self._threads: int = max(sum(client.nthreads().values()), 1)
        self._declared = _declared_resources(client)
        self._checked = time.monotonic()  # when the workers were last counted
        self._no_workers_since: float | None = None

    # -- the scheduler's side ----------------------------------------------------------------

    def has_room(self) -> bool:
        return len(self._futures) < IN_FLIGHT_PER_THREAD * self._threads

    def running(self) -> int:
        return len(self._futures)

    def submit(
        self,
        payload: TaskPayload,
        *,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        resources: dict[str, float] | None = None,
    ) -> None:
        submitted = time.time()
        try:
            wanted = self._dask_resources(resources or {}, payload.step)
            payload_bytes = cloudpickle.dumps(payload, protocol=5)
        except NbflowError as error:  # this task fails, as a result: the others go on
            self._done.append(_failed(payload.task_id, submitted, "StepError", str(error)))
            return
        except Exception as error:
            self._done.append(_failed(payload.task_id, submitted, type(error).__name__,
                                      f"the task cannot be sent to Dask: {error}"))  # fmt: skip
            return
        future = self.client.submit(
            _run_on_worker, payload.task_id, env, payload_bytes, self.datastore_root,
            key=f"nbflow-{payload.step}-{payload.task_id}-{submitted}", pure=False,
            resources=wanted or None,
        )  # fmt: skip
        limit = timeout if timeout is not None else payload.timeout
        self._futures[future] = (payload.task_id, submitted, None if limit is None else
                                 time.monotonic() + limit)  # fmt: skip
        self._finished.add(future)

    def poll(self, timeout: float | None = None) -> list[TaskResult]:
        results, self._done = self._done, []
        finished = self._finished
        if self._futures and not results:
            # Woken as each result arrives, and every WORKER_CHECK_S to see the workers are there.
            wait = WORKER_CHECK_S if timeout is None else min(timeout, WORKER_CHECK_S)
            with finished.thread_condition:
                if finished.queue.empty():
                    finished.thread_condition.wait(wait)
        for future, value in finished.next_batch(block=False):
            if future not in self._futures:
                continue  # given up on already (its --timeout passed)
            task_id, submitted, _ = self._futures.pop(future)
            results.append(_result(future.status, value, task_id, submitted))
        results += self._expired()
        if not results:
            results += self._stranded()
        return results

    def close(self) -> None:
        """Cancel what is still queued (a cluster this kernel started stays up for reuse)."""
        if self._futures:
            self.client.cancel(list(self._futures), force=True)
        self._futures.clear()

    # -- helpers -----------------------------------------------------------------------------

    def _expired(self) -> list[TaskResult]:
        now, out = time.monotonic(), []
        for future, (task_id, submitted, deadline) in list(self._futures.items()):
            if deadline is not None and now > deadline:
                del self._futures[future]
                future.cancel()
                out.append(_failed(task_id, submitted, "TaskTimeout",
                                   "the task ran longer than its --timeout"))  # fmt: skip
        return out

    def _stranded(self) -> list[TaskResult]:
        """Every waiting task, failed, once the cluster has had no worker for NO_WORKERS_S."""
        now = time.monotonic()
        if not self._futures or now - self._checked < WORKER_CHECK_S:
            return []
        self._checked = now
        if self.client.nthreads():
            self._no_workers_since = None
            return []
        if self._no_workers_since is None:
            self._no_workers_since = now
        if now - self._no_workers_since < NO_WORKERS_S:
            return []
        address = self.client.scheduler.address if self.client.scheduler else "?"
        out = []
        for future, (task_id, submitted, _) in list(self._futures.items()):
            del self._futures[future]
            future.cancel()
            out.append(_failed(task_id, submitted, "NoWorkers",
                               f"the Dask cluster at {address} has had no worker for "
                               f"{NO_WORKERS_S:.0f} s, so the task could not run. Start "
                               f"workers for it (`dask worker {address}`), or run with another "
                               "--executor."))  # fmt: skip
        return out

    def _dask_resources(self, wanted: dict[str, float], step: str) -> dict[str, float]:
        """Our resource names as Dask's, for those the workers declare; refuse impossible ones."""
        asked = {_DASK_NAMES[k]: v for k, v in wanted.items() if k in _DASK_NAMES and v}
        if not self._declared:
            return {}  # a cluster without worker resources: Dask's own slots limit the load
        for name, amount in asked.items():
            if amount > self._declared.get(name, 0):
                raise NbflowError(
                    f"step '{step}' asks for {name}={amount:g}, but no Dask worker has that much "
                    f"(the largest has {self._declared.get(name, 0):g}). Start workers with "
                    f'--resources "{name}={amount:g}" or lower the step\'s --resources.'
                )
        return asked


_DASK_NAMES = {"cpu": "CPU", "memory": "MEMORY", "gpu": "GPU"}


def _declared_resources(client: Client) -> dict[str, float]:
    """The most of each resource one worker declares (`dask worker --resources GPU=1`)."""
    workers = client.scheduler_info().get("workers", {})
    most: dict[str, float] = {}
    for info in workers.values():
        for name, amount in (info.get("resources") or {}).items():
            most[name] = max(most.get(name, 0.0), float(amount))
    return most


def _run_on_worker(
    task_id: int, env: dict[str, str] | None, payload_bytes: bytes, datastore_root: str
) -> TaskResult:
    """On a Dask worker: run one task there, its values to and from the datastore."""
    if not getattr(_run_on_worker, "prepared", False):
        worker.prepare_display()
        _run_on_worker.prepared = True  # type: ignore[attr-defined]
    return worker.run_message(task_id, env, payload_bytes, datastore_root)


def _result(status: str, value: Any, task_id: int, submitted: float) -> TaskResult:
    """The task's result from what Dask gave back: the TaskResult, or why there is none."""
    if status == "finished" and isinstance(value, TaskResult):
        return value
    if status == "cancelled":
        return _failed(task_id, submitted, "CancelledError", "the task was cancelled in Dask")
    # An error comes back as (type, exception, traceback).
    error = value[1] if isinstance(value, tuple) and len(value) == 3 else value
    name = type(error).__name__
    if name == "KilledWorker":
        return _failed(task_id, submitted, "WorkerDied",
                       f"Dask workers running this task died too often: {error}")  # fmt: skip
    return _failed(task_id, submitted, name, f"on the Dask cluster: {error}")


def _failed(task_id: int, submitted: float, ename: str, evalue: str) -> TaskResult:
    return TaskResult(
        task_id,
        error={"ename": ename, "evalue": evalue, "traceback": "", "line": None},
        rendered=[f"{ename}: {evalue}\n"],
        started_at=submitted,
        finished_at=time.time(),
    )


# -- finding the cluster -----------------------------------------------------------------------


def is_dask(executor: str) -> bool:
    return executor == "dask" or executor.startswith(("dask://", "tcp://", "tls://"))


def connect(executor: str, workers: int) -> Client:
    """The Client for `executor` ("dask", "dask://HOST:PORT", "tcp://HOST:PORT")."""
    try:
        from distributed import Client, default_client  # noqa: PLC0415 - optional: nbflow[dask]
    except ModuleNotFoundError:
        raise NbflowError(
            "the dask executor needs Dask's distributed scheduler: pip install 'nbflow[dask]' "
            "(or pip install distributed)."
        ) from None
    if executor != "dask":
        address = "tcp://" + executor.removeprefix("dask://") if executor.startswith(
            "dask://") else executor  # fmt: skip
        client = _clients.get(address)
        if client is not None and client.status == "running":
            return client
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise NbflowError(
                f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT} s "
                f"({error}). Is it running (dask scheduler), and is the address right?"
            ) from None
        _announce(client)
        _clients[address] = client
        return client
    try:
        made: Client = default_client()  # one the notebook made
        return made
    except ValueError:
        pass
    client = _clients.get(f"local:{workers}")
    if client is None or client.status != "running":
        client = _clients[f"local:{workers}"] = _start_local(workers)
    return client


def _start_local(workers: int) -> Client:
    from distributed import Client, LocalCluster  # noqa: PLC0415 - optional: nbflow[dask]

    spawnable_main()
    # Single-threaded worker processes: a task's printed output and environment are its own.
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", silence_logs=40,
    )  # fmt: skip
    client = Client(cluster, set_as_default=False)
    _announce(client, started=f"a LocalCluster of {workers} workers")
    atexit.register(_close_quietly, client, cluster)
    return client


def _announce(client: Client, started: str = "") -> None:
    what = started
    if not what:
        assert client.scheduler is not None  # a connected client has its scheduler's address
        what = f"the Dask cluster at {client.scheduler.address}"
    link = client.dashboard_link
    print(f"nbflow: tasks go to {what}; dashboard: {link}", file=sys.stderr)


def _close_quietly(client: Client, cluster: LocalCluster) -> None:
    try:
        client.close(timeout=5)
        cluster.close(timeout=5)
    except Exception:  # exiting anyway
        if os.environ.get("NBFLOW_DEBUG"):
            raise
