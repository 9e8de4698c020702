#!/usr/bin/env python3
"""nbflow to S3: one 256 MiB float64 array through nbflow's ArtifactStore to a moto server,
against the server's own put (and get) throughput with plain s3fs (issue 7).

A moto server (tests/s3server.py's S3Server: `moto_server` on 127.0.0.1, objects in its memory)
and a bucket. Each round, alternating the order:

* persist: `ArtifactStore(open_blob_store("s3://bench/nb-<round>", storage_options)).save(a)`,
  a fresh prefix each round so that the blob really uploads (encode + xxh3 hash + multipart
  upload); against `fs.pipe_file(path, data)` of the same bytes (prepared before the clock) on a
  plain `s3fs.S3FileSystem`, twice: with s3fs's defaults (50 MiB parts, up to 10 at once) and
  with nbflow's part size and concurrency (16 MiB, 8 at once).
* load: `ArtifactStore(FsspecBlobStore(url, storage_options, cache=False)).load(key)` (no local
  read cache: every byte crosses the network; verified, then decoded), against
  `fs.cat_file(path)` (one GET) and `fs.cat_ranges` of 16 MiB ranges, 8 at once, joined.

The anchor of each is the faster raw way (median against median): the server's own throughput,
as far as plain s3fs reaches it.

One warm-up round first, then --repeat rounds; medians. Every object is deleted after its round
(moto keeps them in memory). Before each timed operation 4x the array's size is touched and
freed (harness.prefault; see there). Target: persist within 1.5x of the raw put. --mib sets the
array's size (bench/run --smoke: 8).
"""

from __future__ import annotations

import sys
import time

from harness import REPO, cli, emit, log, median, prefault

sys.path.insert(0, str(REPO / "tests"))  # tests/s3server.py

BUCKET = "bench"


def timed(fn, ready_mib: int) -> tuple[float, object]:
    prefault(ready_mib)
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:  # noqa: PLR0915 (one benchmark, straight through)
    p = cli(__doc__)
    p.add_argument("--mib", type=int, default=256, help="the array's size in MiB (float64)")
    p.set_defaults(repeat=3)
    args = p.parse_args()
    n, ready = args.mib * 2**20 // 8, 4 * args.mib

    import numpy as np
    import s3fs
    from s3server import S3Server

    from nbflow.store.blobs.artifacts import ArtifactStore
    from nbflow.store.blobs.remote import FsspecBlobStore, open_blob_store

    a = np.random.default_rng(7).random(n)
    data = a.tobytes()  # the raw put's bytes, ready before its clock starts
    with S3Server() as server:
        opts = server.storage_options()
        server.client().create_bucket(Bucket=BUCKET)
        fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False, **opts)

        def nb_round(r: int) -> dict[str, float]:
            url = f"s3://{BUCKET}/nb-{r}"
            store = ArtifactStore(open_blob_store(url, opts))  # opening (bucket check): untimed
            put_s, stored = timed(lambda: store.save(a), ready)
            reader = ArtifactStore(FsspecBlobStore(url, opts, cache=False))
            get_s, back = timed(lambda: reader.load(stored.key), ready)  # type: ignore[attr-defined]
            if not np.array_equal(back, a):  # every byte, after the clock
                raise SystemExit(f"nbflow loaded the wrong array: {back[:3]}")
            del back
            fs.rm(f"{BUCKET}/nb-{r}", recursive=True)
            return {"put": put_s, "get": get_s}

        part = 16 << 20  # nbflow's part size (and 8 at once, its concurrency)
        starts = list(range(0, len(data), part))
        ends = [min(x + part, len(data)) for x in starts]

        def raw_round(r: int) -> dict[str, float]:
            # s3fs's defaults (50 MiB parts, 10 at once) and nbflow's part size and concurrency
            path, path2 = f"{BUCKET}/raw-{r}/a.bin", f"{BUCKET}/raw-{r}/b.bin"
            put_s, _ = timed(lambda: fs.pipe_file(path, data), ready)
            put16_s, _ = timed(
                lambda: fs.pipe_file(path2, data, chunksize=part, max_concurrency=8), ready
            )
            get_s, back = timed(lambda: fs.cat_file(path), ready)
            if len(back) != len(data):  # type: ignore[arg-type]
                raise SystemExit(f"raw get: {len(back)} bytes, not {len(data)}")  # type: ignore[arg-type]
            del back
            get16_s, back = timed(
                lambda: b"".join(fs.cat_ranges([path2] * len(starts), starts, ends, batch_size=8)),
                ready,
            )
            if back != data:
                raise SystemExit("raw ranged get: wrong bytes")
            del back
            fs.rm(f"{BUCKET}/raw-{r}", recursive=True)
            return {"put": put_s, "get": get_s, "put16": put16_s, "get16": get16_s}

        nb_round(-1), raw_round(-1)  # warm-up: connections, first multipart upload
        nb, raws = [], []
        for r in range(args.repeat):
            if r % 2 == 0:
                nb.append(nb_round(r))
                raws.append(raw_round(r))
            else:
                raws.append(raw_round(r))
                nb.append(nb_round(r))
            log(
                f"S3 round {r + 1}: nbflow put {nb[-1]['put']:.3f} s, get {nb[-1]['get']:.3f} s; "
                f"raw s3fs put {raws[-1]['put']:.3f} s / {raws[-1]['put16']:.3f} s (16 MiB parts), "
                f"get {raws[-1]['get']:.3f} s / {raws[-1]['get16']:.3f} s (16 MiB ranges)"
            )

    put, get = median([x["put"] for x in nb]), median([x["get"] for x in nb])
    raw = {k: median([x[k] for x in raws]) for k in ("put", "put16", "get", "get16")}
    # the anchor: the faster raw way, the server's own throughput as far as we can reach it
    raw_put, raw_get = min(raw["put"], raw["put16"]), min(raw["get"], raw["get16"])
    result = {
        "bench": "nbflow_s3",
        "bytes": n * 8,
        "put_s": put,
        "raw_put_s": raw_put,
        "put_ratio": put / raw_put,
        "get_s": get,
        "raw_get_s": raw_get,
        "get_ratio": get / raw_get,
        "put_mib_s": args.mib / put,
        "raw_put_mib_s": args.mib / raw_put,
        "get_mib_s": args.mib / get,
        "raw_get_mib_s": args.mib / raw_get,
        "raw_put_default_s": raw["put"],
        "raw_put_16mib_s": raw["put16"],
        "raw_get_whole_s": raw["get"],
        "raw_get_16mib_s": raw["get16"],
        "put_runs_s": [x["put"] for x in nb],
        "raw_put_runs_s": [x["put"] for x in raws],
        "raw_put_16mib_runs_s": [x["put16"] for x in raws],
        "get_runs_s": [x["get"] for x in nb],
        "raw_get_runs_s": [x["get"] for x in raws],
        "raw_get_16mib_runs_s": [x["get16"] for x in raws],
    }
    log(
        f"nbflow S3 {args.mib} MiB: put {put:.3f} s vs raw {raw_put:.3f} s "
        f"({result['put_ratio']:.2f}x); get {get:.3f} s vs raw {raw_get:.3f} s "
        f"({result['get_ratio']:.2f}x)"
    )
    emit(result, args.json)


if __name__ == "__main__":
    main()
