#!/usr/bin/env python3
"""nbflow start-up costs, each in fresh processes of the repo's venv (cwd: the repo).

* `python -c "import nbflow"` whole process, minus `python -c pass` (interleaved, one warm-up
  unless --no-warmup, median of --repeat). Target (issue 2): at most 0.15 s.
* `%load_ext nbflow` in a fresh IPython shell: a fresh process makes
  `InteractiveShell.instance()` (not timed) and times `run_cell("%load_ext nbflow")`.
  Target: at most 0.3 s. As a detail, the first step cell after it (`%%step start\\nx = 1`).
"""

from __future__ import annotations

from harness import REPO, cli, emit, last_json, log, median, run_python, scratch

LOAD_EXT = """
import json, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
t0 = time.perf_counter()
r = shell.run_cell("%load_ext nbflow")
t1 = time.perf_counter()
r.raise_error()
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):
    t2 = time.perf_counter()
    r = shell.run_cell("%%step start\\nx = 1", store_history=True)
    t3 = time.perf_counter()
r.raise_error()
print(json.dumps({"load_ext_s": t1 - t0, "first_step_cell_s": t3 - t2}))
"""


def main() -> None:
    args = cli(__doc__).parse_args()
    cases = {"pass": "pass", "nbflow": "import nbflow"}
    times: dict[str, list[float]] = {k: [] for k in cases}
    for code in cases.values() if args.warmup else ():
        run_python(code, cwd=REPO)  # warm-up (.pyc files, page cache)
    for _ in range(args.repeat):
        for k, code in cases.items():
            times[k].append(run_python(code, cwd=REPO)[0])

    load_ext, first_cell = [], []
    for i in range(args.repeat + args.warmup):
        with scratch("nb-startup") as store:
            _, out = run_python(LOAD_EXT, datastore=store, cwd=REPO)
        res = last_json(out)
        if i or not args.warmup:  # the first is a warm-up
            load_ext.append(res["load_ext_s"])
            first_cell.append(res["first_step_cell_s"])

    med = {k: median(v) for k, v in times.items()}
    result = {
        "bench": "nbflow_startup",
        "import_s": med["nbflow"] - med["pass"],
        "import_whole_process_s": med["nbflow"],
        "pass_s": med["pass"],
        "load_ext_s": median(load_ext),
        "first_step_cell_s": median(first_cell),
        "load_ext_runs_s": load_ext,
    }
    log(
        f"import nbflow {result['import_s']:.3f} s over `pass` ({med['nbflow']:.3f} s whole); "
        f"%load_ext nbflow {result['load_ext_s']:.3f} s; "
        f"first step cell {result['first_step_cell_s']:.3f} s"
    )
    emit(result, args.json)


if __name__ == "__main__":
    main()
