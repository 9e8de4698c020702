#!/usr/bin/env python3
"""Anchor (2): Metaflow foreach over N trivial elements + join (start -> body x N -> join -> end).

Default N=100 (Metaflow's default --max-num-splits is 100; a 1,000-element run takes ~5 minutes);
--full runs N=1,000. Also runs the same flow with N=1 so that the per-element cost is
(T_N - T_1) / (N - 1) and a 1,000-element time can be extrapolated as T_1 + 999 x per-element.
Metaflow's default --max-workers (16) is kept: what a user gets. One run of each (slow).
"""

from __future__ import annotations

from common import cli, emit, file_count, log, median, metaflow_flow, run_flow

BODY = """
n = Parameter("n", default=100, type=int)

@step
def start(self):
    self.items = list(range(self.n))
    self.next(self.body, foreach="items")

@step
def body(self):
    self.y = self.input * 2
    self.next(self.join)

@step
def join(self, inputs):
    self.total = sum(i.y for i in inputs)
    self.next(self.end)
"""


def run_n(n: int) -> tuple[float, int]:
    with metaflow_flow(f"mf-foreach{n}", "ForeachFlow", BODY) as (home, flow):
        dt = run_flow(home, flow, "--n", str(n), "--max-num-splits", str(max(n, 100)))
        return dt, file_count(home / "store")


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--n", type=int, default=100, help="number of foreach elements (default 100)")
    p.add_argument("--full", action="store_true", help="run N=1,000 (about 5 minutes)")
    p.set_defaults(repeat=1)
    args = p.parse_args()
    n = 1000 if args.full else args.n

    t1s, tns, files = [], [], 0
    for r in range(args.repeat):
        t1, _ = run_n(1)
        t1s.append(t1)
        log(f"metaflow foreach N=1 run {r + 1}/{args.repeat}: {t1:.2f} s")
        tn, files = run_n(n)
        tns.append(tn)
        log(f"metaflow foreach N={n} run {r + 1}/{args.repeat}: {tn:.2f} s ({files} files)")
    t1, tn = median(t1s), median(tns)
    per_elem = (tn - t1) / (n - 1)
    emit(
        {
            "anchor": "metaflow_foreach",
            "n": n,
            "run_s": tn,
            "run_n1_s": t1,
            "per_element_s": per_elem,
            "est_1000_s": tn if n == 1000 else t1 + 999 * per_elem,
            "extrapolated": n != 1000,
            "files_on_disk": files,
            "runs_s": tns,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
