"""Checking a datastore (`nbflow fsck`): every record against its bytes, every reference.

What is checked, without unpickling anything:
  - each artifact row (and each run's executed notebook) has its `objects` row and its task;
  - each value kept as a blob has one, of the recorded size, whose bytes hash to its key
    (xxh3-128, read in pieces; object stores are read past the local read cache);
  - each value kept inline in the metadata database hashes to its key;
  - each task's parents, origin and reused task (`data_from`) exist;
  - no task of a run that has ended is still marked `running` (its result was never recorded:
    the disk filled, say).

Found on the way, not problems: blobs no record references (what a crashed writer or a removed
run leaves; `nbflow gc` removes them) and writers' temp files older than the grace period (left
by killed writers), and runs still marked `running`.

`repair` changes only what can be changed without losing anything: it removes those old temp
files, marks runs whose process is gone as failed, and marks the running tasks of ended runs
failed. It never removes a blob, referenced or
not: a damaged one is the user's to delete (the message says which file), and unreferenced
ones are `nbflow gc`'s, which removes them in step with the records.

Records are read before blobs are listed, so a run being written is never reported as broken
(its blobs are stored before the record that names them); a blob reported missing is checked
again at the end, in case `nbflow gc` removed it and its records meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from nbflow.exceptions import DatastoreError
from nbflow.store.blobs.backends import BlobEntry
from nbflow.store.blobs.serialize import key_of
from nbflow.store.gc import DEFAULT_GRACE, every_run
from nbflow.store.metadata.metastore import StoredValue
from nbflow.store.stores import Store

# Blobs are hashed a few at a time: reading a file and hashing it overlap, and on an object
# store each blob is one round trip of latency.
HASH_THREADS = 4
SHOWN_RECORDS = 5  # a message names this many records of a value; JSON lists up to LISTED
LISTED = 50

Progress = Callable[[int, int, int, int], None]  # blobs done, blobs in all, bytes done, in all


class CheckableBlobs(Protocol):
    def entries(self) -> Iterator[BlobEntry]: ...

    def temp_entries(self) -> Iterator[BlobEntry]: ...

    def exists(self, key: str) -> bool: ...

    def digest(self, key: str) -> str | None: ...

    def plain_size(self, key: str) -> int | None: ...

    def where(self, key: str) -> str: ...

    def delete_temp(self, name: str) -> bool: ...


@dataclass(frozen=True)
class Problem:
    """One thing wrong, with what it spoils and how to fix it."""

    kind: str  # missing-blob, damaged-blob, wrong-size, damaged-inline, missing-object, ...
    message: str  # what is wrong, naming flow/run/step/task/artifact
    fix: str
    key: str | None = None  # the value's key; for a running-task problem, `flow/run_id`
    artifacts: tuple[str, ...] = ()  # every record it spoils, as `'name' of flow/run/step/task`
    tasks: tuple[int, ...] = ()  # the task ids it concerns (running-task)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "message": self.message,
            "fix": self.fix,
            "artifacts": list(self.artifacts[:LISTED]),
            "artifact_count": len(self.artifacts),
        }


@dataclass(frozen=True)
class Repaired:
    temp_files: tuple[str, ...]  # removed
    temp_bytes: int
    dead_runs: tuple[str, ...]  # marked failed: their process is gone
    lost_tasks: tuple[str, ...] = ()  # flow/run/task, marked failed: running in a finished run

    def as_dict(self) -> dict[str, Any]:
        return {"temp_files": list(self.temp_files), "temp_bytes": self.temp_bytes,
                "dead_runs": list(self.dead_runs),
                "lost_tasks": list(self.lost_tasks)}  # fmt: skip


@dataclass(frozen=True)
class Report:
    datastore: str
    metadata: str
    records: int  # artifact rows and executed notebooks
    tasks: int
    blobs: int  # blobs checked
    blob_bytes: int
    inline: int  # values kept in the metadata database, checked
    hashed: bool  # False: blobs were checked for presence and size only
    problems: tuple[Problem, ...]
    orphan_blobs: tuple[BlobEntry, ...]  # unreferenced, older than the grace period
    temp_files: tuple[BlobEntry, ...]  # writers' temp files older than the grace period
    running: tuple[str, ...]  # runs still marked running
    grace: float
    seconds: float
    repaired: Repaired | None = field(default=None)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "datastore": self.datastore,
            "metadata": self.metadata,
            "checked": {
                "records": self.records,
                "tasks": self.tasks,
                "blobs": self.blobs,
                "blob_bytes": self.blob_bytes,
                "inline": self.inline,
                "hashed": self.hashed,
            },
            "problems": [p.as_dict() for p in self.problems],
            "orphan_blobs": [_entry(e) for e in self.orphan_blobs],
            "temp_files": [_entry(e) for e in self.temp_files],
            "running_runs": list(self.running),
            "grace": self.grace,
            "seconds": round(self.seconds, 3),
            "repaired": None if self.repaired is None else self.repaired.as_dict(),
        }


def check(
    store: Store,
    *,
    grace: float = DEFAULT_GRACE,
    hash_blobs: bool = True,
    progress: Progress | None = None,
) -> Report:
    """Check every record of `store` against its bytes; change nothing."""
    started = time.monotonic()
    meta = store.meta
    blobs: CheckableBlobs = store.values.blobs  # type: ignore[assignment]
    # Records first, then the listing: a blob is always stored before its record.
    by_key = _group(meta.stored_values())
    links = meta.task_links()
    running = tuple(f"{r.flow}/{r.run_id}" for r in every_run(meta) if r.status == "running")
    listed = {entry.name: entry for entry in blobs.entries()}
    cutoff = time.time() - grace

    problems = _record_problems(by_key) + _link_problems(links)
    problems += _lost_task_problems(meta.running_tasks_of_finished_runs())
    inline = 0
    for key, data in meta.inline_values():
        inline += 1
        if key in by_key and key_of(data) != key:
            problems.append(_damaged_inline(key, by_key[key]))
    in_blobs = {k: rows for k, rows in by_key.items() if _blob_size(rows) is not None}
    blob_problems = _blob_problems(blobs, in_blobs, listed, hash_blobs, progress)
    problems += _still_broken(store, blobs, blob_problems)

    return Report(
        datastore=store.root,
        metadata=meta.where,
        records=sum(len(rows) for rows in by_key.values()),
        tasks=len(links),
        blobs=len(in_blobs),
        blob_bytes=sum(listed[k].size for k in in_blobs if k in listed),
        inline=inline,
        hashed=hash_blobs,
        problems=tuple(problems),
        orphan_blobs=tuple(
            e for e in listed.values() if e.name not in by_key and e.modified < cutoff
        ),
        temp_files=tuple(e for e in blobs.temp_entries() if e.modified < cutoff),
        running=running,
        grace=grace,
        seconds=time.monotonic() - started,
    )


def repair(store: Store, report: Report) -> Report:
    """Remove the report's old temp files and mark dead runs failed; never touch a blob."""
    blobs: CheckableBlobs = store.values.blobs  # type: ignore[assignment]
    # Another gc or fsck may have removed one first: count only what this one removed.
    removed = [entry for entry in report.temp_files if blobs.delete_temp(entry.name)]
    dead_runs = _reap_dead_runs(store)
    lost = [p for p in report.problems if p.kind == "running-task"]
    store.meta.fail_lost_tasks([task_id for p in lost for task_id in p.tasks])
    repaired = Repaired(
        temp_files=tuple(e.name for e in removed),
        temp_bytes=sum(e.size for e in removed),
        dead_runs=dead_runs,
        lost_tasks=tuple(f"{p.key}/{t}" for p in lost for t in p.tasks),
    )
    problems = tuple(p for p in report.problems if p.kind != "running-task")  # fixed now
    return Report(**{**report.__dict__, "problems": problems, "repaired": repaired})


