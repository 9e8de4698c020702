#!/usr/bin/env python3
"""Anchor (5): whole-process time of `python -c "import metaflow"` (and of papermill, and of
`python -c pass` for the interpreter floor), with the anchors venv's python. Runs interleaved,
one warm-up each (unless --no-warmup), medians.
"""

from __future__ import annotations

from common import cli, emit, log, median, run_python

CASES = {"pass": "pass", "metaflow": "import metaflow", "papermill": "import papermill"}


def main() -> None:
    p = cli(__doc__)
    p.set_defaults(repeat=5)
    args = p.parse_args()
    times: dict[str, list[float]] = {k: [] for k in CASES}
    for code in CASES.values() if args.warmup else ():  # warm-up: page cache, .pyc files
        run_python(code)
    for _ in range(args.repeat):
        for k, code in CASES.items():
            times[k].append(run_python(code)[0])
    med = {k: median(v) for k, v in times.items()}
    log(
        f"python -c pass {med['pass']:.3f} s, import metaflow {med['metaflow']:.3f} s,"
        f" import papermill {med['papermill']:.3f} s"
    )
    emit(
        {
            "anchor": "import_time",
            "pass_s": med["pass"],
            "metaflow_s": med["metaflow"],
            "metaflow_net_s": med["metaflow"] - med["pass"],
            "papermill_s": med["papermill"],
        },
        args.json,
    )


if __name__ == "__main__":
    main()
