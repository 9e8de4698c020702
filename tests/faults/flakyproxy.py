"""An HTTP proxy that spoils a seeded fraction of S3 requests, for the transient-fault tests.

    FlakyProxy(target_port, rate=0.5, seed=1)   proxy.endpoint, proxy.rate (settable), counts

Each request is read whole, then, with probability `rate`, spoiled in one of three ways an
object store or the network spoils requests:
  - "slowdown": answered `503 SlowDown` (S3 throttling), never forwarded;
  - "drop":     the connection is closed without an answer, never forwarded;
  - "lost":     forwarded (the server acts on it!), then the connection is closed before the
                answer: the client cannot tell whether a write happened.
The other requests are forwarded to moto and their answers relayed. Decisions come from one
seeded generator, in the order requests arrive.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("slowdown", "drop", "lost")
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection"})
_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class FlakyProxy:
    def __init__(self, target_port: int, rate: float = 0.0, seed: int = 0) -> None:
        self.target_port = target_port
        self.rate = rate
        self.counts: Counter[str] = Counter()  # requests by outcome: ok, slowdown, drop, lost
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def decide(self) -> str:
        with self._lock:
            fault = self._random.random() < self.rate
            outcome = self._random.choice(FAULTS) if fault else "ok"
            self.counts[outcome] += 1
        return outcome

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FlakyProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    owner: FlakyProxy
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore uses it

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the tests count outcomes instead

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_HEAD = do_DELETE = do_GET

    def _handle(self) -> None:
        body = self._body()
        outcome = self.owner.decide()
        if outcome == "slowdown":
            self._answer(503, {"Content-Type": "application/xml"}, _SLOW_DOWN)
        elif outcome == "drop":
            self._cut()
        else:
            status, headers, answer = self._forward(body)
            if outcome == "lost":
                self._cut()
            else:
                self._answer(status, headers, answer)

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._chunked_body()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _chunked_body(self) -> bytes:
        # Kept as it came (chunk sizes and trailers too): forwarded with the same header.
        raw = bytearray()
        while True:
            line = self.rfile.readline()
            raw += line
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (trailer := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                    raw += trailer
                raw += b"\r\n"
                return bytes(raw)
            raw += self.rfile.read(size + 2)

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        upstream = http.client.HTTPConnection("127.0.0.1", self.owner.target_port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                upstream.putheader(name, value)
            upstream.endheaders(body or None)
            response = upstream.getresponse()
            answer = response.read()
            kept = {
                k: v
                for k, v in response.getheaders()
                if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"
            }
            # A HEAD answer states the object's length; any other states the body relayed.
            length = response.getheader("Content-Length") if self.command == "HEAD" else None
            kept["Content-Length"] = length or str(len(answer))
            return response.status, kept, answer
        finally:
            upstream.close()

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response_only(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _cut(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client may have gone first
            self.connection.shutdown(socket.SHUT_RDWR)
