#!/usr/bin/env python3
"""nbflow: 16 CPU-bound foreach elements of ~0.5 s each, processes executor vs kernel executor.

A pure-Python loop, `spin(n)`, is defined in a plain cell (so it travels to the workers with
cloudpickle, as a user's function does) and calibrated at start, in this process, to take about
--element-s (0.5 s). start binds 16 items; `body --foreach items` calls `spin(N + item)`; `join`
counts the inputs. Then, --repeat times, alternating the order: `%flow run --executor kernel`
(one task after the other, in the kernel) and `%flow run --executor processes --workers 2`,
whole run, median of each. Target (issue 3): kernel / processes at least 1.8 on 2 cores.

Parallelism is also shown by the tasks' own intervals (started_at/finished_at recorded by the
workers): the most tasks running at once and the time during which two or more ran. The
machine's own ceiling is measured beside it: the same 16 calls in a plain
`multiprocessing.Pool(2)` (fork), as the kernel run's time / the pool's time.
"""

from __future__ import annotations

import inspect
import multiprocessing
import os
import time
from collections.abc import Callable

from harness import Kernel, cli, emit, log, median, run_statuses, scratch, task_times

FLOW = "bench_cpu"
CALIBRATE_N = 1_000_000


def spin(n: int) -> int:
    s = 0
    for i in range(n):
        s += i * i
    return s


def timed(f: Callable[..., object], *args: object) -> float:
    t0 = time.perf_counter()
    f(*args)
    return time.perf_counter() - t0


def calibrate(f: Callable[[int], int], element_s: float) -> tuple[int, float]:
    """(n, seconds) such that f(n) takes about element_s here; median of 3 at each stage."""
    per = median([timed(f, CALIBRATE_N) for _ in range(3)]) / CALIBRATE_N
    n = int(element_s / per)
    took = median([timed(f, n) for _ in range(3)])
    n = int(n * element_s / took)  # once more, at full length (caches, frequency)
    return n, median([timed(f, n) for _ in range(3)])


def overlap(intervals: list[tuple[float, float]]) -> dict[str, float]:
    """Most intervals open at once; time with two or more open; time with any open."""
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    open_, most, both, busy, last = 0, 0, 0.0, 0.0, events[0][0]
    for t, d in events:
        if open_ >= 2:
            both += t - last
        if open_ >= 1:
            busy += t - last
        open_ += d
        most = max(most, open_)
        last = t
    return {"max_concurrent": most, "overlap_s": both, "busy_s": busy}


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--elements", type=int, default=16)
    p.add_argument("--element-s", type=float, default=0.5)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(repeat=3)
    args = p.parse_args()
    m = args.elements
    with scratch("nb-cpu") as store:
        k = Kernel(store)
        k.cell(f"%flow name {FLOW}")
        k.cell(inspect.getsource(spin))  # a plain cell: the notebook's own function
        # the notebook's function (the shell's namespace is __main__'s: a fork pool finds it)
        nb_spin = k.ns()["spin"]
        n, element_s = calibrate(nb_spin, args.element_s)
        log(f"calibrated: spin({n:,}) takes {element_s:.3f} s ({os.getloadavg()[0]:.2f} load)")
        k.cell(f"%%step start\nitems = list(range({m}))")
        k.cell(f"%%step body --after start --foreach items\ny = spin({n} + item)")
        k.cell("%%step join --after body --join\ncount = len(inputs)")

        runs = {
            "kernel": "%flow run --executor kernel",
            "processes": f"%flow run --executor processes --workers {args.workers}",
        }
        times: dict[str, list[float]] = {"kernel": [], "processes": [], "pool": []}
        kernel_cpu: dict[str, list[float]] = {"kernel": [], "processes": []}
        shapes = []
        for r in range(args.repeat):
            order = ["kernel", "processes"] if r % 2 == 0 else ["processes", "kernel"]
            for name in order:
                cpu0 = time.process_time()  # the kernel's own CPU (scheduler; the tasks if kernel)
                times[name].append(k.cell(runs[name]))
                kernel_cpu[name].append(time.process_time() - cpu0)
                check = run_statuses(FLOW, ["start", "body", "join"])
                if check["task_statuses"] != {"done": m + 2}:
                    raise SystemExit(f"wrong result ({name}): {check}")
                if name == "processes":
                    spans = [(a, b) for a, b, _ in task_times(FLOW, "body")]
                    t0 = min(a for a, _ in spans)
                    shapes.append(
                        {
                            **overlap(spans),
                            "sum_task_s": sum(b - a for a, b in spans),
                            "intervals": [(round(a - t0, 3), round(b - t0, 3)) for a, b in spans],
                        }
                    )
            with multiprocessing.get_context("fork").Pool(args.workers) as pool:
                times["pool"].append(timed(pool.map, nb_spin, [n + i for i in range(m)], 1))
            log(
                f"round {r + 1}/{args.repeat}: kernel {times['kernel'][-1]:.2f} s, processes "
                f"{times['processes'][-1]:.2f} s (max {shapes[-1]['max_concurrent']} at once, "
                f"{shapes[-1]['overlap_s']:.2f} s overlapped), plain Pool "
                f"{times['pool'][-1]:.2f} s"
            )
        kernel_s, proc_s, pool_s = (median(times[x]) for x in ("kernel", "processes", "pool"))
        # the intervals of the processes run whose time is the median one
        mid = sorted(range(len(shapes)), key=lambda i: times["processes"][i])[len(shapes) // 2]
        emit(
            {
                "bench": "nbflow_cpu_parallel",
                "elements": m,
                "workers": args.workers,
                "cores": os.cpu_count(),
                "spin_n": n,
                "element_s": element_s,
                "kernel_s": kernel_s,
                "processes_s": proc_s,
                "speedup": kernel_s / proc_s,
                "pool_s": pool_s,
                "pool_speedup": kernel_s / pool_s,
                "kernel_runs_s": times["kernel"],
                "processes_runs_s": times["processes"],
                "pool_runs_s": times["pool"],
                "kernel_cpu_during_processes_s": median(kernel_cpu["processes"]),
                "loadavg_1min": os.getloadavg()[0],
                **shapes[mid],
            },
            args.json,
        )


if __name__ == "__main__":
    main()
