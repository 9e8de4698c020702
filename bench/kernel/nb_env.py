#!/usr/bin/env python3
"""nbflow step environments (issue 8): building one that uv has cached, and what running a step
in one adds over the processes executor.

Build: `environments.ensure(["pandas==2.2.3"])` into a fresh nbflow cache (uv's own cache warm:
one build happens first), against the anchor measured in turns: uv alone making the same
environment (`uv venv` + `uv pip install` of the same packages) in a temp folder. nbflow's figure
includes what it adds (probing the interpreter, `uv pip freeze`, the marker, the lock). Found:
`ensure` of an environment that exists (a fresh kernel's first step: the in-process memo cleared).

Step: in the kernel (in-process IPython shell), a flow of two steps, `start` (x = 1) and `work`
(imports pandas, y = x + 1), `%flow run --executor processes --workers 1` timed --repeat times,
alternating: `work` with `--env "pandas==2.2.3"`, and `work` plain on the processes executor.
Each environment run is timed twice: cold (the kernel's environment workers closed first, so
a worker is spawned with the environment's interpreter and imports pandas there, as in a fresh
kernel) and warm (the worker kept from the run before). Medians. Target: an environment's step
adds at most 0.5 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Kernel, cli, emit, log, median, run_statuses, scratch

FLOW = "bench_env"
REQUIREMENT = "pandas==2.2.3"


def uv_alone(uv: str, packages: list[str]) -> float:
    """The anchor: uv making the same environment, nothing else."""
    folder = Path(tempfile.mkdtemp(prefix="nbflow-bench-uv-"))
    target = folder / "env"
    t0 = time.perf_counter()
    python = str(target / "bin" / "python")
    for command in (
        [uv, "venv", "--quiet", "--relocatable", "--python", sys.executable, str(target)],
        [uv, "pip", "install", "--python", python, *packages],
    ):
        subprocess.run(command, check=True, capture_output=True)
    dt = time.perf_counter() - t0
    shutil.rmtree(folder)
    return dt


def nbflow_build(cache: Path) -> tuple[float, float]:
    """(build seconds, found seconds) in a fresh nbflow cache folder."""
    from nbflow.run import environments

    os.environ["NBFLOW_CACHE_DIR"] = str(cache)
    environments._known.clear()
    t0 = time.perf_counter()
    environments.ensure([REQUIREMENT])
    built = time.perf_counter() - t0
    for compiling in environments._compiling:  # its bytecode, compiled in the background
        compiling.wait()  # done before anything else is timed
    environments._known.clear()  # as a fresh kernel: the folder is there, not yet in memory
    t0 = time.perf_counter()
    environments.ensure([REQUIREMENT])
    return built, time.perf_counter() - t0


def define(k: Kernel, env: bool) -> None:
    option = f' --env "{REQUIREMENT}"' if env else ""
    k.cell("%flow name " + FLOW)
    k.cell("%%step start\nx = 1")
    k.cell(f"%%step work --after start{option}\nimport pandas\ny = x + 1\nv = pandas.__version__")


def timed_run(k: Kernel) -> float:
    dt = k.cell("%flow run --executor processes --workers 1")
    check = run_statuses(FLOW, ["start", "work"])
    if check["task_statuses"] != {"done": 2}:
        raise SystemExit(f"the run did not run both tasks: {check}")
    return dt


def main() -> None:
    p = cli(__doc__)
    p.set_defaults(repeat=5)
    args = p.parse_args()
    from nbflow.run import environments
    from nbflow.run.executors.environment import close_pools

    uv = environments.uv_bin()
    packages = [REQUIREMENT, *environments.worker_packages()]
    with scratch("nb-env") as root:
        log("warming uv's cache (one build, not timed)")
        nbflow_build(root / "warm")
        builds, founds, anchors = [], [], []
        for i in range(max(1, min(args.repeat, 3))):
            anchors.append(uv_alone(uv, packages))
            built, found = nbflow_build(root / f"cache{i}")
            builds.append(built)
            founds.append(found)
        log(f"build {median(builds):.2f} s (uv alone {median(anchors):.2f} s), found "
            f"{median(founds) * 1e3:.1f} ms")  # fmt: skip

        os.environ["NBFLOW_CACHE_DIR"] = str(root / "cache0")
        k = Kernel(root / "store")
        cold, warm, plain = [], [], []
        versions = set()
        for _ in range(args.repeat):
            define(k, env=True)
            close_pools()
            cold.append(timed_run(k))
            warm.append(timed_run(k))
            versions.add(k.ns()["v"])
            define(k, env=False)
            plain.append(timed_run(k))
            if k.ns()["v"] == "2.2.3":
                raise SystemExit("the plain step ran in the environment")
        close_pools()
        if versions != {"2.2.3"}:
            raise SystemExit(f"the step did not run in its environment: {versions}")
        cold_s, warm_s, proc_s = median(cold), median(warm), median(plain)
        log(f"runs: environment cold {cold_s:.3f} s, warm {warm_s:.3f} s; processes {proc_s:.3f} s")
        emit(
            {
                "bench": "nbflow_env",
                "build_s": median(builds),
                "uv_alone_s": median(anchors),
                "found_s": median(founds),
                "run_env_cold_s": cold_s,
                "run_env_warm_s": warm_s,
                "run_processes_s": proc_s,
                "cold_added_s": cold_s - proc_s,
                "warm_added_s": warm_s - proc_s,
                "builds_s": builds,
                "uv_alone_runs_s": anchors,
            },
            args.json,
        )


if __name__ == "__main__":
    main()
