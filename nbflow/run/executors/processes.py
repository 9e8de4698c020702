"""The processes executor: ready tasks run in a pool of long-lived local worker processes.

Each worker has a pipe of its own (not concurrent.futures, whose pool breaks as a whole when
one worker dies): a worker that dies or overstays its task's hard deadline fails only that
task, and a new worker takes its place. Workers are forked from the kernel by default, so
they start in milliseconds with the kernel's imports; spawned workers work too, because a
payload carries the notebook's own functions and classes by value (cloudpickle).

Not thread-safe: one scheduler thread calls submit and poll.
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing
import multiprocessing.util  # before atexit.register below: see _close_all_at_exit
import signal
import sys
import time
import warnings
import weakref
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Literal

import cloudpickle

from nbflow.run.executors.worker import serve
from nbflow.run.task import TaskPayload, TaskResult

# How long past a task's --timeout its worker may take to answer before it is killed: the
# worker raises TaskTimeout itself at the timeout, unless the code is stuck where signals
# are not handled (C code) or has replaced the SIGALRM handler.
HARD_DEADLINE_GRACE = 2.0

# How long close() lets idle workers exit on their own before killing them.
_STOP_GRACE = 1.0

# multiprocessing's start methods (None: the platform's default)
StartMethod = Literal["fork", "spawn", "forkserver"]


@dataclass
class _Running:
    task_id: int
    submitted_at: float  # time.time(), for the records of results made here
    deadline: float | None  # time.monotonic() after which the worker is killed
    timeout: float | None


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    task: _Running | None = None


class ProcessExecutor:
    """Runs TaskPayloads in `workers` local processes, one task per worker at a time."""

    name = "processes"
    in_process = False  # values travel through the datastore, never as objects

    def __init__(
        self, workers: int, datastore_root: str, *, start_method: StartMethod | None = None
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        if start_method is None:
            # fork starts a worker in milliseconds with the kernel's imports (ANCHORS: 0.05 s);
            # elsewhere keep the platform's default (fork is unsafe on macOS).
            start_method = "fork" if sys.platform.startswith("linux") else None
        self._context = multiprocessing.get_context(start_method)
        self.workers = workers
        self.datastore_root = str(datastore_root)
        self._pool: list[_Worker] = []  # mutated in place: the finalizer holds this list
        self._done: list[TaskResult] = []  # results made here, returned by the next poll
        self._closed = False
        token = next(_tokens)
        _live[token] = self._pool
        # Garbage collection of the executor stops its workers too.
        self._finalizer = weakref.finalize(self, _shutdown, token)

    # -- the scheduler's side ----------------------------------------------------------------

    def has_room(self) -> bool:
        """True when a worker is idle (before the first submit: when workers will start)."""
        if self._closed:
            return False
        return not self._pool or any(w.task is None for w in self._pool)

    def running(self) -> int:
        return sum(w.task is not None for w in self._pool)

    def submit(
        self,
        payload: TaskPayload,
        *,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Start `payload` on an idle worker; its result comes back from poll().

        `env` is set in the worker for this task only. `timeout` (default: the payload's own)
        is a hard deadline: a worker that has not answered `HARD_DEADLINE_GRACE` seconds
        after it is killed and replaced, and the task fails with TaskTimeout.
        """
        if self._closed:
            raise RuntimeError("this ProcessExecutor is closed")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        submitted_at = time.time()
        try:
            message = (payload.task_id, env, cloudpickle.dumps(payload, protocol=5))
        except Exception as error:
            # Not the scheduler's failure: this task fails, the others go on.
            self._done.append(_unpicklable(payload, error, submitted_at))
            return
        limit = timeout if timeout is not None else payload.timeout
        deadline = None if limit is None else time.monotonic() + limit + HARD_DEADLINE_GRACE
        running = _Running(payload.task_id, submitted_at, deadline, limit)
        worker = self._idle_worker()
        try:
            worker.conn.send(message)
        except OSError:  # it died after the liveness check: once more, on its replacement
            worker = self._replace(worker)
            try:
                worker.conn.send(message)
            except OSError as error:
                evalue = f"no worker process could take the task: {error}"
                self._done.append(_failed(running, "WorkerDied", evalue))
                return
        worker.task = running

    def poll(self, timeout: float | None = None) -> list[TaskResult]:
        """The results finished so far; waits up to `timeout` (None: no limit) for one.

        Returns at once, empty, when nothing is running.
        """
        results, self._done = self._done, []
        results += self._collect(0 if results else timeout)
        return results

    def close(self) -> None:
        """Stop every worker (running tasks are abandoned, without a result). Idempotent."""
        self._closed = True
        self._finalizer()

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- workers -----------------------------------------------------------------------------

    def _idle_worker(self) -> _Worker:
        if not self._pool:
            self._start_all()
        for worker in self._pool:
            if worker.task is None:
                # A worker that died while idle (OOM killer, say) is replaced before use.
                return worker if worker.process.is_alive() else self._replace(worker)
        raise RuntimeError("no idle worker: call submit() only when has_room() is true")

    def _start_all(self) -> None:
        spawnable_main()
        # Started in one go: spawned workers boot in parallel; tasks wait in their pipes.
        self._pool.extend(self._start() for _ in range(self.workers))

    def _start(self) -> _Worker:
        conn, child = self._context.Pipe()
        process = self._context.Process(
            target=serve,
            args=(child, self.datastore_root),
            name="nbflow-worker",
            # Not daemonic: a step's code may start processes of its own (a daemonic process
            # may not). _close_all_at_exit stops workers at interpreter exit instead.
            daemon=False,
        )
        with warnings.catch_warnings():
            # Python 3.12+ warns that fork from a threaded process (the kernel) may deadlock;
            # the worker never uses the locks those threads hold (see worker.prepare_process).
            warnings.filterwarnings("ignore", ".*fork", DeprecationWarning)
            process.start()
        # Only the worker keeps its end: when it dies, reading ours gives EOF at once.
        child.close()
        return _Worker(process, conn)

    def _replace(self, worker: _Worker) -> _Worker:
        _stop_now(worker)
        fresh = self._start()
        self._pool[self._pool.index(worker)] = fresh
        return fresh

    # -- results -----------------------------------------------------------------------------

    def _collect(self, timeout: float | None) -> list[TaskResult]:
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            busy = [w for w in self._pool if w.task is not None]
            if not busy:
                return []
            ready = set(wait(_handles(busy), _wait_time(busy, end)))
            results = [
                self._finish(w) for w in busy if w.conn in ready or w.process.sentinel in ready
            ]
            results += self._expire(busy)
            if results or (end is not None and time.monotonic() >= end):
                return results

    def _finish(self, worker: _Worker) -> TaskResult:
        """The result of a worker whose pipe or process sentinel is ready."""
        running = worker.task
        assert running is not None
        worker.task = None
        try:
            # poll first: after a crash, its pipe may also be held open by a process the
            # task started, and recv would wait for ever.
            if worker.conn.poll():
                result: TaskResult = worker.conn.recv()
                return result
        except (EOFError, OSError):
            pass
        exitcode = _stop_now(worker)
        self._pool[self._pool.index(worker)] = self._start()
        return _failed(running, "WorkerDied", _death_message(exitcode))

    def _expire(self, busy: list[_Worker]) -> list[TaskResult]:
        now = time.monotonic()
        results = []
        for worker in busy:
            running = worker.task
            if running is None or running.deadline is None or now < running.deadline:
                continue
            if worker.conn.poll():
                continue  # it answered just in time: the next round reads the result
            worker.task = None
            self._replace(worker)
            evalue = (
                f"the task ran longer than its --timeout of {running.timeout:g} s; "
                "its worker process was stopped"
            )
            results.append(_failed(running, "TaskTimeout", evalue))
        return results