def _reap_dead_runs(store: Store) -> tuple[str, ...]:
    # Whether a `running` run's process is gone is told by its heartbeat
    # (nbflow.store.metadata.liveness); the reap opens its own write transaction.
    return tuple(f"{flow}/{run_id}" for flow, run_id in store.meta.reap_dead_runs())


# -- records -------------------------------------------------------------------------------------


def _group(values: Iterable[StoredValue]) -> dict[str, list[StoredValue]]:
    by_key: dict[str, list[StoredValue]] = {}
    for value in values:
        by_key.setdefault(value.key, []).append(value)
    return by_key


def _blob_size(rows: list[StoredValue]) -> int | None:
    """The recorded size of a value kept as a blob; None when inline or unrecorded."""
    for row in rows:
        if row.size is not None:
            return None if row.inline else row.size
    return None


def _record_problems(by_key: dict[str, list[StoredValue]]) -> list[Problem]:
    problems = []
    for key, rows in by_key.items():
        if all(row.size is None for row in rows):
            problems.append(_missing_object(key, rows))
        orphaned = [row for row in rows if row.kind != "notebook" and row.flow is None]
        if orphaned:
            problems.append(_rows_without_task(key, orphaned))
    return problems


def _link_problems(links: list[tuple[int, str, int, tuple[int, ...]]]) -> list[Problem]:
    known = {task_id for task_id, _, _, _ in links}
    problems = []
    for task_id, flow, run_id, reads in links:
        lost = sorted(set(reads) - known)
        if lost:
            problems.append(
                Problem(
                    "broken-link",
                    f"task {task_id} of run {flow}/{run_id} reads task(s) "
                    f"{', '.join(map(str, lost))} (its parents, or the task it reuses), which "
                    "are gone.",
                    f"`%flow load` and `nbflow resume` cannot replay that task; run "
                    f"{flow}/{run_id} again (or remove it with `nbflow gc`).",
                )
            )
    return problems


