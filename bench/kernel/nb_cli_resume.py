#!/usr/bin/env python3
"""nbflow from the command line: `nbflow resume` of a 5-step notebook whose 4th step failed,
whole process: the same work as the Metaflow anchor's `python flow.py resume` (mf_resume.py).

The notebook: `%load_ext nbflow`, `%flow name bench_cli_resume`, `import os`, then the five
step cells of bench/kernel/nb_resume.py (start, a, b, c, end; small artifacts; c raises unless
a marker file exists). --repeat times (5), each in a datastore of its own: `.venv/bin/nbflow run
nb.ipynb` without the marker (fails at c, exit 1; its time is a detail), create the marker, then
time `.venv/bin/nbflow resume nb.ipynb` (a fresh kernel runs the notebook; the step cells only
register and a last cell `%flow resume`s the failed run: start, a, b taken over, c and end run
again). Each resumed run is checked through the client: done, three tasks taken over (`cached`),
two `done`, x == 4. Median. No target of its own: the in-kernel overhead is nb_resume.py's.
"""

from __future__ import annotations

import re
import time

from harness import (
    NBFLOW_CLI,
    BenchError,
    child_env,
    cli,
    emit,
    executable,
    log,
    median,
    run_summary,
    run_timed,
    scratch,
    write_notebook,
)
from nb_resume import step_cells

FLOW = "bench_cli_resume"
RUN_LINE = re.compile(r"^run (\S+): (\w+)", re.MULTILINE)


def main() -> None:
    p = cli(__doc__)
    args = p.parse_args()
    nbflow = executable(NBFLOW_CLI)
    resumes, fails = [], []
    with scratch("nb-cli-resume") as tmp:
        marker = tmp / "marker"
        nb = write_notebook(
            tmp / "bench_resume.ipynb",
            ["%load_ext nbflow", f"%flow name {FLOW}", "import os", *step_cells(marker)],
        )
        for r in range(args.repeat):
            env = child_env(tmp / f"store-{r}", cache=False)
            marker.unlink(missing_ok=True)
            t0 = time.perf_counter()
            try:
                run_timed([nbflow, "run", str(nb)], env=env, cwd=tmp, timeout=300)
            except BenchError as error:
                if "step c fails" not in str(error):
                    raise
            else:
                raise BenchError("`nbflow run` did not fail at step c")
            fails.append(time.perf_counter() - t0)
            marker.touch()
            dt, out = run_timed([nbflow, "resume", str(nb)], env=env, cwd=tmp, timeout=300)
            resumes.append(dt)
            m = RUN_LINE.search(out)
            if m is None:
                raise BenchError(
                    f"no 'run FLOW/ID: status' line in `nbflow resume`'s output:\n{out}"
                )
            check = run_summary(tmp / f"store-{r}", m.group(1), "x")
            if (
                check["run_status"] != "done"
                or check["task_statuses"] != {"cached": 3, "done": 2}
                or check["x"] != 4
            ):
                raise SystemExit(f"wrong resumed run: {check}")
            log(
                f"nbflow resume {r + 1}/{args.repeat}: {dt:.2f} s ({check['run_id']}; the failing "
                f"`nbflow run` {fails[-1]:.2f} s)"
            )
    emit(
        {
            "bench": "nbflow_cli_resume",
            "steps": 5,
            "failed_step": 4,
            "resume_s": median(resumes),
            "failing_run_s": median(fails),
            "resume_runs_s": resumes,
            **check,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
