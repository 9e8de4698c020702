#!/usr/bin/env python3
"""Anchor (4): np.save / np.load of one 256 MiB float64 array (the physical floor).

In one process (the anchors venv's python unless --python): np.save to the page cache (no fsync),
each repetition to a new file, and np.load of it warm, in-process. Then np.load of that file in a
fresh process, timing the np.load call alone. One warm-up, then medians
of 5. This VM gives freed memory back to its host, so a first touch of fresh memory is slow and
lands at random; before each timed call 1 GiB is touched and freed (as bench/kernel does).
"""

from __future__ import annotations

from common import cli, emit, last_json, log, median, run_python, scratch

N = 32 * 1024 * 1024

IN_PROCESS = """
import json, os, statistics, sys, time
import numpy as np
d, repeat = sys.argv[1], int(sys.argv[2])
saves, loads = [], []
# one warm-up round first: this VM's first touches of fresh memory / page cache are slow
for r in range(-1, repeat):
    a = np.random.default_rng(r + 1).random(__N__)
    p = os.path.join(d, f"a{r}.npy")
    buf = np.ones(2**27); del buf  # 1 GiB touched and freed: memory ready (see below)
    t0 = time.perf_counter(); np.save(p, a); t_save = time.perf_counter() - t0
    del a
    t0 = time.perf_counter(); b = np.load(p); t_load = time.perf_counter() - t0
    del b
    if r >= 0:
        saves.append(t_save); loads.append(t_load)
    if r > -1:  # keep the last file only (page cache / disk space)
        os.remove(os.path.join(d, f"a{r - 1}.npy"))
print(json.dumps({"save": saves, "load": loads, "last": p}))
""".replace("__N__", str(N))

FRESH_LOAD = """
import time
t0 = time.perf_counter()
import json, sys
import numpy as np
buf = np.ones(2**27); del buf  # 1 GiB touched and freed: memory ready (see below)
t1 = time.perf_counter()
a = np.load(sys.argv[1])
t2 = time.perf_counter()
assert a.shape == (__N__,)
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1}))
""".replace("__N__", str(N))


def measure(python: str | None, repeat: int) -> dict:
    with scratch("npy") as d:
        code = f"import sys; sys.argv[1:] = [{str(d)!r}, {str(repeat)!r}]\n" + IN_PROCESS
        _, out = run_python(code, python=python)
        res = last_json(out)
        fresh = []
        for i in range(repeat + 1):  # the first is a warm-up
            code = f"import sys; sys.argv[1:] = [{res['last']!r}]\n" + FRESH_LOAD
            _, out = run_python(code, python=python)
            if i:
                fresh.append(last_json(out)["load_s"])
        return {
            "np_save_s": median(res["save"]),
            "np_load_inproc_s": median(res["load"]),
            "np_load_fresh_s": median(fresh),
            "np_save_runs_s": res["save"],
            "np_load_fresh_runs_s": fresh,
        }


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--python", default=None, help="interpreter (default: the anchors venv)")
    p.set_defaults(repeat=5)
    args = p.parse_args()
    res = measure(args.python, args.repeat)
    log(
        f"np.save {res['np_save_s']:.3f} s, np.load in-process {res['np_load_inproc_s']:.3f} s,"
        f" fresh process {res['np_load_fresh_s']:.3f} s"
    )
    emit({"anchor": "numpy_io", **res}, args.json)


if __name__ == "__main__":
    main()
