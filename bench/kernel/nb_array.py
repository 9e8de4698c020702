#!/usr/bin/env python3
"""nbflow: a step binding one 256 MiB float64 array — persist, load, rebind.

All in one kernel (in-process IPython shell), flow `bench_array`, one step `s`:

* persist: the step cell is run (= registered and run at once, a new run each time, as after an
  edit) alternately in two variants with the same compute and a new seed each round:
      big:  `_a = np.random.default_rng(SEED).random(N)` then `a = _a`          (binds the array)
      tiny: the same `_a`, then `a = float(_a[0])`                     (binds a float; `_a` is
                                                                        not an artifact)
  extra persist time = median over rounds of (big - tiny), where each cell's time is from the
  end of its own code (stamped by its last line) to the return of run_cell: what nbflow does
  after the code ran. The whole-cell times are kept as details. Same process, same disk: np.save of
  an array of the same size to the page cache (one warm-up, then median). Target: <= 3x np.save.
* rebind: after the last big round, the identical cell is run again, then `%flow run`; the
  datastore folder size is measured before/after each. Target: no new bytes (the array is not
  written again; a little metadata is).
* load: in a fresh process, `Flow("bench_array").latest_run["s"].task.data.a`, timing the
  attribute load; against np.load of the np.save file in a fresh process (same venv), numpy
  imported before the clock starts in both. One warm-up each, then --repeat, interleaved,
  medians. Target: <= 2x np.load. As a detail, the first full pass over the loaded array
  (a.sum()) is timed too, since a lazily mapped array would pay on first use.

Before every timed operation 4x the array's size (1 GiB) is touched and freed
(harness.prefault): this VM's lazily backed memory otherwise adds ~0.6 s at random to whichever
operation needs fresh memory. --mib sets the array's size (bench/run --smoke: 8).
"""

from __future__ import annotations

import time

from harness import (
    Kernel,
    cli,
    dir_size,
    emit,
    last_json,
    log,
    median,
    prefault,
    run_python,
    scratch,
)

FLOW = "bench_array"
# The last line stamps the end of the cell's own code (an attribute store: no artifact), so the
# time from there to the cell's return (persist, commit, binding in the namespace) is measured
# apart from making the array: on this VM the first touch of fresh memory is slow and erratic.
_STAMP = "\n__import__('builtins')._nbflow_bench_end = __import__('time').perf_counter()"
BIG = "%%step s\n_a = np.random.default_rng({seed}).random({n})\na = _a" + _STAMP
TINY = "%%step s\n_a = np.random.default_rng({seed}).random({n})\na = float(_a[0])" + _STAMP

# numpy is imported before the clock starts in both loaders: the figure is the load, not the
# import of numpy (which unpickling the array would otherwise do inside the attribute load).
NB_LOAD = """
import time
import numpy as np
t0 = time.perf_counter()
from nbflow import Flow
task = Flow(__FLOW__).latest_run["s"].task
t1 = time.perf_counter()
a = task.data.a
t2 = time.perf_counter()
s = float(a.sum())
t3 = time.perf_counter()
import json
base, kinds = a, []
while base is not None:
    kinds.append(type(base).__name__)
    base = getattr(base, "base", None)
assert a.shape == (__N__,) and a.dtype == np.float64, (a.shape, a.dtype)
print(json.dumps({"lookup_s": t1 - t0, "load_s": t2 - t1, "first_pass_s": t3 - t2,
                  "first": float(a[0]), "kinds": kinds}))
""".replace("__FLOW__", repr(FLOW))

NP_LOAD = """
import time
import json
import numpy as np
t1 = time.perf_counter()
a = np.load(__PATH__)
t2 = time.perf_counter()
s = float(a.sum())
t3 = time.perf_counter()
print(json.dumps({"load_s": t2 - t1, "first_pass_s": t3 - t2}))
"""


