"""One of several processes that make runs of one flow in one datastore at the same moment.

    python shell_worker.py BARRIER_DIR WORKER_INDEX PARTIES [FLOW_RUNS]   (NBFLOW_DATASTORE)

An in-process IPython shell loads nbflow, then waits until every party is ready (a file per
worker in BARRIER_DIR; other processes, such as a batch's kernels, may wait there too) so that
all start together. Then it makes its runs: "Run All" of the
step cells (one interactive run), then `%flow run` FLOW_RUNS times (default 2). Its size
parameter differs per worker, so each run's results show which worker made it. Prints one
JSON line: the run ids it got and every error any cell raised.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

BARRIER_TIMEOUT = 60.0

CELLS = [
    "%%params\nsize = {size}",
    # `shared` is the same in every run of every worker: stored once, however many write it.
    "%%step start\nitems = list(range(size))\nshared = bytes(range(256)) * 1024",
    "%%step work --after start --foreach items\nsquare = item * item",
    "%%step total --after work --join\ntotal = sum(inp.square for inp in inputs)\nprint(total)",
]


def main(barrier: Path, index: int, workers: int, flow_runs: int) -> None:
    shell = InteractiveShell.instance()
    errors: list[str] = []

    def run(code: str) -> str:
        with capture_output() as captured:
            result = shell.run_cell(code)
        if not result.success:
            error = result.error_in_exec or result.error_before_exec
            errors.append(f"{type(error).__name__}: {error}")
        return captured.stdout + captured.stderr

    run("%load_ext nbflow\n%flow name race")
    (barrier / f"{index}.ready").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while len(list(barrier.glob("*.ready"))) < workers:
        if time.monotonic() > deadline:
            sys.exit("the other workers never got ready")
        time.sleep(0.002)

    runs = []
    out = ""
    for cell in CELLS:
        out = run(cell.format(size=20 + index))
    found = re.search(r"✓ total · 1 task · .* · run (race/\d+)", out)
    runs.append(found.group(1) if found else None)
    for _ in range(flow_runs):
        run("_run = %flow run")
        runs.append(shell.user_ns["_run"].pathspec if "_run" in shell.user_ns else None)
        shell.user_ns.pop("_run", None)
    print(json.dumps({"worker": index, "runs": runs, "errors": errors, "output": out}))


if __name__ == "__main__":
    flow_runs = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), flow_runs)
