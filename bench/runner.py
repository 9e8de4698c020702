"""bench/run's engine: runs the anchors and the nbflow benchmarks, prints one table.

Every benchmark script runs in its own process and prints one JSON line (--json); this file
only schedules them (each nbflow script right after its anchor, so that the two are measured
minutes apart at most), collects the figures and prints them beside their targets and the
anchors measured in the same run. Results also go to bench/results/last.json (smoke mode:
bench/results/smoke.json).
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
# does not measure the figure itself (--quick; a failed listing); every such use is marked
# "quoted".
QUOTED_FOREACH = {100: 113.0, 1000: 320.0}
QUOTED_LIST_50_RUNS_S = 0.010

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
    "dask_x_anchor": 2.0,
    "s3_put_x_raw": 1.5,
    "env_build": 2.0,
    "env_step_added": 0.5,
    "bytes_x_metaflow": 0.5,
    "codec_random_persist_x_np_save": 1.5,
    "codec_random_load_x_np_load": 1.2,
    "big_peak_over_value": 1.2,
    "foreach_scale_per_task": 0.0003,  # kernel executor, N = 100,000 (issue 16)
    "foreach_scale_growth": 2.0,  # per-task time, largest N over smallest: flat, i.e. linear
}

R1, NW = ["--repeat", "1"], ["--no-warmup"]
MIB8 = ["--mib", "8", *R1]

# (name in the results, script, its arguments, the arguments added in smoke mode), in the order
# they run: each workload's anchor, then nbflow on it. Smoke mode: every workload once, small.
JOBS: list[tuple[str, str, list[str], list[str]]] = [
    ("mf_linear", "anchors/mf_linear.py", [], R1),
    ("nb_linear", "kernel/nb_linear.py", [], R1),
    ("nb_cli_run", "kernel/nb_cli_run.py", [], ["--steps", "3", "--steps-more", "5", *R1, *NW]),
    ("mf_foreach", "anchors/mf_foreach.py", [], ["--n", "10"]),
    ("mf_foreach_1000", "anchors/mf_foreach.py", ["--full"], []),
    ("nb_foreach_100", "kernel/nb_foreach.py", ["--n", "100"], ["--n", "10", *R1]),
    ("nb_foreach", "kernel/nb_foreach.py", [], ["--n", "20", *R1]),
    (
        "nb_foreach_proc",
        "kernel/nb_foreach.py",
        ["--executor", "processes", "--workers", "2"],
        ["--n", "20", *R1],
    ),
    ("nb_cpu", "kernel/nb_cpu.py", [], ["--elements", "4", "--element-s", "0.05", *R1]),
    ("nb_cache", "kernel/nb_cache.py", [], ["--n", "10", *R1]),
    ("nb_reads", "kernel/nb_reads.py", [], ["--n", "10", "--mib", "4", "--repeat", "2"]),
    ("np_io", "anchors/np_io.py", [], [*MIB8, *NW]),
    ("mf_array", "anchors/mf_array.py", [], MIB8),
    ("nb_array", "kernel/nb_array.py", [], MIB8),
    ("mf_list", "anchors/mf_list.py", [], ["--runs", "10", *R1]),
    ("nb_runs_list_50", "kernel/nb_runs_list.py", ["--runs", "50"], ["--runs", "10", *R1]),
    ("nb_runs_list", "kernel/nb_runs_list.py", [], ["--runs", "20", *R1]),
    ("nb_runs_tag", "kernel/nb_runs_tag.py", [], ["--runs", "200", *R1]),
    ("mf_resume", "anchors/mf_resume.py", [], R1),
    ("nb_resume", "kernel/nb_resume.py", [], R1),
    ("nb_cli_resume", "kernel/nb_cli_resume.py", [], R1),
    ("imports", "anchors/imports.py", [], [*R1, *NW]),
    ("nb_startup", "kernel/nb_startup.py", [], [*R1, *NW]),
    (
        "nb_cli_batch",
        "kernel/nb_cli_batch.py",
        [],
        ["--runs", "4", "--sleep", "0.1", *R1, *NW],
    ),
    # Scale out (issue 7): each script measures its own anchor (Dask alone; raw s3fs), in turns.
    ("nb_dask", "kernel/nb_dask.py", [], ["--n", "20", *R1]),
    ("nb_s3", "kernel/nb_s3.py", [], MIB8),
    # Step environments (issue 8): measures its own anchor (uv alone), in turns.
    ("nb_env", "kernel/nb_env.py", [], R1),
    # Bytes (issue 16): measures its own anchor (Metaflow's .metaflow for the same flow).
    # smoke: 41 movies (15 genres; tutorial 02's own quartiles need 2 movies a genre)
    ("nb_bytes", "kernel/nb_bytes.py", [], ["--runs", "1", "--decks", "1000", "--movies", "41"]),
    ("nb_codec", "kernel/nb_codec.py", [], ["--mib", "8", *R1, *NW]),
    ("nb_big", "kernel/nb_big.py", [], ["--gib", "0.0625"]),
    # Scale (issue 16): a foreach at N = 1k, 10k, 100k, kernel and processes executor, each
    # size in a process of its own (its peak memory); Metaflow's per element is the anchor.
    ("nb_foreach_scale", "kernel/nb_foreach_scale.py", [], ["--n", "200,2000", *NW]),
]


def jobs(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    skip = set()
    if args.quick:
        skip.add("mf_foreach")
    if not args.full:  # the 1,000-element Metaflow foreach: ~5 minutes
        skip.add("mf_foreach_1000")
    return [
        (
            name,
            [sys.executable, str(BENCH / script), "--json", *extra, *(small if args.smoke else [])],
        )
        for name, script, extra, small in JOBS
        if name not in skip
    ]


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
            return f"{n / size:.1f} {unit}" if n % size else f"{n // size:.0f} {unit}"
    return f"{n:.0f} B"


def fsigned(seconds: float) -> str:
    """A time added (or, in noise, taken away): +1.2 ms, -3.4 ms."""
    return ("+" if seconds >= 0 else "") + fs(seconds)


def fratio(anchor: float | None, ours: float | None) -> str:
    if anchor is None or ours is None or ours <= 0 or anchor <= 0:  # <= 0: noise, no ratio
        return "—"
    r = anchor / ours
    return f"{r:.0f}×" if r >= 10 else f"{r:.1f}×"


def ok(res: dict[str, Any] | None) -> bool:
    return bool(res) and "_error" not in res  # type: ignore[operator]


HEADER = ["benchmark", "nbflow", "target", "anchor (this run)", "ratio", "target met"]


class Table:
    """The rows of the table: benchmark, nbflow, target, anchor (this run), ratio, target met."""

    def __init__(self) -> None:
        self.rows: list[list[str]] = []

    def add(  # noqa: PLR0917
        self, bench: str, nb: str, target: str, anchor: str, ratio: str, met: bool | None
    ) -> None:
        self.rows.append(
            [bench, nb, target, anchor, ratio, "—" if met is None else ("yes" if met else "NO")]
        )

    def failed(self, bench: str, anchor: str = "—") -> None:
        self.add(bench, "error", "", anchor, "—", None)


# ---------------------------------------------------------------- the rows, one workload each


def linear_rows(t: Table, r: dict[str, dict[str, Any]]) -> None:
    """The 10-step linear flow: in the kernel (`%flow run`) and whole process (`nbflow run`),
    both against Metaflow's whole `python flow.py run`."""
    mfl, nbl, cr = r.get("mf_linear", {}), r.get("nb_linear", {}), r.get("nb_cli_run", {})
    anchor = f"Metaflow `run` {fs(mfl['run_s'])} ({mfl['steps']} steps)" if ok(mfl) else "error"
    if ok(nbl):
        t.add(
            f"{nbl['steps']}-step linear flow, small artifacts, in the kernel: whole `%flow run`",
            fs(nbl["run_s"]),
            f"≤ {fs(TARGETS['linear'])}",
            anchor,
            fratio(mfl["run_s"], nbl["run_s"]) if ok(mfl) else "—",
            nbl["run_s"] <= TARGETS["linear"],
        )
    else:
        t.failed("10-step linear flow, in the kernel: whole `%flow run`", anchor)
    if ok(cr):
        t.add(
            f"{cr['steps']}-step linear flow, small artifacts, whole process: `nbflow run` of "
            "the notebook",
            fs(cr["run_s"]),
            "—",
            anchor,
            fratio(mfl["run_s"], cr["run_s"]) if ok(mfl) else "—",
            None,
        )
    else:
        t.failed("10-step linear flow, whole process: `nbflow run` of the notebook", anchor)


