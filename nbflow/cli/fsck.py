"""`nbflow fsck [--repair]`: check the datastore's records against its bytes (nbflow.store.fsck)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from nbflow.exceptions import NbflowError
from nbflow.render.text import format_size

if TYPE_CHECKING:
    from nbflow.store.fsck import Problem, Report

EXIT_OK, EXIT_PROBLEMS, EXIT_CANNOT_CHECK = 0, 1, 2
PROGRESS_EVERY = 2.0  # seconds between progress lines on stderr

FSCK_HELP = """\
Check the datastore ($NBFLOW_DATASTORE, or .nbflow/ here) without unpickling anything:

  - every artifact record (and each run's executed notebook) has its value record and its task;
  - every value kept as a blob has one, of the recorded size, whose bytes hash to its key
    (xxh3-128; object stores are read past the local read cache);
  - every value kept inline in the metadata database hashes to its key;
  - every task's parents, origin and reused task exist;
  - no task of an ended run is still marked running (its result was never recorded).

Each problem names the flow, run, step, task and artifact it spoils, and the fix. Also listed:
blobs no record references and writers' temp files, both older than --grace (what crashes
leave behind), and runs still marked running.

--repair removes those old temp files, marks runs whose process is gone as failed, and marks
tasks still running in ended runs failed (resume runs them again). It never
deletes or changes a blob, referenced or not (unreferenced blobs are `nbflow gc`'s to remove;
a damaged one is named for you to delete before re-running its step), and never changes a
finished task. Safe while runs are being written.

exit status: 0 no problems (orphans alone are not problems), 1 problems found,
             2 the datastore could not be checked (or a usage error)

examples:
  nbflow fsck                  check everything, reading every blob once
  nbflow fsck --quick          presence and sizes only, no blob is read
  nbflow fsck --json           one JSON object: checked, problems, orphan_blobs, temp_files,
                               running_runs, repaired
  nbflow fsck --repair
"""


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    fsck: argparse.ArgumentParser = commands.add_parser(
        "fsck",
        help="check every record against its blobs and hashes; --repair tidies",
        description=FSCK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fsck.add_argument(
        "--repair", action="store_true",
        help="remove old temp files and mark dead runs failed (never touches a blob)",
    )  # fmt: skip
    fsck.add_argument(
        "--quick", action="store_true", help="check blobs' presence and size, not their hashes"
    )
    fsck.add_argument(
        "--grace", type=float, default=3600.0, metavar="SECONDS",
        help="files younger than this are in use, never orphans (default 3600)",
    )  # fmt: skip
    fsck.add_argument("--json", action="store_true", help="print JSON for scripts")
    fsck.set_defaults(handler=run_fsck)


def run_fsck(args: argparse.Namespace) -> int:
    from nbflow.store.fsck import check, repair
    from nbflow.store.stores import open_store

    try:
        if args.grace < 0:
            raise NbflowError(f"--grace must be 0 or more seconds, not {args.grace}")
        store = open_store()
        report = check(store, grace=args.grace, hash_blobs=not args.quick, progress=ProgressLine())
        if args.repair:
            report = repair(store, report)
    except NbflowError as error:
        print(f"nbflow fsck: cannot check the datastore: {error}", file=sys.stderr)
        return EXIT_CANNOT_CHECK
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(summary(report))
    return EXIT_OK if report.ok else EXIT_PROBLEMS


class ProgressLine:
    """`hashed k/n blobs` on stderr every few seconds, once a check takes that long."""

    def __init__(self) -> None:
        self._next = time.monotonic() + PROGRESS_EVERY

    def __call__(self, done: int, total: int, done_bytes: int, total_bytes: int) -> None:
        now = time.monotonic()
        if now >= self._next:
            print(
                f"nbflow fsck: hashed {done}/{total} blobs ({format_size(done_bytes)} of "
                f"{format_size(total_bytes)})",
                file=sys.stderr,
            )
            self._next = now + PROGRESS_EVERY


def summary(report: Report) -> str:
    checked = "hashed" if report.hashed else "sizes only (--quick)"
    lines = [
        f"datastore {report.datastore}, metadata {report.metadata}",
        f"checked {report.records} record(s) of {report.tasks} task(s): {report.blobs} blob(s) "
        f"({format_size(report.blob_bytes)}, {checked}), {report.inline} inline value(s), in "
        f"{report.seconds:.1f} s",
    ]
    for problem in report.problems:
        lines += ["", *_problem_lines(problem)]
    lines += _leftover_lines(report)
    if report.repaired is not None:
        lines += _repaired_lines(report)
    count = len(report.problems)
    lines += ["", "no problems found" if report.ok else f"{count} problem(s) found"]
    return "\n".join(lines)


def _problem_lines(problem: Problem) -> list[str]:
    return [f"{problem.kind}: {problem.message}", f"  fix: {problem.fix}"]


def _leftover_lines(report: Report) -> list[str]:
    lines = []
    if report.orphan_blobs:
        size = format_size(sum(e.size for e in report.orphan_blobs))
        lines.append(
            f"{len(report.orphan_blobs)} blob(s) ({size}) no record references, older than "
            f"{report.grace:g} s: harmless; `nbflow gc` removes them"
        )
    if report.temp_files and report.repaired is None:
        size = format_size(sum(e.size for e in report.temp_files))
        lines.append(
            f"{len(report.temp_files)} temp file(s) ({size}) left by interrupted writes: "
            "`nbflow fsck --repair` removes them"
        )
    if report.running:
        shown = ", ".join(report.running[:10]) + (", ..." if len(report.running) > 10 else "")
        lines.append(
            f"run(s) still marked running: {shown} (if their kernel or process is gone, "
            "`nbflow fsck --repair` marks them failed)"
        )
    return ["", *lines] if lines else []


def _repaired_lines(report: Report) -> list[str]:
    assert report.repaired is not None
    done = report.repaired
    lines = [
        "",
        f"repaired: removed {len(done.temp_files)} temp file(s) ({format_size(done.temp_bytes)})",
    ]
    shown = ", ".join(done.dead_runs) or "none"
    lines.append(f"  marked failed (their process is gone): {shown}")
    if done.lost_tasks:
        lines.append(f"  tasks of ended runs marked failed: {', '.join(done.lost_tasks)}")
    return lines
