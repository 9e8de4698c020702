#!/usr/bin/env python3
"""nbflow: a 10-step linear flow with small artifacts, whole `%flow run` inside the kernel.

The ten step cells (start, s1..s8, end: the same artifacts as the Metaflow anchor) are run once
each to register them, as a user does; then `%flow run` is timed: one warm-up, then --repeat
(11) runs, median. The last run is checked through the client (status, the final value, and
every task `done`: really run, since the harness keeps the cross-run cache off).
Target (issue 2): at most 50 ms.
"""

from __future__ import annotations

from harness import Kernel, cli, emit, log, median, run_statuses, scratch

STEPS = 10
FLOW = "bench_linear"


def step_cells() -> list[tuple[str, str]]:
    names = ["start"] + [f"s{i}" for i in range(1, STEPS - 1)] + ["end"]
    cells = []
    for i, name in enumerate(names):
        if i == 0:
            cells.append((name, "%%step start\nx = 0\nmsg = 'hello'\ncfg = {'lr': 0.1}"))
        else:
            cells.append(
                (name, f"%%step {name} --after {names[i - 1]}\nx = x + 1\ns{i} = [{i}] * 3")
            )
    return cells


def main() -> None:
    p = cli(__doc__)
    p.set_defaults(repeat=11)
    args = p.parse_args()
    with scratch("nb-linear") as store:
        k = Kernel(store)
        k.cell(f"%flow name {FLOW}")
        cells = step_cells()
        register = [k.cell(src) for _, src in cells]
        first = k.cell("%flow run")
        times = [k.cell("%flow run") for _ in range(args.repeat)]
        check = run_statuses(FLOW, [n for n, _ in cells])
        from nbflow import Flow

        x = Flow(FLOW).latest_run.data.x
        # every task really ran (`done`; not `cached`: the cross-run cache is off)
        if (
            x != STEPS - 1
            or check["run_status"] != "done"
            or check["task_statuses"] != {"done": STEPS}
        ):
            raise SystemExit(f"wrong result: x={x!r}, {check}")
        log(
            f"nbflow linear {STEPS} steps: %flow run median {median(times) * 1e3:.1f} ms "
            f"(first {first * 1e3:.1f} ms), step cells {median(register) * 1e3:.1f} ms each; "
            f"{check}"
        )
        emit(
            {
                "bench": "nbflow_linear10",
                "steps": STEPS,
                "run_s": median(times),
                "first_run_s": first,
                "step_cell_s": median(register),
                "runs_s": times,
                **check,
            },
            args.json,
        )


if __name__ == "__main__":
    main()
