"""The datastore against real files: blob format, content addressing, integrity, previews."""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from needs import missing

from nbflow.exceptions import DatastoreError, IntegrityError
from nbflow.store.blobs import (
    ArtifactStore,
    LocalBlobStore,
    MemoryBlobStore,
    UnstorableValue,
    decode,
    encode,
    key_of,
    preview,
)

BIG = 1 << 20  # bytes: comfortably above inline_limit and the mmap threshold


def blob_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "blobs").rglob("*") if p.is_file())


def blob_path(root: Path, key: str) -> Path:
    return root / "blobs" / key[:2] / key[2:]


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(LocalBlobStore(tmp_path))


def roundtrip(store: ArtifactStore, value: object) -> object:
    stored = store.save(value)
    return store.load(stored.key, stored.inline)


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -(2**100),
        1.5,
        math.inf,
        3 - 4j,
        "",
        "héllo ✓",
        "x" * 100_000,
        b"\x00\xff" * 10,
        bytearray(b"abc"),
        [1, [2, [3, {"a": (4, 5)}]]],
        {"k": {1, 2, 3}, ("t",): frozenset({"z"}), "none": None},
    ],
    ids=repr,
)
def test_plain_values_round_trip(store: ArtifactStore, value: object) -> None:
    assert roundtrip(store, value) == value


def test_nan_round_trips(store: ArtifactStore) -> None:
    assert math.isnan(roundtrip(store, math.nan))  # type: ignore[arg-type]


def test_lambda_and_closure_round_trip(store: ArtifactStore) -> None:
    offset = 10

    def add(x: int) -> int:
        return x + offset

    assert roundtrip(store, lambda x: x * 3)(2) == 6  # type: ignore[operator]
    assert roundtrip(store, add)(1) == 11  # type: ignore[operator]