def _lost_task_problems(lost: list[tuple[str, int, str, int]]) -> list[Problem]:
    """A finished run with tasks still marked running: their results were never recorded."""
    by_run: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for flow, run_id, step, task_id in lost:
        by_run.setdefault((flow, run_id), []).append((step, task_id))
    return [
        Problem(
            "running-task",
            f"run {flow}/{run_id} has ended, but its task(s) "
            f"{', '.join(f'{step}/{task_id}' for step, task_id in tasks)} are still marked "
            "running: their results were never recorded (the disk full, say).",
            "`nbflow fsck --repair` marks them failed; `nbflow resume NOTEBOOK --run "
            f"{run_id}` then runs them again.",
            key=f"{flow}/{run_id}",
            tasks=tuple(task_id for _, task_id in tasks),
        )
        for (flow, run_id), tasks in by_run.items()
    ]


def _missing_object(key: str, rows: list[StoredValue]) -> Problem:
    return Problem(
        "missing-object",
        f"{_named(rows)}: the metadata database has no record of value {key} (its size, type "
        "and preview).",
        f"{_rerun(rows)}; the run writes the record again. Or restore the metadata database "
        "from a backup.",
        key,
        _wheres(rows),
    )


def _rows_without_task(key: str, rows: list[StoredValue]) -> Problem:
    tasks = sorted({row.task_id for row in rows if row.task_id is not None})
    return Problem(
        "missing-task",
        f"artifact row(s) {_named(rows)} belong to task(s) {', '.join(map(str, tasks))}, "
        "whose task record is gone; nothing can read them.",
        "Restore the metadata database from a backup if that task mattered; otherwise they are "
        "harmless.",
        key,
        _wheres(rows),
    )


def _damaged_inline(key: str, rows: list[StoredValue]) -> Problem:
    return Problem(
        "damaged-inline",
        f"{_named(rows)}: the bytes kept in the metadata database for value {key} do not hash "
        "to its key; the database was altered. Loading it fails (nothing is unpickled).",
        "Restore the metadata database from a backup; re-running the step cannot replace a "
        "record that exists.",
        key,
        _wheres(rows),
    )


# -- blobs ---------------------------------------------------------------------------------------


def _blob_problems(
    blobs: CheckableBlobs,
    wanted: dict[str, list[StoredValue]],
    listed: dict[str, BlobEntry],
    hash_blobs: bool,
    progress: Progress | None,
) -> list[Problem]:
    problems: list[Problem] = []
    to_hash = []
    for key, rows in wanted.items():
        entry = listed.get(key)
        size = _blob_size(rows)
        if entry is None:
            problems.append(_missing_blob(blobs, key, rows))
        elif entry.size != size and _plain_size(blobs, key, entry, size) != size:
            problems.append(_damaged_blob(blobs, key, rows, f"it has {entry.size} bytes, "
                                          f"the record says {size}", "wrong-size"))  # fmt: skip
        elif hash_blobs:
            to_hash.append(key)
    for key, actual in _hash_all(blobs, to_hash, listed, progress):
        if actual is None:
            problems.append(_missing_blob(blobs, key, wanted[key]))
        elif isinstance(actual, DatastoreError):
            reason = f"it cannot be read ({actual})"
            problems.append(_damaged_blob(blobs, key, wanted[key], reason, "unreadable-blob"))
        elif actual != key:
            # A compressed blob that does not decompress whole has no hash to name.
            hashed = all(c in "0123456789abcdef" for c in actual)
            reason = f"its bytes hash to {actual}" if hashed else f"it holds {actual}"
            problems.append(_damaged_blob(blobs, key, wanted[key], reason, "damaged-blob"))
    return problems


