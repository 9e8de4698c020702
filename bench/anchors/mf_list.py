#!/usr/bin/env python3
"""Anchor (6): Metaflow's client, in a fresh process: list the runs of a flow and read the latest
run's data (ANCHORS.md: 50 runs, 10 ms / 14 ms in-process, 0.55 s whole process).

Makes --runs runs (default 50) of a 2-step flow (start binds x = 1 -> end), one after another, in
one local datastore. Then, on that datastore (bench/kernel/nb_runs_list.py does the same with
nbflow's client):

* whole process, --repeat times (median): a fresh `python -c` that imports the client, lists
  the runs (`list(Flow("ListFlow").runs())`) and reads `Flow("ListFlow").latest_run.data.x`:
  what a script that wants the latest result costs, start to end;
* in-process, in one more fresh process: the first listing and the first read (what that
  script spends on each), then --repeat more of each, each on a new Flow object (median), and
  as a detail the listing with each run's id, `successful` and `created_at` (a run browser).
"""

from __future__ import annotations

from common import BenchError, cli, emit, log, median, metaflow_flow, run_client, run_flow

BODY = """
@step
def start(self):
    self.x = 1
    self.next(self.end)
"""

# after the client's import (common.CLIENT): the whole job of a script that wants the result
WHOLE = """
runs = list(Flow("ListFlow").runs())
x = Flow("ListFlow").latest_run.data.x
print(json.dumps({"runs": len(runs), "x": x}))
"""

# after the client's import (common.CLIENT)
IN_PROCESS = """
runs = list(Flow("ListFlow").runs())
t2 = time.perf_counter()
x = Flow("ListFlow").latest_run.data.x
t3 = time.perf_counter()
assert len(runs) == __RUNS__ and x == 1, (len(runs), x)
lists, reads = [], []
for _ in range(__REPEAT__):
    t = time.perf_counter()
    runs = list(Flow("ListFlow").runs())
    lists.append(time.perf_counter() - t)
    t = time.perf_counter()
    x = Flow("ListFlow").latest_run.data.x
    reads.append(time.perf_counter() - t)
t = time.perf_counter()
rows = [(r.id, r.successful, r.created_at) for r in Flow("ListFlow").runs()]
t_rows = time.perf_counter() - t
assert all(ok for _, ok, _ in rows)
print(json.dumps({"import_s": t1 - t0, "first_list_s": t2 - t1, "first_read_s": t3 - t2,
                  "lists": lists, "reads": reads, "rows_s": t_rows}))
"""


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--runs", type=int, default=50)
    p.set_defaults(repeat=5)
    args = p.parse_args()
    with metaflow_flow("mf-list", "ListFlow", BODY) as (home, flow):
        # One at a time: two runs started at once can end up as one run in Metaflow's local
        # metadata (seen here: 50 runs made two at a time, 49 listed).
        made = [run_flow(home, flow) for _ in range(args.runs)]
        whole = []
        for _ in range(args.repeat):
            wall, check = run_client(home, WHOLE)
            if check != {"runs": args.runs, "x": 1}:
                raise BenchError(f"the client saw {check}, not {args.runs} runs with x == 1")
            whole.append(wall)
        code = IN_PROCESS.replace("__RUNS__", str(args.runs))
        _, res = run_client(home, code.replace("__REPEAT__", str(args.repeat)))
        result = {
            "anchor": "metaflow_list",
            "runs": args.runs,
            "whole_process_s": median(whole),
            "list_s": median(res["lists"]),
            "read_s": median(res["reads"]),
            "first_list_s": res["first_list_s"],
            "first_read_s": res["first_read_s"],
            "import_s": res["import_s"],
            "list_with_status_s": res["rows_s"],
            "whole_process_runs_s": whole,
            "run_s": median(made),
        }
        log(
            f"metaflow, {args.runs} runs: list + read latest data, whole process "
            f"{result['whole_process_s']:.2f} s; in-process list {result['list_s'] * 1e3:.1f} ms "
            f"(first {res['first_list_s'] * 1e3:.1f} ms), read {result['read_s'] * 1e3:.1f} ms "
            f"(first {res['first_read_s'] * 1e3:.1f} ms); with status {res['rows_s'] * 1e3:.1f} ms"
        )
        emit(result, args.json)


if __name__ == "__main__":
    main()
