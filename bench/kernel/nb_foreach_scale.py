#!/usr/bin/env python3
"""nbflow at scale: a foreach over N trivial elements plus join, at N = 1,000, 10,000, 100,000.

The flow is nb_foreach.py's (start binds `items = list(range(N))`; `body --foreach items` binds
`y = item * 2`; `join --join` sums the ys), on the kernel executor and on the processes
executor (2 workers). Each (executor, N) runs in a fresh process of its own, so that its peak
memory is its own: the step cells are registered without running (NBFLOW_DEFERRED=1), one
warm-up `%flow run` at N = 10, then one timed `%flow run` at N (--repeat: the median), the
live graph on as in a notebook. Reported per N: seconds per task (N + 2 tasks), the kernel's
peak RSS and what it grew by over the warm-up, per task; on the processes executor also the
largest worker's peak RSS. Linear cost shows as a flat time per task across N (issue 16:
≤ 0.3 ms per task in the kernel at 100,000). Checked: the total and every task `done`.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

from harness import Kernel, cli, emit, log, median, run_statuses, scratch

FLOW = "bench_foreach_scale"
WARMUP_N = 10


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--n", default="1000,10000,100000", help="comma-separated sizes")
    p.add_argument("--executors", default="kernel,processes", help="kernel, processes or both")
    p.add_argument("--workers", type=int, default=2, help="on the processes executor")
    p.add_argument("--one", action="store_true", help="(internal) one size, this process")
    p.set_defaults(repeat=1)
    args = p.parse_args()
    sizes = [int(n) for n in args.n.split(",")]
    if args.one:
        (executor,) = args.executors.split(",")
        print(json.dumps(measure(sizes[0], executor, args.workers, args.repeat, args.warmup)))
        return
    rows = [one_process(n, executor, args) for executor in args.executors.split(",") for n in sizes]
    emit(
        {
            "bench": "nbflow_foreach_scale",
            "sizes": sizes,
            "workers": args.workers,
            "loadavg_1min": os.getloadavg()[0],
            "rows": rows,
        },
        args.json,
    )


def one_process(n: int, executor: str, args: Any) -> dict[str, Any]:
    """measure() in a fresh process: its peak memory is this size's alone."""
    cmd = [sys.executable, __file__, "--one", "--n", str(n), "--executors", executor,
           "--workers", str(args.workers), "--repeat", str(args.repeat)]  # fmt: skip
    if not args.warmup:
        cmd.append("--no-warmup")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    row: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    log(
        f"nbflow foreach N={n:,} ({executor}): {row['run_s']:.3f} s, "
        f"{row['per_task_s'] * 1e3:.3f} ms/task; kernel peak RSS "
        f"{row['peak_rss_bytes'] / 2**20:.0f} MiB (+{row['rss_per_task_bytes']:.0f} B/task)"
        + (
            f"; largest worker {row['worker_peak_rss_bytes'] / 2**20:.0f} MiB"
            if row["worker_peak_rss_bytes"]
            else ""
        )
        + f"; {row['redraws']} live-graph redraws; load {row['loadavg_1min']:.1f}"
    )
    return row


def measure(n: int, executor: str, workers: int, repeat: int, warmup: bool) -> dict[str, Any]:
    os.environ["NBFLOW_DEFERRED"] = "1"  # step cells only register: the run is the work
    with scratch("nb-foreach-scale") as store:
        k = Kernel(store)
        k.cell(f"%flow name {FLOW}")
        run = "%flow run --executor kernel"
        if executor == "processes":
            run = f"%flow run --executor processes --workers {workers}"
        k.cell(f"%%step start\nitems = list(range({WARMUP_N if warmup else n}))")
        k.cell("%%step body --after start --foreach items\ny = item * 2")
        k.cell("%%step join --after body --join\ntotal = sum(inp.y for inp in inputs)")
        if warmup:  # imports, the widget's module, the pool: paid once per kernel
            k.cell(run)
            k.cell(f"%%step start\nitems = list(range({n}))")
        rss0 = peak_rss()
        times, redraws = [], []
        for _ in range(repeat):
            times.append(k.cell(run))
            redraws.append(getattr(session(k).on_progress, "redraws", 0))
        rss1 = peak_rss()
        check = run_statuses(FLOW, ["start", "body", "join"])
        from nbflow import Flow

        total = Flow(FLOW).latest_run.data.total
        if total != n * (n - 1) or check["task_statuses"] != {"done": n + 2}:
            raise SystemExit(f"wrong result: total={total!r}, {check}")
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        return {
            "n": n,
            "executor": executor,
            "workers": workers if executor == "processes" else None,
            "run_s": median(times),
            "runs_s": times,
            "per_task_s": median(times) / (n + 2),
            "peak_rss_bytes": rss1,
            "rss_before_bytes": rss0,
            "rss_per_task_bytes": (rss1 - rss0) / (n + 2),
            "worker_peak_rss_bytes": children if executor == "processes" else None,
            "redraws": median(redraws),
            "loadavg_1min": os.getloadavg()[0],
            "at": time.strftime("%H:%M:%S"),
            **check,
        }


def peak_rss() -> int:
    """This process's peak resident memory so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def session(k: Kernel) -> Any:
    """The kernel's nbflow session (its live graph counts its redraws)."""
    from nbflow.kernel.magics import FlowMagics

    return k.shell.magics_manager.registry[FlowMagics.__name__].session


if __name__ == "__main__":
    main()
