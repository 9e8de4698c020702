#!/usr/bin/env python3
"""nbflow on Dask: a foreach over N trivial elements + join on a 2-worker LocalCluster, against
Dask itself running N trivial futures on the same cluster (issue 7).

One `distributed.LocalCluster` (2 single-threaded worker processes, 127.0.0.1, no dashboard) is
started once. In the kernel (in-process IPython shell), start binds `items = list(range(N))`;
`body --foreach items` binds `y = item * 2` (N tasks); `join --join` sums the ys. The step cells
are run once to register them (on the kernel executor), then `%flow run --executor <scheduler
address>` is timed --repeat times after one warm-up run, alternating with the anchor: Dask's own
`client.map(trivial, range(N))` + `client.gather` on the same cluster (one warm-up too).
Medians. The result and every task's status (`done`: really run, the cache is off) are checked.
Target: nbflow at most 2x the anchor (nbflow's overhead on top of the engine).
"""

from __future__ import annotations

import time

from harness import Kernel, cli, emit, log, median, run_statuses, scratch

FLOW = "bench_dask"


def trivial(x: int) -> int:
    return x * 2


def anchor(client, n: int) -> float:
    t0 = time.perf_counter()
    futures = client.map(trivial, range(n), pure=False)
    out = client.gather(futures)
    dt = time.perf_counter() - t0
    if sum(out) != n * (n - 1):
        raise SystemExit(f"Dask anchor: wrong result {sum(out)}")
    del futures
    return dt


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(repeat=5)
    args = p.parse_args()
    n = args.n

    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=40,
    )
    client = Client(cluster, set_as_default=False)
    cluster_s = time.perf_counter() - t0
    address = cluster.scheduler_address
    log(f"LocalCluster of {args.workers} workers at {address} in {cluster_s:.2f} s")
    try:
        with scratch("nb-dask") as store:
            k = Kernel(store)
            from nbflow.run.executors.processes import spawnable_main

            spawnable_main()
            k.cell(f"%flow name {FLOW}")
            k.cell(f"%%step start\nitems = list(range({n}))")
            k.cell("%%step body --after start --foreach items\ny = item * 2")
            k.cell("%%step join --after body --join\ntotal = sum(inp.y for inp in inputs)")
            run = f"%flow run --executor {address}"
            warm_nb = k.cell(run)
            warm_anchor = anchor(client, n)
            nb, dk = [], []
            for r in range(args.repeat):  # alternating, the order swapped every round
                if r % 2 == 0:
                    nb.append(k.cell(run))
                    dk.append(anchor(client, n))
                else:
                    dk.append(anchor(client, n))
                    nb.append(k.cell(run))
            check = run_statuses(FLOW, ["start", "body", "join"])
            from nbflow import Flow

            total = Flow(FLOW).latest_run.data.total
            if total != n * (n - 1) or check["task_statuses"] != {"done": n + 2}:
                raise SystemExit(f"wrong result: total={total!r}, {check}")
            result = {
                "bench": "nbflow_dask",
                "n": n,
                "workers": args.workers,
                "run_s": median(nb),
                "dask_s": median(dk),
                "ratio": median(nb) / median(dk),
                "per_element_s": median(nb) / n,
                "dask_per_element_s": median(dk) / n,
                "runs_s": nb,
                "dask_runs_s": dk,
                "warmup_run_s": warm_nb,
                "warmup_dask_s": warm_anchor,
                "cluster_start_s": cluster_s,
                **check,
            }
            log(
                f"nbflow on Dask N={n}: %flow run median {median(nb):.3f} s "
                f"{[round(t, 3) for t in nb]}; Dask map+gather {median(dk):.3f} s "
                f"{[round(t, 3) for t in dk]}; ratio {result['ratio']:.2f}; {check}"
            )
            emit(result, args.json)
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
