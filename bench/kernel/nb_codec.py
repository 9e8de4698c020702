#!/usr/bin/env python3
"""Compression where it pays (issue 16): values of --mib MiB saved by nbflow's ArtifactStore
to a local folder and loaded back, beside the same bytes raw (np.save / np.load to the same
disk) and gzip-3 (Metaflow's codec: zlib level 3 of the same pickle, then its inflate).

Values: random float64 (incompressible: nbflow must write it raw, at np.save's speed), an
`np.arange` float64 array and a repetitive DataFrame (compressible). Figures per value: bytes
on disk and seconds to persist and to load, each a median over --repeat rounds (after one
warm-up unless --no-warmup), all in this process, the page cache warm. Targets (issue 16):
random persist <= 1.5x np.save, load <= 1.2x np.load.
"""

from __future__ import annotations

import pickle
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from harness import cli, dir_size, emit, log, median, prefault, scratch

from nbflow.store.blobs import ArtifactStore, LocalBlobStore


def values(mib: int) -> dict[str, Any]:
    n = (mib << 20) // 8
    rows = n // 2
    return {
        "random": np.random.default_rng(0).random(n),
        "arange": np.arange(n, dtype=np.float64),
        "frame": pd.DataFrame(
            {"store": np.tile(np.arange(50), rows // 50 + 1)[:rows], "qty": np.ones(rows)}
        ),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def one_round(tmp: Path, name: str, value: Any, r: int) -> dict[str, tuple[float, float, int]]:
    """{tool: (persist s, load s, bytes on disk)} for one value, each tool once."""
    out: dict[str, tuple[float, float, int]] = {}
    folder = tmp / f"{name}-{r}"
    store = ArtifactStore(LocalBlobStore(folder))
    prefault()
    save_s, stored = timed(lambda: store.save(value))
    prefault()
    load_s, _ = timed(lambda: store.load(stored.key))
    out["nbflow"] = (save_s, load_s, dir_size(folder / "blobs"))

    raw = tmp / f"{name}-{r}.npy"
    as_array = value.to_numpy() if isinstance(value, pd.DataFrame) else value
    prefault()
    save_s, _ = timed(lambda: np.save(raw, as_array))
    prefault()
    load_s, _ = timed(lambda: np.load(raw))
    out["raw"] = (save_s, load_s, raw.stat().st_size)

    gz = tmp / f"{name}-{r}.gz"
    prefault()
    save_s, _ = timed(lambda: gz.write_bytes(zlib.compress(pickle.dumps(value, 5), 3)))
    prefault()
    load_s, _ = timed(lambda: pickle.loads(zlib.decompress(gz.read_bytes())))
    out["gzip3"] = (save_s, load_s, gz.stat().st_size)
    for path in (raw, gz):
        path.unlink()
    return out


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--mib", type=int, default=256, help="size of each value")
    args = p.parse_args()
    result: dict[str, Any] = {"mib": args.mib}
    with scratch("nb-codec") as tmp:
        for name, value in values(args.mib).items():
            if args.warmup:
                one_round(tmp, name, value, -1)
            rounds = [one_round(tmp, name, value, r) for r in range(args.repeat)]
            figures = {
                tool: {
                    "persist_s": median([got[tool][0] for got in rounds]),
                    "load_s": median([got[tool][1] for got in rounds]),
                    "bytes": rounds[-1][tool][2],
                }
                for tool in rounds[0]
            }
            result[name] = figures
            log(
                f"{name}: "
                + "; ".join(
                    f"{tool} {f['persist_s'] * 1e3:.0f}/{f['load_s'] * 1e3:.0f} ms "
                    f"{f['bytes'] / 2**20:.1f} MiB"
                    for tool, f in figures.items()
                )
            )
    random = result["random"]
    result["random_persist_x_np_save"] = random["nbflow"]["persist_s"] / random["raw"]["persist_s"]
    result["random_load_x_np_load"] = random["nbflow"]["load_s"] / random["raw"]["load_s"]
    emit(result, args.json)


if __name__ == "__main__":
    main()