def test_notebook_code_travels_by_value_to_a_fresh_process(tmp_path: Path) -> None:
    # Code defined in a notebook lives in __main__; another process cannot import it, so it
    # must be inside the blob.
    namespace: dict[str, object] = {"__name__": "__main__"}
    exec(
        textwrap.dedent(
            """
            class Point:
                def __init__(self, x, y):
                    self.x, self.y = x, y
                def norm1(self):
                    return abs(self.x) + abs(self.y)

            def scale(p, k):
                return Point(p.x * k, p.y * k)
            """
        ),
        namespace,
    )
    point = namespace["Point"](3, -4)  # type: ignore[operator]
    store = ArtifactStore(LocalBlobStore(tmp_path), inline_limit=0)
    stored = store.save({"p": point, "scale": namespace["scale"]})
    assert stored.type_name == "builtins.dict"
    script = f"""
from nbflow.store.blobs import ArtifactStore, LocalBlobStore
v = ArtifactStore(LocalBlobStore({str(tmp_path)!r})).load({stored.key!r})
print(v["scale"](v["p"], 2).norm1(), type(v["p"]).__name__)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["14", "Point"]


@pytest.mark.parametrize(
    "array",
    [
        np.arange(200_000, dtype=np.float64),
        np.asfortranarray(np.arange(120_000, dtype=np.int32).reshape(300, 400)),
        np.arange(200_000)[::2],
        np.arange(24.0).reshape(2, 3, 4).transpose(1, 0, 2),
        np.array(7.25),
        np.array([1, "two", None, {"three": 3}], dtype=object),
        np.zeros(0, dtype=np.uint8),
        np.array([(1, 2.5)] * 2000, dtype=[("a", "i4"), ("b", "f8")]),
        np.arange(0, 5000, dtype="datetime64[s]"),
    ],
    ids=["c", "fortran", "sliced", "transposed", "0d", "object", "empty", "struct", "datetime"],
)
def test_numpy_arrays_round_trip(store: ArtifactStore, array: np.ndarray) -> None:
    loaded = roundtrip(store, array)
    assert isinstance(loaded, np.ndarray)
    assert loaded.dtype == array.dtype
    assert loaded.shape == array.shape
    if array.flags.f_contiguous and not array.flags.c_contiguous:
        assert loaded.flags.f_contiguous  # Fortran order survives, out-of-band and zero copy
    if array.dtype == object:
        assert loaded.tolist() == array.tolist()
    else:
        np.testing.assert_array_equal(loaded, array)
    assert loaded.flags.writeable


def test_large_array_is_decoded_in_place_from_the_blob() -> None:
    array = np.arange(BIG // 8, dtype=np.float64)
    encoded = encode(array)
    # The array's own memory is a chunk: it was not copied into the stream.
    assert any(
        isinstance(c, memoryview) and np.shares_memory(np.asarray(c), array) for c in encoded.chunks
    )
    blob = bytearray(b"".join(encoded.chunks))
    assert key_of(blob) == encoded.key
    assert len(blob) == encoded.size
    loaded = decode(blob)
    assert np.shares_memory(loaded, np.frombuffer(blob, dtype=np.uint8))
    assert loaded.flags.writeable and loaded.flags.aligned
    loaded[0] = 42.0  # writes go to the caller's buffer, not a hidden copy
    assert decode(blob)[0] == 42.0
    # From immutable bytes the array is read-only instead of copied.
    assert not decode(bytes(blob)).flags.writeable


def test_big_array_from_local_store_is_writable_and_aligned(store: ArtifactStore) -> None:
    array = np.random.default_rng(1).random(3 * BIG // 8)
    loaded = roundtrip(store, array)
    assert loaded.flags.writeable and loaded.flags.aligned  # type: ignore[attr-defined]
    loaded[:10] = 0  # type: ignore[index]
    np.testing.assert_array_equal(loaded[10:], array[10:])  # type: ignore[index]


def test_dataframe_with_mixed_dtypes_round_trips(store: ArtifactStore) -> None:
    n = 50_000
    frame = pd.DataFrame(
        {
            "i": np.arange(n),
            "f": np.linspace(0, 1, n),
            "s": [f"row{i}" for i in range(n)],
            "b": np.arange(n) % 2 == 0,
            "t": pd.date_range("2024-01-01", periods=n, freq="min"),
            "c": pd.Categorical(["x", "y"] * (n // 2)),
            "n": pd.array([1, None] * (n // 2), dtype="Int64"),
        },
        index=pd.RangeIndex(10, 10 + n, name="id"),
    )
    stored = store.save(frame)
    assert stored.inline is None
    assert stored.type_name == "pandas.DataFrame"
    pd.testing.assert_frame_equal(store.load(stored.key), frame)


def test_memory_blob_store_round_trips() -> None:
    store = ArtifactStore(MemoryBlobStore())
    array = np.arange(BIG // 8)
    stored = store.save(array)
    assert store.blobs.exists(stored.key)
    np.testing.assert_array_equal(store.load(stored.key), array)
    assert store.save(array) == stored


# --- content addressing ----------------------------------------------------------------------


def test_identical_values_share_a_key_and_are_written_once(
    tmp_path: Path, store: ArtifactStore
) -> None:
    first = store.save(np.arange(BIG // 8))
    files = blob_files(tmp_path)
    assert len(files) == 1
    inode = files[0].stat().st_ino

    again = store.save(np.arange(BIG // 8))  # equal value, different object
    assert again.key == first.key
    assert blob_files(tmp_path) == files
    # Not written again: the same file (a rewrite would link a new inode into place). Its
    # time is refreshed on purpose, so that gc spares a blob a new run is about to use.
    assert files[0].stat().st_ino == inode
    assert store.save(np.arange(BIG // 8 + 1)).key != first.key


def test_blob_layout_and_no_temp_files_left(tmp_path: Path, store: ArtifactStore) -> None:
    stored = store.save(np.random.default_rng(0).random(BIG // 8))  # random: stored raw
    path = blob_path(tmp_path, stored.key)
    assert path.stat().st_size == stored.size
    assert key_of(path.read_bytes()) == stored.key
    assert path.read_bytes()[:4] == b"NBF1"
    assert list((tmp_path / "blobs").rglob(".*")) == []


def test_put_is_create_only(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    key = key_of(b"payload")
    assert blobs.put(key, [b"pay", memoryview(b"load")]) is True
    assert blobs.put(key, [b"something else"]) is False
    assert bytes(blobs.get(key)) == b"payload"


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    key = key_of(b"never")
    with pytest.raises(TypeError):
        blobs.put(key, [b"ok", 123])  # type: ignore[list-item]
    assert not blobs.exists(key)
    assert blob_files(tmp_path) == []


def test_concurrent_writers_of_one_blob(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    encoded = encode(np.random.default_rng(2).random(4 * BIG // 8))
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def write() -> None:
        barrier.wait()
        results.append(blobs.put(encoded.key, encoded.chunks))

    threads = [threading.Thread(target=write) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    assert blob_files(tmp_path) == [blob_path(tmp_path, encoded.key)]
    assert key_of(blobs.get(encoded.key)) == encoded.key


def test_concurrent_saves_of_one_value(tmp_path: Path) -> None:
    value = np.random.default_rng(3).random(4 * BIG // 8)
    barrier = threading.Barrier(2)
    keys: list[str] = []

    def save() -> None:
        store = ArtifactStore(LocalBlobStore(tmp_path))
        barrier.wait()
        keys.append(store.save(value).key)

    threads = [threading.Thread(target=save) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and len(keys) == 2
    assert len(blob_files(tmp_path)) == 1
    np.testing.assert_array_equal(ArtifactStore(LocalBlobStore(tmp_path)).load(keys[0]), value)


# --- inline threshold --------------------------------------------------------------------------


def test_small_values_are_inline_and_not_written(tmp_path: Path, store: ArtifactStore) -> None:
    stored = store.save({"alpha": 0.5, "tags": ["a", "b"]})
    assert stored.inline is not None
    assert len(stored.inline) == stored.size <= 4096
    assert key_of(stored.inline) == stored.key
    assert blob_files(tmp_path) == []
    assert store.load(stored.key, stored.inline) == {"alpha": 0.5, "tags": ["a", "b"]}


def test_inline_limit_is_inclusive(tmp_path: Path) -> None:
    value = list(range(100))
    size = encode(value).size
    at_limit = ArtifactStore(LocalBlobStore(tmp_path / "a"), inline_limit=size).save(value)
    below = ArtifactStore(LocalBlobStore(tmp_path / "b"), inline_limit=size - 1).save(value)
    assert at_limit.inline is not None and blob_files(tmp_path / "a") == []
    assert below.inline is None and len(blob_files(tmp_path / "b")) == 1
    assert at_limit.key == below.key


def test_small_inline_array_loads_writable(store: ArtifactStore) -> None:
    stored = store.save(np.arange(4))
    assert stored.inline is not None
    loaded = store.load(stored.key, stored.inline)
    loaded[0] = 9
    assert loaded.tolist() == [9, 1, 2, 3]


# --- unstorable values ---------------------------------------------------------------------------


class _RefusesPickle:
    def __reduce__(self) -> tuple[object, ...]:
        raise ValueError("no pickles here")


def _generator():  # type: ignore[no-untyped-def]
    yield 1


def test_unstorable_values_name_their_type(store: ArtifactStore, tmp_path: Path) -> None:
    with open(tmp_path / "data.txt", "w+") as handle, socket.socket() as sock:
        cases = {
            "_thread.lock": threading.Lock(),
            "builtins.generator": _generator(),
            "_io.TextIOWrapper": handle,
            "socket.socket": sock,
            f"{__name__}._RefusesPickle": _RefusesPickle(),
        }
        for type_name, value in cases.items():
            with pytest.raises(UnstorableValue) as info:
                store.save(value)
            assert info.value.type_name == type_name
            assert type_name in str(info.value)
    assert blob_files(tmp_path) == []


def test_unstorable_reason_is_the_underlying_one(store: ArtifactStore) -> None:
    with pytest.raises(UnstorableValue, match=r"cannot pickle '_thread.lock' object"):
        store.save({"model": [1, 2], "lock": threading.Lock()})
    with pytest.raises(UnstorableValue, match=r"ValueError: no pickles here"):
        store.save(_RefusesPickle())
    with pytest.raises(UnstorableValue, match="open file"), open(__file__) as handle:
        store.save(handle)  # cloudpickle alone would copy the file's text into the blob


def test_non_contiguous_buffer_from_a_custom_reducer_is_unstorable() -> None:
    # numpy pickles a non-contiguous array in-band itself; a bare non-contiguous PickleBuffer
    # goes back in-band too, which pickle cannot do: reported, not crashed.
    strided = pickle.PickleBuffer(memoryview(bytearray(10_000))[::2])
    with pytest.raises(UnstorableValue, match="non-contiguous"):
        encode(strided)


def test_unstorable_value_is_a_picklable_type_error() -> None:
    error = UnstorableValue("_thread.lock", "cannot pickle '_thread.lock' object")
    assert isinstance(error, TypeError)
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) and copy.type_name == "_thread.lock"


# --- integrity ------------------------------------------------------------------------------------

_unpickled: list[str] = []


def _record(tag: str) -> str:
    _unpickled.append(tag)
    return tag


class _Tripwire:
    """Unpickling it leaves a trace, so a test can tell whether bytes were unpickled."""

    def __reduce__(self) -> tuple[object, ...]:
        return (_record, ("unpickled",))


@pytest.fixture
def saved_tripwire(tmp_path: Path, store: ArtifactStore) -> tuple[str, Path]:
    stored = store.save([_Tripwire(), np.arange(BIG // 8)])
    _unpickled.clear()
    return stored.key, blob_path(tmp_path, stored.key)


def test_flipped_byte_is_caught_before_unpickling(
    store: ArtifactStore, saved_tripwire: tuple[str, Path]
) -> None:
    key, path = saved_tripwire
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(data)
    with pytest.raises(IntegrityError, match=key):
        store.load(key)
    assert _unpickled == []


def test_truncated_blob_is_caught(store: ArtifactStore, saved_tripwire: tuple[str, Path]) -> None:
    key, path = saved_tripwire
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - 1)
    with pytest.raises(IntegrityError, match=key):
        store.load(key)
    assert _unpickled == []


def test_another_valid_blob_under_the_wrong_name_is_caught(
    tmp_path: Path, store: ArtifactStore, saved_tripwire: tuple[str, Path]
) -> None:
    key, path = saved_tripwire
    other = store.save(np.zeros(BIG // 8))
    shutil.copyfile(blob_path(tmp_path, other.key), path)
    with pytest.raises(IntegrityError, match=key):
        store.load(key)
    with pytest.raises(IntegrityError):
        store.load_bytes(key)
    assert _unpickled == []
    np.testing.assert_array_equal(store.load(other.key), np.zeros(BIG // 8))


def test_wrong_inline_bytes_are_caught(store: ArtifactStore) -> None:
    small = store.save(_Tripwire())
    other = store.save("other")
    _unpickled.clear()
    with pytest.raises(IntegrityError, match=small.key):
        store.load(small.key, other.inline)
    assert _unpickled == []


@pytest.mark.parametrize(
    "blob",
    [b"", b"NBF", b"XXXX" + bytes(12), b"NBF1" + (5).to_bytes(4, "little") + bytes(8)],
    ids=["empty", "short", "magic", "count"],
)
def test_decode_rejects_a_bad_header(blob: bytes) -> None:
    with pytest.raises(IntegrityError, match="not an nbflow blob"):
        decode(blob)


def test_decode_rejects_lengths_that_do_not_add_up() -> None:
    blob = b"".join(encode(np.arange(BIG // 8)).chunks)
    with pytest.raises(IntegrityError, match="header describes"):
        decode(blob + b"\x00")
    with pytest.raises(IntegrityError, match="header describes"):
        decode(blob[:-1])


def test_missing_blob_names_the_key(tmp_path: Path, store: ArtifactStore) -> None:
    key = "0" * 32
    with pytest.raises(DatastoreError, match=key):
        store.load(key)
    with pytest.raises(DatastoreError, match=key):
        MemoryBlobStore().get(key)


@pytest.mark.parametrize("key", ["../../etc/passwd", "ABCDEF0123", "abc", "zz" * 16])
def test_keys_that_are_not_digests_are_refused(tmp_path: Path, key: str) -> None:
    blobs = LocalBlobStore(tmp_path)
    with pytest.raises(DatastoreError, match="invalid blob key"):
        blobs.put(key, [b"x"])
    with pytest.raises(DatastoreError, match="invalid blob key"):
        blobs.get(key)


# --- the folder ---------------------------------------------------------------------------------


def test_unusable_folder_is_reported_with_the_fix(tmp_path: Path) -> None:
    # Under a regular file: fails for root too, unlike chmod.
    (tmp_path / "afile").write_text("not a folder")
    root = tmp_path / "afile" / "store"
    with pytest.raises(DatastoreError) as info:
        LocalBlobStore(root)
    message = str(info.value)
    assert str(root) in message
    assert "Not a directory" in message
    assert "NBFLOW_DATASTORE" in message


def test_store_creates_its_folder_and_reports_its_url(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "deep" / "store")
    assert (tmp_path / "deep" / "store" / "blobs").is_dir()
    assert blobs.url == (tmp_path / "deep" / "store").as_uri()
    assert list((tmp_path / "deep" / "store" / "blobs").iterdir()) == []  # the probe is gone


_FULL_DISK = """
import json, os, sys
from pathlib import Path
from nbflow.store.blobs import LocalBlobStore, encode
from nbflow.exceptions import DatastoreError
blobs = LocalBlobStore(sys.argv[1])
encoded = encode(os.urandom(4 << 20))  # random: written raw, 4 MiB
try:
    blobs.put(encoded.key, encoded.chunks)
    print(json.dumps({"error": None}))
