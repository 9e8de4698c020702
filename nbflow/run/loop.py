"""The scheduling loop: steps are planned when their parents complete, tasks go to the
executor as it has room (and the machine has the resources), results are committed as they
come. Retries wait their delay; a failure stops new work but lets running tasks finish, so
nothing that finished is lost. While the loop runs, the store's heartbeat thread shows the
run is alive (see `MetadataStore.beating`): if this process dies, the run is found dead."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from nbflow.core.plan import PlannedTask, TaskRef
from nbflow.core.resources import Machine, ResourcePool, Resources, parse_resources
from nbflow.exceptions import ArtifactWriteError, NbflowError, StepError
from nbflow.run.executors.kernel import KernelExecutor
from nbflow.run.runner import Attempt, place_of
from nbflow.run.task import TaskResult
from nbflow.store.trust import warn_if_untrusted

if TYPE_CHECKING:
    from nbflow.core.graph import StepSpec
    from nbflow.core.resources import Grant
    from nbflow.run.environments import Environment
    from nbflow.run.executors import Executor
    from nbflow.run.executors.environment import EnvExecutor
    from nbflow.run.runner import Runner
    from nbflow.store.metadata import TaskRecord


class CaughtError:
    """What `--catch VAR` stores when the last attempt failed: `VAR.ename`, `VAR.evalue`,
    `VAR.traceback`, and `VAR.attempts`, how many attempts failed (1 + the retries)."""

    attempts = 1  # errors caught before the count was kept

    def __init__(self, ename: str, evalue: str, traceback: str, attempts: int = 1) -> None:
        self.ename, self.evalue, self.traceback = ename, evalue, traceback
        self.attempts = attempts

    def __repr__(self) -> str:
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"CaughtError({self.ename}: {self.evalue}{tries})"


def run_steps(runner: Runner, names: Iterable[str], first: list[PlannedTask] | None = None) -> None:
    """Run steps (in DAG order) as their parents complete; independent tasks overlap on
    executors that run several at once. Raises the first failure once nothing is running."""
    Schedule(runner, list(names), first).run()


class Schedule:
    def __init__(self, runner: Runner, steps: list[str], first: list[PlannedTask] | None) -> None:
        self.runner = runner
        assert runner.executor is not None  # Runner.__post_init__ sets the kernel's
        self.executor: Executor = runner.executor
        self.local: KernelExecutor | None = None  # the kernel, for steps pinned there (--in-kernel)
        # (sorted requirements, python) -> the pool of that environment, for steps with --env;
        # what the environment's key hashes, so one entry per environment, found per task
        # without hashing again.
        self.envs: dict[tuple[tuple[str, ...], str | None], EnvExecutor] = {}
        self.waiting = steps
        self.first = first
        self.queue: deque[Attempt] = deque()
        self.running: dict[int, tuple[Attempt, Grant | None]] = {}
        self.remaining: dict[str, int] = {}
        self.failures: list[NbflowError] = []
        self.pool: ResourcePool | None = None
        if runner.full_run and not getattr(self.executor, "manages_resources", False):
            # On every local executor: in the kernel, where tasks run one at a time, this still
            # gives a GPU task its own devices only. A cluster (Dask) admits tasks itself.
            self.pool = ResourcePool(Machine.detect())

    def run(self) -> None:
        runner = self.runner
        self._start_environments()
        with runner.store.meta.beating(runner.flow, runner.run_id):
            self._loop()

    def _loop(self) -> None:
        try:
            while self.running or (not self.failures and (self.queue or self.waiting)):
                if not self.failures:
                    self._plan_ready()
                    self._submit_due()
                done = self.local.poll() if self.local is not None else []
                for pool in self.envs.values():
                    done += pool.poll(timeout=0)
                wait = 0 if done else self._wait()
                if wait != 0:
                    # Finished tasks' commits wait for the next transaction: never while
                    # this process waits, so that others see them (the sidebar, a resume).
                    self.runner.store.meta.flush()
                busy = [p for p in self.envs.values() if p.running()]
                if busy and not done and not self.executor.running():
                    done += busy[0].poll(timeout=wait)  # only environments are busy: wait there
                    wait = 0
                for result in done + self.executor.poll(timeout=wait):
                    self._finish(result)
            self.runner.store.meta.flush()  # the last commits, before the run is marked
        except BaseException as error:
            self._abandon(error)
            raise
        if self.failures:
            raise self.failures[0]

    # -- planning ------------------------------------------------------------------------------

    def _plan_ready(self) -> None:
        runner = self.runner
        for step in list(self.waiting):
            parents = runner.graph[step].parents
            if any(self.remaining.get(p, 0) or p in self.waiting for p in parents):
                continue
            try:
                planned = self.first if self.first is not None else runner.plan(step)
            except NbflowError as error:
                self.failures.append(error)
                return
            self.first = None
            self.waiting.remove(step)
            runner.tasks_of[step] = []
            self.remaining[step] = len(planned)
            attempts = 1 + runner.graph[step].retry
            ids = runner.store.meta.set_planned(
                runner.flow, runner.run_id, step, len(planned), attempts
            )
            self.queue.extend(
                Attempt(task, reserved=i) for task, i in zip(planned, ids, strict=True)
            )
        if self.waiting and not (self.queue or self.running):
            missing = sorted({p for s in self.waiting for p in self.runner.graph[s].parents})
            self.failures.append(StepError(f"cannot plan {self.waiting}: parents {missing}"))

    # -- submitting ----------------------------------------------------------------------------

    def _submit_due(self) -> None:
        """Start queued attempts, in order, while there is room. Taken from the front and
        put back in order when they must wait: a pass costs the attempts it starts or
        skips, never a copy of the whole queue (a foreach of 100,000 tasks makes as many
        passes)."""
        now, waiting = time.time(), []
        try:
            while self.queue and not self.failures:
                attempt = self.queue.popleft()
                spec = self.runner.graph[attempt.planned.step]
                executor = self._executor_for(spec)
                if not executor.has_room():
                    waiting.append(attempt)
                    if executor is self.executor:
                        return  # the run's executor is full: nothing more goes now
                    continue  # the kernel is busy with a pinned task; others may still go
                if attempt.not_before > now:
                    waiting.append(attempt)
                    continue
                grant = None
                try:
                    if self.pool is not None:
                        grant = self.pool.try_acquire(_resources(spec), step=spec.name)
                        if grant is None:
                            waiting.append(attempt)
                            continue  # it waits for resources; a smaller task may still fit
                    self._start(attempt, grant)
                except NbflowError as error:
                    self._release(grant)
                    self.failures.append(error)
        finally:
            self.queue.extendleft(reversed(waiting))

    def _start(self, attempt: Attempt, grant: Grant | None) -> None:
        runner, task = self.runner, attempt.planned
        attempt.inherited = runner.inherited(task)
        runner.enclosing(attempt)
        if self._resumed(attempt):
            self._release(grant)
            return
        if runner.skips(attempt):
            self._release(grant)
            attempt.task_id = self._task_row(attempt)
            self._complete(runner.commit_skipped(attempt))
            return
        executor = self._executor_for(runner.graph[task.step])
        payload = runner.payload(attempt, inline=not executor.in_process)
        key = runner.cache_key(attempt, payload)
        forced = runner.resume is not None and task.step in runner.resume.rerun
        reuse = runner.use_cache and not forced
        with runner.store.meta.together():  # the last task's commit, the lookup, this start
            origin = runner.reusable(task.step, key) if key and reuse else None
            if origin is None:
                attempt.task_id = self._task_row(attempt, cache_key=key)
        if origin is not None:
            self._release(grant)
            attempt.task_id = self._task_row(
                attempt, cache_key=key, origin=origin.origin or origin.task_id
            )
            _replay_reused(runner, attempt, origin)
            self._complete(runner.commit_reused(attempt, origin))
            return
        self.running[attempt.task_id] = (attempt, grant)
        spec = runner.graph[task.step]
        if not executor.in_process:
            # A worker unpickles the task's inputs where no warning would reach the notebook:
            # the kernel warns for it, once per store, as it would before loading them itself.
            warn_if_untrusted(runner.store.root)
        extra: dict[str, Any] = {}
        if getattr(executor, "manages_resources", False) and spec.resources:
            extra["resources"] = _resources(spec).as_dict()
        # A whole run in the kernel: each task's output under its own line (a worker's comes
        # back under the same line, `_replay`); a step cell's output is its cell's already.
        header = f"── {_label(attempt)} ──" if executor.in_process and runner.on_progress else ""
        executor.submit(
            dataclasses.replace(payload, task_id=attempt.task_id, header=header),
            env=grant.environment() if grant else None,
            timeout=spec.timeout,
            **extra,
        )

    def _task_row(self, attempt: Attempt, **extra: Any) -> int:
        runner, task = self.runner, attempt.planned
        parents = [p.task_id for p in task.parents]
        return runner.store.meta.start_task(
            runner.flow, runner.run_id, task.step, task.path, parents,
            attempt=attempt.number, foreach=attempt.frames, task_id=attempt.reserved, **extra,
        )  # fmt: skip

    def _resumed(self, attempt: Attempt) -> bool:
        """Resume: take the origin run's task for the same elements if nothing it read changed
        and its results are all still stored."""
        runner, resume, task = self.runner, self.runner.resume, attempt.planned
        if resume is None or task.step in resume.rerun:
            return False
        candidates = resume.tasks.get((task.step, place_of(attempt.frames)), [])
        ours = sorted(runner.data_id_of[p.task_id] for p in task.parents)
        for record in candidates:
            # A parent outside the origin run (a record written before parents were mapped):
            # not known to be the same, so the task runs again.
            theirs = sorted(resume.parents.get(p, -1) for p in record.parents)
            if ours == theirs and runner.intact(record):
                candidates.remove(record)  # taken: an equal element later gets the next one
                # At this run's place for the element (in the origin it may have had another),
                # under this run's parents.
                here = dataclasses.replace(
                    record,
                    path=task.path,
                    foreach=attempt.frames,
                    parents=tuple(p.task_id for p in task.parents),
                )
                (ref,) = runner.adopt([here], [attempt.reserved])
                self._complete(ref)
                return True
        return False

    # -- results -------------------------------------------------------------------------------

    def _finish(self, result: TaskResult) -> None:
        attempt, grant = self.running.pop(result.task_id)
        self._release(grant)
        runner, spec = self.runner, self.runner.graph[attempt.planned.step]
        executor = self._executor_for(spec)
        if not executor.in_process:
            _replay(runner, attempt, result)
        if spec.has_environment:
            result.displays.append(_environment_display(self._environment_pool(spec).environment))
        if result.ok:
            if spec.catch and spec.catch not in result.outputs:
                result.outputs[spec.catch] = runner.save(None)
            try:
                self._complete(runner.commit(attempt, result, defer=True))
            except ArtifactWriteError as error:  # a value's blob went (a gc): recorded failed
                self.failures.append(error)
        elif attempt.number <= spec.retry:
            runner.fail(attempt, result)  # this attempt stays on record, with its error
            runner.notes(
                f"nbflow: step '{spec.name}' task {attempt.task_id} failed "
                f"({(result.error or {}).get('ename')}); retry {attempt.number} of {spec.retry}"
                + (f" in {spec.retry_delay:g} s" if spec.retry_delay else "")
            )
            retry = Attempt(
                attempt.planned,
                attempt.number + 1,
                time.time() + spec.retry_delay,
                # the next of the ids its step set aside for this task's attempts
                reserved=None if attempt.reserved is None else attempt.reserved + 1,
            )
            self.queue.appendleft(retry)
        elif spec.catch:
            failure = result.error or {}
            caught = CaughtError(failure.get("ename", ""), failure.get("evalue", ""),
                                 failure.get("traceback", ""), attempt.number)  # fmt: skip
            # What the step bound before the error stays (run_body kept what could be stored).
            result.outputs[spec.catch] = runner.save(caught)
            self._complete(runner.commit(attempt, result, cacheable=False))
        else:
            self.failures.append(runner.fail(attempt, result))

    def _executor_for(self, spec: StepSpec) -> Executor:
        """The run's executor, the kernel for a step pinned there (--in-kernel), or the pool
        of the step's environment (--env, %flow env)."""
        if spec.has_environment:
            return self._environment_pool(spec)
        if not spec.in_kernel or self.executor.in_process:
            return self.executor
        if self.local is None:
            self.local = KernelExecutor(self.runner)
        return self.local

    def _start_environments(self) -> None:
        """Start the workers of every environment the run's steps use now: they boot (a fresh
        interpreter, nbflow's worker imports) while the steps before theirs run."""
        for step in self.waiting:
            spec = self.runner.graph[step]
            if spec.has_environment:
                self._environment_pool(spec).start()

    def _environment_pool(self, spec: StepSpec) -> EnvExecutor:
        # lazy: the environments' machinery (the processes executor, its worker,
        # multiprocessing: 20 ms) loads only for steps with --env or %flow env
        from nbflow.run.environments import ensure, record_use  # noqa: PLC0415
        from nbflow.run.executors.environment import pool_for  # noqa: PLC0415

        wanted = (tuple(sorted(spec.env)), spec.python)
        pool = self.envs.get(wanted)
        if pool is None:
            runner = self.runner
            environment = ensure(spec.env, spec.python)  # built before the run: found at once
            workers = max(1, int(getattr(self.executor, "workers", 1) or 1))
            pool = pool_for(environment, str(runner.store.root), workers)
            self.envs[wanted] = pool
            record_use(environment, str(runner.store.root), runner.flow, runner.run_id)
        return pool

    def _complete(self, ref: TaskRef) -> None:
        self.remaining[ref.step] -= 1
        if self.runner.on_progress is not None:
            self.runner.on_progress(self.runner, False)

    def _release(self, grant: Grant | None) -> None:
        if grant is not None and self.pool is not None:
            self.pool.release(grant)

    def _wait(self) -> float | None:
        if not self.running:
            due = [a.not_before for a in self.queue]
            return max(0.0, min(due) - time.time()) if due else 0.0
        return 0.5

    def _abandon(self, error: BaseException) -> None:
        """Interrupted (Ctrl-C, a lost worker pool): record every running task as failed."""
        for attempt, grant in self.running.values():
            self._release(grant)
            self.runner.store.meta.commit_task(
                attempt.task_id,
                status="failed",
                error={"ename": type(error).__name__, "evalue": str(error) or "interrupted"},
            )
        self.running.clear()
        if not self.executor.in_process:
            self.executor.close()
        if self.envs:
            from nbflow.run.executors.environment import close_pools  # noqa: PLC0415 - as above

            close_pools()  # their running tasks are abandoned; the next run starts new ones


