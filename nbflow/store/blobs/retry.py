"""Calls to an object store: a transient fault is tried again with backoff, the rest fail at once.

Transient, and only what is known to be: a dropped, refused or cut connection, a timeout, a 5xx
answer, throttling (429, SlowDown). Anything else (not found, access denied, bad credentials, a
4xx answer, a bug such as an IndexError) raises at once, unchanged: trying it again would only
delay the message the user needs, and then bury it under "check the endpoint". After the last
try the error names the operation, the URL, how many tries were made and what to check.
"""

from __future__ import annotations

import asyncio
import errno
import random
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from nbflow.exceptions import DatastoreError, NbflowError

T = TypeVar("T")

# ConnectionError covers reset, refused, aborted and broken pipe; asyncio's TimeoutError is
# TimeoutError itself only from Python 3.11 on.
_TRANSIENT_TYPES = (ConnectionError, TimeoutError, asyncio.TimeoutError)
_TRANSIENT_ERRNOS = frozenset(
    {
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ECONNREFUSED,
        errno.ETIMEDOUT,
        errno.EPIPE,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.ENETRESET,
        errno.EHOSTUNREACH,
        errno.EAGAIN,
    }
)
# The clients' exceptions, by the name of the class or of one of its bases: importing botocore
# or aiohttp here would make them dependencies.
_TRANSIENT_NAMES = frozenset(
    {
        # botocore: HTTPClientError is ConnectionClosedError's, ReadTimeoutError's and
        # ResponseStreamingError's base; a body cut short fails to parse.
        "HTTPClientError",
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ProxyConnectionError",
        "IncompleteReadError",  # botocore's and asyncio's
        "ResponseParserError",
        # aiohttp (s3fs's transport): ServerDisconnectedError, ClientOSError, ... and a cut body.
        "ClientConnectionError",
        "ClientPayloadError",
        # http.client and urllib3 (gcsfs's and adlfs's transports), azure-core's.
        "IncompleteRead",
        "ProtocolError",
        "ServiceRequestError",
        "ServiceResponseError",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequests",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    """`tries` attempts in all; waits `first_delay`, doubling, at most `max_delay` (jittered)."""

    # 8 tries wait at most ~10 s in all: a throttling burst (503 SlowDown on half the calls)
    # fails a call 1 time in 256, not 1 in 32 as 5 tries did. $NBFLOW_STORAGE_RETRIES overrides.
    tries: int = 8
    first_delay: float = 0.1
    factor: float = 2.0
    max_delay: float = 4.0

    def delays(self) -> Iterator[float]:
        """The waits between tries: one fewer than `tries`."""
        delay = self.first_delay
        for _ in range(self.tries - 1):
            # Jitter spreads the retries of many workers hit by the same outage.
            yield min(delay, self.max_delay) * random.uniform(0.75, 1.0)
            delay *= self.factor


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same call again may succeed: only for faults known to pass."""
    if isinstance(exc, NbflowError):
        return False  # ours, already decided (a nested call that gave up, a damaged blob)
    response = _service_response(exc)
    if response is not None:
        code = str(response.get("Error", {}).get("Code", ""))
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code in _TRANSIENT_CODES or status >= 500 or status in (408, 429)
    if isinstance(exc, socket.gaierror):
        return exc.errno == socket.EAI_AGAIN  # a name server that may answer next time
    return (
        isinstance(exc, _TRANSIENT_TYPES)
        or (isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS)
        or any(base.__name__ in _TRANSIENT_NAMES for base in type(exc).__mro__)
    )


def _service_response(exc: BaseException) -> dict[str, Any] | None:
    # A service's answer (botocore's ClientError, possibly wrapped by s3fs in an OSError). Only
    # along `raise ... from`: an error raised while handling an answer is an error of its own.
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        response = getattr(link, "response", None)
        if isinstance(response, dict) and ("Error" in response or "ResponseMetadata" in response):
            return response
        link = link.__cause__
    return None


def gave_up(what: str, url: str, tries: int, started: float, exc: BaseException) -> DatastoreError:
    elapsed = time.monotonic() - started
    return DatastoreError(
        f"cannot {what} in {url}: {type(exc).__name__}: {exc} (gave up after {tries} tries over "
        f"{elapsed:.1f} s). Check that the storage endpoint is reachable from here (network, "
        "`endpoint_url` in storage_options) and not overloaded, then run again."
    )


def call(policy: RetryPolicy, what: str, url: str, fn: Callable[[], T]) -> T:
    """`fn()`, tried again on transient errors; non-transient errors propagate unchanged."""
    started = time.monotonic()
    for delay in policy.delays():
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
        time.sleep(delay)
    try:
        return fn()
    except Exception as exc:
        if not is_transient(exc):
            raise
        raise gave_up(what, url, policy.tries, started, exc) from exc


async def acall(policy: RetryPolicy, what: str, url: str, fn: Callable[[], Awaitable[T]]) -> T:
    """`await fn()`, tried again on transient errors, like `call`."""
    started = time.monotonic()
    for delay in policy.delays():
        try:
            return await fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
        await asyncio.sleep(delay)
    try:
        return await fn()
    except Exception as exc:
        if not is_transient(exc):
            raise
        raise gave_up(what, url, policy.tries, started, exc) from exc
