"""The environment executor: the processes executor's pool, its workers spawned with the
interpreter of a step's environment (see nbflow.run.environments).

The pool code is ProcessExecutor's, unchanged: only how a worker starts differs. It is
spawned with the environment's `bin/python`, and the sys.path it starts from is the
environment's own plus a folder holding only nbflow (environments.nbflow_folder), not the
kernel's, so the step imports the environment's packages. Values travel through the datastore.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import replace
from multiprocessing import spawn
from typing import Any

from nbflow.run.environments import Environment, nbflow_folder
from nbflow.run.executors.processes import ProcessExecutor, _Worker
from nbflow.run.task import TaskPayload


class EnvExecutor(ProcessExecutor):
    name = "environment"

    def __init__(self, workers: int, datastore_root: str, environment: Environment) -> None:
        super().__init__(workers, datastore_root, start_method="spawn")
        self.environment = environment
        # Read once: every task of the pool carries them (importlib.metadata reads files).
        self.kernel_versions = kernel_versions(environment.requirements)

    def submit(
        self,
        payload: TaskPayload,
        *,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        payload = replace(payload, kernel_versions=self.kernel_versions)
        super().submit(payload, env=env, timeout=timeout)

    def start(self) -> None:
        """Start the workers now, not at the first task (spawned workers boot in parallel)."""
        if not self._pool:
            self._start_all()

    def _start(self) -> _Worker:
        with _spawning_in(self.environment):
            return super()._start()


def kernel_versions(requirements: tuple[str, ...]) -> dict[str, str]:
    """This process's version of each package the requirements name (those it has)."""
    # importlib.metadata costs 20-30 ms: only a step's environment asks for it.
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - see above

    found = {}
    for requirement in requirements:
        name = re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0]
        with contextlib.suppress(PackageNotFoundError):  # the kernel lacks it: nothing to name
            found[name] = version(name)
    return found


@contextlib.contextmanager
def _spawning_in(environment: Environment) -> Iterator[None]:
    """While a worker starts: spawn it with the environment's interpreter and sys.path.

    multiprocessing keeps both process-wide; they are set for this start only (the
    scheduler thread starts workers, one at a time)."""
    executable = spawn.get_executable()
    prepare = spawn.get_preparation_data
    sys_path = [nbflow_folder(), *environment.sys_path]

    def preparation(name: str) -> dict[str, Any]:
        data: dict[str, Any] = prepare(name)
        data["sys_path"] = sys_path
        # Not the kernel's __main__ (ipykernel, pytest): the environment may not have it.
        data.pop("init_main_from_name", None)
        data.pop("init_main_from_path", None)
        return data

    spawn.set_executable(environment.executable)
    spawn.get_preparation_data = preparation
    try:
        yield
    finally:
        spawn.get_preparation_data = prepare
        spawn.set_executable(executable)


_pools: dict[tuple[str, str], EnvExecutor] = {}


def pool_for(environment: Environment, datastore_root: str, workers: int) -> EnvExecutor:
    """One pool per environment and datastore, kept for the session (workers start once)."""
    key = (environment.key, datastore_root)
    pool = _pools.get(key)
    if pool is None or pool._closed:
        pool = _pools[key] = EnvExecutor(workers, datastore_root, environment)
    return pool


def close_pools() -> None:
    for pool in _pools.values():
        pool.close()
    _pools.clear()
