#!/usr/bin/env python3
"""The scale plot: time and memory per task against N, for the foreach rows of one run.

Reads nb_foreach_scale.py's figures (its own --json line, or bench/run's results file, whose
`nb_foreach_scale` entry holds them) and draws two panels over N on a log axis: milliseconds
per task (with issue 16's 0.3 ms target for the kernel) and the kernel's memory growth per
task over the run (peak RSS, labelled at each point), one line per executor. Linear cost is a
flat line.   .venv/bin/python bench/plot.py [FIGURES.json] [--out bench/results/foreach_scale.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchlib import BENCH, last_json

TARGET_MS = 0.3  # issue 16: per task, kernel executor, at N = 100,000
STYLE = {"kernel": ("tab:blue", "o"), "processes": ("tab:orange", "s")}


def scale_rows(path: Path) -> tuple[list[dict[str, Any]], str]:
    """The rows (one per executor and N) and the run's load note, from either file."""
    text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = last_json(text)
    if "results" in data:  # bench/run's results file
        found = data["results"]["nb_foreach_scale"]
        return found["rows"], load_note(found["rows"])
    return data["rows"], load_note(data["rows"])


def load_note(rows: list[dict[str, Any]]) -> str:
    loads = [r["loadavg_1min"] for r in rows]
    return f"load average {min(loads):.1f} to {max(loads):.1f} on 2 cores"


def plot(rows: list[dict[str, Any]], note: str, out: Path) -> None:
    import matplotlib  # only this script draws: bench/run itself needs no matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (per_task, added, peak) = plt.subplots(1, 3, figsize=(14, 4.4), constrained_layout=True)
    for executor in dict.fromkeys(r["executor"] for r in rows):
        mine = sorted((r for r in rows if r["executor"] == executor), key=lambda r: r["n"])
        ns = [r["n"] for r in mine]
        color, marker = STYLE.get(executor, ("tab:gray", "^"))
        workers = f", {mine[0]['workers']} workers" if mine[0]["workers"] else ""
        label = f"{executor} executor{workers}"
        line = {"marker": marker, "color": color}
        per_task.plot(ns, [r["per_task_s"] * 1e3 for r in mine], label=label, **line)
        added.plot(ns, [r["rss_per_task_bytes"] / 1024 for r in mine], label=label, **line)
        peak.plot(ns, [r["peak_rss_bytes"] / 2**20 for r in mine], label=f"{label}: kernel process",
                  **line)  # fmt: skip
        if any(r.get("worker_peak_rss_bytes") for r in mine):
            peak.plot(ns, [(r["worker_peak_rss_bytes"] or 0) / 2**20 for r in mine],
                      linestyle=":", label=f"{label}: largest worker", **line)  # fmt: skip
    per_task.axhline(TARGET_MS, color="tab:red", linestyle="--", linewidth=1)
    per_task.annotate(f"target {TARGET_MS} ms/task (kernel, N = 100,000)", (0.98, TARGET_MS),
                      xycoords=("axes fraction", "data"), xytext=(0, 4),
                      textcoords="offset points", ha="right", fontsize=8,
                      color="tab:red")  # fmt: skip
    per_task.set(title="time per task: whole `%flow run` / (N + 2)", ylabel="ms per task")
    added.set(title="kernel memory per task: peak RSS growth / (N + 2)", ylabel="KiB per task")
    peak.set(title="peak RSS (log-log: linear growth is slope 1)", ylabel="MiB", yscale="log")
    peak.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    peak.yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
    for ax in (per_task, added, peak):
        ax.set_xscale("log")
        ax.set_xlabel("N (foreach elements)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    for ax in (per_task, added):
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.25)  # room for the legend
    fig.suptitle(f"nbflow: foreach over N trivial elements + join, one run ({note})", fontsize=10)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(prog="bench/plot.py", description=__doc__)
    p.add_argument("figures", nargs="?", default=str(BENCH / "results" / "last.json"))
    p.add_argument("--out", default=str(BENCH / "results" / "foreach_scale.png"))
    args = p.parse_args()
    rows, note = scale_rows(Path(args.figures))
    plot(rows, note, Path(args.out))
    print(args.out)


if __name__ == "__main__":
    main()
