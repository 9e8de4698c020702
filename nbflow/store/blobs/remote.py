"""Blobs in any fsspec filesystem: S3 (s3fs), GCS, Azure, a local folder by `file://` URL, ...

    open_blob_store(url, storage_options)   the store for NBFLOW_DATASTORE, whatever it names
    FsspecBlobStore(url, storage_options)   the BlobStore and gc interface over fsspec

The layout is LocalBlobStore's (`<prefix>/blobs/<key[:2]>/<key[2:]>`), so a folder is readable
either way. A blob is written only when its key is absent (same key, same bytes), and an object
store shows it only once complete; elsewhere it is written to a temp name and moved into place.
Every read is hashed against its key before anyone unpickles it: a store that kept wrong bytes
(a swapped object, a damaged upload it accepted) is reported, never decoded. Verified blobs are
kept in a local read cache, so a blob crosses the network once per machine. Object stores have
no way to refresh a modification time: `touch` writes an empty marker under `<prefix>/touched/`
whose time gc takes as the blob's when it is newer. Imports of fsspec and its backends are lazy.

Transient faults (throttling, 5xx, dropped connections) are tried again (nbflow.store.blobs.retry);
$NBFLOW_STORAGE_RETRIES (JSON: tries, first_delay, factor, max_delay) sets how patiently.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

from nbflow.exceptions import DatastoreError, IntegrityError
from nbflow.store.blobs import codec, retry
from nbflow.store.blobs.backends import (
    _KEY,
    _TEMP,
    BlobEntry,
    BlobStore,
    Buffer,
    Chunk,
    LocalBlobStore,
    _allocate,
    check_key,
)
from nbflow.store.blobs.retry import RetryPolicy
from nbflow.store.blobs.serialize import key_of

T = TypeVar("T")

# Where an object appears only once its upload completes: blobs are written under their key.
OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
_S3 = frozenset({"s3", "s3a"})
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs"}
_LOCAL = frozenset({"", "file", "local"})
_UPLOAD = "?upload="  # a temp entry's name for an unfinished S3 upload: `<xx/yyyy>?upload=<id>`

STORAGE_OPTIONS_ENV = "NBFLOW_STORAGE_OPTIONS"
STORAGE_RETRIES_ENV = "NBFLOW_STORAGE_RETRIES"
CACHE_DIR_ENV = "NBFLOW_CACHE_DIR"


def open_blob_store(url: str, storage_options: Mapping[str, Any] | None = None) -> BlobStore:
    """The blob store a datastore URL names: a folder (a path or `file://`) or any fsspec URL.

    `storage_options` go to fsspec over those in $NBFLOW_STORAGE_OPTIONS (JSON). Raises
    DatastoreError naming the URL when the store cannot be reached or used.
    """
    protocol, _, rest = url.partition("://")
    if not rest:
        return LocalBlobStore(url or ".nbflow")
    if protocol.lower() in _LOCAL and not storage_options:
        # Hard links and private mmaps beat fsspec for a local folder; the layout is the same.
        # A URL's path is percent-encoded: `data%20store` is the folder `data store`.
        return LocalBlobStore(unquote(rest))
    return FsspecBlobStore(url, storage_options)


def storage_options_from_env() -> dict[str, Any]:
    text = os.environ.get(STORAGE_OPTIONS_ENV, "").strip()
    if not text:
        return {}
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        options = exc
    if not isinstance(options, dict):
        raise DatastoreError(
            f"{STORAGE_OPTIONS_ENV} must be a JSON object, such as "
            '\'{"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}\', '
            f"not {text[:80]!r}."
        )
    return options


def retry_policy_from_env() -> RetryPolicy:
    """$NBFLOW_STORAGE_RETRIES (JSON: any of tries, first_delay, factor, max_delay), else the
    default: a store that throttles hard or an endpoint that flaps needs more patience."""
    text = os.environ.get(STORAGE_RETRIES_ENV, "").strip()
    if not text:
        return RetryPolicy()
    try:
        fields = json.loads(text)
        policy = RetryPolicy(**fields)
        valid = policy.tries >= 1 and min(policy.first_delay, policy.max_delay) >= 0
    except (json.JSONDecodeError, TypeError):
        valid = False
    if not valid:
        raise DatastoreError(
            f"{STORAGE_RETRIES_ENV} must be a JSON object such as "
            '\'{"tries": 10, "first_delay": 0.1, "max_delay": 4}\' (tries >= 1, delays in '
            f"seconds >= 0), not {text[:80]!r}."
        )
    return policy


def default_cache_dir() -> Path:
    """$NBFLOW_CACHE_DIR, else `nbflow` in the user's cache folder ($XDG_CACHE_HOME, ~/.cache)."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nbflow"


