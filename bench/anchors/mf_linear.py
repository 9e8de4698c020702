#!/usr/bin/env python3
"""Anchor (1): a 10-step linear Metaflow flow with small artifacts, whole `run`, median."""

from __future__ import annotations

from common import cli, emit, log, median, metaflow_flow, run_flow

STEPS = 10


def flow_body() -> tuple[str, str]:
    """(the steps start, s1..s8; the body of the step end) of LinearFlow."""
    names = ["start"] + [f"s{i}" for i in range(1, STEPS - 1)] + ["end"]
    lines = []
    for i, name in enumerate(names[:-1]):
        lines += ["@step", f"def {name}(self):"]
        if i == 0:
            lines += ["    self.x = 0", "    self.msg = 'hello'", "    self.cfg = {'lr': 0.1}"]
        else:
            lines += ["    self.x = self.x + 1", f"    self.s{i} = [{i}] * 3"]
        lines += [f"    self.next(self.{names[i + 1]})", ""]
    i = STEPS - 1
    return "\n".join(lines), f"self.x = self.x + 1\nself.s{i} = [{i}] * 3\npass"


def main() -> None:
    args = cli(__doc__).parse_args()
    times = []
    for r in range(args.repeat):
        body, end = flow_body()
        with metaflow_flow("mf-linear", "LinearFlow", body, end=end) as (home, flow):
            times.append(run_flow(home, flow))
        log(f"metaflow linear {STEPS} steps, run {r + 1}/{args.repeat}: {times[-1]:.2f} s")
    emit(
        {
            "anchor": "metaflow_linear10",
            "steps": STEPS,
            "run_s": median(times),
            "per_task_s": median(times) / STEPS,
            "runs_s": times,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
