#!/usr/bin/env python3
"""Anchor (6): Metaflow's client listing the runs of a flow (ANCHORS.md: 50 runs, 10 ms).

Makes --runs runs (default 50) of a 2-step flow (start -> end), one after another, in one local
datastore; then, in a fresh process, times `list(Flow("ListFlow").runs())`: the first call and
the median of --repeat more (each on a new Flow object), plus the whole process; as a detail,
the same listing with each run's id, `successful` and `created_at` (what a run browser shows).
"""

from __future__ import annotations

from common import cli, emit, log, median, metaflow_flow, run_client, run_flow

BODY = """
@step
def start(self):
    self.x = 1
    self.next(self.end)
"""

# after the client's import (common.CLIENT)
LIST = """
runs = list(Flow("ListFlow").runs())
t2 = time.perf_counter()
assert len(runs) == __RUNS__, len(runs)
times = []
for _ in range(__REPEAT__):
    t = time.perf_counter()
    runs = list(Flow("ListFlow").runs())
    times.append(time.perf_counter() - t)
t = time.perf_counter()
rows = [(r.id, r.successful, r.created_at) for r in Flow("ListFlow").runs()]
t_rows = time.perf_counter() - t
assert all(ok for _, ok, _ in rows)
print(json.dumps({"import_s": t1 - t0, "first_s": t2 - t1, "times": times, "rows_s": t_rows}))
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
        code = LIST.replace("__RUNS__", str(args.runs)).replace("__REPEAT__", str(args.repeat))
        whole = []
        for _ in range(3):
            wall, res = run_client(home, code)
            whole.append(wall)
        result = {
            "anchor": "metaflow_list",
            "runs": args.runs,
            "list_s": median(res["times"]),
            "list_first_call_s": res["first_s"],
            "list_whole_process_s": median(whole),
            "list_with_status_s": res["rows_s"],
            "run_s": median(made),
        }
        log(
            f"metaflow list {args.runs} runs: {result['list_s'] * 1e3:.1f} ms (first call "
            f"{res['first_s'] * 1e3:.1f} ms; with status {res['rows_s'] * 1e3:.1f} ms; "
            f"whole process {result['list_whole_process_s']:.2f} s)"
        )
        emit(result, args.json)


if __name__ == "__main__":
    main()
