#!/usr/bin/env python3
"""Anchor (1): a 10-step linear Metaflow flow with small artifacts, whole `run`, median."""

from __future__ import annotations

from common import cli, emit, log, median, rmtree, run_flow, scratch_dir, write_flow

STEPS = 10


def flow_source() -> str:
    names = ["start"] + [f"s{i}" for i in range(1, STEPS - 1)] + ["end"]
    lines = [
        "from metaflow import FlowSpec, step",
        "",
        "",
        "class LinearFlow(FlowSpec):",
    ]
    for i, name in enumerate(names):
        nxt = names[i + 1] if i + 1 < len(names) else None
        lines += ["    @step", f"    def {name}(self):"]
        if i == 0:
            lines += [
                "        self.x = 0",
                "        self.msg = 'hello'",
                "        self.cfg = {'lr': 0.1}",
            ]
        else:
            lines += ["        self.x = self.x + 1", f"        self.s{i} = [{i}] * 3"]
        lines += [f"        self.next(self.{nxt})" if nxt else "        pass", ""]
    lines += ["", "if __name__ == '__main__':", "    LinearFlow()", ""]
    return "\n".join(lines)


def main() -> None:
    args = cli(__doc__).parse_args()
    times = []
    for r in range(args.repeat):
        home = scratch_dir("mf-linear")
        try:
            flow = write_flow(home, "LinearFlow", flow_source())
            times.append(run_flow(home, flow))
            log(f"metaflow linear {STEPS} steps, run {r + 1}/{args.repeat}: {times[-1]:.2f} s")
        finally:
            rmtree(home)
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
