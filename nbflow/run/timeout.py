"""A time limit on code running in this process's main thread, which stays usable afterwards."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class TaskTimeout(BaseException):
    """Raised inside a task's code when its --timeout passes.

    A BaseException, like KeyboardInterrupt, so that `except Exception:` in a step does not
    swallow it and the task really stops."""


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise TaskTimeout in the running code after `seconds` (no limit when None).

    Uses SIGALRM, so the code is interrupted between bytecodes wherever it is, and the kernel
    goes on afterwards. Outside the main thread, signals cannot be used: no limit is applied
    there (worker processes are stopped from outside instead).
    """
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TaskTimeout(f"the task ran longer than its --timeout of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
