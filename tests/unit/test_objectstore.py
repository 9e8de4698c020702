"""Blobs in an object store: a real S3 endpoint (moto's server), real faults (a TCP proxy)."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from s3server import FaultyProxy, S3Server, free_port

from nbflow.exceptions import DatastoreError, IntegrityError
from nbflow.store.blobs import (
    ArtifactStore,
    FsspecBlobStore,
    LocalBlobStore,
    RetryPolicy,
    encode,
    open_blob_store,
)
from nbflow.store.blobs.s3 import _parts

PART = 5 << 20  # S3's smallest part: large blobs need only a few MiB to go multipart


def noise(n: int) -> np.ndarray:
    """n random floats: a blob stored raw (not compressible), as large on S3 as in memory."""
    return np.random.default_rng(n).random(n)


FAST = RetryPolicy(tries=5, first_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture
def bucket(s3: S3Server) -> str:
    name = f"nbflow-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=name)
    return name


def open_s3(
    s3: S3Server, bucket: str, cache_dir: Path | None = None, endpoint: str | None = None, **kw: Any
) -> FsspecBlobStore:
    return FsspecBlobStore(
        f"s3://{bucket}/flows",
        s3.storage_options(endpoint),
        cache=cache_dir is not None,
        cache_dir=cache_dir,
        **{"policy": FAST, "part_size": PART, **kw},
    )


def object_keys(s3: S3Server, bucket: str) -> list[str]:
    listing = s3.client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def count_calls(blobs: FsspecBlobStore) -> list[tuple[str, str | None]]:
    """Every S3 operation the store's client sends from now on, with its key."""
    calls: list[tuple[str, str | None]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, params.get("Key")))

    blobs.fs.s3.meta.events.register("provide-client-params.s3", record)
    return calls


_unpickled: list[str] = []


def _record(tag: str) -> str:
    _unpickled.append(tag)
    return tag


class _Tripwire:
    """Unpickling it leaves a trace, so a test can tell whether bytes were unpickled."""

    def __reduce__(self) -> tuple[object, ...]:
        return (_record, ("unpickled",))


# --- round trips ---------------------------------------------------------------------------


