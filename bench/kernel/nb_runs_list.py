#!/usr/bin/env python3
"""nbflow: listing 1,000 runs through the client, in-process.

Makes the runs first: a one-step flow (`%%step start\\nx = 1`, which is itself one run) and then
`%flow run` until the flow has --runs runs (the median `%flow run` time of that 1-step flow is kept
as a detail). Then, in a fresh process, `Flow(name).runs()` is timed: the first call (opens
the metadata database) and then --repeat calls, each on a new `Flow` object, median. Each call's
result is checked to hold all the runs. Target (issue 2): at most 50 ms for 1,000 runs.
"""

from __future__ import annotations

import time

from harness import Kernel, cli, emit, last_json, log, median, run_python, scratch

FLOW = "bench_runs"

LIST = """
import json, time
t0 = time.perf_counter()
from nbflow import Flow
t1 = time.perf_counter()
runs = Flow(%(flow)r).runs()
t2 = time.perf_counter()
n = len(list(runs))
assert n == %(n)d, n
times = []
for _ in range(%(repeat)d):
    t = time.perf_counter()
    runs = list(Flow(%(flow)r).runs())
    times.append(time.perf_counter() - t)
    assert len(runs) == %(n)d
ids = [r.id for r in runs]
assert len(set(ids)) == len(ids)
t = time.perf_counter()
rows = [(r.id, r.status, r.started_at) for r in Flow(%(flow)r).runs()]
t_rows = time.perf_counter() - t
print(json.dumps({"import_s": t1 - t0, "first_s": t2 - t1, "times": times, "rows_s": t_rows,
                  "newest": ids[0], "oldest": ids[-1]}))
"""


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--runs", type=int, default=1000)
    args = p.parse_args()
    with scratch("nb-runs") as store:
        k = Kernel(store)
        k.cell(f"%flow name {FLOW}")
        k.cell("%%step start\nx = 1")
        from nbflow import Flow

        have = len(Flow(FLOW).runs())
        t0 = time.perf_counter()
        made = [k.cell("%flow run") for _ in range(args.runs - have)]
        t_make = time.perf_counter() - t0
        n = len(Flow(FLOW).runs())
        if n != args.runs:
            raise SystemExit(f"expected {args.runs} runs, the client lists {n}")
        _, out = run_python(LIST % {"flow": FLOW, "n": n, "repeat": args.repeat}, datastore=store)
        res = last_json(out)
        result = {
            "bench": "nbflow_runs_list",
            "runs": n,
            "list_s": median(res["times"]),
            "list_first_call_s": res["first_s"],
            "list_with_status_s": res["rows_s"],
            "list_runs_s": res["times"],
            "flow_run_1step_s": median(made) if made else None,
            "make_runs_s": t_make,
            "newest": res["newest"],
            "oldest": res["oldest"],
        }
        log(
            f"nbflow list {n} runs: {result['list_s'] * 1e3:.2f} ms (first call "
            f"{res['first_s'] * 1e3:.2f} ms); made them in {t_make:.1f} s "
            f"({(result['flow_run_1step_s'] or 0) * 1e3:.1f} ms per 1-step %flow run)"
        )
        emit(result, args.json)


if __name__ == "__main__":
    main()