def foreach_anchor(
    r: dict[str, dict[str, Any]], n: int, args: argparse.Namespace
) -> tuple[float | None, str]:
    """Metaflow's foreach over n elements: (seconds, how it is shown): measured at n,
    extrapolated as T_1 + (n - 1) x per element from the N it ran, or quoted (--quick)."""
    measured = [x for x in (r.get("mf_foreach"), r.get("mf_foreach_1000")) if ok(x)]
    for x in measured:
        if x["n"] == n:
            return x["run_s"], f"Metaflow {fs(x['run_s'])} (N={n:,} measured)"
    if measured:
        x = measured[0]
        est = x["run_n1_s"] + (n - 1) * x["per_element_s"]
        return est, (
            f"Metaflow {fs(est)} (extrapolated from N={x['n']:,}: "
            f"{fs(x['per_element_s'])}/element × {n:,})"
        )
    if args.quick and n in QUOTED_FOREACH:
        anchor_s = QUOTED_FOREACH[n]
        return anchor_s, f"Metaflow ~{fs(anchor_s)} (quoted, ANCHORS.md; not run: --quick)"
    return None, "error"


def foreach_rows(t: Table, r: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    """Foreach over 100 and 1,000 trivial elements + join (kernel executor; 1,000 on the
    processes executor too), the CPU-bound foreach, and the cache hit."""
    for key, n_default, executor, target in (
        ("nb_foreach_100", 100, "", None),
        ("nb_foreach", 1000, "", "foreach"),
        ("nb_foreach_proc", 1000, ", processes executor, 2 workers", "foreach_processes"),
    ):
        nbf = r.get(key, {})
        n = nbf.get("n", n_default)
        anchor_s, anchor = foreach_anchor(r, n, args)
        bench = f"foreach over {n:,} trivial elements + join{executor}, `%flow run`"
        if not ok(nbf):
            t.failed(bench, anchor)
            continue
        t.add(
            bench,
            fs(nbf["run_s"]),
            f"≤ {fs(TARGETS[target])}" if target else "—",
            anchor,
            fratio(anchor_s, nbf["run_s"]),
            nbf["run_s"] <= TARGETS[target] if target else None,
        )

    cpu = r.get("nb_cpu", {})
    if ok(cpu):
        t.add(
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
        t.failed("16 CPU-bound elements, processes vs kernel executor")

    nbc = r.get("nb_cache", {})
    bench = (
        f"cache hit, per task: 2nd `%flow run` of a {nbc.get('n', 200)}-element foreach, "
        "all `cached`"
    )
    if ok(nbc):
        t.add(
            bench,
            f"{fs(nbc['per_task_s'])}/task ({fs(nbc['cached_run_s'])} for {nbc['tasks']} "
            f"tasks; 1st run {fs(nbc['first_run_s'])})",
            f"≤ {fs(TARGETS['cache_hit_per_task'])}/task",
            "— (Metaflow has no cache)",
            "—",
            nbc["per_task_s"] <= TARGETS["cache_hit_per_task"],
        )
    else:
        t.failed(bench)

    nbr = r.get("nb_reads", {})
    bench = (
        f"files in the cache key: {nbr.get('n', 200)} tasks that each open a "
        f"{nbr.get('mib', 100)} MiB file, added per task / cache hit per task"
    )
    if ok(nbr):
        t.add(
            bench,
            f"{fsigned(nbr['added_per_task_s'])}/task fresh; {fs(nbr['cached_per_task_s'])}/task "
            f"cached; the file hashed once ({fs(nbr['hash_once_s'])})",
            f"≤ {fs(TARGETS['cache_hit_per_task'])}/task cached",
            "— (Metaflow has no cache)",
            "—",
            nbr["cached_per_task_s"] <= TARGETS["cache_hit_per_task"],
        )
    else:
        t.failed(bench)


def array_rows(t: Table, r: dict[str, dict[str, Any]]) -> None:
    """One large float64 array (256 MiB): persist, load in a fresh process, bind again; and the
    physical limits for the same array (np.save, np.load, xxh3_128)."""
    mfa, nba, npi = r.get("mf_array", {}), r.get("nb_array", {}), r.get("np_io", {})
    size = fbytes(nba.get("bytes", mfa.get("bytes", 2**28)))
    if not ok(nba):
        for b, key in (
            (f"step binding a {size} float64 array: extra persist time", "persist_s"),
            ("load it in a fresh process (client attribute)", "load_fresh_s"),
            ("bind the identical array again: new bytes, extra time", "rebind_extra_s"),
        ):
            t.failed(b, f"Metaflow {fs(mfa[key])}" if ok(mfa) else "—")
        t.failed(f"physical limits for the same {size} array", "—")
        return
    limit = TARGETS["persist_x_np_save"] * nba["np_save_s"]
    t.add(
        f"step binding a {size} float64 array: extra persist time over a tiny value",
        fs(nba["persist_extra_s"]) + f" ({nba['persist_over_np_save']:.1f}× np.save)",
        f"≤ 3× np.save {fs(nba['np_save_s'])} = {fs(limit)}",
        f"Metaflow {fs(mfa['persist_s'])}" if ok(mfa) else "error",
        fratio(mfa.get("persist_s"), nba["persist_extra_s"]) if ok(mfa) else "—",
        nba["persist_extra_s"] <= limit,
    )
    limit = TARGETS["load_x_np_load"] * nba["np_load_fresh_s"]
    t.add(
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
    t.add(
        "bind the identical array again (cell re-run; `%flow run`): new bytes, extra time",
        f"+{fbytes(nba['rebind_cell_new_bytes'])}; +{fbytes(nba['rebind_flow_run_new_bytes'])}"
        f"; {fsigned(nba['rebind_extra_s'])}",
        "no new array bytes (< 1 MiB)",
        (
            f"Metaflow +{fbytes(mfa['rebind_new_bytes'])}, {fsigned(mfa['rebind_extra_s'])}"
            if ok(mfa)
            else "error"
        ),
        fratio(mfa.get("rebind_extra_s"), nba["rebind_extra_s"]) if ok(mfa) else "—",
        new < 2**20,
    )
    ours = (nba["persist_extra_s"], nba["load_fresh_s"], nba["rebind_extra_s"])
    limits = (npi["np_save_s"], npi["np_load_fresh_s"], npi["xxh3_128_s"]) if ok(npi) else None
    t.add(
        f"physical limits, same {size} array: `np.save` · `np.load` in a fresh process · "
        "`xxh3_128` (nbflow's hash)",
        " · ".join(fs(x) for x in ours) + " (persist · load · bind again, as above)",
        "—",
        (
            f"{fs(npi['np_save_s'])} · {fs(npi['np_load_fresh_s'])} · {fs(npi['xxh3_128_s'])} "
            f"(sha1, Metaflow's hash: {fs(npi['sha1_s'])})"
        )
        if ok(npi)
        else "error",
        (" · ".join(map(fratio, limits, ours)) + " (limit / nbflow)") if limits else "—",
        None,
    )


def client_rows(t: Table, r: dict[str, dict[str, Any]]) -> None:
    """The client in a fresh process: list 50 runs and read the latest run's data, against
    Metaflow's client on the same work; listing 1,000 runs (the target)."""
    mfl, nb50, nbr = r.get("mf_list", {}), r.get("nb_runs_list_50", {}), r.get("nb_runs_list", {})
    n = nb50.get("runs", mfl.get("runs", 50))
    bench = (
        f"client in a fresh process: list {n:,} runs and read the latest run's data (whole "
        "process; in it: list, read)"
    )

    def say(x: dict[str, Any]) -> str:
        return f"{fs(x['whole_process_s'])} (list {fs(x['list_s'])}, read {fs(x['read_s'])})"

    anchor = f"Metaflow client {say(mfl)}" if ok(mfl) else "error"
    if ok(nb50):
        t.add(
            bench,
            say(nb50),
            "—",
            anchor,
            (
                f"{fratio(mfl['whole_process_s'], nb50['whole_process_s'])} (list "
                f"{fratio(mfl['list_s'], nb50['list_s'])}, read "
                f"{fratio(mfl['read_s'], nb50['read_s'])})"
            )
            if ok(mfl)
            else "—",
            None,
        )
    else:
        t.failed(bench, anchor)

    if ok(mfl):
        anchor_s, n_mf = mfl["list_s"], mfl["runs"]
        anchor = f"Metaflow client {fs(anchor_s)} for {n_mf} runs"
    else:
        anchor_s, n_mf = QUOTED_LIST_50_RUNS_S, 50
        anchor = f"Metaflow {fs(anchor_s)} for 50 runs (quoted, ANCHORS.md)"
    n_nb = nbr.get("runs", 1000)
    bench = f"list {n_nb:,} runs through the client, in-process"
    if ok(nbr):
        per_run = fratio(anchor_s / n_mf, nbr["list_s"] / n_nb)
        t.add(
            bench,
            fs(nbr["list_s"]),
            f"≤ {fs(TARGETS['list'])}",
            anchor,
            f"{fratio(anchor_s, nbr['list_s'])} ({n_mf} vs {n_nb:,} runs; {per_run} per run)",
            nbr["list_s"] <= TARGETS["list"],
        )
    else:
        t.failed(bench, anchor)
    tag_rows(t, r.get("nb_runs_tag", {}))


def tag_rows(t: Table, x: dict[str, Any]) -> None:
    """A flow of 10,000 runs listed by a tag on 1 run in 10 (the target, issue 13), and by a
    tag on every run (the most a filter can list); no anchor (see nb_runs_tag.py)."""
    n = x.get("runs", 10_000)
    bench = f"list a flow of {n:,} runs by a tag on 1 in 10, in-process (by a tag on all)"
    if not ok(x):
        t.failed(bench, "—")
        return
    t.add(
        bench,
        f"{fs(x['list_tag_best_s'])} ({fs(x['list_tag_sweep_s'])})",
        f"≤ {fs(TARGETS['list'])}",
        "— (Metaflow's client filters tags per run after listing)",
        "—",
        x["list_tag_best_s"] <= TARGETS["list"],
    )
    # Issue 16: the same flow's first page (50 runs) as the client, the sidebar's REST route
    # (each run with its results) and `nbflow runs --limit 50` (in-process) give it.
    page = (x["first_page_s"], x["sidebar_page_s"], x["nbflow_runs_page_s"])
    t.add(
        f"first page (50) of a flow of {n:,} runs: `flow.runs(limit=50)` · the sidebar's "
        "list (REST reply, with results) · `nbflow runs --limit 50`, in-process",
        " · ".join(fs(v) for v in page) + f" (`nbflow runs`, all {n:,}: "
        f"{fs(x['nbflow_runs_all_s'])})",
        f"≤ {fs(TARGETS['list'])} each",
        "—",
        "—",
        max(page) <= TARGETS["list"],
    )


def resume_rows(t: Table, r: dict[str, dict[str, Any]]) -> None:
    """Resume of a 5-step flow whose 4th step failed: in the kernel (the overhead beyond
    re-running steps 4 and 5 is the target) and whole process (`nbflow resume`), both against
    Metaflow's whole `python flow.py resume`."""
    nbr, mfr, cli = r.get("nb_resume", {}), r.get("mf_resume", {}), r.get("nb_cli_resume", {})
    anchor = f"Metaflow `resume` {fs(mfr['resume_s'])}" if ok(mfr) else "error"
    bench = "`%flow resume` of a 5-step flow failed at step 4: overhead beyond re-running 4 and 5"
    if ok(nbr):
        t.add(
            bench,
            f"{fs(nbr['overhead_s'])} (whole resume {fs(nbr['resume_s'])})",
            f"≤ {fs(TARGETS['resume_overhead'])}",
            anchor,
            (fratio(mfr["resume_s"], nbr["resume_s"]) + " (whole resume)") if ok(mfr) else "—",
            nbr["overhead_s"] <= TARGETS["resume_overhead"],
        )
    else:
        t.failed(bench, anchor)
    bench = "`nbflow resume` of the same flow as a notebook, whole process"
    if ok(cli):
        t.add(
            bench,
            fs(cli["resume_s"]),
            "—",
            anchor,
            fratio(mfr["resume_s"], cli["resume_s"]) if ok(mfr) else "—",
            None,
        )
    else:
        t.failed(bench, anchor)


def startup_rows(t: Table, r: dict[str, dict[str, Any]]) -> None:
    """Start-up: importing nbflow (against importing metaflow) and `%load_ext nbflow`."""
    imp, nbs = r.get("imports", {}), r.get("nb_startup", {})
    anchor = (
        f"import metaflow {fs(imp['metaflow_net_s'])} over pass ({fs(imp['metaflow_s'])} whole)"
        if ok(imp)
        else "error"
    )
    bench = '`python -c "import nbflow"` minus `python -c pass`'
    if not ok(nbs):
        t.failed(bench, anchor)
        t.failed("`%load_ext nbflow` in a fresh shell")
        return
    t.add(
        bench,
        fs(nbs["import_s"]),
        f"≤ {fs(TARGETS['import'])}",
        anchor,
        fratio(imp["metaflow_net_s"], nbs["import_s"]) if ok(imp) else "—",
        nbs["import_s"] <= TARGETS["import"],
    )
    t.add(
        "`%load_ext nbflow` in a fresh shell",
        fs(nbs["load_ext_s"]),
        f"≤ {fs(TARGETS['load_ext'])}",
        "— (no equivalent)",
        "—",
        nbs["load_ext_s"] <= TARGETS["load_ext"],
    )


def cli_rows(t: Table, r: dict[str, dict[str, Any]]) -> None:
    """The command line: `nbflow run` against papermill, `nbflow batch` against xargs."""
    cr = r.get("nb_cli_run", {})
    limit = TARGETS["cli_run_x_papermill"]
    if ok(cr):
        t.add(
            f"`nbflow run` of a notebook of {cr['steps']} trivial step cells (+ `%load_ext`), "
            "whole command",
            f"{fs(cr['run_s'])} ({cr['over_papermill']:.2f}× papermill)",
            f"≤ {limit}× papermill = {fs(limit * cr['papermill_s'])}",
            f"papermill CLI (anchors venv) {fs(cr['papermill_s'])}, the same cells plain "
            "(ANCHORS.md: 2.3 s)",
            f"{cr['papermill_s'] / cr['run_s']:.2f}×",
            cr["over_papermill"] <= limit,
        )
        t.add(
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
        t.failed("`nbflow run` of 10 trivial step cells vs papermill")
        t.failed("each further cell (`nbflow run`)")

    cb = r.get("nb_cli_batch", {})
    limit = TARGETS["batch_x_sequential"]
    if ok(cb):
        t.add(
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
        t.failed("`nbflow batch` of 8 runs, --jobs 2 vs --jobs 1")


def scale_rows(t: Table, r: dict[str, dict[str, Any]]) -> None:
    """Scale out: a foreach on a 2-worker Dask LocalCluster against Dask's own map + gather of
    as many trivial futures; a large array to a moto S3 server against a raw s3fs put / get."""
    nd = r.get("nb_dask", {})
    n = nd.get("n", 1000)
    bench = (
        f"foreach over {n:,} trivial elements + join, dask executor, LocalCluster of "
        f"{nd.get('workers', 2)} workers, `%flow run`"
    )
    limit = TARGETS["dask_x_anchor"]
    if ok(nd):
        t.add(
            bench,
            f"{fs(nd['run_s'])} ({nd['ratio']:.2f}× Dask)",
            f"≤ {limit:g}× Dask = {fs(limit * nd['dask_s'])}",
            f"Dask `client.map` + `gather` of {n:,} trivial futures, same cluster "
            f"{fs(nd['dask_s'])}",
            fratio(nd["dask_s"], nd["run_s"]),
            nd["ratio"] <= limit,
        )
    else:
        t.failed(bench, "Dask map + gather")

    s3 = r.get("nb_s3", {})
    size = fbytes(s3.get("bytes", 2**28))
    limit = TARGETS["s3_put_x_raw"]
    bench = f"persist a {size} float64 array to S3 (moto server): `ArtifactStore.save`"
    if not ok(s3):
        t.failed(bench, "raw s3fs `pipe_file`")
        t.failed("load it back from S3, no local cache: `ArtifactStore.load`", "raw s3fs get")
        return
    t.add(
        bench,
        f"{fs(s3['put_s'])} ({s3['put_mib_s']:.0f} MiB/s, {s3['put_ratio']:.2f}× raw)",
        f"≤ {limit:g}× raw put = {fs(limit * s3['raw_put_s'])}",
        f"raw s3fs `pipe_file` of the same bytes {fs(s3['raw_put_s'])} "
        f"({s3['raw_put_mib_s']:.0f} MiB/s; faster of its defaults "
        f"{fs(s3['raw_put_default_s'])} and 16 MiB parts × 8 {fs(s3['raw_put_16mib_s'])})",
        fratio(s3["raw_put_s"], s3["put_s"]),
        s3["put_ratio"] <= limit,
    )
    t.add(
        "load it back from S3, no local cache: `ArtifactStore.load` (verified, decoded)",
        f"{fs(s3['get_s'])} ({s3['get_mib_s']:.0f} MiB/s, {s3['get_ratio']:.2f}× raw)",
        "— (none of its own)",
        f"raw s3fs {fs(s3['raw_get_s'])} ({s3['raw_get_mib_s']:.0f} MiB/s; faster of "
        f"`cat_file` {fs(s3['raw_get_whole_s'])} and `cat_ranges` of 16 MiB × 8 "
        f"{fs(s3['raw_get_16mib_s'])})",
        fratio(s3["raw_get_s"], s3["get_s"]),
        None,
    )


def env_rows(t: Table, r: dict[str, dict[str, Any]]) -> None:
    """Step environments: building one uv has cached (against uv alone making it), and what a
    step in one adds over the processes executor (cold: its worker spawned; warm: kept)."""
    ne = r.get("nb_env", {})
    bench = "build a step environment (pandas==2.2.3), uv's cache warm: `%%step --env`"
    if not ok(ne):
        t.failed(bench, "uv venv + uv pip install")
        t.failed("a step in an existing environment, added over the processes executor")
        return
    t.add(
        bench,
        f"{fs(ne['build_s'])} (found again: {fs(ne['found_s'])})",
        f"≤ {fs(TARGETS['env_build'])}",
        f"uv alone (`uv venv` + `uv pip install`, same packages) {fs(ne['uv_alone_s'])}",
        fratio(ne["uv_alone_s"], ne["build_s"]),
        ne["build_s"] <= TARGETS["env_build"],
    )
    # Cold, the environment's worker is a fresh interpreter that imports pandas for the
    # step; the processes executor's worker is forked from a kernel that has pandas already.
    t.add(
        "a 2-step `%flow run`, one step in an existing environment: added over the processes "
        "executor, its worker kept (cold: spawned for this run, shown beside)",
        f"{fsigned(ne['warm_added_s'])} (cold {fsigned(ne['cold_added_s'])})",
        f"≤ +{fs(TARGETS['env_step_added'])}",
        f"the same run, processes executor {fs(ne['run_processes_s'])}",
        "—",
        ne["warm_added_s"] <= TARGETS["env_step_added"],
    )


def rows(r: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[list[str]]:
    t = Table()
    linear_rows(t, r)
    foreach_rows(t, r, args)
    array_rows(t, r)
    client_rows(t, r)
    resume_rows(t, r)
    startup_rows(t, r)
    cli_rows(t, r)
    scale_rows(t, r)
    env_rows(t, r)
    bytes_rows(t, r.get("nb_bytes", {}))
    codec_rows(t, r.get("nb_codec", {}))
    big_rows(t, r.get("nb_big", {}))
    foreach_scale_rows(t, r, args)
    return t.rows


def foreach_scale_rows(t: Table, r: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    """The foreach at 1k, 10k and 100k elements (nb_foreach_scale.py): per executor and N, the
    time per task and the kernel's peak memory; then how the time per task grew from the
    smallest N to the largest (flat: linear cost). The anchor: Metaflow's time per element."""
    x = r.get("nb_foreach_scale", {})
    anchor_s, anchor = foreach_anchor(r, 1000, args)
    per_element = anchor_s / 1000 if anchor_s is not None else None
    anchor = f"Metaflow {fs(per_element)}/element" if per_element else anchor
    if not ok(x):
        t.failed("foreach at scale (1k, 10k, 100k elements): time per task", anchor)
        return
    largest = max(x["sizes"])
    for row in x["rows"]:
        executor = "kernel executor" if row["executor"] == "kernel" else (
            f"processes executor, {row['workers']} workers"
        )  # fmt: skip
        target = row["executor"] == "kernel" and row["n"] == largest
        limit = TARGETS["foreach_scale_per_task"]
        workers = row.get("worker_peak_rss_bytes")
        t.add(
            f"foreach at scale, N = {row['n']:,} ({executor}): time per task · kernel peak RSS",
            f"{fs(row['per_task_s'])}/task ({fs(row['run_s'])}) · {fbytes(row['peak_rss_bytes'])} "
            f"(+{fbytes(row['rss_per_task_bytes'])}/task"
            + (f"; largest worker {fbytes(workers)}" if workers else "")
            + ")",
            f"≤ {fs(limit)}/task" if target else "—",
            anchor,
            fratio(per_element, row["per_task_s"]),
            row["per_task_s"] <= limit if target else None,
        )
    for executor in dict.fromkeys(row["executor"] for row in x["rows"]):
        mine = sorted((row for row in x["rows"] if row["executor"] == executor),
                      key=lambda row: row["n"])  # fmt: skip
        small, large = mine[0], mine[-1]
        growth = large["per_task_s"] / small["per_task_s"]
        t.add(
            f"foreach at scale ({executor}): time per task at N = {large['n']:,} over "
            f"N = {small['n']:,}",
            f"{growth:.2f}× ({', '.join(fs(row['per_task_s']) for row in mine)})",
            f"≤ {TARGETS['foreach_scale_growth']:g}× (linear cost: flat)",
            "—",
            "—",
            growth <= TARGETS["foreach_scale_growth"],
        )


def codec_rows(t: Table, x: dict[str, Any]) -> None:
    """Values saved and loaded by the artifact store beside raw np.save/np.load and gzip-3
    (see nb_codec.py): random floats must stay at raw speed; compressible values shrink."""
    mib = x.get("mib", 256)
    bench = f"{mib} MiB random float64: persist · load, in-process (stored raw)"
    if not ok(x):
        t.failed(bench, "np.save · np.load")
        return
    nb, raw, gz = x["random"]["nbflow"], x["random"]["raw"], x["random"]["gzip3"]
    persist, load = x["random_persist_x_np_save"], x["random_load_x_np_load"]
    t.add(
        bench,
        f"{fs(nb['persist_s'])} · {fs(nb['load_s'])}",
        f"≤ {TARGETS['codec_random_persist_x_np_save']}× · "
        f"≤ {TARGETS['codec_random_load_x_np_load']}×",
        f"np.save {fs(raw['persist_s'])} · np.load {fs(raw['load_s'])} "
        f"(gzip-3 {fs(gz['persist_s'])})",
        f"{persist:.2f}× · {load:.2f}×",
        persist <= TARGETS["codec_random_persist_x_np_save"]
        and load <= TARGETS["codec_random_load_x_np_load"],
    )
    for name, what in (("arange", "np.arange float64"), ("frame", "repetitive DataFrame")):
        nb, raw, gz = x[name]["nbflow"], x[name]["raw"], x[name]["gzip3"]
        t.add(
            f"{mib} MiB {what}: bytes, persist · load (compressed)",
            f"{fbytes(nb['bytes'])}, {fs(nb['persist_s'])} · {fs(nb['load_s'])}",
            "—",
            f"gzip-3 {fbytes(gz['bytes'])}, {fs(gz['persist_s'])} · {fs(gz['load_s'])}; "
            f"raw {fbytes(raw['bytes'])}",
            f"{gz['bytes'] / max(nb['bytes'], 1):.1f}× fewer bytes than gzip-3",
            None,
        )


def big_rows(t: Table, x: dict[str, Any]) -> None:
    """A value of several GiB bound by a step: peak memory while it persists, over its size,
    and what loading it in a fresh process costs (see nb_big.py)."""
    size = fbytes(x.get("bytes", 4 << 30))
    if not ok(x):
        t.failed(f"a {size} artifact: peak memory while persisting", "the value's size")
        return
    target = TARGETS["big_peak_over_value"]
    for kind, how in (("raw", "random float64, stored raw"), ("compressible", "np.arange")):
        peak = x[f"{kind}_peak_over_value"]
        t.add(
            f"a {size} artifact ({how}): peak memory while persisting · load in a fresh process",
            f"{peak:.2f}× the value ({fs(x[f'{kind}_persist_s'])}) · "
            f"{fs(x[f'{kind}_load_s'])}, +{fbytes(x[f'{kind}_load_added_bytes'])} resident",
            f"≤ {target}×",
            "the value itself, 1.0× (a second copy: 2.0×)",
            f"{peak:.2f}×",
            peak <= target,
        )


def bytes_rows(t: Table, x: dict[str, Any]) -> None:
    """Bytes on disk after runs of notebooks/hearthstone.ipynb and of the port of Metaflow's
    tutorial 02, beside Metaflow's `.metaflow` after as many runs of the same flow, exported by
    `nbflow export --to metaflow` (see nb_bytes.py)."""
    for name, notebook in (("hearthstone", "notebooks/hearthstone.ipynb"),
                           ("statistics", "tutorial 02 (MovieStatsFlow) port")):  # fmt: skip
        bench = f"bytes stored: runs of {notebook} (blobs before compression)"
        if not ok(x) or name not in x:
            t.failed(bench, "Metaflow .metaflow")
            continue
        one = x[name]
        ours, theirs = one["nbflow"]["bytes_after"][-1], one["metaflow"]["bytes_after"][-1]
        t.add(
            f"{bench}, {x['runs']} runs",
            f"{fbytes(ours)} ({fbytes(one['nbflow']['blob_plain_bytes'])})",
            f"≤ {TARGETS['bytes_x_metaflow']}× Metaflow",
            f"Metaflow .metaflow {fbytes(theirs)} (the exported flow)",
            f"{ours / theirs:.2f}× Metaflow's bytes",
            ours / theirs <= TARGETS["bytes_x_metaflow"],
        )


def print_table(header: list[str], body: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in body:
        print(line(row))


# ---------------------------------------------------------------- details, one line per script


def each(x: list[float]) -> str:
    return ", ".join(fs(v) for v in x)


def cli_run_detail(x: dict[str, Any]) -> str:
    lo, hi = x["steps"], x["steps_more"]
    runs = x["runs_s"]
    return (
        f"nbflow run ({lo} / {hi} cells, a datastore of its own each time): "
        f"{each(runs[f'nbflow{lo}'])} / {each(runs[f'nbflow{hi}'])}; papermill, anchors venv: "
        f"{each(runs[f'papermill{lo}'])} / {each(runs[f'papermill{hi}'])}; the project venv's "
        f"papermill (the one nbflow run drives): "
        f"{fs(x['venv_papermill_s'])} / {fs(x['venv_papermill_more_s'])}, "
        f"{fs(x['venv_papermill_per_cell_s'])}/cell (nbflow run {x['over_venv_papermill']:.2f}× "
        f"it); tasks of every run {x['task_statuses']}"
    )


def cli_batch_detail(x: dict[str, Any]) -> str:
    runs, jobs, warm = x["runs_s"], x["jobs"], x["warmup_s"]
    warmup = (
        f"warm-up: one nbflow run {fs(warm['nbflow_run'])}, one papermill {fs(warm['papermill'])}; "
        if warm
        else ""
    )
    return (
        f"nbflow batch of {x['runs']}: --jobs 1 {each(runs['nb1'])}, --jobs {jobs} "
        f"{each(runs[f'nb{jobs}'])} (ratio per round "
        f"{', '.join(f'{v:.2f}' for v in x['round_ratios'])}); one run as batch reports it "
        f"{fs(x['run_in_batch_s'])} (step sleeps {x['sleep_s']:g} s); papermill + xargs -P1 "
        f"{each(runs['pm1'])}, -P{jobs} {each(runs[f'pm{jobs}'])}; {warmup}"
        f"papermill's ratio per round {', '.join(f'{v:.2f}' for v in x['papermill_round_ratios'])}"
    )


def foreach_detail(x: dict[str, Any]) -> str:
    executor = f"{x['executor']} executor" + (f", {x['workers']} workers" if x["workers"] else "")
    return (
        f"nbflow foreach N={x['n']:,} ({executor}): runs {each(x['runs_s'])}; "
        f"{fs(x['per_element_s'])} per element; {fbytes(x['bytes_per_run'])} and "
        f"{x['files_per_run']:.0f} files per run; tasks {x['task_statuses']}"
    )


def mf_foreach_detail(x: dict[str, Any]) -> str:
    return (
        f"Metaflow foreach N={x['n']:,}: {fs(x['run_s'])} (N=1: {fs(x['run_n1_s'])}; "
        f"{fs(x['per_element_s'])} per element; {x['files_on_disk']:,} files on disk)"
    )


def runs_list_detail(x: dict[str, Any]) -> str:
    return (
        f"nbflow client, {x['runs']:,} runs: list + read, whole process "
        f"{each(x['whole_process_runs_s'])}; in-process first list {fs(x['first_list_s'])}, "
        f"first read {fs(x['first_read_s'])}, import {fs(x['import_s'])}; with id/status/start "
        f"{fs(x['list_with_status_s'])}; a 2-step `%flow run` {fs(x['flow_run_s'])}"
    )


# One line of details for each script that ran: (its name in the results, what to say).
DETAILS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    (
        "mf_linear",
        lambda x: (
            f"Metaflow linear: {fs(x['run_s'])} per run, {fs(x['per_task_s'])} per task "
            f"(runs: {each(x['runs_s'])})"
        ),
    ),
    (
        "nb_linear",
        lambda x: (
            f"nbflow linear: runs {each(x['runs_s'])} (first {fs(x['first_run_s'])}); a step "
            f"cell {fs(x['step_cell_s'])}; tasks {x['task_statuses']}"
        ),
    ),
    ("nb_cli_run", cli_run_detail),
    ("mf_foreach", mf_foreach_detail),
    ("mf_foreach_1000", mf_foreach_detail),
    ("nb_foreach_100", foreach_detail),
    ("nb_foreach", foreach_detail),
    ("nb_foreach_proc", foreach_detail),
    (
        "nb_cpu",
        lambda x: (
            f"nbflow CPU-bound: spin({x['spin_n']:,}) calibrated to {fs(x['element_s'])}; "
            f"kernel executor runs {each(x['kernel_runs_s'])}; processes "
            f"{each(x['processes_runs_s'])}; plain Pool {each(x['pool_runs_s'])}; median "
            f"processes run: tasks busy {fs(x['busy_s'])}, 2+ at once {fs(x['overlap_s'])}, sum "
            f"of task times {fs(x['sum_task_s'])}; the kernel's own CPU during it "
            f"{fs(x['kernel_cpu_during_processes_s'])}; load average {x['loadavg_1min']:.2f}"
        ),
    ),
    (
        "nb_cache",
        lambda x: (
            f"nbflow cache: {x['tasks']} tasks; first run {fs(x['first_run_s'])} "
            f"({fs(x['first_per_task_s'])}/task, {x['first_task_statuses']}); cached runs "
            f"{each(x['cached_runs_s'])} ({x['task_statuses']})"
        ),
    ),
    (
        "np_io",
        lambda x: (
            f"numpy (anchors venv), {fbytes(x['bytes'])}: np.save {fs(x['np_save_s'])}, np.load "
            f"in-process {fs(x['np_load_inproc_s'])}, in a fresh process "
            f"{fs(x['np_load_fresh_s'])}; xxh3_128 {each(x['xxh3_128_runs_s'])}; sha1 "
            f"{fs(x['sha1_s'])}"
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
        "nb_array",
        lambda x: (
            f"nbflow array: whole-cell difference {fs(x['persist_extra_whole_cell_s'])}; "
            f"first pass over the loaded array {fs(x['load_first_pass_s'])} (np.load's "
            f"{fs(x['np_load_first_pass_s'])}); loaded as {x['loaded_type']}"
        ),
    ),
    (
        "mf_list",
        lambda x: (
            f"Metaflow client, {x['runs']} runs: list + read, whole process "
            f"{each(x['whole_process_runs_s'])}; in-process first list {fs(x['first_list_s'])}, "
            f"first read {fs(x['first_read_s'])}, import {fs(x['import_s'])}; with "
            f"id/successful/created_at {fs(x['list_with_status_s'])}"
        ),
    ),
    ("nb_runs_list_50", runs_list_detail),
    ("nb_runs_list", runs_list_detail),
    (
        "mf_resume",
        lambda x: (
            f"Metaflow resume (5 steps, step 4 failed): runs {each(x['resume_runs_s'])}; the "
            f"failing run {fs(x['failing_run_s'])}"
        ),
    ),
    (
        "nb_resume",
        lambda x: (
            f"nbflow resume: {fs(x['resume_s'])} whole, re-run tasks' own time "
            f"{fs(x['rerun_tasks_s'])}, overhead {fs(x['overhead_s'])} (runs "
            f"{each(x['overhead_runs_s'])}); the failing `%flow run` "
            f"{fs(x['failing_run_s'])}; resumed run's tasks {x['task_statuses']}"
        ),
    ),
    (
        "nb_cli_resume",
        lambda x: (
            f"nbflow resume (command): runs {each(x['resume_runs_s'])}; the failing `nbflow run` "
            f"{fs(x['failing_run_s'])}; resumed run's tasks {x['task_statuses']}"
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
        "nb_startup",
        lambda x: (
            f"nbflow start-up: import {fs(x['import_whole_process_s'])} whole process "
            f"(pass {fs(x['pass_s'])}); first step cell after %load_ext "
            f"{fs(x['first_step_cell_s'])}"
        ),
    ),
    ("nb_cli_batch", cli_batch_detail),
    (
        "nb_foreach_scale",
        lambda x: (
            "nbflow foreach at scale: "
            + "; ".join(
                f"N={row['n']:,} {row['executor']} {fs(row['run_s'])}, "
                f"{row['redraws']:g} live-graph redraws, load {row['loadavg_1min']:.1f}"
                for row in x["rows"]
            )
        ),
    ),
    (
        "nb_dask",
        lambda x: (
            f"nbflow on Dask N={x['n']:,}: runs {each(x['runs_s'])} (warm-up "
            f"{fs(x['warmup_run_s'])}); Dask map + gather {each(x['dask_runs_s'])} (warm-up "
            f"{fs(x['warmup_dask_s'])}); cluster start {fs(x['cluster_start_s'])}; tasks "
            f"{x['task_statuses']}"
        ),
    ),
    (
        "nb_s3",
        lambda x: (
            f"nbflow S3 {fbytes(x['bytes'])}: save {each(x['put_runs_s'])}; raw put "
            f"{each(x['raw_put_runs_s'])} (16 MiB parts: {each(x['raw_put_16mib_runs_s'])}); "
            f"load {each(x['get_runs_s'])}; raw get {each(x['raw_get_runs_s'])} (16 MiB "
            f"ranges: {each(x['raw_get_16mib_runs_s'])})"
        ),
    ),
]


def details(r: dict[str, dict[str, Any]]) -> list[str]:
    return [say(r[name]) for name, say in DETAILS if ok(r.get(name, {}))]


def metaflow_version() -> str:
    try:
        return subprocess.run(
            [str(ANCHORS_PY), "-c", "import metaflow; print(metaflow.__version__)"],
            capture_output=True,
            text=True,
            check=True,
            cwd=tempfile.gettempdir(),
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main() -> None:
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        action="store_true",
        help="skip the slow Metaflow foreach; quote ANCHORS.md for it",
    )
    mode.add_argument(
        "--full",
        action="store_true",
        help="also run the Metaflow foreach with 1,000 elements (~5 min) beside N=100",
    )
    mode.add_argument(
        "--smoke",
        action="store_true",
        help="every workload once at small sizes (CI: the scripts cannot rot; ~2 min)",
    )
    p.add_argument("--out", default=None, help="where the raw figures go (JSON)")
    args = p.parse_args()
    mode_name = next((m for m in ("quick", "full", "smoke") if getattr(args, m)), "default")
    out = Path(args.out or BENCH / "results" / ("smoke.json" if args.smoke else "last.json"))

    started = time.strftime("%Y-%m-%d %H:%M:%S")
    load0 = os.getloadavg()[0]  # others' work on the machine: the noise of this run
    t0 = time.perf_counter()
    results = {name: run_job(name, cmd) for name, cmd in jobs(args)}
    total = time.perf_counter() - t0
    out.parent.mkdir(parents=True, exist_ok=True)  # first: the figures survive a broken table
    load = f"load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    out.write_text(
        json.dumps(
            {"started": started, "mode": mode_name, "load": load, "results": results}, indent=1
        )
    )

    print()
    print(
        f"nbflow benchmarks · {started} · mode {mode_name} · {os.cpu_count()} cores · Python "
        f"{platform.python_version()} · Metaflow {metaflow_version()} · {total:.0f} s in all "
        f"· {load}"
    )
    print(
        "Medians; every anchor measured in this run unless marked quoted; ratio = anchor / nbflow."
    )
    if args.smoke:
        print(
            "SMOKE MODE: every workload once, at small sizes, only to show that every script "
            "still runs; its figures, ratios and targets met mean nothing."
        )
    print()
    print_table(HEADER, rows(results, args))
    print()
    for line in details(results):
        print(f"  · {line}")
    failed = {k: v for k, v in results.items() if not ok(v)}
    for name, res in failed.items():
        print(f"\n✗ {name} failed (exit {res.get('_exit')}):\n{res['_error']}")

    print(f"\n(raw figures: {out})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