except DatastoreError as e:
    left = [str(p) for p in Path(sys.argv[1]).rglob("*") if p.is_file()]
    print(json.dumps({"error": str(e), "key": encoded.key, "left": left}))
"""


def test_full_disk_is_reported_and_cleaned_up(tmp_path: Path) -> None:
    # A real full filesystem: a 1 MiB tmpfs in a private mount namespace, which disappears
    # with the process, so nothing outlives the test.
    if shutil.which("unshare") is None:
        missing("needs unshare(1) (util-linux)")
    mount = tmp_path / "small"
    mount.mkdir()
    shell = (
        f'mount -t tmpfs -o size=1m tmpfs {mount} || exit 99; exec "$0" -c "$1" {mount / "store"}'
    )
    result = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", shell, sys.executable, _FULL_DISK],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 99 or "unshare:" in result.stderr:
        missing(f"cannot mount a tmpfs in a private namespace here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["error"] is not None
    assert report["key"] in report["error"]
    assert "no space left" in report["error"]
    assert report["left"] == []  # the temp file was removed


# --- previews -----------------------------------------------------------------------------------


class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, {"type": "builtins.NoneType", "value": None, "repr": "None"}),
        (True, {"type": "builtins.bool", "value": True, "repr": "True"}),
        (42, {"type": "builtins.int", "value": 42, "repr": "42"}),
        (2.5, {"type": "builtins.float", "value": 2.5, "repr": "2.5"}),
        (math.nan, {"type": "builtins.float", "value": "nan", "repr": "nan"}),
        (-math.inf, {"type": "builtins.float", "value": "-inf", "repr": "-inf"}),
        (1 + 2j, {"type": "builtins.complex", "value": "(1+2j)", "repr": "(1+2j)"}),
        ("abc", {"type": "builtins.str", "repr": "'abc'", "length": 3}),
        (b"ab", {"type": "builtins.bytes", "repr": "b'ab'", "length": 2}),
        ([1, "a"], {"type": "builtins.list", "length": 2, "repr": "[1, 'a']"}),
        ((1,), {"type": "builtins.tuple", "length": 1, "repr": "(1,)"}),
        ({"a": 1}, {"type": "builtins.dict", "length": 1, "repr": "{'a': 1}"}),
        (set(), {"type": "builtins.set", "length": 0, "repr": "set()"}),
        # numpy's scalars read as their value (numpy 2 reprs them `np.float64(0.9534)`); the
        # type says which they are.
        (np.int64(7), {"type": "numpy.int64", "value": 7, "repr": "7"}),
        (np.float64(0.9534), {"type": "numpy.float64", "value": 0.9534, "repr": "0.9534"}),
        (np.float32(0.1), {"type": "numpy.float32", "value": 0.10000000149011612, "repr": "0.1"}),
        (np.float32(np.nan), {"type": "numpy.float32", "value": "nan", "repr": "nan"}),
        (np.bool_(True), {"type": "numpy.bool", "value": True, "repr": "True"}),
        (np.str_("ab"), {"type": "numpy.str_", "repr": "'ab'", "length": 2}),
        (
            [np.float64(0.5), np.int64(3), (np.str_("a"),)],
            {"type": "builtins.list", "length": 3, "repr": "[0.5, 3, ('a',)]"},
        ),
        (
            {"acc": np.float64(0.9534)},
            {"type": "builtins.dict", "length": 1, "repr": "{'acc': 0.9534}"},
        ),
    ],
    ids=lambda v: type(v).__name__,
)
def test_scalar_and_container_previews(value: object, expected: dict[str, object]) -> None:
    assert preview(value) == expected


def test_long_string_and_container_previews_are_bounded() -> None:
    text = "é" * 10_000
    assert preview(text)["repr"] == repr("é" * 200)
    assert preview(text)["length"] == 10_000
    big = list(range(10_000_000))
    result = preview(big)
    assert result["length"] == 10_000_000
    assert len(result["repr"]) == 200 and result["repr"].startswith("[0, 1, 2")
    assert result["repr"].endswith("...")
    nested: list[object] = []
    nested.append(nested)
    assert preview(nested)["repr"].startswith("[[[")
    assert len(preview(dict.fromkeys(range(1000), "v" * 1000))["repr"]) == 200


def test_array_previews() -> None:
    assert preview(np.arange(12.0).reshape(3, 4)) == {
        "type": "numpy.ndarray",
        "shape": [3, 4],
        "dtype": "float64",
        "values": [0.0, 1.0, 2.0, 3.0, 4.0],
    }
    assert preview(np.array(3))["values"] == [3]
    assert preview(np.array([np.nan, 1.0]))["values"] == ["nan", 1.0]
    assert preview(np.array(["2024-01-01"], dtype="datetime64[ns]"))["values"] == [
        "2024-01-01T00:00:00.000000000"
    ]
    assert preview(np.array([1, "a", None], dtype=object))["values"] == [1, "a", None]
    assert preview(np.arange(10**6)[::-3])["values"] == [999999, 999996, 999993, 999990, 999987]


def test_frame_and_series_previews() -> None:
    frame = pd.DataFrame(
        {
            "x": [1, 2, 3, 4, 5, 6],
            "name": ["a" * 80, "b", "c", "d", "e", "f"],
            "t": pd.date_range("2024-01-01", periods=6),
            "f": [0.5, np.nan, 1.0, 2.0, 3.0, 4.0],
        }
    )
    result = preview(frame)
    assert result["type"] == "pandas.DataFrame"
    assert result["shape"] == [6, 4]
    assert result["columns"] == ["x", "name", "t", "f"]
    assert result["dtypes"][0] == "int64" and result["dtypes"][2].startswith("datetime64")
    assert len(result["head"]) == 5
    assert result["head"][1] == [2, "b", "2024-01-02 00:00:00", "nan"]
    assert result["head"][0][1] == "a" * 47 + "..."
    wide = preview(pd.DataFrame(np.zeros((2, 100))))
    assert len(wide["columns"]) == 20 and all(len(row) == 20 for row in wide["head"])

    series = preview(pd.Series([1.5, None, 3.0], name="s"))
    assert series == {
        "type": "pandas.Series",
        "shape": [3],
        "dtype": "float64",
        "name": "s",
        "index": [0, 1, 2],
        "head": [1.5, "nan", 3.0],
    }


def test_preview_never_raises_and_is_json() -> None:
    bad = preview(_BadRepr())
    assert bad["type"] == f"{__name__}._BadRepr"
    assert "repr exploded" in bad["repr"]
    assert preview([_BadRepr()])["length"] == 1
    huge = preview(10**5000)
    assert huge["type"] == "builtins.int" and isinstance(huge["value"], str)
    assert "object at" in preview(object())["repr"]
    values = [
        None,
        math.nan,
        10**5000,
        "x",
        b"\xff",
        {"k": [1, {2}]},
        np.array([math.inf]),
        np.datetime64("2024-01-01"),
        pd.DataFrame({"a": [pd.NA, pd.NaT]}),
        pd.Series([b"b", 1 + 1j, None]),
        _BadRepr(),
        lambda: 0,
    ]
    for value in values:
        json.dumps(preview(value), allow_nan=False)


# --- import cost --------------------------------------------------------------------------------


def test_import_does_not_pull_numpy_or_pandas() -> None:
    script = (
        "import sys, nbflow.store.blobs\n"
        "print(sorted(m for m in ('numpy', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_encode_is_deterministic_across_processes(tmp_path: Path) -> None:
    value = {"a": [1, 2.5, "x"], "b": (None, True)}
    script = f"from nbflow.store.blobs import encode; print(encode({value!r}).key)"
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out.strip() == encode(value).key


def test_saving_an_existing_blob_again_refreshes_its_time(
    tmp_path: Path, store: ArtifactStore
) -> None:
    # gc spares blobs younger than its grace period: a blob a new run is about to reference
    # must look young even when an old run wrote it first.
    first = store.save(np.arange(BIG // 8))
    (path,) = blob_files(tmp_path)
    os.utime(path, (1_000_000, 1_000_000))
    assert store.save(np.arange(BIG // 8)).key == first.key
    assert path.stat().st_mtime > 1_000_000
