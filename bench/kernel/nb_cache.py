#!/usr/bin/env python3
"""nbflow: what a cross-run cache hit costs, per task, in a whole `%flow run`.

The cross-run cache is switched on here (`Kernel(store, cache=True)`; the other benchmarks keep
it off). start binds `items = list(range(N))`; `body --foreach items` binds `y = item * 2` (N
tasks); `join --join` sums the ys. The three cells are registered (a step cell run by hand
always runs and leaves nothing for the cache); then the first `%flow run` runs every task
(checked: all `done`), and --repeat further `%flow run`s reuse every one (checked: all
`cached`, same result). Reported: the median cached run / its number of tasks (N + 2); the
first run for reference. Target (issue 3): at most 5 ms per task.
"""

from __future__ import annotations

from harness import Kernel, cli, emit, log, median, run_statuses, scratch

FLOW = "bench_cache"
STEPS = ["start", "body", "join"]


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--n", type=int, default=200)
    p.set_defaults(repeat=5)
    args = p.parse_args()
    n, tasks = args.n, args.n + 2
    with scratch("nb-cache") as store:
        k = Kernel(store, cache=True)
        k.cell(f"%flow name {FLOW}")
        k.cell(f"%%step start\nitems = list(range({n}))")
        k.cell("%%step body --after start --foreach items\ny = item * 2")
        k.cell("%%step join --after body --join\ntotal = sum(inp.y for inp in inputs)")
        from nbflow import Flow

        first = k.cell("%flow run --executor kernel")
        check_first = run_statuses(FLOW, STEPS)
        if check_first["task_statuses"] != {"done": tasks}:
            raise SystemExit(f"the first run did not run every task: {check_first}")
        times = []
        for _ in range(args.repeat):
            times.append(k.cell("%flow run --executor kernel"))
            check = run_statuses(FLOW, STEPS)
            total = Flow(FLOW).latest_run.data.total
            if check["task_statuses"] != {"cached": tasks} or total != n * (n - 1):
                raise SystemExit(f"the run was not all cache hits: total={total!r}, {check}")
        log(
            f"nbflow cache, {tasks} tasks: first run {first * 1e3:.1f} ms, all cached "
            f"{median(times) * 1e3:.1f} ms = {median(times) / tasks * 1e3:.3f} ms per task; "
            f"{check}"
        )
        emit(
            {
                "bench": "nbflow_cache_hit",
                "n": n,
                "tasks": tasks,
                "cached_run_s": median(times),
                "per_task_s": median(times) / tasks,
                "first_run_s": first,
                "first_per_task_s": first / tasks,
                "cached_runs_s": times,
                "first_task_statuses": check_first["task_statuses"],
                **check,
            },
            args.json,
        )


if __name__ == "__main__":
    main()