class FsspecBlobStore:
    """Blobs under `<url>/blobs/`, in any filesystem fsspec can open."""

    def __init__(
        self,
        url: str,
        storage_options: Mapping[str, Any] | None = None,
        *,
        cache: bool | None = None,
        cache_dir: Path | str | None = None,
        policy: RetryPolicy | None = None,
        part_size: int = 16 << 20,
        concurrency: int = 8,
    ) -> None:
        """`cache`: keep verified blobs in `cache_dir` (default: on unless the URL is local)."""
        self.url = url.rstrip("/")
        self.policy = policy or retry_policy_from_env()
        self.part_size = part_size
        self.fs, root = _filesystem(
            self.url, {**storage_options_from_env(), **(storage_options or {})}
        )
        self.protocol = _protocol(self.url)
        self.root = str(root).rstrip("/")
        self._blobs = f"{self.root}/blobs"
        self._touched = f"{self.root}/touched"
        self._whole_objects = self.protocol in OBJECT_STORES
        self._s3 = None
        if self.protocol in _S3:
            from nbflow.store.blobs.s3 import S3Transfer  # noqa: PLC0415 - lazy: s3:// stores only

            self._s3 = S3Transfer(self.fs, self.url, self.policy, part_size, concurrency)
        self._check()
        use_cache = cache if cache is not None else self._whole_objects
        self.cache = _open_cache(cache_dir) if use_cache else None

    def __repr__(self) -> str:
        return f"FsspecBlobStore({self.url!r})"

    # -- opening ------------------------------------------------------------------------------

    def _check(self) -> None:
        # Once, at start-up, with two quick tries: a wrong endpoint or bucket is reported now,
        # with what to check, not after a step has run for an hour.
        quick = RetryPolicy(tries=2, first_delay=0.1)
        try:
            if self._whole_objects:
                self._check_bucket(quick)
            else:
                retry.call(quick, "create the folder", self.url, self._make_folders)
        except DatastoreError as exc:
            raise DatastoreError(f"{exc} {_WHAT_TO_CHECK}") from exc
        except Exception as exc:
            raise DatastoreError(
                f"cannot use {self.url} as the datastore: {type(exc).__name__}: {exc}. "
                f"{_WHAT_TO_CHECK}"
            ) from exc

    def _check_bucket(self, quick: RetryPolicy) -> None:
        bucket = self.root.split("/", 1)[0]
        try:
            retry.call(quick, f"reach bucket '{bucket}'", self.url, lambda: self.fs.info(bucket))
        except FileNotFoundError:
            raise DatastoreError(
                f"cannot use {self.url} as the datastore: bucket '{bucket}' does not exist "
                "(or these credentials cannot see it). Create it first; nbflow never creates "
                "buckets (their region, access rules and costs are the account owner's choice)."
            ) from None
        except PermissionError:
            # A policy may allow a prefix but not the bucket itself: try what we use.
            try:
                retry.call(quick, "list the blobs", self.url, lambda: self.fs.ls(self._blobs))
            except FileNotFoundError:
                pass
            except PermissionError as exc:
                raise DatastoreError(
                    f"cannot use {self.url} as the datastore: access denied ({exc})."
                ) from exc

    def _make_folders(self) -> None:
        self.fs.makedirs(self._blobs, exist_ok=True)
        self.fs.makedirs(self._touched, exist_ok=True)

    # -- the BlobStore interface ----------------------------------------------------------------

    def _path(self, key: str) -> str:
        check_key(key)
        return f"{self._blobs}/{key[:2]}/{key[2:]}"

    def exists(self, key: str) -> bool:
        try:
            self._size(key)
        except FileNotFoundError:
            return False
        return True

    def _size(self, key: str) -> int:
        path, what = self._path(key), f"look up blob {key}"
        if self._s3 is not None:
            s3 = self._s3
            return self._call(what, lambda: s3.size(path, what))
        return int(self._call(what, lambda: self.fs.info(path))["size"])

    def touch(self, key: str) -> bool:
        marker = f"{self._touched}/{check_key(key)}"
        self._call(f"mark blob {key} as used", lambda: self.fs.pipe_file(marker, b""))
        # No second look (a request): `put` just saw the blob, a gc spares it from the
        # marker's time on (see `modified`), and the commit checks what it refreshed.
        return True

    def modified(self, key: str) -> float | None:
        """The blob's time as gc sees it: when written, or its marker's when newer."""
        path, marker = self._path(key), f"{self._touched}/{check_key(key)}"
        try:
            written = _modified(self._call(f"look up blob {key}", lambda: self.fs.info(path)))
        except FileNotFoundError:
            return None
        try:
            touched = _modified(self._call(f"look up blob {key}", lambda: self.fs.info(marker)))
        except FileNotFoundError:
            touched = 0.0
        return max(written, touched)

    def put(self, key: str, chunks: Iterable[Chunk]) -> bool:
        final = self._path(key)
        if self.exists(key):
            return False
        # References, no copies (a failed try starts again from them); a compressed blob is
        # held compressed, as an upload of unknown size cannot be split into parts.
        pieces = list(codec.stored_form(chunks))
        size = sum(memoryview(piece).nbytes for piece in pieces)
        if self._s3 is not None:
            self._call(f"write blob {key}", lambda: self._s3_upload(final, pieces, size))
        elif self._whole_objects:
            self._call(f"write blob {key}", lambda: self._write(final, pieces))
        else:
            return self._write_and_move(key, final, pieces)
        return True

    def _s3_upload(self, path: str, pieces: list[Chunk], size: int) -> None:
        assert self._s3 is not None
        self._s3.upload(path, pieces, size)

    def _write(self, path: str, pieces: list[Chunk]) -> None:
        with self.fs.open(path, "wb", block_size=self.part_size) as file:
            for piece in pieces:
                file.write(piece)

    def _write_and_move(self, key: str, final: str, pieces: list[Chunk]) -> bool:
        folder = final.rsplit("/", 1)[0]
        temp = f"{folder}/.tmp-{os.getpid()}-{uuid.uuid4().hex}"
        try:
            self._call(f"create folder {folder}", lambda: self.fs.makedirs(folder, exist_ok=True))
            self._call(f"write blob {key}", lambda: self._write(temp, pieces))
            if self.exists(key):
                return False  # another writer finished first, with the same bytes
            self._call(f"move blob {key} into place", lambda: self.fs.mv(temp, final))
            return True
        finally:
            self._remove_quietly(temp)

    def get(self, key: str) -> Buffer:
        if self.cache is not None and self.cache.exists(key):
            with contextlib.suppress(IntegrityError):  # a frame that does not decompress
                data = self.cache.get(key)
                if key_of(data) == key:
                    return data
            self.cache.delete(key)  # damaged on this disk: fetch a good copy again
        stored, data = self._download(key)
        if self.cache is not None:
            # A full or read-only cache only costs the next read a download. It keeps the
            # stored form: a compressed blob is not compressed again.
            with contextlib.suppress(DatastoreError):
                self.cache.put(key, [memoryview(stored)])
        return data

    def _download(self, key: str) -> tuple[Buffer, Buffer]:
        """The blob as stored, and its plain bytes, checked against the key."""
        path = self._path(key)
        try:
            buffer = self._fetch(key)
        except FileNotFoundError:
            raise DatastoreError(
                f"blob {key} is missing from {self.url} (expected at {path}). The datastore "
                "was pruned, or NBFLOW_DATASTORE names another place than the one that wrote "
                "this run."
            ) from None
        data = codec.plain(buffer, key, self.url)
        actual = key_of(data)
        if actual != key:
            raise IntegrityError(
                f"blob {key} in {self.url} is damaged: its {len(data)} bytes hash to {actual}. "
                "It was altered or replaced after it was written, or the store kept a damaged "
                "upload; nothing was unpickled. Delete that object and re-run the step that "
                "produced it."
            )
        return buffer, data

    def _fetch(self, key: str) -> Buffer:
        """The stored bytes, unchecked, from the store itself (never the read cache)."""
        path = self._path(key)
        buffer = _allocate(self._size(key))
        if self._s3 is not None:
            self._s3.download_into(path, buffer)
        else:
            self._call(f"read blob {key}", lambda: self._read_into(path, buffer))
        return buffer

    def _read_into(self, path: str, buffer: Buffer) -> None:
        size, got = len(buffer), 0
        with (
            self.fs.open(path, "rb", block_size=self.part_size, cache_type="none") as file,
            memoryview(buffer) as view,
        ):
            while got < size:
                n = file.readinto(view[got : got + self.part_size])
                if not n:
                    break  # shorter than listed: the hash check reports it
                got += n

    # -- checking, for `nbflow fsck` -----------------------------------------------------------

    def where(self, key: str) -> str:
        """The blob's URL, for messages that tell a user which object to remove."""
        return f"{self.protocol}://{self._path(key)}" if "://" in self.url else self._path(key)

    def digest(self, key: str) -> str | None:
        """The key the bytes in the store hash to (None: no such blob). The read cache is
        bypassed: a good copy here says nothing about the one every other machine reads."""
        try:
            return codec.digest(io.BytesIO(self._fetch(key)))
        except FileNotFoundError:
            return None

    def plain_size(self, key: str) -> int | None:
        """The size of the blob's plain bytes (what its record says), read from its header."""
        path = self._path(key)
        try:
            size = self._size(key)
            head = self._call(
                f"read blob {key}", lambda: self.fs.cat_file(path, start=0, end=codec.HEADER_SIZE)
            )
        except FileNotFoundError:
            return None
        return codec.plain_size(head, size)

    # -- listing and deleting, for `nbflow gc` ------------------------------------------------

    def keys(self) -> Iterator[str]:
        return (entry.name for entry in self.entries())

    def entries(self) -> Iterator[BlobEntry]:
        """Every blob with its size and its time: when written, or when last `touch`ed."""
        touched = {
            full.rsplit("/", 1)[-1]: _modified(info)
            for full, info in self._find(self._touched).items()
        }
        found = []
        for full, info in self._find(self._blobs).items():
            name = full[len(self._blobs) + 1 :]
            key = name.replace("/", "", 1)
            if name[2:3] == "/" and _KEY.fullmatch(key):
                found.append(
                    BlobEntry(key, int(info["size"]), max(_modified(info), touched.get(key, 0.0)))
                )
        return iter(sorted(found, key=lambda entry: entry.name))

    def temp_entries(self) -> Iterator[BlobEntry]:
        """Temp files of writers (`xx/.tmp-*`); on S3, unfinished multipart uploads."""
        if self._s3 is not None:
            bucket, _, prefix = self._blobs.partition("/")
            uploads = self._s3.incomplete_uploads(bucket, prefix + "/")
            return iter(
                [
                    BlobEntry(f"{key[len(prefix) + 1 :]}{_UPLOAD}{upload_id}", 0, began)
                    for key, upload_id, began in uploads
                ]
            )
        entries = []
        for full, info in self._find(self._blobs).items():
            name = full[len(self._blobs) + 1 :]
            if _TEMP.fullmatch(name):
                entries.append(BlobEntry(name, int(info["size"]), _modified(info)))
        return iter(sorted(entries, key=lambda entry: entry.name))

    def delete(self, key: str) -> bool:
        """Remove a blob and its marker; False if it was not there."""
        existed = self.exists(key)
        self._remove_quietly(f"{self._touched}/{key}")
        if existed:
            path = self._path(key)
            try:
                self._call(f"delete blob {key}", lambda: self.fs.rm_file(path))
            except FileNotFoundError:
                return False
        return existed

    def delete_temp(self, name: str) -> bool:
        """Remove a temp file or abort an unfinished upload, named as `temp_entries` names it."""
        if self._s3 is not None and _UPLOAD in name:
            rest, _, upload_id = name.partition(_UPLOAD)
            bucket, _, prefix = self._blobs.partition("/")
            return self._s3.abort(bucket, f"{prefix}/{rest}", upload_id)
        if not _TEMP.fullmatch(name):
            raise DatastoreError(f"invalid temp file name {name!r}: expected 'xx/.tmp-...'")
        path = f"{self._blobs}/{name}"
        try:
            self._call(f"delete temp file {name}", lambda: self.fs.rm_file(path))
        except FileNotFoundError:
            return False
        return True

    # -- helpers -------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return retry.call(self.policy, what, self.url, fn)
        except PermissionError as exc:
            raise DatastoreError(
                f"cannot {what} in {self.url}: access denied ({exc}). Check the credentials "
                "(storage_options, the provider's environment variables or profile) and that "
                "they may read and write there."
            ) from exc

    def _find(self, folder: str) -> dict[str, dict[str, Any]]:
        try:
            found = self._call(f"list {folder}", lambda: self.fs.find(folder, detail=True))
        except FileNotFoundError:
            return {}
        return dict(found)

    def _remove_quietly(self, path: str) -> None:
        with contextlib.suppress(Exception):  # clean-up must never mask the outcome
            self.fs.rm_file(path)


