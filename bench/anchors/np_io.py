#!/usr/bin/env python3
"""Anchor (4): the physical limits for one 256 MiB float64 array: np.save / np.load, and a fast
hash of it (what a content-addressed store cannot go below).

In one process (the anchors venv's python unless --python), each repetition on a new array:
np.save to the page cache (no fsync), each time to a new file; np.load of it warm, in-process;
`xxhash.xxh3_128` of the array's buffer (the hash nbflow keys its blobs with) and, as a detail,
`hashlib.sha1` (the one Metaflow's content-addressed store uses). Then np.load of that file in a
fresh process, timing the np.load call alone. One warm-up, then medians of --repeat (5).
This VM gives freed memory back to its host, so a first touch of fresh memory is slow and
lands at random; before each timed call 4x the array's size (1 GiB) is touched and freed (as
bench/kernel does). --mib sets the array's size (bench/run --smoke: 8).
"""

from __future__ import annotations

from common import cli, emit, last_json, log, median, run_python, scratch

IN_PROCESS = """
import hashlib, json, os, sys, time
import numpy as np
import xxhash
d, repeat, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
saves, loads, xxh, sha1 = [], [], [], []

def ready():  # 4x the array touched and freed: memory ready (see the docstring)
    buf = np.ones(4 * n); del buf

def timed(f, *args):
    ready()
    t0 = time.perf_counter(); f(*args); return time.perf_counter() - t0

# one warm-up round first: this VM's first touches of fresh memory / page cache are slow
for r in range(-1, repeat):
    a = np.random.default_rng(r + 1).random(n)
    p = os.path.join(d, f"a{r}.npy")
    t_save = timed(np.save, p, a)
    t_xxh = timed(lambda: xxhash.xxh3_128(a).digest())
    t_sha1 = timed(lambda: hashlib.sha1(a).digest())
    del a
    t_load = timed(np.load, p)
    if r >= 0:
        saves.append(t_save); loads.append(t_load); xxh.append(t_xxh); sha1.append(t_sha1)
    if r > -1:  # keep the last file only (page cache / disk space)
        os.remove(os.path.join(d, f"a{r - 1}.npy"))
print(json.dumps({"save": saves, "load": loads, "xxh3_128": xxh, "sha1": sha1, "last": p}))
"""

FRESH_LOAD = """
import time
t0 = time.perf_counter()
import json, sys
import numpy as np
n = int(sys.argv[2])
buf = np.ones(4 * n); del buf  # memory ready (see the docstring)
t1 = time.perf_counter()
a = np.load(sys.argv[1])
t2 = time.perf_counter()
assert a.shape == (n,)
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1}))
"""


def measure(python: str | None, repeat: int, n: int, warmup: bool) -> dict:
    with scratch("npy") as d:
        code = f"import sys; sys.argv[1:] = [{str(d)!r}, '{repeat}', '{n}']\n" + IN_PROCESS
        _, out = run_python(code, python=python)
        res = last_json(out)
        fresh = []
        for i in range(repeat + warmup):  # the first is a warm-up
            code = f"import sys; sys.argv[1:] = [{res['last']!r}, '{n}']\n" + FRESH_LOAD
            _, out = run_python(code, python=python)
            if i or not warmup:
                fresh.append(last_json(out)["load_s"])
        return {
            "bytes": n * 8,
            "np_save_s": median(res["save"]),
            "np_load_inproc_s": median(res["load"]),
            "np_load_fresh_s": median(fresh),
            "xxh3_128_s": median(res["xxh3_128"]),
            "sha1_s": median(res["sha1"]),
            "np_save_runs_s": res["save"],
            "np_load_fresh_runs_s": fresh,
            "xxh3_128_runs_s": res["xxh3_128"],
        }


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--python", default=None, help="interpreter (default: the anchors venv)")
    p.add_argument("--mib", type=int, default=256, help="the array's size in MiB (float64)")
    p.set_defaults(repeat=5)
    args = p.parse_args()
    res = measure(args.python, args.repeat, args.mib * 2**20 // 8, args.warmup)
    log(
        f"{args.mib} MiB: np.save {res['np_save_s']:.3f} s, np.load in-process "
        f"{res['np_load_inproc_s']:.3f} s, fresh process {res['np_load_fresh_s']:.3f} s; "
        f"xxh3_128 {res['xxh3_128_s']:.4f} s, sha1 {res['sha1_s']:.3f} s"
    )
    emit({"anchor": "numpy_io", **res}, args.json)


if __name__ == "__main__":
    main()
