#!/usr/bin/env python3
"""Anchor (3): Metaflow persisting and loading one 256 MiB float64 array.

Per repetition, in a fresh local datastore, with a distinct seed (so nothing is deduplicated):
  * run ArrayFlow --bind 0 (the step makes the array but binds only a float) and --bind 1 (binds
    the array as self.a): persist cost = run(bind 1) - run(bind 0); (the task's own
    duration per the Metaflow client excludes the persist, so the run difference is used);
  * run --bind 1 again with the same seed: time over --bind 0 and new bytes on disk (Metaflow's
    store is content-addressed);
  * load `Flow('ArrayFlow').latest_run['start'].task.data.a` in a fresh process, timing the
    attribute load, first with an empty client cache, then again (warm client cache).

--mib sets the array's size (bench/run --smoke: 8), --repeat the repetitions (median).
"""

from __future__ import annotations

from common import cli, dir_size, emit, log, median, metaflow_flow, rmtree, run_client, run_flow

HEADER = "import numpy as np\n"
BODY = """
seed = Parameter("seed", default=0, type=int)
bind = Parameter("bind", default=1, type=int)
n = Parameter("n", default=32 * 1024 * 1024, type=int)  # 256 MiB of float64

@step
def start(self):
    a = np.random.default_rng(self.seed).random(self.n)
    if self.bind:
        self.a = a
    else:
        self.a = float(a[0])
    self.next(self.end)
"""

# After the client's import (common.CLIENT); numpy is imported before the clock starts (as in
# nbflow's loader): the figure is the load.
LOAD = """
task = Flow("ArrayFlow").latest_run["start"].task
t2 = time.perf_counter()
a = task.data.a
t3 = time.perf_counter()
assert a.shape == (__N__,) and a.dtype.name == "float64", (a.shape, a.dtype)
print(json.dumps({"import_s": t1 - t0, "lookup_s": t2 - t1, "load_s": t3 - t2}))
"""


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--mib", type=int, default=256, help="the array's size in MiB (float64)")
    args = p.parse_args()
    n = args.mib * 2**20 // 8
    load = LOAD.replace("__N__", str(n))
    persist, rebind, rebind_bytes, load_cold, load_warm = [], [], [], [], []
    t_tiny, t_big = [], []
    for r in range(args.repeat):
        with metaflow_flow("mf-array", "ArrayFlow", BODY, HEADER) as (home, flow):
            seed = 1000 + r
            order = [0, 1] if r % 2 == 0 else [1, 0]
            t = {}
            for bind in order:
                t[bind] = run_flow(
                    home, flow, "--seed", str(seed), "--bind", str(bind), "--n", str(n)
                )
            t_tiny.append(t[0])
            t_big.append(t[1])
            persist.append(t[1] - t[0])
            before = dir_size(home / "store")
            t_again = run_flow(home, flow, "--seed", str(seed), "--bind", "1", "--n", str(n))
            rebind_bytes.append(dir_size(home / "store") - before)
            rebind.append(t_again - t[0])
            rmtree(home / "client-cache")
            load_cold.append(run_client(home, load, setup="import numpy")[1]["load_s"])
            load_warm.append(run_client(home, load, setup="import numpy")[1]["load_s"])
            log(
                f"metaflow array rep {r + 1}/{args.repeat}: run tiny {t[0]:.2f} s, big {t[1]:.2f} s"
                f" -> persist {persist[-1]:.2f} s; rebind +{rebind[-1]:.2f} s"
                f" ({rebind_bytes[-1]} new bytes); load cold {load_cold[-1]:.2f} s,"
                f" warm {load_warm[-1]:.2f} s"
            )
    emit(
        {
            "anchor": "metaflow_array",
            "bytes": n * 8,
            "persist_s": median(persist),
            "run_tiny_s": median(t_tiny),
            "run_big_s": median(t_big),
            "rebind_extra_s": median(rebind),
            "rebind_new_bytes": int(median(rebind_bytes)),
            "load_fresh_s": median(load_cold),
            "load_fresh_warm_cache_s": median(load_warm),
            "persist_runs_s": persist,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
