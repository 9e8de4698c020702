"""Executors run task payloads: `kernel` (in this process), `processes` (a local pool),
`dask` (a Dask cluster: `dask`, `dask://HOST:PORT`).

Every executor has the same small surface: `has_room()`, `submit(payload, env=, timeout=)`,
`poll(timeout) -> [TaskResult]`, `running()`, `close()`, and `in_process` (whether values
pass as objects, or through the datastore).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nbflow.exceptions import NbflowError

if TYPE_CHECKING:
    from nbflow.run.runner import Runner


def make_executor(name: str, workers: int, runner: Runner) -> Any:
    if name == "kernel":
        from nbflow.run.executors.kernel import KernelExecutor

        return KernelExecutor(runner)
    if name == "processes":
        from nbflow.run.executors.processes import ProcessExecutor

        return ProcessExecutor(workers, str(runner.store.root))
    from nbflow.run.executors.dask_cluster import DaskExecutor, connect, is_dask

    if is_dask(name):
        return DaskExecutor(connect(name, workers), str(runner.store.root))
    raise NbflowError(f"unknown executor '{name}'. Use {EXECUTOR_FORMS}.")


EXECUTOR_FORMS = "kernel, processes, dask or dask://HOST:PORT"


def spawnable_main() -> None:
    """Let spawned processes start from IPython: its stand-in for __main__ has no __spec__,
    which spawn reads; None says "no module to import"."""
    import sys

    main = sys.modules.get("__main__")
    if main is not None and not hasattr(main, "__spec__"):
        main.__spec__ = None


def check_executor(name: str) -> str:
    """`name` if it names an executor (argparse's `type=` and `%flow config` use this)."""
    if name in ("kernel", "processes", "dask") or name.startswith(("dask://", "tcp://", "tls://")):
        return name
    raise NbflowError(f"unknown executor {name!r}: use {EXECUTOR_FORMS}.")
