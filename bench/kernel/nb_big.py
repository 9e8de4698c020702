#!/usr/bin/env python3
"""A 4 GiB artifact (issue 16): persisted without a second copy in memory, loaded lazily.

Two values of --gib GiB each, each in a fresh process of its own (an IPython shell with nbflow
loaded, flow `bench_big`), bound by one step cell `%%step big`:

* raw: random float64 (incompressible: the codec's sample says so and the
  buffer is written as it is, at disk speed);
* compressible: `np.arange` as float64 (the codec compresses it, streaming in pieces).

The figure is the peak resident memory while the step runs and persists, beyond what the
process held before it (Linux's VmHWM, reset just before the cell), over the value's size.
Holding the value once is 1.0x; a copy of it anywhere on the way to disk would be 2.0x.
Target: at most 1.2x.

Then, in a fresh process, the client loads the value (`task.data.a`): the time, and the resident
memory the load adds before the array is used (a raw buffer is memory-mapped: almost nothing;
a compressed one is decompressed into memory: its size), and after a first pass (`a.sum()`).
bench/run --smoke: --gib 0.0625.
"""

from __future__ import annotations

from harness import cli, emit, last_json, log, run_python, scratch

FLOW = "bench_big"

VALUES = {
    "raw": "np.random.default_rng(0).random({n})",
    "compressible": "np.arange({n}, dtype=np.float64)",
}

_MEMORY = """
def _status(field):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(field + ":"))
def _reset_peak():
    with open("/proc/self/clear_refs", "w") as f:  # resets VmHWM to the current VmRSS
        f.write("5")
"""

PERSIST = _MEMORY + """
import json, time
import numpy as np
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
for line in ("%load_ext nbflow", "%flow name __FLOW__", "import numpy as np"):
    shell.run_cell(line).raise_error()
shell.run_cell("%%step warm\\nw = np.arange(1000)").raise_error()  # first blob write, imports
before = _status("VmRSS")
_reset_peak()
t0 = time.perf_counter()
shell.run_cell("%%step big\\na = __VALUE__").raise_error()
wall = time.perf_counter() - t0
print(json.dumps({"before": before, "peak": _status("VmHWM"), "wall_s": wall}))
""".replace("__FLOW__", FLOW)

LOAD = _MEMORY + """
import json, time
import numpy as np
from nbflow import Flow
task = Flow("__FLOW__").latest_run["big"].task
before = _status("VmRSS")
t0 = time.perf_counter()
a = task.data.a
load = time.perf_counter() - t0
loaded = _status("VmRSS")
t1 = time.perf_counter()
a.sum()
first_pass = time.perf_counter() - t1
print(json.dumps({"load_s": load, "first_pass_s": first_pass, "nbytes": a.nbytes,
                  "added_by_load": loaded - before, "added_after_pass": _status("VmRSS") - before}))
""".replace("__FLOW__", FLOW)


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--gib", type=float, default=4.0, help="the value's size in GiB")
    args = p.parse_args()
    n = int(args.gib * 2**30) // 8
    result: dict[str, object] = {"bench": "nbflow_big", "bytes": n * 8}
    for kind, value in VALUES.items():
        with scratch(f"nb-big-{kind}") as root:
            store = root / "store"
            _, out = run_python(PERSIST.replace("__VALUE__", value.format(n=n)), datastore=store)
            persisted = last_json(out)
            peak = (persisted["peak"] - persisted["before"]) / (n * 8)
            _, out = run_python(LOAD, datastore=store)
            loaded = last_json(out)
            if loaded["nbytes"] != n * 8:
                raise SystemExit(f"{kind}: loaded {loaded['nbytes']} bytes, bound {n * 8}")
            added, after_pass = loaded["added_by_load"] >> 20, loaded["added_after_pass"] >> 20
            log(
                f"{kind}: peak {peak:.2f}x the value while persisting "
                f"({persisted['wall_s']:.2f} s); load {loaded['load_s'] * 1000:.0f} ms adds "
                f"{added} MiB, {after_pass} MiB after a first pass"
            )
            result |= {
                f"{kind}_peak_over_value": peak,
                f"{kind}_persist_s": persisted["wall_s"],
                f"{kind}_load_s": loaded["load_s"],
                f"{kind}_load_added_bytes": loaded["added_by_load"],
                f"{kind}_first_pass_s": loaded["first_pass_s"],
                f"{kind}_after_pass_added_bytes": loaded["added_after_pass"],
            }
    emit(result, args.json)


if __name__ == "__main__":
    main()
