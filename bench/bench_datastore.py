"""Save and load one 256 MiB float64 array: nbflow's datastore against np.save / np.load.

    .venv/bin/python bench/bench_datastore.py [--dir FOLDER] [--repeat N]

Both sides are measured in this run, in the same folder, interleaved, median of N. Loads run
in a fresh process each time, with numpy and nbflow already imported there, so the figure is
the load itself; the whole process's wall time is printed beside it. Files are read from the
page cache (warm): dropping the cache would disturb everything else on a shared machine.

Each side deletes its previous file before writing the next. On this virtual machine, writing
into page cache the guest has not used recently runs at ~0.4 GiB/s against ~5 GiB/s into
memory just freed (the host backs guest memory lazily); a side that kept its old files would
pay that and the other would not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nbflow.store.blobs import ArtifactStore, LocalBlobStore

SAVE_TARGET = 3.0  # at most 3x np.save
LOAD_TARGET = 2.0  # at most 2x np.load

_LOAD_NBFLOW = """
import sys, time
import numpy
from nbflow.store.blobs import ArtifactStore, LocalBlobStore
store = ArtifactStore(LocalBlobStore(sys.argv[1]))
t = time.perf_counter()
a = store.load(sys.argv[2])
print(time.perf_counter() - t, a.shape[0])
"""

_LOAD_NUMPY = """
import sys, time
import numpy
t = time.perf_counter()
a = numpy.load(sys.argv[1])
print(time.perf_counter() - t, a.shape[0])
"""


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    os.sync()  # start each write or read with no other dirty pages being flushed
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def load_in_fresh_process(script: str, *args: str) -> tuple[float, float]:
    """(seconds inside the process for the load, wall seconds for the whole process)"""
    os.sync()
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True
    ).stdout
    wall = time.perf_counter() - start
    seconds, length = out.split()
    assert int(length) == 32 * 1024 * 1024
    return float(seconds), wall


def line(label: str, ours: float, baseline: float, target: float | None) -> None:
    ratio = ours / baseline
    verdict = (
        ""
        if target is None
        else f"  target <= {target:.0f}x: " + ("ok" if ratio <= target else "MISSED")
    )
    print(f"{label:<34} {ours:8.3f} s   baseline {baseline:7.3f} s   {ratio:5.2f}x{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="folder for the files")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    array = np.random.default_rng(0).random(32 * 1024 * 1024)
    with tempfile.TemporaryDirectory(prefix="nbflow-bench-", dir=args.dir) as tmp:
        folder = Path(tmp)
        npy = folder / "array.npy"
        np_save, nb_save, nb_again = [], [], []
        key = ""
        root = folder / "store"

        def save() -> None:
            nonlocal key
            key = ArtifactStore(LocalBlobStore(root)).save(array).key

        for _ in range(args.repeat):
            npy.unlink(missing_ok=True)
            np_save.append(timed(lambda: np.save(npy, array)))
            shutil.rmtree(root, ignore_errors=True)  # a fresh store, so the save really writes
            nb_save.append(timed(save))
            # The same value bound again: pickled and hashed, not written.
            store = ArtifactStore(LocalBlobStore(root))
            nb_again.append(timed(lambda store=store: store.save(array)))

        np_load, nb_load, np_wall, nb_wall = [], [], [], []
        for _ in range(args.repeat):
            seconds, wall = load_in_fresh_process(_LOAD_NUMPY, str(npy))
            np_load.append(seconds)
            np_wall.append(wall)
            seconds, wall = load_in_fresh_process(_LOAD_NBFLOW, str(root), key)
            nb_load.append(seconds)
            nb_wall.append(wall)

    med = statistics.median
    print(f"256 MiB float64 array, median of {args.repeat}, files in {folder.parent}")
    line("save (ArtifactStore vs np.save)", med(nb_save), med(np_save), SAVE_TARGET)
    line("save identical value again", med(nb_again), med(np_save), None)
    line("load, fresh process (vs np.load)", med(nb_load), med(np_load), LOAD_TARGET)
    line("  whole load process, wall", med(nb_wall), med(np_wall), None)


if __name__ == "__main__":
    main()
