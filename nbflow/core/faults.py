"""Crash points: a test hook that kills this process at a named point of a run.

The fault tests (tests/faults/) prove that a kernel or worker killed at any point of a run loses
no finished work and shows no half-written result. They set, in the process to kill:

    NBFLOW_CRASH_AT=NAME     SIGKILL this process when it reaches `crash_point(NAME)`
    NBFLOW_CRASH_AT=NAME:N   ... the Nth time it reaches it (the 3rd task started, say)
    NBFLOW_CRASH_ONCE=PATH   only the first process to get there dies: it creates PATH
                             (exclusively) and writes "NAME PID" into it; the others go on

The points, in the order a run meets them: `run_created` (the run's record is committed),
`task_started` (a task's `running` record is committed), `artifact_writing` (part of a large
blob's bytes are in its temp file, before it is renamed into place), `task_committed` (a
task's record and artifact rows are committed; in the same transaction as the next task's
`running` record, when one follows), `run_finishing` (every task is done, the run
is not yet marked done).

Not a user feature: with NBFLOW_CRASH_AT unset (always, outside the tests) a crash point costs
one lookup in os.environ (and a string comparison when it is set).
"""

from __future__ import annotations

import os
import signal

CRASH_POINTS = (
    "run_created",
    "task_started",
    "artifact_writing",
    "task_committed",
    "run_finishing",
)

_reached: dict[str, int] = {}  # how often this process reached each point named in the setting


def crash_point(name: str) -> None:
    """Test hook: SIGKILL this process here when NBFLOW_CRASH_AT is `name`."""
    at = os.environ.get("NBFLOW_CRASH_AT")
    if at is not None and at.partition(":")[0] == name:
        _reached[name] = _reached.get(name, 0) + 1
        if _reached[name] == int(at.partition(":")[2] or 1):
            _crash(name)


def _crash(name: str) -> None:
    once = os.environ.get("NBFLOW_CRASH_ONCE")
    if once:
        try:
            fd = os.open(once, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return  # another process (or an earlier point of this one) took the crash
        os.write(fd, f"{name} {os.getpid()}".encode())
        os.close(fd)
    # SIGKILL, not an exception or os._exit: no handler, finally block or atexit hook runs,
    # exactly as when the out-of-memory killer or `kill -9` stops a kernel.
    os.kill(os.getpid(), signal.SIGKILL)
