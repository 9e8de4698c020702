"""bench/run's engine: runs the anchors and the nbflow benchmarks, prints one table.

Every benchmark script runs in its own process and prints one JSON line (--json); this file
only schedules them, collects the figures and prints them beside their targets and the anchors
measured in the same run. Results also go to bench/results/last.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import ANCHORS_PY, BENCH, BenchError, last_json

# From /work/shared/ANCHORS.md (Metaflow 2.19.39, same machine class), used only where this run
# does not measure the figure itself; every such use is marked "quoted".
QUOTED = {
    "metaflow_foreach_1000_s": 320.0,
    "metaflow_list_50_runs_s": 0.010,
}

TARGETS = {
    "linear": 0.050,
    "foreach": 2.0,
    "foreach_processes": 3.0,
    "cpu_speedup": 1.8,
    "resume_overhead": 0.050,
    "cache_hit_per_task": 0.005,
    "persist_x_np_save": 3.0,
    "load_x_np_load": 2.0,
    "import": 0.15,
    "load_ext": 0.3,
    "list": 0.050,
    "cli_run_x_papermill": 1.2,
    "batch_x_sequential": 0.6,
}


def jobs(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    py = sys.executable
    a, k = BENCH / "anchors", BENCH / "kernel"
    out = [("mf_linear", [py, str(a / "mf_linear.py"), "--json"])]
    if not args.quick:
        out.append(
            (
                "mf_foreach",
                [py, str(a / "mf_foreach.py"), "--json", *(["--full"] if args.full else [])],
            )
        )
    out += [
        ("mf_array", [py, str(a / "mf_array.py"), "--json"]),
        ("np_io", [py, str(a / "np_io.py"), "--json"]),
        ("imports", [py, str(a / "imports.py"), "--json"]),
        ("mf_list", [py, str(a / "mf_list.py"), "--json"]),
        ("mf_resume", [py, str(a / "mf_resume.py"), "--json"]),
        ("nb_linear", [py, str(k / "nb_linear.py"), "--json"]),
        ("nb_foreach", [py, str(k / "nb_foreach.py"), "--json"]),
        (
            "nb_foreach_proc",
            [py, str(k / "nb_foreach.py"), "--json", "--executor", "processes", "--workers", "2"],
        ),
        ("nb_cpu", [py, str(k / "nb_cpu.py"), "--json"]),
        ("nb_resume", [py, str(k / "nb_resume.py"), "--json"]),
        ("nb_cache", [py, str(k / "nb_cache.py"), "--json"]),
        ("nb_array", [py, str(k / "nb_array.py"), "--json"]),
        ("nb_startup", [py, str(k / "nb_startup.py"), "--json"]),
        ("nb_runs_list", [py, str(k / "nb_runs_list.py"), "--json"]),
        ("nb_cli_run", [py, str(k / "nb_cli_run.py"), "--json"]),
        ("nb_cli_batch", [py, str(k / "nb_cli_batch.py"), "--json"]),
    ]
    return out


def run_job(name: str, cmd: list[str]) -> dict[str, Any]:
    """Run one benchmark script; its progress (stderr) is shown as it comes."""
    print(f"▶ {name}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    tail: deque[str] = deque(maxlen=60)
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True, cwd=BENCH)
        assert proc.stderr is not None
        for line in proc.stderr:
            tail.append(line.rstrip("\n"))
            if line.startswith("  ["):  # the scripts' progress lines
                print(line, end="", file=sys.stderr, flush=True)
        rc = proc.wait()
        out.seek(0)
        stdout = out.read()
    wall = time.perf_counter() - t0
    if rc == 0:
        with contextlib.suppress(BenchError):
            return {**last_json(stdout), "_wall_s": wall}
    error = "\n".join(tail) or stdout[-3000:]
    print(f"  ✗ {name} failed (exit {rc}) after {wall:.1f} s", file=sys.stderr, flush=True)
    return {"_error": error, "_exit": rc, "_wall_s": wall}


# ---------------------------------------------------------------- formatting


def fs(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if abs(seconds) < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if abs(seconds) < 1:
        return f"{seconds * 1e3:.1f} ms" if abs(seconds) < 0.1 else f"{seconds * 1e3:.0f} ms"
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"


def fbytes(n: float | None) -> str:
    if n is None:
        return "—"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def fratio(anchor: float | None, ours: float | None) -> str:
    if anchor is None or ours is None or ours <= 0:
        return "—"
    r = anchor / ours
    return f"{r:.0f}×" if r >= 10 else f"{r:.1f}×"


def ok(res: dict[str, Any]) -> bool:
    return bool(res) and "_error" not in res


def foreach_anchor(
    mff: dict[str, Any] | None, args: argparse.Namespace
) -> tuple[float | None, str]:
    """Metaflow's 1,000-element foreach: (seconds, how it is shown): measured, extrapolated
    from N=100, or quoted from ANCHORS.md under --quick."""
    if args.quick or mff is None:
        anchor_s = QUOTED["metaflow_foreach_1000_s"]
        return anchor_s, f"Metaflow ~{fs(anchor_s)} (quoted, ANCHORS.md; not run: --quick)"
    if ok(mff) and not mff["extrapolated"]:
        return mff["est_1000_s"], f"Metaflow {fs(mff['est_1000_s'])} (N=1,000 measured)"
    if ok(mff):
        return mff["est_1000_s"], (
            f"Metaflow {fs(mff['est_1000_s'])} (extrapolated from N={mff['n']}: "
            f"{fs(mff['per_element_s'])}/element × 1,000)"
        )
    return None, "error"


def rows(r: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[list[str]]:
    out: list[list[str]] = []

    def add(bench: str, nb: str, target: str, anchor: str, ratio: str, met: bool | None) -> None:  # noqa: PLR0917
        out.append(
            [bench, nb, target, anchor, ratio, "—" if met is None else ("yes" if met else "NO")]
        )

    mfl, nbl = r.get("mf_linear", {}), r.get("nb_linear", {})
    add(
        "10-step linear flow, whole `%flow run`",
        fs(nbl["run_s"]) if ok(nbl) else "error",
        f"≤ {fs(TARGETS['linear'])}",
        f"Metaflow run {fs(mfl['run_s'])}" if ok(mfl) else "error",
        fratio(mfl.get("run_s"), nbl.get("run_s")) if ok(mfl) and ok(nbl) else "—",
        nbl["run_s"] <= TARGETS["linear"] if ok(nbl) else None,
    )

    anchor_s, anchor = foreach_anchor(r.get("mf_foreach"), args)
    for key, executor, target in (
        ("nb_foreach", "", "foreach"),
        ("nb_foreach_proc", ", processes executor, 2 workers", "foreach_processes"),
    ):
        nbf = r.get(key, {})
        add(
            f"foreach over {nbf.get('n', 1000):,} trivial elements + join{executor}, `%flow run`",
            fs(nbf["run_s"]) if ok(nbf) else "error",
            f"≤ {fs(TARGETS[target])}",
            anchor,
            fratio(anchor_s, nbf.get("run_s")) if ok(nbf) else "—",
            nbf["run_s"] <= TARGETS[target] if ok(nbf) else None,
        )

    cpu = r.get("nb_cpu", {})
    if ok(cpu):
        add(
            f"{cpu['elements']} CPU-bound elements (~{fs(cpu['element_s'])} each), processes "
            f"executor, {cpu['workers']} workers, {cpu['cores']} cores",
            f"{fs(cpu['processes_s'])} ({cpu['max_concurrent']} tasks at once, "
            f"{fs(cpu['overlap_s'])} overlapped)",
            f"≥ {TARGETS['cpu_speedup']}× faster than the kernel executor",
            f"nbflow kernel executor {fs(cpu['kernel_s'])} (plain Pool({cpu['workers']}) "
            f"{fs(cpu['pool_s'])}: {cpu['pool_speedup']:.2f}×)",
            f"{cpu['speedup']:.2f}×",
            cpu["speedup"] >= TARGETS["cpu_speedup"],
        )
    else:
        add("16 CPU-bound elements, processes vs kernel executor", "error", "", "—", "—", None)

    nbr_, mfr_ = r.get("nb_resume", {}), r.get("mf_resume", {})
    add(
        "`%flow resume` of a 5-step flow failed at step 4: overhead beyond re-running 4 and 5",
        f"{fs(nbr_['overhead_s'])} (whole resume {fs(nbr_['resume_s'])})" if ok(nbr_) else "error",
        f"≤ {fs(TARGETS['resume_overhead'])}",
        f"Metaflow `resume` {fs(mfr_['resume_s'])}" if ok(mfr_) else "error",
        (fratio(mfr_["resume_s"], nbr_["resume_s"]) + " (whole resume)")
        if ok(mfr_) and ok(nbr_)
        else "—",
        nbr_["overhead_s"] <= TARGETS["resume_overhead"] if ok(nbr_) else None,
    )

    nbc = r.get("nb_cache", {})
    add(
        f"cache hit, per task: 2nd `%flow run` of a {nbc.get('n', 200)}-element foreach, "
        "all `cached`",
        (
            f"{fs(nbc['per_task_s'])}/task ({fs(nbc['cached_run_s'])} for {nbc['tasks']} "
            f"tasks; 1st run {fs(nbc['first_run_s'])})"
        )
        if ok(nbc)
        else "error",
        f"≤ {fs(TARGETS['cache_hit_per_task'])}/task",
        "— (Metaflow has no cache)",
        "—",
        nbc["per_task_s"] <= TARGETS["cache_hit_per_task"] if ok(nbc) else None,
    )

    mfa, nba = r.get("mf_array", {}), r.get("nb_array", {})
    if ok(nba):
        limit = TARGETS["persist_x_np_save"] * nba["np_save_s"]
        add(
            "step binding a 256 MiB float64 array: extra persist time over a tiny value",
            fs(nba["persist_extra_s"]) + f" ({nba['persist_over_np_save']:.1f}× np.save)",
            f"≤ 3× np.save {fs(nba['np_save_s'])} = {fs(limit)}",
            f"Metaflow {fs(mfa['persist_s'])}" if ok(mfa) else "error",
            fratio(mfa.get("persist_s"), nba["persist_extra_s"]) if ok(mfa) else "—",
            nba["persist_extra_s"] <= limit,
        )
        limit = TARGETS["load_x_np_load"] * nba["np_load_fresh_s"]
        add(
            "load it in a fresh process (client attribute)",
            fs(nba["load_fresh_s"]) + f" ({nba['load_over_np_load']:.1f}× np.load)",
            f"≤ 2× np.load {fs(nba['np_load_fresh_s'])} = {fs(limit)}",
            (
                f"Metaflow client {fs(mfa['load_fresh_s'])} "
                f"({fs(mfa['load_fresh_warm_cache_s'])} from its cache)"
            )
            if ok(mfa)
            else "error",
            fratio(mfa.get("load_fresh_s"), nba["load_fresh_s"]) if ok(mfa) else "—",
            nba["load_fresh_s"] <= limit,
        )
        new = max(nba["rebind_cell_new_bytes"], nba["rebind_flow_run_new_bytes"])
        add(
            "bind the identical array again (cell re-run; `%flow run`): new bytes, extra time",
            f"+{fbytes(nba['rebind_cell_new_bytes'])}; +{fbytes(nba['rebind_flow_run_new_bytes'])}"
            f"; +{fs(nba['rebind_extra_s'])}",
            "no new array bytes (< 1 MiB)",
            (
                f"Metaflow +{fbytes(mfa['rebind_new_bytes'])}, +{fs(mfa['rebind_extra_s'])}"
                if ok(mfa)
                else "error"
            ),
            fratio(mfa.get("rebind_extra_s"), nba["rebind_extra_s"]) if ok(mfa) else "—",
            new < 2**20,
        )
    else:
        for b, key in (
            ("256 MiB array: extra persist time", "persist_s"),
            ("256 MiB array: load in a fresh process", "load_fresh_s"),
            ("256 MiB array: bind again (extra time)", "rebind_extra_s"),
        ):
            add(b, "error", "", f"Metaflow {fs(mfa[key])}" if ok(mfa) else "—", "—", None)

    imp, nbs = r.get("imports", {}), r.get("nb_startup", {})
    add(
        '`python -c "import nbflow"` minus `python -c pass`',
        fs(nbs["import_s"]) if ok(nbs) else "error",
        f"≤ {fs(TARGETS['import'])}",
        (f"import metaflow {fs(imp['metaflow_net_s'])} over pass ({fs(imp['metaflow_s'])} whole)")
        if ok(imp)
        else "error",
        fratio(imp.get("metaflow_net_s"), nbs.get("import_s")) if ok(imp) and ok(nbs) else "—",
        nbs["import_s"] <= TARGETS["import"] if ok(nbs) else None,
    )
    add(
        "`%load_ext nbflow` in a fresh shell",
        fs(nbs["load_ext_s"]) if ok(nbs) else "error",
        f"≤ {fs(TARGETS['load_ext'])}",
        "— (no equivalent)",
        "—",
        nbs["load_ext_s"] <= TARGETS["load_ext"] if ok(nbs) else None,
    )

    nbr, mfr = r.get("nb_runs_list", {}), r.get("mf_list", {})
    if ok(mfr):
        anchor_s = mfr["list_s"]
        anchor = f"Metaflow client {fs(anchor_s)} for {mfr['runs']} runs"
        n_mf = mfr["runs"]
    else:
        anchor_s = QUOTED["metaflow_list_50_runs_s"]
        anchor = f"Metaflow {fs(anchor_s)} for 50 runs (quoted, ANCHORS.md)"
        n_mf = 50
    n_nb = nbr.get("runs", 1000)
    per = ""
    if ok(nbr):
        per_run = fratio(anchor_s / n_mf, nbr["list_s"] / n_nb)
        per = f" ({n_mf} vs {n_nb:,} runs; {per_run} per run)"
    add(
        f"list {nbr.get('runs', 1000):,} runs through the client, in-process",
        fs(nbr["list_s"]) if ok(nbr) else "error",
        f"≤ {fs(TARGETS['list'])}",
        anchor,
        (fratio(anchor_s, nbr["list_s"]) + per) if ok(nbr) else "—",
        nbr["list_s"] <= TARGETS["list"] if ok(nbr) else None,
    )
    cli_rows(r, add)
    return out


def cli_rows(r: dict[str, dict[str, Any]], add: Callable[..., None]) -> None:
    """The command line: `nbflow run` against papermill, `nbflow batch` against xargs."""
    cr = r.get("nb_cli_run", {})
    limit = TARGETS["cli_run_x_papermill"]
    if ok(cr):
        add(
            f"`nbflow run` of a notebook of {cr['steps']} trivial step cells (+ `%load_ext`), "
            "whole command",
            f"{fs(cr['run_s'])} ({cr['over_papermill']:.2f}× papermill)",
            f"≤ {limit}× papermill = {fs(limit * cr['papermill_s'])}",
            f"papermill CLI (anchors venv) {fs(cr['papermill_s'])}, the same cells plain "
            "(ANCHORS.md: 2.3 s)",
            f"{cr['papermill_s'] / cr['run_s']:.2f}×",
            cr["over_papermill"] <= limit,
        )
        add(
            f"each further cell, {cr['steps']} → {cr['steps_more']} cells (`nbflow run`)",
            f"{fs(cr['per_cell_s'])}/cell ({cr['steps_more']} cells: {fs(cr['run_more_s'])}, "
            f"{cr['over_papermill_more']:.2f}× papermill)",
            "— (none of its own)",
            f"papermill {fs(cr['papermill_per_cell_s'])}/cell ({cr['steps_more']} cells: "
            f"{fs(cr['papermill_more_s'])}; ANCHORS.md: +65 ms)",
            fratio(cr["papermill_per_cell_s"], cr["per_cell_s"]),
            None,
        )
    else:
        add("`nbflow run` of 10 trivial step cells vs papermill", "error", "", "—", "—", None)
        add("each further cell (`nbflow run`)", "error", "", "—", "—", None)

    cb = r.get("nb_cli_batch", {})
    limit = TARGETS["batch_x_sequential"]
    if ok(cb):
        add(
            f"`nbflow batch` of {cb['runs']} runs (a step sleeping {cb['sleep_s']:g} s), "
            f"`--jobs {cb['jobs']}` vs `--jobs 1`, {cb['cores']} cores",
            f"{fs(cb['batch_s'])} vs {fs(cb['sequential_s'])}: {cb['ratio']:.2f}× sequential",
            f"≤ {limit}× sequential",
            f"papermill + xargs -P{cb['jobs']} {fs(cb['papermill_parallel_s'])} vs -P1 "
            f"{fs(cb['papermill_sequential_s'])}: {cb['papermill_ratio']:.2f}× (ANCHORS.md: "
            "14.6 s vs 22.0 s)",
            f"{cb['papermill_parallel_s'] / cb['batch_s']:.2f}× (parallel)",
            cb["ratio"] <= limit,
        )
    else:
        add("`nbflow batch` of 8 runs, --jobs 2 vs --jobs 1", "error", "", "—", "—", None)


def print_table(header: list[str], body: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in body:
        print(line(row))


def cli_run_detail(x: dict[str, Any]) -> str:
    lo, hi = x["steps"], x["steps_more"]
    runs = x["runs_s"]

    def each(key: str) -> str:
        return ", ".join(fs(v) for v in runs[key])

    return (
        f"nbflow run ({lo} / {hi} cells, a datastore of its own each time): {each(f'nbflow{lo}')}"
        f" / {each(f'nbflow{hi}')}; papermill, anchors venv: {each(f'papermill{lo}')} / "
        f"{each(f'papermill{hi}')}; the project venv's papermill (the one nbflow run drives): "
        f"{fs(x['venv_papermill_s'])} / {fs(x['venv_papermill_more_s'])}, "
        f"{fs(x['venv_papermill_per_cell_s'])}/cell (nbflow run {x['over_venv_papermill']:.2f}× "
        f"it); tasks of every run {x['task_statuses']}"
    )


def cli_batch_detail(x: dict[str, Any]) -> str:
    runs = x["runs_s"]

    def each(key: str) -> str:
        return ", ".join(fs(v) for v in runs[key])

    return (
        f"nbflow batch of {x['runs']}: --jobs 1 {each('nb1')}, --jobs {x['jobs']} "
        f"{each('nb' + str(x['jobs']))} (ratio per round "
        f"{', '.join(f'{v:.2f}' for v in x['round_ratios'])}); one run as batch reports it "
        f"{fs(x['run_in_batch_s'])} "
        f"(step sleeps {x['sleep_s']:g} s); papermill + xargs -P1 {each('pm1')}, "
        f"-P{x['jobs']} {each('pm' + str(x['jobs']))}; warm-up: one nbflow run "
        f"{fs(x['warmup_s']['nbflow_run'])}, one papermill {fs(x['warmup_s']['papermill'])}; "
        f"papermill's ratio per round {', '.join(f'{v:.2f}' for v in x['papermill_round_ratios'])}"
    )


# One line of details for each script that ran: (its name in the results, what to say).
DETAILS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    (
        "mf_linear",
        lambda x: (
            f"Metaflow linear: {fs(x['run_s'])} per run, {fs(x['per_task_s'])} per task "
            f"(runs: {', '.join(fs(v) for v in x['runs_s'])})"
        ),
    ),
    (
        "mf_foreach",
        lambda x: (
            f"Metaflow foreach N={x['n']}: {fs(x['run_s'])} (N=1: {fs(x['run_n1_s'])}; "
            f"{fs(x['per_element_s'])} per element; {x['files_on_disk']:,} files on disk)"
        ),
    ),
    (
        "mf_array",
        lambda x: (
            f"Metaflow array: run binding a float {fs(x['run_tiny_s'])}, binding the array "
            f"{fs(x['run_big_s'])}; load cold cache {fs(x['load_fresh_s'])}, warm "
            f"{fs(x['load_fresh_warm_cache_s'])}"
        ),
    ),
    (
        "np_io",
        lambda x: (
            f"numpy (anchors venv): np.save {fs(x['np_save_s'])}, np.load in-process "
            f"{fs(x['np_load_inproc_s'])}, in a fresh process {fs(x['np_load_fresh_s'])}"
        ),
    ),
    (
        "mf_list",
        lambda x: (
            f"Metaflow client, {x['runs']} runs: list {fs(x['list_s'])} (first call "
            f"{fs(x['list_first_call_s'])}; with id/successful/created_at "
            f"{fs(x['list_with_status_s'])}; whole process {fs(x['list_whole_process_s'])})"
        ),
    ),
    (
        "mf_resume",
        lambda x: (
            f"Metaflow resume (5 steps, step 4 failed): runs "
            f"{', '.join(fs(v) for v in x['resume_runs_s'])}; the failing run "
            f"{fs(x['failing_run_s'])}"
        ),
    ),
    (
        "imports",
        lambda x: (
            f"imports (anchors venv, whole process): pass {fs(x['pass_s'])}, metaflow "
            f"{fs(x['metaflow_s'])}, papermill {fs(x['papermill_s'])}"
        ),
    ),
    (
        "nb_linear",
        lambda x: (
            f"nbflow linear: runs {', '.join(fs(v) for v in x['runs_s'])} (first "
            f"{fs(x['first_run_s'])}); a step cell {fs(x['step_cell_s'])}; tasks "
            f"{x['task_statuses']}"
        ),
    ),
    (
        "nb_foreach",
        lambda x: (
            f"nbflow foreach: runs {', '.join(fs(v) for v in x['runs_s'])}; "
            f"{fs(x['per_element_s'])} per element; {fbytes(x['bytes_per_run'])} and "
            f"{x['files_per_run']:.0f} files per run; tasks {x['task_statuses']}"
        ),
    ),
    (
        "nb_foreach_proc",
        lambda x: (
            f"nbflow foreach, processes executor ({x['workers']} workers): runs "
            f"{', '.join(fs(v) for v in x['runs_s'])}; {fs(x['per_element_s'])} per element; "
            f"tasks {x['task_statuses']}"
        ),
    ),
    (
        "nb_cpu",
        lambda x: (
            f"nbflow CPU-bound: spin({x['spin_n']:,}) calibrated to {fs(x['element_s'])}; "
            f"kernel executor runs {', '.join(fs(v) for v in x['kernel_runs_s'])}; processes "
            f"{', '.join(fs(v) for v in x['processes_runs_s'])}; plain Pool "
            f"{', '.join(fs(v) for v in x['pool_runs_s'])}; median processes run: tasks busy "
            f"{fs(x['busy_s'])}, 2+ at once {fs(x['overlap_s'])}, sum of task times "
            f"{fs(x['sum_task_s'])}; the kernel's own CPU during it "
            f"{fs(x['kernel_cpu_during_processes_s'])}; load average {x['loadavg_1min']:.2f}"
        ),
    ),
    (
        "nb_resume",
        lambda x: (
            f"nbflow resume: {fs(x['resume_s'])} whole, re-run tasks' own time "
            f"{fs(x['rerun_tasks_s'])}, overhead {fs(x['overhead_s'])} (runs "
            f"{', '.join(fs(v) for v in x['overhead_runs_s'])}); the failing `%flow run` "
            f"{fs(x['failing_run_s'])}; resumed run's tasks {x['task_statuses']}"
        ),
    ),
    (
        "nb_cache",
        lambda x: (
            f"nbflow cache: {x['tasks']} tasks; first run {fs(x['first_run_s'])} "
            f"({fs(x['first_per_task_s'])}/task, {x['first_task_statuses']}); cached runs "
            f"{', '.join(fs(v) for v in x['cached_runs_s'])} ({x['task_statuses']})"
        ),
    ),
    (
        "nb_array",
        lambda x: (
            f"nbflow array: whole-cell difference {fs(x['persist_extra_whole_cell_s'])}; "
            f"first pass over the loaded array {fs(x['load_first_pass_s'])} (np.load's "
            f"{fs(x['np_load_first_pass_s'])}); loaded as {x['loaded_type']}"
        ),
    ),
    (
        "nb_startup",
        lambda x: (
            f"nbflow start-up: import {fs(x['import_whole_process_s'])} whole process "
            f"(pass {fs(x['pass_s'])}); first step cell after %load_ext "
            f"{fs(x['first_step_cell_s'])}"
        ),
    ),
    (
        "nb_runs_list",
        lambda x: (
            f"nbflow runs: first call {fs(x['list_first_call_s'])}; with id/status/start "
            f"{fs(x['list_with_status_s'])}; a 1-step `%flow run` "
            f"{fs(x['flow_run_1step_s'])}"
        ),
    ),
    ("nb_cli_run", cli_run_detail),
    ("nb_cli_batch", cli_batch_detail),
]


def details(r: dict[str, dict[str, Any]]) -> list[str]:
    return [say(r[name]) for name, say in DETAILS if ok(r.get(name, {}))]


def main() -> None:
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    p.add_argument(
        "--quick",
        action="store_true",
        help="skip the slow Metaflow foreach; quote ANCHORS.md for it",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="run the Metaflow foreach with 1,000 elements (~3-5 min) instead of 100",
    )
    p.add_argument("--out", default=str(BENCH / "results" / "last.json"))
    args = p.parse_args()

    started = time.strftime("%Y-%m-%d %H:%M:%S")
    t0 = time.perf_counter()
    results = {name: run_job(name, cmd) for name, cmd in jobs(args)}
    total = time.perf_counter() - t0

    try:
        mf_version = subprocess.run(
            [str(ANCHORS_PY), "-c", "import metaflow; print(metaflow.__version__)"],
            capture_output=True,
            text=True,
            check=True,
            cwd=tempfile.gettempdir(),
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        mf_version = "?"
    mode = "quick" if args.quick else ("full" if args.full else "default")
    print()
    print(
        f"nbflow benchmarks · {started} · mode {mode} · {os.cpu_count()} cores · Python "
        f"{platform.python_version()} · Metaflow {mf_version} · {total:.0f} s in all"
    )
    print(
        "Medians; every anchor measured in this run unless marked quoted; ratio = anchor / nbflow."
    )
    print()
    header = ["benchmark", "nbflow", "target", "anchor (this run)", "ratio", "target met"]
    print_table(header, rows(results, args))
    print()
    for line in details(results):
        print(f"  · {line}")
    failed = {k: v for k, v in results.items() if not ok(v)}
    for name, res in failed.items():
        print(f"\n✗ {name} failed (exit {res.get('_exit')}):\n{res['_error']}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"started": started, "mode": mode, "results": results}, indent=1))
    print(f"\n(raw figures: {out})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
