"""The kernel executor: each task runs at once, in this process, its output live in the cell."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbflow.config import temporary_environment
from nbflow.run.cellcode import default_format_traceback
from nbflow.run.task import TaskPayload, TaskResult, run_body

if TYPE_CHECKING:
    from nbflow.run.runner import Runner


class KernelExecutor:
    name = "kernel"
    in_process = True  # values pass as objects: no inline bytes, no copies

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._finished: list[TaskResult] = []

    def has_room(self) -> bool:
        return not self._finished

    def running(self) -> int:
        return 0

    def submit(
        self,
        payload: TaskPayload,
        *,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        runner = self._runner
        with temporary_environment(env), runner.record_displays() as shown:
            result = run_body(
                payload,
                load=runner.load,
                save=runner.save,
                display=runner.display,
                format_traceback=runner.format_traceback or default_format_traceback,
            )
        result.displays = list(shown)
        self._finished.append(result)

    def poll(self, timeout: float | None = None) -> list[TaskResult]:
        finished, self._finished = self._finished, []
        return finished

    def close(self) -> None:
        self._finished.clear()
