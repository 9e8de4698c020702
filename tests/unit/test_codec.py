"""Blobs compressed where it pays and only there (issue 16): every codec path round-trips, the
key stays the hash of the plain bytes, a store written before compression reads as before, and
`nbflow fsck` checks a store that mixes both."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from nbflow.exceptions import IntegrityError
from nbflow.store.blobs import ArtifactStore, LocalBlobStore, MemoryBlobStore, codec, encode, key_of


def stored_file(root: Path, key: str) -> Path:
    return root / "blobs" / key[:2] / key[2:]


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(LocalBlobStore(tmp_path))


def test_a_compressible_value_is_stored_compressed_under_its_plain_key(
    tmp_path: Path, store: ArtifactStore
) -> None:
    frame = pd.DataFrame({"a": np.tile(np.arange(100), 10_000), "b": ["x", "y"] * 500_000})
    stored = store.save(frame)
    on_disk = stored_file(tmp_path, stored.key).read_bytes()
    # (16× with pandas' Arrow-backed strings, where pyarrow is installed; 60× without)
    assert on_disk[:4] == b"NBZ1" and len(on_disk) < stored.size / 10
    assert stored.key == encode(frame).key  # the key of the plain bytes: dedup is unchanged
    pd.testing.assert_frame_equal(store.load(stored.key), frame)
    assert store.blobs.digest(stored.key) == stored.key  # fsck's hash is of the plain bytes
    assert store.blobs.plain_size(stored.key) == stored.size


def test_a_pickled_model_shrinks(tmp_path: Path, store: ArtifactStore) -> None:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 10))
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(x, x[:, 0] > 0)
    stored = store.save(forest)
    assert stored_file(tmp_path, stored.key).stat().st_size < 0.4 * stored.size
    again = store.load(stored.key)
    np.testing.assert_array_equal(again.predict(x), forest.predict(x))


def test_random_floats_are_written_raw_and_load_writable(
    tmp_path: Path, store: ArtifactStore
) -> None:
    noise = np.random.default_rng(1).random(1 << 20)  # 8 MiB that would shrink ~6%: not worth it
    stored = store.save(noise)
    on_disk = stored_file(tmp_path, stored.key)
    assert on_disk.read_bytes()[:4] == b"NBF1" and on_disk.stat().st_size == stored.size
    loaded = store.load(stored.key)
    np.testing.assert_array_equal(loaded, noise)
    assert loaded.flags.writeable and loaded.ctypes.data % 64 == 0  # decoded in place, aligned


def test_already_compressed_bytes_stay_raw() -> None:
    packed = pickle.dumps(os.urandom(1 << 20))
    assert not codec.worth_compressing([packed])
    assert codec.worth_compressing([bytes(1 << 20)])


def test_a_blob_mixing_a_small_pickle_and_a_large_random_buffer_is_judged_by_its_bulk() -> None:
    value = {"names": ["a"] * 10_000, "noise": np.random.default_rng(2).random(1 << 20)}
    assert not codec.worth_compressing(encode(value).chunks)


def test_a_store_written_before_compression_reads_as_before(tmp_path: Path) -> None:
    # Blob files as nbflow wrote them before: the plain bytes, under their hash.
    values = [np.arange(1 << 18), {"k": list(range(5000))}]
    keys = []
    for value in values:
        encoded = encode(value)
        path = stored_file(tmp_path, encoded.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(encoded.chunks))
        keys.append(encoded.key)
    store = ArtifactStore(LocalBlobStore(tmp_path))
    np.testing.assert_array_equal(store.load(keys[0]), values[0])
    assert store.load(keys[1]) == values[1]
    assert store.blobs.digest(keys[0]) == keys[0]
    # The same value saved now is not written again: the old raw file serves it.
    assert not store.blobs.put(keys[0], encode(values[0]).chunks)


def test_memory_store_round_trips_both_forms() -> None:
    store = ArtifactStore(MemoryBlobStore())
    small_noise = np.random.default_rng(3).random(10_000)
    for value in (np.zeros(100_000), small_noise):
        np.testing.assert_array_equal(store.load(store.save(value).key), value)


@pytest.mark.parametrize("damage", ["flip", "truncate", "header"])
def test_a_damaged_compressed_blob_is_refused_before_unpickling(
    tmp_path: Path, store: ArtifactStore, damage: str
) -> None:
    stored = store.save(np.arange(1 << 18))
    path = stored_file(tmp_path, stored.key)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        del data[-20:]
    else:  # the header claims more bytes than the frame holds
        data[4:12] = (stored.size + 8).to_bytes(8, "little")
    path.write_bytes(data)
    with pytest.raises(IntegrityError, match=stored.key):
        store.load(stored.key)
    assert store.blobs.digest(stored.key) != stored.key


def test_a_stored_frame_is_never_compressed_twice() -> None:
    pieces = list(codec.compressed([bytes(1 << 20)]))
    assert not codec.worth_compressing([b"".join(pieces)])  # a read cache copies what is stored


def test_digest_reads_in_pieces_the_plain_bytes() -> None:
    plain = bytes(range(256)) * 100_000
    frame = b"".join(codec.compressed([plain]))
    assert codec.digest(io.BytesIO(frame)) == key_of(plain) == codec.digest(io.BytesIO(plain))


def test_fsck_checks_a_store_mixing_raw_compressed_and_old_blobs(tmp_path: Path) -> None:
    env = {**os.environ, "NBFLOW_DATASTORE": str(tmp_path / "store"), "NBFLOW_CACHE": "off"}
    env.pop("NBFLOW_METADATA", None)
    notebook_free_flow = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "from nbflow.kernel.magics import load_ipython_extension\n"
        "ip = InteractiveShell.instance(); load_ipython_extension(ip)\n"
        "ip.run_cell('%flow name mixed')\n"
        "r = ip.run_cell('%%step start\\nimport numpy as np\\n"
        "zeros = np.zeros(1 << 18)\\nnoise = np.random.default_rng(0).random(1 << 18)')\n"
        "r.raise_error()\n"
    )
    subprocess.run([sys.executable, "-c", notebook_free_flow], env=env, check=True, timeout=120)
    blobs = sorted((tmp_path / "store" / "blobs").glob("*/*"))
    heads = sorted(path.read_bytes()[:4] for path in blobs)
    assert heads == [b"NBF1", b"NBZ1"]  # one of each
    done = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "fsck", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["problems"] == [], done.stdout + done.stderr
    compressed = next(p for p in blobs if p.read_bytes()[:4] == b"NBZ1")
    compressed.write_bytes(compressed.read_bytes()[:-30])  # cut short: same header
    done = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "fsck", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    (problem,) = json.loads(done.stdout)["problems"]
    assert done.returncode == 1 and problem["kind"] == "damaged-blob"
    assert "'zeros' of mixed/1/start/" in problem["message"]


@pytest.mark.parametrize(
    "value",
    [0, -7, 2**70, 3.25, float("nan"), True, None, "", "é" * 3, "x" * 100_000, b"\x00" * 70_000],
    ids=repr,
)
def test_a_plain_value_has_the_key_cloudpickle_gave_it(value: object) -> None:
    """Plain values skip cloudpickle (issue 16: a foreach's elements and indexes, one per task):
    their bytes, so their keys, are those earlier stores hold for them, and they load back."""
    encoded = encode(value)
    stream = io.BytesIO()
    cloudpickle.Pickler(stream, protocol=5).dump(value)
    assert encoded.chunks[1] == stream.getvalue()
    assert encoded.key == key_of(b"".join(encoded.chunks))
    loaded = ArtifactStore(MemoryBlobStore()).load(encoded.key, b"".join(encoded.chunks))
    assert pickle.dumps(loaded, protocol=5) == pickle.dumps(value, protocol=5)  # nan too