_WHAT_TO_CHECK = (
    "Check the URL's bucket name and prefix, the endpoint (`endpoint_url` in `client_kwargs` "
    "of storage_options, or the provider's environment variables) and the credentials "
    "(storage_options, $NBFLOW_STORAGE_OPTIONS, or the provider's usual ones)."
)


def _protocol(url: str) -> str:
    protocol, _, rest = url.partition("://")
    return protocol.lower() if rest else "file"


def _filesystem(url: str, options: dict[str, Any]) -> tuple[Any, str]:
    protocol = _protocol(url)
    if protocol in _S3:
        options = _s3_defaults(options)
    try:
        # optional: fsspec and the protocol's package (s3fs, gcsfs, ...); the error names it
        from fsspec.core import url_to_fs  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415

        fs, root = url_to_fs(url, **options)
    except ImportError as exc:
        package = _PACKAGES.get(protocol, exc.name or "the fsspec backend for it")
        raise DatastoreError(
            f"the datastore {url} needs {package}, which is not installed. "
            f"Fix: pip install {package}"
            + (" (or: pip install 'nbflow[s3]')." if package == "s3fs" else ".")
        ) from exc
    except (ValueError, TypeError) as exc:
        raise DatastoreError(
            f"cannot open {url}: {exc}. Check the URL and storage_options."
        ) from exc
    if protocol in _S3:
        # One retry layer, ours: s3fs and botocore would otherwise each retry, multiplying the
        # wait on an unreachable endpoint and hiding what failed. Own instance (no fsspec cache
        # sharing), so the setting stays with this store.
        fs.retries = 1
    return fs, str(root)


def _s3_defaults(options: dict[str, Any]) -> dict[str, Any]:
    config = dict(options.get("config_kwargs") or {})
    config.setdefault("connect_timeout", 5)  # fail fast on an address that does not answer
    config.setdefault("read_timeout", 60)
    config.setdefault("retries", {"total_max_attempts": 1})
    return {
        "use_listings_cache": False,  # other writers add blobs: never trust a stale listing
        "skip_instance_cache": True,
        **options,
        "config_kwargs": config,
    }


def _open_cache(cache_dir: Path | str | None) -> LocalBlobStore:
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    try:
        return LocalBlobStore(root)
    except DatastoreError as exc:
        raise DatastoreError(
            f"cannot use {root} as the local read cache of remote blobs: {exc.__cause__ or exc}. "
            f"Fix: set {CACHE_DIR_ENV} to a writable folder."
        ) from exc


def _modified(info: Mapping[str, Any]) -> float:
    """Seconds since the epoch from a listing entry; unknown counts as now (gc spares it)."""
    for field in ("mtime", "LastModified", "last_modified", "updated", "modified"):
        value = info.get(field)
        if isinstance(value, (int, float)) and value > 0:
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str) and value:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return time.time()