def np_save_median(path_dir, repeat: int, n: int) -> tuple[float, list[float], str]:
    import numpy as np

    times, last = [], ""
    for r in range(-1, repeat):  # the first round is a warm-up
        a = np.random.default_rng(10_000 + r + 1).random(n)
        p = path_dir / f"a{r + 1}.npy"
        prefault(n * 8 * 4 // 2**20)
        t0 = time.perf_counter()
        np.save(p, a)
        dt = time.perf_counter() - t0
        del a
        if r >= 0:
            times.append(dt)
            (path_dir / f"a{r}.npy").unlink(missing_ok=True)
        last = str(p)
    return median(times), times, last


def after_code(k: Kernel, source: str, prefault_mib: int) -> tuple[float, float]:
    """(whole cell, part after the cell's own code) in seconds."""
    import builtins

    builtins._nbflow_bench_end = None  # type: ignore[attr-defined]
    prefault(prefault_mib)
    t0 = time.perf_counter()
    whole = k.cell(source)
    end = t0 + whole
    stamp = builtins._nbflow_bench_end  # type: ignore[attr-defined]
    if stamp is None:
        raise SystemExit("the step's code did not run in this process (not the kernel executor?)")
    return whole, end - stamp


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--mib", type=int, default=256, help="the array's size in MiB (float64)")
    args = p.parse_args()
    n, ready = args.mib * 2**20 // 8, 4 * args.mib  # elements; MiB touched before each timing
    with scratch("nb-array") as root:
        store, npdir = root / "store", root / "npy"
        npdir.mkdir()
        k = Kernel(store)
        k.cell("import numpy as np")
        k.cell(f"%flow name {FLOW}")

        # warm-up of both variants (first allocation / first blob write in this process)
        k.cell(TINY.format(seed=1, n=n))
        k.cell(BIG.format(seed=2, n=n))

        big, tiny, diffs, whole_diffs = [], [], [], []
        for r in range(args.repeat):
            seed = 100 + r
            t, w = {}, {}
            for variant in ("tiny", "big") if r % 2 == 0 else ("big", "tiny"):
                src = (BIG if variant == "big" else TINY).format(seed=seed, n=n)
                w[variant], t[variant] = after_code(k, src, ready)
            big.append(t["big"])
            tiny.append(t["tiny"])
            diffs.append(t["big"] - t["tiny"])
            whole_diffs.append(w["big"] - w["tiny"])
            log(
                f"nbflow array round {r + 1}: after the code: big {t['big']:.3f} s, tiny "
                f"{t['tiny']:.3f} s; whole cells: big {w['big']:.3f} s, tiny {w['tiny']:.3f} s"
            )
        # the last cell run must be the big one, for the rebind and the load below
        last_seed = 100 + args.repeat
        k.cell(BIG.format(seed=last_seed, n=n))
        np_save_s, np_save_runs, npy_file = np_save_median(npdir, args.repeat, n)

        # rebind: the identical cell again, then %flow run (same code, same seed)
        size0 = dir_size(store)
        _, t_again = after_code(k, BIG.format(seed=last_seed, n=n), ready)
        size1 = dir_size(store)
        t_flow_run = k.cell("%flow run")
        size2 = dir_size(store)
        log(
            f"rebind: same cell {t_again:.3f} s after its code (+{size1 - size0} bytes), "
            f"%flow run {t_flow_run:.3f} s (+{size2 - size1} bytes)"
        )

        import numpy as np

        expected_first = float(np.random.default_rng(last_seed).random(4)[0])

        nb, npl = [], []
        for i in range(args.repeat + 1):  # the first of each is a warm-up
            prefault(ready)
            _, out = run_python(NB_LOAD.replace("__N__", str(n)), datastore=store)
            res = last_json(out)
            if res["first"] != expected_first:
                raise SystemExit(f"loaded the wrong array: a[0]={res['first']} != {expected_first}")
            prefault(ready)
            _, out2 = run_python(NP_LOAD.replace("__PATH__", repr(npy_file)))
            if i:
                nb.append(res)
                npl.append(last_json(out2))
        kinds = nb[-1]["kinds"]
        result = {
            "bench": "nbflow_array",
            "bytes": n * 8,
            "persist_extra_s": median(diffs),
            "big_after_code_s": median(big),
            "tiny_after_code_s": median(tiny),
            "persist_extra_whole_cell_s": median(whole_diffs),
            "np_save_s": np_save_s,
            "persist_over_np_save": median(diffs) / np_save_s,
            "rebind_after_code_s": t_again,
            "rebind_extra_s": t_again - median(tiny),
            "rebind_cell_new_bytes": size1 - size0,
            "rebind_flow_run_s": t_flow_run,
            "rebind_flow_run_new_bytes": size2 - size1,
            "load_fresh_s": median([x["load_s"] for x in nb]),
            "load_first_pass_s": median([x["first_pass_s"] for x in nb]),
            "np_load_fresh_s": median([x["load_s"] for x in npl]),
            "np_load_first_pass_s": median([x["first_pass_s"] for x in npl]),
            "load_over_np_load": median([x["load_s"] for x in nb])
            / median([x["load_s"] for x in npl]),
            "loaded_type": " <- ".join(kinds),
            "persist_diffs_s": diffs,
            "persist_whole_cell_diffs_s": whole_diffs,
            "load_runs_s": [x["load_s"] for x in nb],
            "np_load_runs_s": [x["load_s"] for x in npl],
            "np_save_runs_s": np_save_runs,
            "datastore_bytes": dir_size(store),
        }
        log(
            f"nbflow array: persist +{result['persist_extra_s']:.3f} s vs np.save "
            f"{np_save_s:.3f} s; "
            f"load {result['load_fresh_s']:.3f} s vs np.load {result['np_load_fresh_s']:.3f} s "
            f"({result['loaded_type']})"
        )
        emit(result, args.json)


if __name__ == "__main__":
    main()