def test_small_and_multipart_values_round_trip(s3: S3Server, bucket: str) -> None:
    store = ArtifactStore(open_s3(s3, bucket))
    small = {"a": list(range(2000))}  # above the inline limit: one PUT
    large = np.random.default_rng(0).random((3 * PART + 12345) // 8)  # four parts
    saved = [store.save(small), store.save(large)]
    assert all(stored.inline is None for stored in saved)
    assert store.load(saved[0].key) == small
    loaded = store.load(saved[1].key)
    np.testing.assert_array_equal(loaded, large)
    assert loaded.flags.writeable
    keys = [f"flows/blobs/{s.key[:2]}/{s.key[2:]}" for s in saved]
    assert object_keys(s3, bucket) == sorted(keys)
    head = s3.client().head_object(Bucket=bucket, Key=keys[1])
    assert head["ETag"].endswith('-4"')  # S3 marks a multipart object's ETag with its parts


def test_64_mib_array_round_trips_in_parts(s3: S3Server, bucket: str) -> None:
    store = ArtifactStore(open_s3(s3, bucket, part_size=16 << 20))
    array = noise(8 << 20)
    stored = store.save(array)
    assert stored.size > 64 << 20
    np.testing.assert_array_equal(store.load(stored.key), array)


def test_parts_cut_pieces_at_part_boundaries() -> None:
    pieces = [b"ab", memoryview(b"cdefg"), bytearray(b"h"), b"", b"ijklmnopq"]
    parts = [bytes(part) for part in _parts(pieces, 4)]
    assert parts == [b"abcd", b"efgh", b"ijkl", b"mnop", b"q"]


def test_second_put_of_the_same_bytes_uploads_nothing(s3: S3Server, bucket: str) -> None:
    blobs = open_s3(s3, bucket)
    store = ArtifactStore(blobs)
    value = np.arange(PART // 4, dtype=np.float64)  # two parts
    first = store.save(value)
    calls = count_calls(blobs)
    assert store.save(value).key == first.key
    blob = f"flows/blobs/{first.key[:2]}/{first.key[2:]}"
    # One look-up, then the used-marker gc goes by: no byte of the blob is sent again.
    assert calls == [("HeadObject", blob), ("PutObject", f"flows/touched/{first.key}")]
    assert not blobs.put(first.key, encode(value).chunks)


# --- integrity ------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["flipped byte", "another blob", "truncated"])
def test_damaged_object_is_caught_before_unpickling(
    s3: S3Server, bucket: str, tmp_path: Path, damage: str
) -> None:
    blobs = open_s3(s3, bucket, cache_dir=tmp_path)
    store = ArtifactStore(blobs)
    stored = store.save([_Tripwire(), np.arange(PART // 8)])
    other = store.save(np.zeros(PART // 8))
    _unpickled.clear()
    client, key = s3.client(), f"flows/blobs/{stored.key[:2]}/{stored.key[2:]}"
    data = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    if damage == "flipped byte":
        data[len(data) // 2] ^= 1
    elif damage == "another blob":
        other_key = f"flows/blobs/{other.key[:2]}/{other.key[2:]}"
        data = bytearray(client.get_object(Bucket=bucket, Key=other_key)["Body"].read())
    else:
        del data[-1:]
    client.put_object(Bucket=bucket, Key=key, Body=bytes(data))  # moto takes any bytes
    with pytest.raises(IntegrityError, match=stored.key) as caught:
        store.load(stored.key)
    assert f"s3://{bucket}/flows" in str(caught.value)
    assert _unpickled == []
    assert not (tmp_path / "blobs" / stored.key[:2] / stored.key[2:]).exists()  # not cached


def test_missing_blob_names_key_and_url_and_is_not_retried(s3: S3Server, bucket: str) -> None:
    blobs = open_s3(s3, bucket)
    calls = count_calls(blobs)
    key = "0" * 32
    with pytest.raises(DatastoreError, match=f"blob {key} is missing from s3://{bucket}/flows"):
        blobs.get(key)
    assert [name for name, _ in calls] == ["HeadObject"]


# --- the local read cache -------------------------------------------------------------------


def test_second_read_comes_from_the_cache_without_the_server(tmp_path: Path) -> None:
    with S3Server() as own:
        name = "cached"
        own.client().create_bucket(Bucket=name)
        blobs = open_s3(own, name, cache_dir=tmp_path / "cache")
        store = ArtifactStore(blobs)
        value = np.arange(PART // 8)
        stored = store.save(value)
        assert not (tmp_path / "cache" / "blobs").joinpath(stored.key[:2]).exists()
        np.testing.assert_array_equal(store.load(stored.key), value)  # downloads, caches
    # The server is gone: only the cache can answer.
    np.testing.assert_array_equal(store.load(stored.key), value)
    cached = tmp_path / "cache" / "blobs" / stored.key[:2] / stored.key[2:]
    # The cache keeps the blob as the store holds it: compressed once, by its writer.
    assert cached.read_bytes()[:4] == b"NBZ1" and cached.stat().st_size < stored.size / 4


def test_damaged_cache_copy_is_fetched_again(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    store = ArtifactStore(open_s3(s3, bucket, cache_dir=tmp_path))
    value = np.arange(PART // 8)
    stored = store.save(value)
    store.load(stored.key)
    cached = tmp_path / "blobs" / stored.key[:2] / stored.key[2:]
    data = bytearray(cached.read_bytes())
    data[-1] ^= 1
    cached.write_bytes(data)
    np.testing.assert_array_equal(store.load(stored.key), value)
    assert cached.read_bytes() != bytes(data)


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["drop", "503"])
def test_transient_faults_are_retried(s3: S3Server, bucket: str, mode: str) -> None:
    with FaultyProxy(s3.port, faults=0, mode=mode) as proxy:
        store = ArtifactStore(open_s3(s3, bucket, endpoint=proxy.endpoint))
        value = noise(PART // 4)  # two parts
        proxy.spoil_next(3)
        stored = store.save(value)
        proxy.spoil_next(3)
        np.testing.assert_array_equal(store.load(stored.key), value)
        assert proxy.connections > 6


def test_persistent_fault_gives_up_naming_operation_and_url(s3: S3Server, bucket: str) -> None:
    with FaultyProxy(s3.port, faults=0) as proxy:
        blobs = open_s3(s3, bucket, endpoint=proxy.endpoint)
        proxy.spoil_next(1000)
        started = time.monotonic()
        with pytest.raises(DatastoreError, match="gave up after 5 tries") as caught:
            ArtifactStore(blobs).save(np.arange(1000))
        assert time.monotonic() - started < 5
    message = str(caught.value)
    assert f"s3://{bucket}/flows" in message
    assert "look up blob" in message
    assert encode(np.arange(1000)).key in message


def test_failed_multipart_upload_never_shows_the_blob(s3: S3Server, bucket: str) -> None:
    with FaultyProxy(s3.port, faults=0) as proxy:
        blobs = open_s3(s3, bucket, endpoint=proxy.endpoint, concurrency=1)
        chunks = encode(noise(PART // 2)).chunks  # four parts
        key = encode(noise(PART // 2)).key
        calls = count_calls(blobs)

        def after_second_part() -> None:
            if [name for name, _ in calls].count("UploadPart") == 2:
                proxy.spoil_next(1000)

        blobs.fs.s3.meta.events.register(
            "before-call.s3.UploadPart", lambda **_: after_second_part()
        )
        with pytest.raises(DatastoreError, match="upload part"):
            blobs.put(key, chunks)
    assert object_keys(s3, bucket) == []


def test_unreachable_endpoint_fails_fast_and_says_what_to_check(bucket: str) -> None:
    started = time.monotonic()
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(DatastoreError) as caught:
        FsspecBlobStore(f"s3://{bucket}/flows", {"client_kwargs": {"endpoint_url": closed}})
    assert time.monotonic() - started < 3
    message = str(caught.value)
    assert f"s3://{bucket}/flows" in message
    assert "endpoint_url" in message
    assert "credentials" in message


def test_missing_bucket_is_reported_not_created(s3: S3Server) -> None:
    with pytest.raises(DatastoreError, match="bucket 'no-such-bucket' does not exist"):
        open_s3(s3, "no-such-bucket")
    assert "no-such-bucket" not in [b["Name"] for b in s3.client().list_buckets()["Buckets"]]


# --- gc -------------------------------------------------------------------------------------


def test_gc_listing_touching_and_deleting(s3: S3Server, bucket: str) -> None:
    blobs = open_s3(s3, bucket)
    store = ArtifactStore(blobs)
    first, second = store.save(noise(1000)), store.save(noise(2000))
    entries = {entry.name: entry for entry in blobs.entries()}
    assert sorted(entries) == sorted([first.key, second.key]) == list(blobs.keys())
    assert entries[first.key].size == first.size
    time.sleep(1.1)  # S3 times have whole seconds
    blobs.touch(first.key)
    again = {entry.name: entry for entry in blobs.entries()}
    assert again[first.key].modified > entries[first.key].modified
    assert again[second.key].modified == entries[second.key].modified
    assert blobs.delete(first.key)
    assert not blobs.delete(first.key)
    assert list(blobs.keys()) == [second.key]
    assert f"flows/touched/{first.key}" not in object_keys(s3, bucket)


def test_gc_sees_and_aborts_unfinished_uploads(s3: S3Server, bucket: str) -> None:
    blobs = open_s3(s3, bucket)
    key = "ab" * 16
    s3.client().create_multipart_upload(Bucket=bucket, Key=f"flows/blobs/ab/{key[2:]}")
    (entry,) = blobs.temp_entries()
    assert entry.name.startswith(f"ab/{key[2:]}?upload=")  # (moto dates every upload 2010)
    assert blobs.delete_temp(entry.name)
    assert list(blobs.temp_entries()) == []


# --- other URLs, same code --------------------------------------------------------------------


def test_file_url_goes_through_the_same_code(tmp_path: Path) -> None:
    blobs = FsspecBlobStore(tmp_path.as_uri(), part_size=PART)
    store = ArtifactStore(blobs)
    value = np.random.default_rng(1).random(PART // 4)
    stored = store.save(value)
    assert not blobs.put(stored.key, encode(value).chunks)
    np.testing.assert_array_equal(store.load(stored.key), value)
    # The layout is LocalBlobStore's: either reads what the other wrote.
    np.testing.assert_array_equal(ArtifactStore(LocalBlobStore(tmp_path)).load(stored.key), value)
    assert list(blobs.keys()) == list(LocalBlobStore(tmp_path).keys()) == [stored.key]
    assert list(blobs.temp_entries()) == []
    path = tmp_path / "blobs" / stored.key[:2] / stored.key[2:]
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    with pytest.raises(IntegrityError, match=stored.key):
        store.load(stored.key)
    assert blobs.delete(stored.key)
    assert list(blobs.keys()) == []


def test_open_blob_store_picks_the_store_for_the_url(
    s3: S3Server, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(open_blob_store(str(tmp_path / "a")), LocalBlobStore)
    assert isinstance(open_blob_store((tmp_path / "b").as_uri()), LocalBlobStore)
    import json

    monkeypatch.setenv("NBFLOW_STORAGE_OPTIONS", json.dumps(s3.storage_options()))
    monkeypatch.setenv("NBFLOW_CACHE_DIR", str(tmp_path / "cache"))
    remote = open_blob_store(f"s3://{bucket}/x")
    assert isinstance(remote, FsspecBlobStore)
    assert remote.url == f"s3://{bucket}/x"
    assert remote.cache is not None
    assert remote.cache.root == tmp_path / "cache"
    monkeypatch.setenv("NBFLOW_STORAGE_OPTIONS", "[1, 2]")
    with pytest.raises(DatastoreError, match="must be a JSON object"):
        open_blob_store(f"s3://{bucket}/x")


def test_missing_backend_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a machine without gcsfs, whether or not this one has it: importing it fails.
    monkeypatch.setitem(sys.modules, "gcsfs", None)
    with pytest.raises(DatastoreError, match="pip install gcsfs"):
        open_blob_store("gs://some-bucket/flows")
