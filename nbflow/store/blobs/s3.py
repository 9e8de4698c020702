"""S3 transfers through s3fs's client: multipart uploads and ranged reads, a few parts at a time.

A blob arrives as pieces (a pickle stream, then raw array buffers). They are cut into parts as
they come, so memory holds at most `concurrency` parts besides the value itself, and each part
is tried again on its own after a transient fault. S3 shows an object only once its upload is
complete: a single PUT is atomic, and a multipart upload that fails or is abandoned never
becomes visible under its key (it is aborted here; an interrupted process leaves an incomplete
upload that `temp_entries` lists and gc aborts).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nbflow.store.blobs.backends import Buffer, Chunk
from nbflow.store.blobs.retry import RetryPolicy, acall

MAX_PARTS = 10_000  # S3's limit for one multipart upload
MIN_PART = 5 << 20  # S3's smallest part but the last
_READ = 8 << 20  # bytes taken from a response body at once


@dataclass(frozen=True)
class S3Transfer:
    """How to move one object: through `fs` (an s3fs S3FileSystem), `concurrency` parts at once."""

    fs: Any
    url: str
    policy: RetryPolicy
    part_size: int = 16 << 20
    concurrency: int = 8

    def upload(self, path: str, pieces: list[Chunk], size: int) -> None:
        bucket, key = _split(self.fs, path)
        if size <= self.part_size:
            body = b"".join(pieces)
            self._sync(
                acall(
                    self.policy,
                    f"write {path}",
                    self.url,
                    lambda: self.fs._call_s3(
                        "put_object", Bucket=bucket, Key=key, Body=io.BytesIO(body)
                    ),
                )
            )
            return
        part_size = max(self.part_size, MIN_PART, math.ceil(size / MAX_PARTS))
        self._sync(self._multipart(bucket, key, _parts(pieces, part_size)))

    async def _multipart(self, bucket: str, key: str, parts: Iterator[bytes]) -> None:
        where = f"{bucket}/{key}"
        created = await acall(
            self.policy,
            f"start uploading {where}",
            self.url,
            lambda: self.fs._call_s3("create_multipart_upload", Bucket=bucket, Key=key),
        )
        upload_id = created["UploadId"]

        async def send(number: int, body: bytes) -> dict[str, Any]:
            answer = await acall(
                self.policy,
                f"upload part {number} of {where}",
                self.url,
                lambda: self.fs._call_s3(
                    "upload_part",
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=io.BytesIO(body),
                ),
            )
            return {"PartNumber": number, "ETag": answer["ETag"]}

        running: set[asyncio.Task[dict[str, Any]]] = set()
        done: list[dict[str, Any]] = []
        try:
            for number, body in enumerate(parts, 1):
                if len(running) >= self.concurrency:
                    finished, running = await asyncio.wait(
                        running, return_when=asyncio.FIRST_COMPLETED
                    )
                    done += [task.result() for task in finished]
                running.add(asyncio.ensure_future(send(number, body)))
            done += await asyncio.gather(*running)
            await acall(
                self.policy,
                f"complete the upload of {where}",
                self.url,
                lambda: self.fs._call_s3(
                    "complete_multipart_upload",
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": sorted(done, key=lambda p: p["PartNumber"])},
                ),
            )
        except BaseException:
            for task in running:
                task.cancel()
            # Best effort: an upload left behind is invisible, and gc aborts it later.
            with contextlib.suppress(Exception):
                await self.fs._call_s3(
                    "abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id
                )
            raise

    def size(self, path: str, what: str) -> int:
        """The object's size: one HEAD (fsspec's `info` also lists, to find folders)."""
        bucket, key = _split(self.fs, path)
        answer = self._sync(
            acall(
                self.policy,
                what,
                self.url,
                lambda: self.fs._call_s3("head_object", Bucket=bucket, Key=key),
            )
        )
        return int(answer["ContentLength"])

    def download_into(self, path: str, buffer: Buffer) -> None:
        """Fill `buffer` with the object's bytes: one GET streamed straight into it.

        (Ranged GETs in parallel were slower on moto, which copies the object per range.) A
        transient fault mid-way resumes from the first byte not yet received.
        """
        bucket, key = _split(self.fs, path)
        size, got = len(buffer), 0

        async def read_rest() -> None:
            nonlocal got
            rest = {"Range": f"bytes={got}-{size - 1}"} if got else {}
            answer = await self.fs._call_s3("get_object", Bucket=bucket, Key=key, **rest)
            body = answer["Body"]
            try:
                while got < size:
                    data = await body.read(min(_READ, size - got))
                    if not data:
                        break  # shorter than listed: the hash check reports it
                    buffer[got : got + len(data)] = data
                    got += len(data)
            finally:
                body.close()

        if size:
            self._sync(acall(self.policy, f"read {path}", self.url, read_rest))

    def incomplete_uploads(self, bucket: str, prefix: str) -> Iterator[tuple[str, str, float]]:
        """(key, upload id, seconds since the epoch it began) of every unfinished upload."""
        answer = self._sync(
            acall(
                self.policy,
                f"list unfinished uploads under {prefix}",
                self.url,
                lambda: self.fs._call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix),
            )
        )
        for upload in answer.get("Uploads", []):
            began = upload.get("Initiated")
            when = began.timestamp() if isinstance(began, datetime) else 0.0
            yield upload["Key"], upload["UploadId"], when

    def abort(self, bucket: str, key: str, upload_id: str) -> bool:
        try:
            self._sync(
                acall(
                    self.policy,
                    f"abort an unfinished upload of {bucket}/{key}",
                    self.url,
                    lambda: self.fs._call_s3(
                        "abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id
                    ),
                )
            )
        except FileNotFoundError:  # NoSuchUpload: another gc aborted it first
            return False
        return True

    def _sync(self, coroutine: Any) -> Any:
        # optional: fsspec, there with s3fs whenever an S3 store is open
        from fsspec.asyn import sync  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415

        return sync(self.fs.loop, lambda: coroutine)


def _split(fs: Any, path: str) -> tuple[str, str]:
    bucket, key, _ = fs.split_path(path)
    return str(bucket), str(key)


def _parts(pieces: Iterable[Chunk], part_size: int) -> Iterator[bytes]:
    """The pieces' bytes, in order, cut into parts of `part_size` (the last may be shorter).

    Each part is one new bytes object (one copy, made as it is needed): a BytesIO over bytes
    shares its memory, and that is the body aiohttp streams without stalling its event loop.
    """
    gathered: list[memoryview] = []
    filled = 0
    for piece in pieces:
        view = memoryview(piece).cast("B")
        offset = 0
        while offset < len(view):
            take = min(part_size - filled, len(view) - offset)
            gathered.append(view[offset : offset + take])
            offset += take
            filled += take
            if filled == part_size:
                yield b"".join(gathered)
                gathered, filled = [], 0
    if filled:
        yield b"".join(gathered)
