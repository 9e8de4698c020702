#!/usr/bin/env python3
"""nbflow from the command line: `nbflow run` of a notebook of trivial step cells against
plain papermill on the same notebook without nbflow, whole commands, in subprocesses.

The nbflow notebook: a cell `%load_ext nbflow`, then N step cells with the small artifacts of
the Metaflow anchor bench/anchors/mf_linear.py (`%%step start` `x = 0`, `msg = 'hello'`,
`cfg = {'lr': 0.1}`; `%%step s1 --after start` `x = x + 1`, `s1 = [1] * 3`; ...; `end`). The
plain one: the same N cells without the magics. Timed, whole process:

* `.venv/bin/nbflow run bench_run<N>.ipynb`, each time into a datastore of its own in a temp dir,
  with NBFLOW_CACHE=off (which `nbflow run` ignores for step cells today: the fresh datastore is
  what makes every step really run; checked through the client for every timed run: the run
  `done`, N tasks `done`, x == N - 1);
* the anchor, `papermill plain<N>.ipynb out.ipynb` of the anchors venv (papermill 2.7 alone in
  its own venv, as ANCHORS.md measured it: its 0.8 s `import papermill` is imports.py's figure);
* as a detail, `.venv/bin/papermill`: the same papermill that `nbflow run` drives, with the
  project venv's kernel.

N = 10 and 50 (--steps, --steps-more; bench/run --smoke: 3 and 5); one warm-up of each command
(unless --no-warmup), then --repeat (5) rounds of all six, interleaved; medians. Target (issue
4): nbflow run at most 1.2x papermill at N = 10. Also each one's cost per further cell,
(T_50 - T_10) / 40: papermill rewrites the output notebook at every cell, nbflow run does not
(40 cells rather than 20: a few ms per cell against ~0.1 s of noise). The N = 10 `nbflow run`
is also bench/run's "10-step linear flow, whole process" against Metaflow's whole `run`.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness import (
    ANCHORS_PAPERMILL,
    NBFLOW_CLI,
    VENV_PAPERMILL,
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

TOOLS = ("nbflow", "papermill", "venv_papermill")
RUN_LINE = re.compile(r"^run (\S+): (\w+)", re.MULTILINE)


def cells(n: int) -> tuple[list[str], list[str]]:
    """(the nbflow notebook's cells, the plain notebook's cells) for n steps."""
    names = ["start"] + [f"s{i}" for i in range(1, n - 1)] + ["end"]
    plain = ["x = 0\nmsg = 'hello'\ncfg = {'lr': 0.1}"]
    plain += [f"x = x + 1\ns{i} = [{i}] * 3" for i in range(1, n)]
    steps = [
        f"%%step {name}" + (f" --after {names[i - 1]}" if i else "") + f"\n{body}"
        for i, (name, body) in enumerate(zip(names, plain, strict=True))
    ]
    return ["%load_ext nbflow", *steps], plain


def commands(tmp: Path, n: int) -> dict[str, list[str]]:
    """The three commands for n steps, by tool; the notebooks written into tmp."""
    flow_cells, plain_cells = cells(n)
    nb = write_notebook(tmp / f"bench_run{n}.ipynb", flow_cells)
    plain = str(write_notebook(tmp / f"plain{n}.ipynb", plain_cells))
    return {
        "nbflow": [executable(NBFLOW_CLI), "run", str(nb)],
        "papermill": [executable(ANCHORS_PAPERMILL), plain, str(tmp / f"out{n}.ipynb")],
        "venv_papermill": [executable(VENV_PAPERMILL), plain, str(tmp / f"out-venv{n}.ipynb")],
    }


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--steps", type=int, default=10, help="step cells of the smaller notebook")
    p.add_argument("--steps-more", type=int, default=50, help="step cells of the larger one")
    args = p.parse_args()
    sizes = (args.steps, args.steps_more)
    with scratch("nb-cli-run") as tmp:
        cases = {(tool, n): cmd for n in sizes for tool, cmd in commands(tmp, n).items()}
        made: dict[int, list[tuple[Path, str]]] = {n: [] for n in sizes}  # nbflow's (store, stdout)
        count = iter(range(1_000_000))

        def timed(tool: str, n: int) -> float:
            # Every command gets a datastore of its own (papermill's kernel ignores it):
            # `nbflow run` takes the step cells' tasks from the cache even with NBFLOW_CACHE=off,
            # so a datastore shared between repetitions would time cache hits (checked below).
            store = tmp / f"store-{next(count)}"
            env = child_env(store, cache=False)
            dt, out = run_timed(cases[tool, n], env=env, cwd=tmp, timeout=300)
            if tool == "nbflow":
                made[n].append((store, out))
            return dt

        # page cache, .pyc, the datastores
        warm = {f"{t}{n}": timed(t, n) for t, n in cases} if args.warmup else {}
        times: dict[tuple[str, int], list[float]] = {case: [] for case in cases}
        for r in range(args.repeat):
            for case in cases:
                times[case].append(timed(*case))
            log(
                f"round {r + 1}/{args.repeat}: "
                + ", ".join(f"{t} {n}: {v[-1]:.2f} s" for (t, n), v in times.items())
            )

        # every step of every timed run really ran (`done`, not `cached`) and computed x
        for n in sizes:
            for store, out in made[n]:
                m = RUN_LINE.search(out)
                if m is None:
                    raise BenchError(
                        f"no 'run FLOW/ID: status' line in `nbflow run`'s output:\n{out}"
                    )
                check = run_summary(store, m.group(1), "x")
                if (
                    check["run_status"] != "done"
                    or check["task_statuses"] != {"done": n}
                    or check["x"] != n - 1
                ):
                    raise SystemExit(f"wrong result of `nbflow run` ({n} steps): {check}")

    med = {case: median(v) for case, v in times.items()}
    lo, hi = sizes
    slope = {t: (med[t, hi] - med[t, lo]) / (hi - lo) for t in TOOLS}
    result = {
        "bench": "nbflow_cli_run",
        "steps": lo,
        "steps_more": hi,
        "run_s": med["nbflow", lo],
        "papermill_s": med["papermill", lo],
        "venv_papermill_s": med["venv_papermill", lo],
        "over_papermill": med["nbflow", lo] / med["papermill", lo],
        "over_venv_papermill": med["nbflow", lo] / med["venv_papermill", lo],
        "run_more_s": med["nbflow", hi],
        "papermill_more_s": med["papermill", hi],
        "venv_papermill_more_s": med["venv_papermill", hi],
        "over_papermill_more": med["nbflow", hi] / med["papermill", hi],
        "per_cell_s": slope["nbflow"],
        "papermill_per_cell_s": slope["papermill"],
        "venv_papermill_per_cell_s": slope["venv_papermill"],
        "warmup_s": warm,
        "runs_s": {f"{t}{n}": v for (t, n), v in times.items()},
        "flow_run_id": check["run_id"],  # of the last one
        "task_statuses": check["task_statuses"],
    }
    log(
        f"nbflow run, {lo} steps: {med['nbflow', lo]:.2f} s vs papermill "
        f"{med['papermill', lo]:.2f} s ({result['over_papermill']:.2f}x); per further cell: "
        f"nbflow {slope['nbflow'] * 1e3:.1f} ms, papermill {slope['papermill'] * 1e3:.1f} ms"
    )
    emit(result, args.json)


if __name__ == "__main__":
    main()
