#!/usr/bin/env python3
"""nbflow: `%flow resume` of a 5-step linear flow whose 4th step failed, inside the kernel.

Steps start, a, b, c, end (small artifacts, as the Metaflow anchor mf_resume.py); c raises
unless a marker file exists. The five cells are registered with the marker present; then,
--repeat times: remove the marker, `%flow run` (fails at c), create the marker, and time
`%flow resume` (a new run: start, a, b taken over, c and end run again). Each resumed run is
checked through the client: done, three tasks `cached` (taken over), two `done`, x == 4.

Reported: the resume's wall time, and the overhead beyond re-running the failed steps = resume
wall time − the own durations (finished_at − started_at) of the re-run tasks c and end; medians.
Target (issue 3): overhead at most 50 ms. The cross-run cache is off (harness): c and end
really run again.
"""

from __future__ import annotations

from pathlib import Path

from harness import Kernel, cli, emit, log, median, run_statuses, scratch, task_times

FLOW = "bench_resume"
STEPS = ["start", "a", "b", "c", "end"]


def step_cells(marker: Path) -> list[str]:
    return [
        "%%step start\nx = 0\nmsg = 'hello'",
        "%%step a --after start\nx = x + 1\nsa = [1] * 3",
        "%%step b --after a\nx = x + 1\nsb = [2] * 3",
        f"%%step c --after b\nif not os.path.exists({str(marker)!r}):\n"
        "    raise RuntimeError('step c fails until the marker exists')\nx = x + 1",
        "%%step end --after c\nx = x + 1",
    ]


def main() -> None:
    p = cli(__doc__)
    p.set_defaults(repeat=11)
    args = p.parse_args()
    with scratch("nb-resume") as store:
        marker = store / "marker"
        k = Kernel(store)
        k.cell(f"%flow name {FLOW}")
        k.cell("import os")
        marker.touch()
        for src in step_cells(marker):
            k.cell(src)
        walls, overheads, reruns, fails = [], [], [], []
        for _ in range(args.repeat):
            marker.unlink()
            dt, err = k.failing_cell("%flow run --executor kernel")
            if "step c fails" not in str(err):
                raise SystemExit(f"the run failed, but not at step c: {err!r}")
            fails.append(dt)
            marker.touch()
            wall = k.cell("%flow resume --executor kernel")
            check = run_statuses(FLOW, STEPS)
            rerun = [t for s in ("c", "end") for t in task_times(FLOW, s)]
            from nbflow import Flow

            x = Flow(FLOW).latest_run.data.x
            if (
                check["run_status"] != "done"
                or check["task_statuses"] != {"cached": 3, "done": 2}
                or [st for _, _, st in rerun] != ["done", "done"]
                or x != 4
            ):
                raise SystemExit(f"wrong resumed run: x={x!r}, {check}")
            own = sum(b - a for a, b, _ in rerun)
            walls.append(wall)
            reruns.append(own)
            overheads.append(wall - own)
        log(
            f"nbflow resume: median {median(walls) * 1e3:.1f} ms, overhead beyond c and end "
            f"{median(overheads) * 1e3:.1f} ms (their own time {median(reruns) * 1e3:.2f} ms); "
            f"the failing run {median(fails) * 1e3:.1f} ms; {check}"
        )
        emit(
            {
                "bench": "nbflow_resume",
                "steps": len(STEPS),
                "failed_step": 4,
                "resume_s": median(walls),
                "overhead_s": median(overheads),
                "rerun_tasks_s": median(reruns),
                "failing_run_s": median(fails),
                "resume_runs_s": walls,
                "overhead_runs_s": overheads,
                **check,
            },
            args.json,
        )


if __name__ == "__main__":
    main()
