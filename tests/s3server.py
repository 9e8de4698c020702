"""A real S3 endpoint for tests: moto's server on 127.0.0.1, and a proxy that injects faults.

S3Server()            `moto_server` in a subprocess on a free port; stop(), start() again
FaultyProxy(target)   a TCP proxy in front of it that drops the first N connections or
                      answers the first N requests with `503 SlowDown`, then forwards
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

KEY, SECRET, REGION = "testing", "testing", "us-east-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class S3Server:
    """moto's S3-compatible server as a subprocess; moto keeps every object in its memory."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> S3Server:
        moto = Path(sys.executable).with_name("moto_server")
        command = [str(moto)] if moto.exists() else [sys.executable, "-m", "moto.server"]
        self._process = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET},
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    return self
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto_server did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def storage_options(self, endpoint: str | None = None) -> dict[str, Any]:
        """What fsspec's s3fs needs to reach this server (or a proxy at `endpoint`)."""
        return {
            "key": KEY,
            "secret": SECRET,
            "client_kwargs": {"endpoint_url": endpoint or self.endpoint, "region_name": REGION},
        }

    def client(self) -> Any:
        """A boto3 client, to set up and inspect the server behind nbflow's back."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            region_name=REGION,
        )

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bucket_server(bucket: str) -> Iterator[S3Server]:
    """A moto server holding an empty `bucket`, for a fixture to `yield from`."""
    with S3Server() as server:
        server.client().create_bucket(Bucket=bucket)
        yield server


class FaultyProxy:
    """Forwards TCP to `target` port, after spoiling the first `faults` connections.

    mode "drop": such a connection is closed as soon as it is accepted (a reset, to the client).
    mode "503": its first request is answered `503 SlowDown`, as S3 does when throttling.
    """

    def __init__(self, target_port: int, faults: int, mode: str = "drop") -> None:
        self.target_port = target_port
        self.faults = faults
        self.mode = mode
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            with self._lock:
                self.connections += 1
                spoil = self.connections <= self.faults
                self._live.add(client)
            threading.Thread(target=self._serve, args=(client, spoil), daemon=True).start()

    def spoil_next(self, faults: int) -> None:
        """Cut every open connection, and spoil the next `faults` ones."""
        with self._lock:
            self.faults = self.connections + faults
            live, self._live = self._live, set()
        for client in live:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)

    def _serve(self, client: socket.socket, spoil: bool) -> None:
        with client:
            if spoil and self.mode == "drop":
                return
            if spoil:
                _answer_slow_down(client)
                return
            with socket.create_connection(("127.0.0.1", self.target_port)) as upstream:
                back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
                back.start()
                _pump(client, upstream)
                back.join()

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(1 << 20):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _answer_slow_down(client: socket.socket) -> None:
    with contextlib.suppress(OSError):
        client.settimeout(5)
        client.recv(1 << 16)  # the request's head (a body, if any, is dropped with the socket)
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
            b"<Message>Please reduce your request rate.</Message></Error>"
        )
        client.sendall(
            b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
