#!/usr/bin/env python3
"""nbflow's client, in-process: list a flow of 10,000 runs filtered by a tag (issue 13).

Makes --runs runs (default 10,000) of one flow through the metadata store, as a kernel makes
them (`create_run` with the user tags and the system tags a kernel writes, then `finish_run`):
every run is tagged `sweep`, every 10th also `best`. Then, in one fresh process on that
datastore: the first listing (opens the metadata database), and --repeat more of each, each on
a new `Flow` (median; every listing is checked to hold the runs it should):

* `Flow(name).runs(tag="best")`: a tag on 1 run in 10 (1,000 runs listed);
* `Flow(name).runs(tag="sweep")`: a tag on every run (10,000 listed: the most work a filter
  can have);
* `Flow(name).runs()`: no tag, the default namespace (the current user's) only;
* `Flow(name).runs(tag="best", status="done", since=timedelta(days=1))`: three filters.

The target (issue 13): a listing filtered by a tag under 50 ms in-process. Metaflow's client has
no anchor here: it filters tags per run in Python after listing (its local metadata reads one
file per run), so the scripts do not compare.
"""

from __future__ import annotations

import time

from harness import BenchError, cli, emit, last_json, log, median, run_python, scratch

FLOW = "bench_tags"

IN_PROCESS = """
import datetime, json, time
from nbflow import Flow
t = time.perf_counter()
first = Flow(%(flow)r).runs(tag="best")
first_s = time.perf_counter() - t
assert len(first) == %(best)d, len(first)
times = {"best": [], "sweep": [], "namespace": [], "three_filters": []}
asks = {
    "best": (dict(tag="best"), %(best)d),
    "sweep": (dict(tag="sweep"), %(n)d),
    "namespace": (dict(), %(n)d),
    "three_filters": (dict(tag="best", status="done", since=datetime.timedelta(days=1)), %(best)d),
}
for _ in range(%(repeat)d):
    for name, (filters, expected) in asks.items():
        t = time.perf_counter()
        runs = Flow(%(flow)r).runs(**filters)
        times[name].append(time.perf_counter() - t)
        assert len(runs) == expected, (name, len(runs))
print(json.dumps({"first_s": first_s, **times}))
"""


def make_runs(store: object, n: int) -> float:
    from nbflow import __version__
    from nbflow.config import Config
    from nbflow.store.metadata.tags import system_tags
    from nbflow.store.stores import open_store

    meta = open_store(Config(datastore=str(store))).meta
    system = system_tags("bench.ipynb", "kernel", __version__)
    t0 = time.perf_counter()
    for i in range(n):
        tags = ["sweep", "best"] if i % 10 == 0 else ["sweep"]
        record = meta.create_run(FLOW, {"i": i}, tags=tags, system_tags=system)
        meta.finish_run(FLOW, record.run_id, "done")
    return time.perf_counter() - t0


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--runs", type=int, default=10_000)
    args = p.parse_args()
    with scratch("nb-tags") as store:
        t_make = make_runs(store, args.runs)
        best = (args.runs + 9) // 10
        code = IN_PROCESS % {"flow": FLOW, "n": args.runs, "best": best, "repeat": args.repeat}
        out = run_python(code, datastore=store)[1]
        res = last_json(out)
        if not res:
            raise BenchError(f"the listing script printed no result: {out.strip()}")
        result = {
            "bench": "nbflow_runs_tag",
            "runs": args.runs,
            "tagged_best": best,
            "list_tag_best_s": median(res["best"]),
            "list_tag_sweep_s": median(res["sweep"]),
            "list_namespace_s": median(res["namespace"]),
            "list_three_filters_s": median(res["three_filters"]),
            "first_list_s": res["first_s"],
            "list_tag_best_runs_s": res["best"],
            "make_runs_s": t_make,
        }
        log(
            f"nbflow, {args.runs} runs: runs(tag='best') ({best} runs) "
            f"{result['list_tag_best_s'] * 1e3:.1f} ms (first {res['first_s'] * 1e3:.1f} ms); "
            f"runs(tag='sweep') (all) {result['list_tag_sweep_s'] * 1e3:.1f} ms; runs() in the "
            f"namespace {result['list_namespace_s'] * 1e3:.1f} ms; tag+status+since "
            f"{result['list_three_filters_s'] * 1e3:.1f} ms; made the runs in {t_make:.1f} s"
        )
        emit(result, args.json)


if __name__ == "__main__":
    main()