def _resources(spec: StepSpec) -> Resources:
    return parse_resources(spec.resources, step=spec.name) if spec.resources else Resources()


ENVIRONMENT_MIME = "application/vnd.nbflow.environment+json"


def _environment_display(environment: Environment) -> dict[str, Any]:
    """The environment a task ran in, kept with its displays (`TaskRecord.environment`)."""
    described = environment.describe()
    text = f"environment {environment.key}: {' '.join(described['requirements'])} " + (
        f"(python {described['python']})"
    )
    return {"data": {ENVIRONMENT_MIME: described, "text/plain": text}, "metadata": {}}


def _label(attempt: Attempt) -> str:
    step, path = attempt.planned.step, attempt.planned.path
    return f"{step}[{','.join(map(str, path))}]" if path else step


def _replay_reused(runner: Runner, attempt: Attempt, origin: TaskRecord) -> None:
    """A reused task shows what its origin printed and displayed, marked as such (nothing if
    it showed nothing: a thousand reused silent tasks print no thousand headers)."""
    if not (origin.stdout or origin.stderr or origin.displays):
        return
    print(f"── {_label(attempt)} · reused from {origin.flow}/{origin.run_id}/{origin.step}/"
          f"{origin.task_id} ──")  # fmt: skip
    if origin.stdout:
        sys.stdout.write(origin.stdout)
    if origin.stderr:
        sys.stderr.write(origin.stderr)
    for shown in origin.displays:
        runner.display_bundle(dict(shown))


def _replay(runner: Runner, attempt: Attempt, result: TaskResult) -> None:
    """Show a worker's output in the notebook, one task's output together."""
    if not (result.stdout or result.stderr or result.displays):
        return
    print(f"── {_label(attempt)} ──")
    if result.stdout:
        sys.stdout.write(result.stdout)
    if result.stderr:
        sys.stderr.write(result.stderr)
    for shown in result.displays:
        runner.display_bundle(shown)