def spawnable_main() -> None:
    """Let spawned processes start from IPython: its stand-in for __main__ has no __spec__,
    which spawn reads; None says "no module to import"."""
    main = sys.modules.get("__main__")
    if main is not None and not hasattr(main, "__spec__"):
        main.__spec__ = None


def _handles(busy: list[_Worker]) -> list[Any]:
    return [w.conn for w in busy] + [w.process.sentinel for w in busy]


def _wait_time(busy: list[_Worker], end: float | None) -> float | None:
    """How long to wait: until the caller's limit or the nearest hard deadline."""
    limits = [w.task.deadline for w in busy if w.task is not None and w.task.deadline]
    if end is not None:
        limits.append(end)
    if not limits:
        return None
    return max(0.0, min(limits) - time.monotonic())


def _failed(running: _Running, ename: str, evalue: str) -> TaskResult:
    return TaskResult(
        running.task_id,
        error={"ename": ename, "evalue": evalue, "traceback": "", "line": None},
        rendered=[f"{ename}: {evalue}"],
        started_at=running.submitted_at,
        finished_at=time.time(),
    )


def _death_message(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
    else:
        how = f"exit code {exitcode}"
    hint = ""
    if exitcode == -signal.SIGKILL:
        hint = " (SIGKILL: killed by hand, or by the out-of-memory killer)"
    return (
        f"the worker process running this task died ({how}){hint}: it was killed, ran out of "
        "memory, crashed in native code or called os._exit. A new worker replaces it."
    )


def _unpicklable(payload: TaskPayload, error: Exception, submitted_at: float) -> TaskResult:
    culprit = ""
    for name, value in payload.values.items():
        try:
            cloudpickle.dumps(value, protocol=5)
        except Exception as own:
            kind = f"{type(value).__module__}.{type(value).__qualname__}"
            culprit = f"'{name}' is a {kind}, which cannot be pickled ({own}). "
            break
    evalue = (
        f"cannot send the task to a worker process: {culprit or f'{error}. '}Create such a "
        "value inside the step, or run this step with --executor kernel."
    )
    running = _Running(payload.task_id, submitted_at, None, None)
    return _failed(running, type(error).__name__, evalue)


def _stop_now(worker: _Worker) -> int | None:
    """Kill the worker (if it still runs), reap it, and return its exit code."""
    if worker.process.is_alive():
        worker.process.kill()
    worker.process.join()
    worker.conn.close()
    exitcode = worker.process.exitcode
    worker.process.close()
    return exitcode


# Every executor's workers, until it is closed; for garbage collection and interpreter exit.
_tokens = itertools.count()
_live: dict[int, list[_Worker]] = {}


def _shutdown(token: int) -> None:
    pool = _live.pop(token, None)
    if not pool:
        return
    for worker in pool:
        try:
            if worker.task is None:
                worker.conn.send(None)  # idle: let it return from its loop
            else:
                worker.process.kill()  # busy: its task is abandoned
        except (OSError, ValueError):
            pass  # already dead or closed
    end = time.monotonic() + _STOP_GRACE
    for worker in pool:
        worker.process.join(max(0.0, end - time.monotonic()))
        _stop_now(worker)
    pool.clear()


@atexit.register
def _close_all_at_exit() -> None:
    # Registered after multiprocessing.util's own exit hook, so it runs before it: that hook
    # joins every non-daemonic child, and would wait for ever on idle workers.
    for token in list(_live):
        _shutdown(token)
