#!/usr/bin/env python3
"""Bytes stored per run (issue 16): notebooks/hearthstone.ipynb and the port of Metaflow's
tutorial 02 (tests/ports/notebooks/02_statistics.ipynb, its movies.csv beside) run by `nbflow
run`, beside Metaflow's `.metaflow` for the same flow: the notebook exported by `nbflow export
--to metaflow` (so mechanically the same flow) and run by the anchors' Metaflow; each tool runs
each flow twice with its defaults into a fresh datastore of its own. Figures: the datastore's
bytes on disk after the first run and after both; for nbflow also the plain bytes of the same
blobs (what it stored before compression, read from each compressed blob's header), so the
codec's share shows apart from deduplication.

Target: nbflow's bytes at most 0.5x Metaflow's. Metaflow dedups identical artifacts too (its
content-addressed store) and gzips each one; nbflow's second run reuses every unchanged task
(its cache), so it adds only the run's records and the executed notebook.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from harness import (
    ANCHORS_PY,
    NBFLOW_CLI,
    REPO,
    child_env,
    cli,
    dir_size,
    emit,
    executable,
    log,
    run_timed,
    scratch,
)

PORTS = REPO / "tests" / "ports"


@dataclass(frozen=True)
class Workload:
    """A notebook, the files it reads (copied beside it, to the same relative paths) and the
    run's parameters, the same for `nbflow run -p` and for the exported flow's `--NAME`."""

    notebook: Path
    folder: str  # where it runs, under the scratch folder of each tool
    data: tuple[tuple[Path, str], ...] = ()  # (file, its path under the scratch folder)
    params: tuple[tuple[str, str], ...] = ()


def workloads(n_decks: int, movies: int | None) -> dict[str, Workload]:
    csv = "movies.csv" if movies is None else f"movies-{movies}.csv"  # smoke: the first rows
    return {
        "hearthstone": Workload(
            REPO / "notebooks" / "hearthstone.ipynb", "hearthstone",
            params=(("n_decks", str(n_decks)),),
        ),
        # Metaflow's tutorial 02 (MovieStatsFlow) as ported: a foreach over the genres.
        "statistics": Workload(
            PORTS / "notebooks" / "02_statistics.ipynb", "notebooks",
            data=((PORTS / "data" / "02-statistics" / "movies.csv",
                   "data/02-statistics/movies.csv"),),
            params=(("movie_data_path", f"../data/02-statistics/{csv}"),),
        ),
    }  # fmt: skip


def lay_out(workload: Workload, root: Path, movies: int | None) -> Path:
    """The notebook and its data under root; the folder it runs in."""
    folder = root / workload.folder
    folder.mkdir(parents=True)
    shutil.copy(workload.notebook, folder)
    for source, relative in workload.data:
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        if movies is not None:  # smoke: the first rows only (fewer genres, fewer tasks)
            lines = source.read_text().splitlines(keepends=True)
            target.with_name(f"movies-{movies}.csv").write_text("".join(lines[: movies + 1]))
    return folder


def nbflow_bytes(tmp: Path, workload: Workload, runs: int, movies: int | None) -> dict[str, object]:
    from nbflow.store.blobs import codec

    folder = lay_out(workload, tmp / "nbflow", movies)
    store = tmp / "nbflow-store"
    env = child_env(store)
    params = [arg for name, value in workload.params for arg in ("-p", name, value)]
    after: list[int] = []
    for r in range(runs):
        cmd = [executable(NBFLOW_CLI), "run", workload.notebook.name, *params]
        dt, _ = run_timed(cmd, env=env, cwd=folder, timeout=900)
        after.append(dir_size(store))
        log(f"nbflow run {r + 1}/{runs}: {dt:.1f} s, store {after[-1] / 1e6:.1f} MB")
    blobs = [p for p in (store / "blobs").glob("*/*") if p.is_file()]
    on_disk = sum(p.stat().st_size for p in blobs)
    plain = 0
    for path in blobs:
        with path.open("rb") as file:
            plain += codec.plain_size(file.read(codec.HEADER_SIZE), path.stat().st_size)
    return {"bytes_after": after, "blob_bytes": on_disk, "blob_plain_bytes": plain}


def metaflow_bytes(
    tmp: Path, workload: Workload, runs: int, movies: int | None
) -> dict[str, object]:
    """The notebook exported (`nbflow export --to metaflow`), run by the anchors' Metaflow."""
    sys.path.insert(0, str(REPO / "bench" / "anchors"))
    from common import metaflow_env  # the anchors' Metaflow settings: a datastore of its own

    home = tmp / "metaflow"
    folder = lay_out(workload, home, movies)
    flow = folder / f"{workload.notebook.stem}_flow.py"
    cmd = [executable(NBFLOW_CLI), "export", workload.notebook.name, "--to", "metaflow",
           "-o", flow.name]  # fmt: skip
    run_timed(cmd, env=child_env(tmp / "unused-store"), cwd=folder, timeout=300)
    env = metaflow_env(home)
    # The export imports what the notebook imports (hearthstone: nbflow.examples.hearthstone).
    env["PYTHONPATH"] = str(REPO)
    params = [arg for name, value in workload.params for arg in (f"--{name}", value)]
    after: list[int] = []
    for r in range(runs):
        cmd = [str(ANCHORS_PY), flow.name, "--no-pylint", "run", *params]
        dt, _ = run_timed(cmd, env=env, cwd=folder, timeout=1800)
        after.append(dir_size(home / "store"))
        log(f"metaflow run {r + 1}/{runs}: {dt:.1f} s, .metaflow {after[-1] / 1e6:.1f} MB")
    return {"bytes_after": after, "flow_lines": len(flow.read_text().splitlines())}


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--runs", type=int, default=2, help="runs of each flow by each tool")
    p.add_argument("--decks", type=int, default=3000, help="n_decks (the notebook's default)")
    p.add_argument("--movies", type=int, help="tutorial 02: only the CSV's first N movies")
    p.add_argument("--only", choices=["hearthstone", "statistics"], action="append")
    args = p.parse_args()
    found: dict[str, object] = {}
    for name, workload in workloads(args.decks, args.movies).items():
        if args.only and name not in args.only:
            continue
        log(f"-- {name}")
        with scratch(f"nb-bytes-{name}") as tmp:
            metaflow = metaflow_bytes(tmp, workload, args.runs, args.movies)
            nbflow = nbflow_bytes(tmp, workload, args.runs, args.movies)
        ratio = nbflow["bytes_after"][-1] / metaflow["bytes_after"][-1]  # type: ignore[index]
        found[name] = {"params": dict(workload.params), "nbflow": nbflow,
                       "metaflow": metaflow, "x_metaflow": ratio}  # fmt: skip
    emit({"runs": args.runs, "n_decks": args.decks, "movies": args.movies, **found}, args.json)


if __name__ == "__main__":
    main()
