"""Liveness of runs: a process running a run beats; a run whose beats stop is dead.

`Heartbeat` is the daemon thread that beats (used through `MetadataStore.beating`);
`MetadataStore.reap_dead_runs` marks the dead runs failed. Both read their timing from the
environment:

    NBFLOW_HEARTBEAT_S   seconds between two beats of a running run (default 10)
    NBFLOW_STALE_S       a `running` run silent this long lost its process (default 60)

Clocks: beats are the writer's `time.time()`; machines sharing a PostgreSQL metadata database
must agree on the time to well within NBFLOW_STALE_S.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from nbflow.exceptions import DatastoreError
from nbflow.metadata.sql import Database, open_database

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
