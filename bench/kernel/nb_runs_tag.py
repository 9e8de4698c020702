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
from typing import Any

from harness import BenchError, cli, emit, last_json, log, median, run_python, scratch

FLOW = "bench_tags"
X_KEY = "0" * 32  # the blob key of x = 1 (inline: the record holds its bytes)

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
# Issue 16, the same 10,000 runs: the first page as the client, the sidebar (the REST route's
# reply: each run with its results) and `nbflow runs` (the command's work, in-process) show it.
import contextlib, io
from nbflow.cli import main as nbflow_command
from nbflow.server.replies import runs_reply
from nbflow.store.stores import open_store
store = open_store()
pages = {"first_page": [], "sidebar_page": [], "nbflow_runs": [], "nbflow_runs_page": []}
for _ in range(%(repeat)d):
    t = time.perf_counter()
    assert len(Flow(%(flow)r).runs(limit=50)) == 50
    pages["first_page"].append(time.perf_counter() - t)
    t = time.perf_counter()
    reply = runs_reply(store, %(flow)r, 50, 0)
    pages["sidebar_page"].append(time.perf_counter() - t)
    assert reply["total"] == %(n)d and len(reply["runs"]) == 50, reply["total"]
    assert reply["runs"][0]["results"] == {"x": 1}, reply["runs"][0]["results"]
    for name, argv in (("nbflow_runs", []), ("nbflow_runs_page", ["--limit", "50"])):
        with contextlib.redirect_stdout(io.StringIO()) as shown:
            t = time.perf_counter()
            nbflow_command(["runs", %(flow)r, *argv])
            pages[name].append(time.perf_counter() - t)
        assert shown.getvalue().count("\\n") >= (50 if argv else %(n)d), name
print(json.dumps({"first_s": first_s, **times, **pages}))
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
        add_tasks(meta, record.run_id)
        meta.finish_run(FLOW, record.run_id, "done")
    return time.perf_counter() - t0


def add_tasks(meta: Any, run_id: int) -> None:
    """The tasks of a 2-step run (start binds x = 1 -> end), as a kernel commits them, so that
    a listing with results reads an end step as it would for a real run."""
    from nbflow.store.blobs.artifacts import Stored

    x = Stored(X_KEY, 5, "builtins.int", b"\x80\x05K\x01.", {"value": 1})
    start = meta.start_task(FLOW, run_id, "start", (), ())
    meta.commit_task(start, status="done", objects=[x], artifacts=[("x", X_KEY, "output")])
    end = meta.start_task(FLOW, run_id, "end", (), (start,))
    meta.commit_task(end, status="done", artifacts=[("x", X_KEY, "inherited")])


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
            # issue 16: the first page (50 runs) three ways, and every run by `nbflow runs`
            "first_page_s": median(res["first_page"]),
            "sidebar_page_s": median(res["sidebar_page"]),
            "nbflow_runs_page_s": median(res["nbflow_runs_page"]),
            "nbflow_runs_all_s": median(res["nbflow_runs"]),
        }
        log(
            f"nbflow, {args.runs} runs: runs(tag='best') ({best} runs) "
            f"{result['list_tag_best_s'] * 1e3:.1f} ms (first {res['first_s'] * 1e3:.1f} ms); "
            f"runs(tag='sweep') (all) {result['list_tag_sweep_s'] * 1e3:.1f} ms; runs() in the "
            f"namespace {result['list_namespace_s'] * 1e3:.1f} ms; tag+status+since "
            f"{result['list_three_filters_s'] * 1e3:.1f} ms; first page of 50: client "
            f"{result['first_page_s'] * 1e3:.1f} ms, sidebar's reply "
            f"{result['sidebar_page_s'] * 1e3:.1f} ms, `nbflow runs --limit 50` "
            f"{result['nbflow_runs_page_s'] * 1e3:.1f} ms (all runs "
            f"{result['nbflow_runs_all_s'] * 1e3:.0f} ms); made the runs in {t_make:.1f} s"
        )
        emit(result, args.json)


if __name__ == "__main__":
    main()
