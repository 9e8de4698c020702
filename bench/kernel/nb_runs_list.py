#!/usr/bin/env python3
"""nbflow's client, in a fresh process: list a flow's runs and read the latest run's data.

Makes --runs runs (default 1,000) of a 2-step flow (start binds x = 1 -> end), as the Metaflow
anchor bench/anchors/mf_list.py does: the two step cells (the first run), then `%flow run` until
the flow has --runs runs (the median `%flow run` is kept as a detail). Then, on that datastore:

* whole process, --repeat times (median): a fresh `python -c` that imports the client, lists
  the runs (`Flow(name).runs()`) and reads `Flow(name).latest_run.data.x`: what a script that
  wants the latest result costs, start to end;
* in-process, in one more fresh process: the first listing (opens the metadata database) and
  the first read, then --repeat more of each, each on a new `Flow` (median; every listing is
  checked to hold all the runs), and as a detail the listing with id, status and start.

bench/run runs it twice: with 1,000 runs for the target (issue 2: listing at most 50 ms), and
with 50 runs beside Metaflow's client on the same work.
"""

from __future__ import annotations

import time

from harness import BenchError, Kernel, cli, emit, last_json, log, median, run_python, scratch

FLOW = "bench_runs"

WHOLE = """
import json
from nbflow import Flow
runs = Flow(%(flow)r).runs()
x = Flow(%(flow)r).latest_run.data.x
print(json.dumps({"runs": len(runs), "x": x}))
"""

IN_PROCESS = """
import json, time
t0 = time.perf_counter()
from nbflow import Flow
t1 = time.perf_counter()
runs = Flow(%(flow)r).runs()
t2 = time.perf_counter()
x = Flow(%(flow)r).latest_run.data.x
t3 = time.perf_counter()
assert len(runs) == %(n)d and x == 1, (len(runs), x)
lists, reads = [], []
for _ in range(%(repeat)d):
    t = time.perf_counter()
    runs = Flow(%(flow)r).runs()
    lists.append(time.perf_counter() - t)
    assert len(runs) == %(n)d
    t = time.perf_counter()
    x = Flow(%(flow)r).latest_run.data.x
    reads.append(time.perf_counter() - t)
ids = [r.pathspec for r in runs]
assert len(set(ids)) == len(ids)
t = time.perf_counter()
rows = [(r.id, r.status, r.created_at) for r in Flow(%(flow)r).runs()]
t_rows = time.perf_counter() - t
print(json.dumps({"import_s": t1 - t0, "first_list_s": t2 - t1, "first_read_s": t3 - t2,
                  "lists": lists, "reads": reads, "rows_s": t_rows,
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
        k.cell("%%step end --after start\npass")
        from nbflow import Flow

        have = len(Flow(FLOW).runs())
        t0 = time.perf_counter()
        made = [k.cell("%flow run") for _ in range(args.runs - have)]
        t_make = time.perf_counter() - t0
        n = len(Flow(FLOW).runs())
        if n != args.runs:
            raise SystemExit(f"expected {args.runs} runs, the client lists {n}")
        whole = []
        for _ in range(args.repeat):
            wall, out = run_python(WHOLE % {"flow": FLOW}, datastore=store)
            if last_json(out) != {"runs": n, "x": 1}:
                raise BenchError(f"the client saw {out.strip()}, not {n} runs with x == 1")
            whole.append(wall)
        code = IN_PROCESS % {"flow": FLOW, "n": n, "repeat": args.repeat}
        res = last_json(run_python(code, datastore=store)[1])
        result = {
            "bench": "nbflow_runs_list",
            "runs": n,
            "whole_process_s": median(whole),
            "list_s": median(res["lists"]),
            "read_s": median(res["reads"]),
            "first_list_s": res["first_list_s"],
            "first_read_s": res["first_read_s"],
            "import_s": res["import_s"],
            "list_with_status_s": res["rows_s"],
            "list_runs_s": res["lists"],
            "whole_process_runs_s": whole,
            "flow_run_s": median(made) if made else None,
            "make_runs_s": t_make,
            "newest": res["newest"],
            "oldest": res["oldest"],
        }
        log(
            f"nbflow, {n} runs: list + read latest data, whole process "
            f"{result['whole_process_s']:.2f} s; in-process list {result['list_s'] * 1e3:.2f} ms "
            f"(first {res['first_list_s'] * 1e3:.2f} ms), read {result['read_s'] * 1e3:.2f} ms "
            f"(first {res['first_read_s'] * 1e3:.2f} ms); made the runs in {t_make:.1f} s "
            f"({(result['flow_run_s'] or 0) * 1e3:.1f} ms per 2-step %flow run)"
        )
        emit(result, args.json)


if __name__ == "__main__":
    main()
