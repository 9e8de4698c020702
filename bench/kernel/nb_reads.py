#!/usr/bin/env python3
"""nbflow: what it costs that the files a task reads are part of its cache key.

A 100 MiB data file (--mib) beside the notebook. After `start` (which binds `items`, N
elements), two foreach steps run side by side in every run: `reading` opens the file and reads
its first KiB (so the read itself costs next to nothing, and what is measured is nbflow's:
noting the open, describing the file, checking it before reuse), `plain` does the same
arithmetic without the open. Both run in the same run, one after the other, so that machine
drift does not land on one of them. Reported, medians over --repeat `%flow run`s:
  - added per task by reading a file, in a run that computes every task (cache off): the span
    of `reading` less that of `plain`, over N; the file is hashed once per process while it is
    unchanged (per run at most, not per task);
  - the one-time hash of the file;
  - a cache hit per task when every task read the file (each checks the file is unchanged: a
    stat and the remembered hash). Target (issues 3 and 10): at most 5 ms per task.
"""

from __future__ import annotations

import time

from harness import Kernel, cli, emit, log, median, run_statuses, scratch

FLOW = "bench_reads"
STEPS = ["start", "plain", "reading"]


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--mib", type=int, default=100)
    p.set_defaults(repeat=5)
    args = p.parse_args()
    n, tasks = args.n, 2 * args.n + 1
    with scratch("nb-reads") as store:
        data = store.parent / "data.bin"
        with data.open("wb") as out:
            block = bytes(range(256)) * 4096  # 1 MiB
            for _ in range(args.mib):
                out.write(block)
        from nbflow.run.reads import file_entry

        started = time.perf_counter()
        file_entry(str(data))  # what the first task that reads it pays, once
        hash_s = time.perf_counter() - started
        k = Kernel(store, cache=False)
        k.cell(f"%flow name {FLOW}")
        k.cell(f"%%step start\nitems = list(range({n}))")
        k.cell("%%step plain --after start --foreach items\nhead = 1024 + item")
        k.cell(
            f"%%step reading --after start --foreach items\nwith open({str(data)!r}, 'rb') as f:"
            "\n    head = len(f.read(1024)) + item"
        )
        added = []
        for _ in range(args.repeat):
            k.cell("%flow run --executor kernel")
            added.append((span(FLOW, "reading") - span(FLOW, "plain")) / n)
        k.cell("%flow config cache=on")
        k.cell("%flow run --executor kernel")  # every task once more, with its cache key
        cached = []
        for _ in range(args.repeat):
            cached.append(k.cell("%flow run --executor kernel"))
            check = run_statuses(FLOW, STEPS)
            if check["task_statuses"] != {"cached": tasks}:
                raise SystemExit(f"the run was not all cache hits: {check}")
    each = ", ".join(f"{a * 1e3:.3f}" for a in added)
    log(
        f"nbflow reads, {n} tasks each opening a {args.mib} MiB file: +{median(added) * 1e3:.3f}"
        f" ms/task beside the same tasks without the open ({each});"
        f" hashing the file once {hash_s * 1e3:.0f} ms; all {tasks} tasks cached "
        f"{median(cached) * 1e3:.1f} ms = {median(cached) / tasks * 1e3:.3f} ms/task"
    )
    emit(
        {
            "bench": "nbflow_reads",
            "n": n,
            "tasks": tasks,
            "mib": args.mib,
            "added_per_task_s": median(added),
            "added_per_task_runs_s": added,
            "hash_once_s": hash_s,
            "cached_run_s": median(cached),
            "cached_per_task_s": median(cached) / tasks,
        },
        args.json,
    )


def span(flow: str, step: str) -> float:
    """From the first start to the last finish of the step's tasks in the latest run."""
    from nbflow import Flow

    return Flow(flow).latest_run[step].duration


if __name__ == "__main__":
    main()
