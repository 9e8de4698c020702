"""`bench/run --smoke`: every benchmark script, nbflow's and the anchors' (Metaflow in its own
venv, papermill, numpy), runs once at small sizes, so that none of them rots unseen.

Only that the command succeeds and that its table has a figure for every workload of the
benchmark is checked: figures are never asserted in tests (the machine is shared and small
sizes mean nothing). The first run creates bench/.venv-anchors (pip, ~15 s with a warm cache).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# The benchmark's workloads, as the table's first column names them (sizes vary by mode).
WORKLOADS = {
    "linear flow, in the kernel": r"linear flow, .*in the kernel",
    "linear flow, whole process": r"linear flow, .*whole process",
    "foreach (kernel executor), two sizes": r"^foreach over [\d,]+ trivial elements \+ join, `",
    "foreach, processes executor": r"^foreach over .*processes executor",
    "CPU-bound foreach": r"CPU-bound elements",
    "cache hit": r"^cache hit",
    "array: persist": r"^step binding a .* array",
    "array: load in a fresh process": r"^load it in a fresh process",
    "array: bind again": r"^bind the identical array again",
    "physical limits": r"^physical limits",
    "client: list runs and read the latest data": r"^client in a fresh process: list .* read",
    "client: list runs, in-process": r"^list [\d,]+ runs through the client",
    "resume in the kernel": r"^`%flow resume`",
    "resume, whole process": r"^`nbflow resume`",
    "import nbflow": r"import nbflow",
    "%load_ext nbflow": r"^`%load_ext nbflow`",
    "nbflow run vs papermill": r"^`nbflow run` of a notebook",
    "each further cell": r"^each further cell",
    "nbflow batch vs papermill + xargs": r"^`nbflow batch`",
    "foreach, dask executor vs Dask alone": r"^foreach over .*dask executor",
    "array to S3: persist": r"^persist a .* array to S3",
    "array from S3: load": r"^load it back from S3",
    "first page of 10,000 runs: client, sidebar, nbflow runs": r"^first page \(50\) of a flow",
    "foreach at scale, each executor and size": r"^foreach at scale, N = ",
    "foreach at scale, growth per executor": r"^foreach at scale \(",
}
# The scale rows: 2 executors x 2 sizes in smoke mode, and one growth row per executor.
COUNT = {
    "foreach (kernel executor), two sizes": 2,
    "foreach at scale, each executor and size": 4,
    "foreach at scale, growth per executor": 2,
}


def table(stdout: str) -> list[list[str]]:
    """The rows of the printed markdown table, as lists of stripped cells (header excluded)."""
    lines = [line for line in stdout.splitlines() if line.startswith("| ")]
    assert lines and lines[0].startswith("| benchmark"), f"no table in:\n{stdout[-3000:]}"
    return [[cell.strip() for cell in line.strip().strip("|").split(" | ")] for line in lines[1:]]


@pytest.mark.bench
def test_bench_run_smoke() -> None:
    proc = subprocess.run(
        [str(REPO / "bench" / "run"), "--smoke"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    shown = f"--- stdout ---\n{proc.stdout[-8000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, shown
    assert "SMOKE MODE" in proc.stdout, shown
    rows = table(proc.stdout)
    for workload, pattern in WORKLOADS.items():
        found = [row for row in rows if re.search(pattern, row[0])]
        assert len(found) == COUNT.get(workload, 1), f"{workload}: {len(found)} rows\n{shown}"
        for row in found:
            assert re.search(r"\d", row[1]) and "error" not in row[1], f"{workload}: {row}"
    limits = next(row for row in rows if row[0].startswith("physical limits"))
    assert re.search(r"\d", limits[3]), f"no physical limits measured: {limits}"
    assert not [row for row in rows if "error" in row], shown
