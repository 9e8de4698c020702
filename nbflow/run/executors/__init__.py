"""Executors run task payloads: `kernel` (in this process), `processes` (a local pool),
`dask` (a Dask cluster: `dask`, `dask://HOST:PORT`), each behind the one `Executor` surface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from nbflow.config import EXECUTOR_FORMS
from nbflow.exceptions import NbflowError

if TYPE_CHECKING:
    from nbflow.run.runner import Runner
    from nbflow.run.task import TaskPayload, TaskResult


class Executor(Protocol):
    """What the scheduling loop (nbflow.run.loop) asks of an executor."""

    name: str
    # True: values pass as objects (the kernel); False: through the datastore, as bytes.
    in_process: bool

    def has_room(self) -> bool:
        """Whether one more task may start now."""

    def running(self) -> int:
        """How many submitted tasks have not been returned by `poll` yet."""

    def submit(
        self,
        payload: TaskPayload,
        *,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Start one task; its result comes back from `poll`."""  # fmt: skip

    def poll(self, timeout: float | None = None) -> list[TaskResult]:
        """The tasks that finished, waiting up to `timeout` seconds for one."""

    def close(self) -> None:
        """Stop the workers; tasks still running are abandoned."""


def make_executor(name: str, workers: int, runner: Runner) -> Executor:
    # Imported here, not above: every worker process imports this package (for worker.py),
    # and only the kernel makes an executor.
    if name == "kernel":
        from nbflow.run.executors.kernel import KernelExecutor  # noqa: PLC0415 - see above

        return KernelExecutor(runner)
    if name == "processes":
        from nbflow.run.executors.processes import ProcessExecutor  # noqa: PLC0415 - see above

        return ProcessExecutor(workers, str(runner.store.root))
    from nbflow.run.executors.dask_cluster import (  # noqa: PLC0415 - see above
        DaskExecutor,
        connect,
        is_dask,
    )

    if is_dask(name):
        return DaskExecutor(connect(name, workers), str(runner.store.root))
    raise NbflowError(f"unknown executor '{name}'. Use {EXECUTOR_FORMS}.")
