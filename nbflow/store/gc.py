"""Garbage collection (`nbflow gc`): remove old runs, then the data nothing remaining references.

What stays:
  - the newest N runs of each flow (every run when no N is given), every run still `running`,
    and every run a live kernel may be working in: the newest run of each flow made by a
    process that is alive on this host, or whose heartbeat is fresh (a kernel elsewhere);
  - every task a remaining task reads (its parents, its `origin`, the task whose artifact rows it
    reuses through `data_from`), even when it belonged to a removed run: a kept run never loses
    an input, and `%flow load` still finds its parents;
  - every blob and `objects` row an artifact row of a remaining task references;
  - every blob file younger than the grace period, referenced or not: a writer stores its blobs
    before it commits the task that references them (and refreshes the time of a blob that
    was there already).

The rows go in one `BEGIN IMMEDIATE` transaction (writers wait for it), so nothing a writer
commits slips between reading what is referenced and deleting what is not. Blob files go after
it commits: a crash in between leaves unreferenced files for the next gc, never a row without
its blob. They go in batches, each in an exclusive transaction of its own that looks again, for
each file, whether a row references it now and whether it is still old: a writer that refreshed
an old blob while the listing ran keeps it. (A writer that refreshes one between that look and
the delete finds it gone at its commit, which is checked in the same exclusive order, and says
so: see `Runner.commit`.) A dry run does the same work inside a transaction it rolls back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from nbflow.store.blobs.backends import BlobEntry
from nbflow.store.metadata import MetadataStore, RunRecord
from nbflow.store.metadata.liveness import (
    STALE_S,
    Process,
    alive_here,
    process_of,
    seconds_from_env,
    this_process,
)
from nbflow.store.stores import Store

DEFAULT_GRACE = 3600.0  # seconds

RunKey = tuple[str, int]  # (flow, run_id)
TaskLink = tuple[int, str, int, tuple[int, ...]]  # task_id, flow, run_id, the tasks it reads


class CollectableBlobs(Protocol):
    def entries(self) -> Iterator[BlobEntry]: ...

    def modified(self, key: str) -> float | None: ...

    def temp_entries(self) -> Iterator[BlobEntry]: ...

    def delete(self, key: str) -> bool: ...

    def delete_temp(self, name: str) -> bool: ...


@dataclass(frozen=True)
class Collected:
    """What a gc removed (or, in a dry run, would remove)."""

    runs: tuple[str, ...]  # "flow/run_id", oldest first
    tasks: int  # task records
    objects: int  # `objects` records (value metadata, with the bytes of small values)
    blobs: int  # blob files
    blob_bytes: int
    temp_files: int  # temp files a killed writer left behind
    temp_bytes: int
    spared: int  # unreferenced blob files younger than the grace period, kept
    dry_run: bool
    # "flow/run_id" past --keep-last, kept: a live kernel may be working in it.
    kept_live: tuple[str, ...] = ()

    @property
    def bytes_freed(self) -> int:
        return self.blob_bytes + self.temp_bytes


def collect(
    store: Store,
    *,
    keep_last: int | None = None,
    flow: str | None = None,
    grace: float = DEFAULT_GRACE,
    dry_run: bool = False,
) -> Collected:
    """Remove all but the newest `keep_last` runs (of `flow`, or of every flow), then whatever
    no remaining task references. Nothing changes when `dry_run`."""
    meta = store.meta
    with meta.exclusive(dry_run=dry_run):
        runs = every_run(meta)
        fresh_after = time.time() - seconds_from_env("NBFLOW_STALE_S", STALE_S)
        held = held_runs(runs, this_process(), fresh_after)
        removed = runs_to_remove(runs, keep_last, flow, held)
        kept_live = [r for r in runs_to_remove(runs, keep_last, flow) if r not in removed]
        remaining = {(r.flow, r.run_id) for r in runs} - {(r.flow, r.run_id) for r in removed}
        tasks = tasks_to_remove(meta.task_links(), remaining)
        meta.remove_runs([(r.flow, r.run_id) for r in removed], tasks)
        objects = meta.remove_unreferenced_objects()
        referenced = meta.referenced_keys()
    blobs: CollectableBlobs = store.values.blobs  # type: ignore[assignment]
    cutoff = time.time() - grace
    unreferenced = [e for e in blobs.entries() if e.name not in referenced]
    old_blobs = [e for e in unreferenced if e.modified < cutoff]
    old_temps = [e for e in blobs.temp_entries() if e.modified < cutoff]
    if not dry_run:
        old_blobs = sweep(meta, blobs, old_blobs, cutoff)
        old_temps = _deleted(old_temps, blobs.delete_temp)
    return Collected(
        runs=tuple(f"{r.flow}/{r.run_id}" for r in removed),
        tasks=len(tasks),
        objects=len(objects),
        blobs=len(old_blobs),
        blob_bytes=sum(e.size for e in old_blobs),
        temp_files=len(old_temps),
        temp_bytes=sum(e.size for e in old_temps),
        spared=sum(e.modified >= cutoff for e in unreferenced),
        dry_run=dry_run,
        kept_live=tuple(f"{r.flow}/{r.run_id}" for r in kept_live),
    )


def every_run(meta: MetadataStore) -> list[RunRecord]:
    """Every run of every flow, each flow newest first."""
    return [run for flow in meta.flows() for run in meta.runs(flow)]


def held_runs(runs: Iterable[RunRecord], here: Process, fresh_after: float) -> set[RunKey]:
    """The runs a live kernel may hold as its working run: of each flow, the newest run of
    each process alive on this host (`here` tells) or, elsewhere, beating since `fresh_after`.
    A kernel grows its working run cell by cell, `done` between two cells."""
    newest: dict[tuple[object, ...], RunRecord] = {}
    for run in runs:
        alive = alive_here(process_of(run), here)
        beating = (run.heartbeat or run.started_at) >= fresh_after
        if alive or (alive is None and beating):
            owner = (run.flow, run.host, run.pid, run.process_start)
            if owner not in newest or run.run_id > newest[owner].run_id:
                newest[owner] = run
    return {(run.flow, run.run_id) for run in newest.values()}


def runs_to_remove(
    runs: Iterable[RunRecord],
    keep_last: int | None,
    flow: str | None = None,
    held: Collection[RunKey] = (),
) -> list[RunRecord]:
    """All but the newest `keep_last` runs of each flow (of `flow` only, if given), never a run
    still running nor one `held` by a live kernel; oldest first. None: no run goes."""
    if keep_last is None:
        return []
    by_flow: dict[str, list[RunRecord]] = {}
    for run in runs:
        if flow is None or run.flow == flow:
            by_flow.setdefault(run.flow, []).append(run)
    removed = []
    for name in sorted(by_flow):
        newest_first = sorted(by_flow[name], key=lambda r: -r.run_id)
        removed += [
            r
            for r in reversed(newest_first[keep_last:])
            if r.status != "running" and (r.flow, r.run_id) not in held
        ]
    return removed


def tasks_to_remove(links: Iterable[TaskLink], remaining: set[RunKey]) -> list[int]:
    """The tasks outside the remaining runs (of removed runs, or kept by an earlier gc) that no
    task of a remaining run reads, directly or through other tasks."""
    links = list(links)
    reads = {task_id: read for task_id, _, _, read in links}
    roots = [task_id for task_id, flow, run_id, _ in links if (flow, run_id) in remaining]
    needed = reachable(roots, reads)
    return sorted(
        task_id
        for task_id, flow, run_id, _ in links
        if (flow, run_id) not in remaining and task_id not in needed
    )


def reachable(roots: Iterable[int], reads: dict[int, tuple[int, ...]]) -> set[int]:
    """`roots` and every task they read, transitively."""
    seen: set[int] = set()
    frontier = list(roots)
    while frontier:
        task_id = frontier.pop()
        if task_id not in seen:
            seen.add(task_id)
            frontier.extend(reads.get(task_id, ()))
    return seen


SWEEP_BATCH = 500  # blob files per exclusive transaction: writers wait for one batch at most


def sweep(
    meta: MetadataStore, blobs: CollectableBlobs, candidates: list[BlobEntry], cutoff: float
) -> list[BlobEntry]:
    """Delete the candidate blobs that are, looked at again under the write lock, still
    unreferenced and still older than `cutoff`; the ones deleted."""
    deleted = []
    for start in range(0, len(candidates), SWEEP_BATCH):
        batch = candidates[start : start + SWEEP_BATCH]
        with meta.exclusive():
            used = meta.referenced_among([e.name for e in batch])
            for entry in batch:
                time_now = None if entry.name in used else blobs.modified(entry.name)
                if time_now is not None and time_now < cutoff and blobs.delete(entry.name):
                    deleted.append(entry)
    return deleted


def _deleted(entries: list[BlobEntry], delete: Callable[[str], bool]) -> list[BlobEntry]:
    # Another gc may have taken a file first: count only what this one removed.
    return [e for e in entries if delete(e.name)]
