#!/usr/bin/env python3
"""Anchor: Metaflow `resume` of a 5-step linear flow whose 4th step failed.

Steps start, a, b, c, end with small artifacts (as bench/kernel/nb_resume.py); c raises unless a
marker file exists. --repeat times, each in a fresh METAFLOW_HOME and datastore: `python flow.py
run` without the marker (fails at c; its time is a detail), create the marker, then time
`python flow.py resume` (clones start, a, b; runs c and end again), whole process. The resumed
run is checked through Metaflow's client (successful, x == 4). Median.
"""

from __future__ import annotations

import time

from common import BenchError, cli, emit, log, median, metaflow_flow, run_client, run_flow

# the marker beside the flow file (its temp dir), as the nbflow cell names a file in its store
HEADER = """
import os

MARKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "marker")
"""

STEPS = """
@step
def start(self):
    self.x = 0
    self.msg = "hello"
    self.next(self.a)

@step
def a(self):
    self.x = self.x + 1
    self.sa = [1] * 3
    self.next(self.b)

@step
def b(self):
    self.x = self.x + 1
    self.sb = [2] * 3
    self.next(self.c)

@step
def c(self):
    if not os.path.exists(MARKER):
        raise RuntimeError("step c fails until the marker exists")
    self.x = self.x + 1
    self.next(self.end)
"""

CHECK = """
run = Flow("ResumeFlow").latest_run
print(json.dumps({"id": run.pathspec, "successful": run.successful, "x": run.data.x}))
"""


def main() -> None:
    p = cli(__doc__)
    args = p.parse_args()
    resumes, fails = [], []
    for r in range(args.repeat):
        with metaflow_flow("mf-resume", "ResumeFlow", STEPS, HEADER, "self.x = self.x + 1") as (
            home,
            flow,
        ):
            t0 = time.perf_counter()
            try:
                run_flow(home, flow)
            except BenchError as error:
                if "step c fails" not in str(error):
                    raise
            else:
                raise BenchError("the Metaflow run did not fail at step c")
            fails.append(time.perf_counter() - t0)
            (home / "marker").touch()
            resumes.append(run_flow(home, flow, command="resume"))
            _, check = run_client(home, CHECK)
            if not check["successful"] or check["x"] != 4:
                raise BenchError(f"wrong resumed run: {check}")
        log(
            f"metaflow resume {r + 1}/{args.repeat}: {resumes[-1]:.2f} s ({check['id']}; the "
            f"failing run {fails[-1]:.2f} s)"
        )
    emit(
        {
            "anchor": "metaflow_resume",
            "steps": 5,
            "failed_step": 4,
            "resume_s": median(resumes),
            "failing_run_s": median(fails),
            "resume_runs_s": resumes,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
