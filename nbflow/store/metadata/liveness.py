"""Liveness of runs: who runs a run, and how a run whose process is gone is known dead.

Two signs, one for each kind of observer:

  - the same host: a run records the process that runs it (host, pid, and the process's start
    time), so a process on that host knows at once when the run's process is gone: its pid is
    missing, a zombie, or reused by another process (another start time). Linux (/proc) only.
  - any host: a process running a run beats; a run whose beats stop is dead. This is the sign
    for other machines sharing a PostgreSQL database, and where /proc is missing.

`Heartbeat` is the daemon thread that beats (used through `MetadataStore.beating`);
`why_dead` is the verdict, `MetadataStore.reap_dead_runs` marks the dead runs failed. The
timing comes from the environment:

    NBFLOW_HEARTBEAT_S   seconds between two beats of a running run (default 10)
    NBFLOW_STALE_S       a `running` run silent this long lost its process (default 60)

Clocks: beats are the writer's `time.time()`; machines sharing a PostgreSQL metadata database
must agree on the time to well within NBFLOW_STALE_S.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from nbflow.exceptions import DatastoreError
from nbflow.store.metadata.databases import open_database
from nbflow.store.metadata.records import RunRecord
from nbflow.store.metadata.sql import Database

HEARTBEAT_S = 10.0  # default of NBFLOW_HEARTBEAT_S
STALE_S = 60.0  # default of NBFLOW_STALE_S


class Heartbeat:
    """A daemon thread that stamps `runs.heartbeat` of the runs this process is running.

    One per store and process, started with the first run, waiting while no run is active.
    It writes on a connection of its own: a connection is not shared across threads, and the
    main thread may be busy with a task for hours.
    """

    def __init__(self, location: Path | str) -> None:
        self._location = location
        # Read here, in the caller's thread: a bad value is its error, not a dying thread's.
        self._interval = seconds_from_env("NBFLOW_HEARTBEAT_S", HEARTBEAT_S)
        self._runs: set[tuple[str, int]] = set()
        self._changed = threading.Condition()
        self._stopped = False
        self._pid = os.getpid()  # a forked child inherits the object, not the thread
        self._thread = threading.Thread(target=self._loop, name="nbflow-heartbeat", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._pid == os.getpid() and self._thread.is_alive()

    def add(self, flow: str, run_id: int) -> None:
        with self._changed:
            self._runs.add((flow, run_id))
            self._changed.notify()

    def remove(self, flow: str, run_id: int) -> None:
        with self._changed:
            self._runs.discard((flow, run_id))

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        db: Database | None = None
        while self._wait_for_a_beat():
            try:
                db = db or open_database(self._location)
                self._beat(db)
            except Exception:
                # A beat missed (the database busy past its timeout, a server restarting):
                # reconnect at the next one. Never raise here: it would print into the notebook.
                if db is not None:
                    db.close()
                db = None
        if db is not None:
            db.close()

    def _wait_for_a_beat(self) -> bool:
        """Wait while no run is active, then one interval; False once stopped."""
        with self._changed:
            while not self._runs and not self._stopped:
                self._changed.wait()
            # A new run beat when it was created or reopened: the first beat is one interval on.
            deadline = time.monotonic() + self._interval
            while not self._stopped and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            return not self._stopped

    def _beat(self, db: Database) -> None:
        with self._changed:
            runs = sorted(self._runs)
        if runs:
            with db.write():
                db.executemany(
                    "UPDATE runs SET heartbeat = ? WHERE flow = ? AND run_id = ? "
                    "AND status = 'running'",
                    [(time.time(), flow, run_id) for flow, run_id in runs],
                )


def seconds_from_env(name: str, default: float) -> float:
    """A positive number of seconds from the environment variable `name`."""
    text = os.environ.get(name)
    if text is None or text.strip() == "":
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise DatastoreError(
            f"{name}={text!r} is not a number of seconds. Set it to a positive number "
            f"(default {default:g}), or unset it."
        )
    return seconds


# -- the process that runs a run ------------------------------------------------------------------


@dataclass(frozen=True)
class Process:
    """A process as a run records it: where it runs, and which one it is."""

    host: str  # the host name, for messages and to tell "this host" from others
    pid: int
    # Its start time (clock ticks since boot, /proc/PID/stat field 22), qualified by the boot
    # and the pid namespace it counts in ("TICKS@BOOT_ID/PID_NS"), so a token from another
    # boot or container never matches a process here. None where there is no /proc.
    started: str | None


def this_process() -> Process:
    pid = os.getpid()
    return Process(socket.gethostname(), pid, process_start(pid))


def process_start(pid: int) -> str | None:
    """The start token of process `pid` here; None when it is gone, a zombie, or unknowable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
    fields = stat[stat.rindex(")") + 2 :].split()
    state, ticks = fields[0], fields[19]  # fields 3 and 22
    if state in ("Z", "X"):  # killed, not yet reaped by its parent: gone all the same
        return None
    space = _pid_space()
    return None if space is None else f"{ticks}@{space}"


@lru_cache(maxsize=1)
def _pid_space() -> str | None:
    """This boot and pid namespace: a pid means the same process only within both."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{boot}/{namespace}"


def why_dead(
    process: Process | None, last_alive: float, before: float, here: Process
) -> str | None:
    """Why a `running` run is dead (None: it is not known to be).

    `process` ran it (None: recorded before nbflow kept it), `last_alive` is its last beat,
    `before` the time before which a beat is stale, `here` the process asking.
    """
    # Where its process can be seen (this host), it tells, whatever the beats say.
    alive = alive_here(process, here)
    if alive is False and process is not None:
        return f"its kernel died (process {process.pid} on {process.host} is gone)"
    if alive is None and last_alive < before:
        when = time.strftime("%H:%M:%S", time.localtime(last_alive))
        return f"its process stopped (no heartbeat since {when})"
    return None


def process_of(run: RunRecord) -> Process | None:
    """The process a run recorded (None: made before nbflow kept it)."""
    return None if run.pid is None else Process(run.host or "", run.pid, run.process_start)


def alive_here(process: Process | None, here: Process) -> bool | None:
    """Whether `process` still runs, where `here` can tell (its host and pid space); None
    where it cannot (another host, no /proc, a run recorded before nbflow kept its process)."""
    if process is None or not _same_pid_space(process, here):
        return None
    return process_start(process.pid) == process.started


def _same_pid_space(process: Process, here: Process) -> bool:
    if process.host != here.host or process.started is None or here.started is None:
        return False
    return process.started.partition("@")[2] == here.started.partition("@")[2]