def _plain_size(
    blobs: CheckableBlobs, key: str, entry: BlobEntry, recorded: int | None
) -> int | None:
    # A compressed blob is smaller on disk than its record (which counts its plain bytes):
    # its header says how large it is. Only blobs smaller than their record are opened.
    if recorded is None or entry.size > recorded:
        return entry.size
    try:
        return blobs.plain_size(key)
    except DatastoreError:
        return entry.size


def _hash_all(
    blobs: CheckableBlobs,
    keys: list[str],
    listed: dict[str, BlobEntry],
    progress: Progress | None,
) -> Iterator[tuple[str, str | DatastoreError | None]]:
    total_bytes = sum(listed[k].size for k in keys)
    done = done_bytes = 0
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        for key, actual in pool.map(lambda k: (k, _digest(blobs, k)), keys):
            done += 1
            done_bytes += listed[key].size
            if progress is not None:
                progress(done, len(keys), done_bytes, total_bytes)
            yield key, actual


def _digest(blobs: CheckableBlobs, key: str) -> str | DatastoreError | None:
    try:
        return blobs.digest(key)
    except DatastoreError as error:  # permissions, an I/O error: reported with the blob
        return error


def _still_broken(store: Store, blobs: CheckableBlobs, problems: list[Problem]) -> list[Problem]:
    """Drop missing blobs that `nbflow gc` removed with all their records during the check."""
    kept = []
    for problem in problems:
        if problem.kind == "missing-blob" and problem.key is not None:
            notebook = any(" notebook " in where for where in problem.artifacts)
            gone = not notebook and not store.meta.artifacts_with_key(problem.key, limit=1)
            if gone or blobs.exists(problem.key):
                continue
        kept.append(problem)
    return kept


def _missing_blob(blobs: CheckableBlobs, key: str, rows: list[StoredValue]) -> Problem:
    return Problem(
        "missing-blob",
        f"{_named(rows)}: blob {key} is missing (expected at {blobs.where(key)}). Loading it "
        "fails.",
        f"{_rerun(rows)}; the run writes the blob again. If the datastore was moved or copied "
        "in part, point NBFLOW_DATASTORE at the complete one.",
        key,
        _wheres(rows),
    )


def _damaged_blob(
    blobs: CheckableBlobs, key: str, rows: list[StoredValue], reason: str, kind: str
) -> Problem:
    return Problem(
        kind,
        f"{_named(rows)}: blob {key} is damaged: {reason}. It was altered after it was "
        "written; loading it fails before anything is unpickled.",
        f"Delete {blobs.where(key)} (a re-run never overwrites a blob that exists), then "
        f"{_rerun(rows)[0].lower()}{_rerun(rows)[1:]}.",
        key,
        _wheres(rows),
    )


# -- naming --------------------------------------------------------------------------------------


def _wheres(rows: list[StoredValue]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(row.where for row in rows))


def _named(rows: list[StoredValue]) -> str:
    wheres = _wheres(rows)
    shown = ", ".join(wheres[:SHOWN_RECORDS])
    more = len(wheres) - SHOWN_RECORDS
    first = "artifact " if rows[0].kind != "notebook" else ""
    return first + shown + (f" and {more} more" if more > 0 else "")


def _rerun(rows: list[StoredValue]) -> str:
    """How to write a value again: re-run the step that produced it."""
    producers = [r for r in rows if r.kind == "output" and r.step] or [r for r in rows if r.step]
    if not producers:
        flow, run_id = rows[0].flow, rows[0].run_id
        return f"Run the notebook of {flow}/{run_id} again"
    # The oldest record: the task that computed it, not a later cached copy.
    row = min(producers, key=lambda r: r.task_id or 0)
    return (
        f"Re-run step '{row.step}' of run {row.flow}/{row.run_id} (run its cell again, or "
        f"`nbflow resume NOTEBOOK --run {row.run_id} --from {row.step}`)"
    )


def _entry(entry: BlobEntry) -> dict[str, Any]:
    return {"name": entry.name, "size": entry.size, "modified": entry.modified}
