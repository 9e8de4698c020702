"""Which storage errors are tried again: only those known to be transient, each form of them as
the clients raise it (builtins, errnos, botocore, aiohttp, s3fs's wrapping); anything else fails
at once, unchanged. No server: the faults at the real boundary are in tests/faults."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest
from aiohttp import ClientPayloadError, ServerDisconnectedError, ServerTimeoutError
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from nbflow.exceptions import DatastoreError
from nbflow.store.blobs.retry import RetryPolicy, acall, call, is_transient

FAST = RetryPolicy(tries=3, first_delay=0.001, max_delay=0.001)


def answer(code: str, status: int) -> ClientError:
    response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PutObject")  # type: ignore[arg-type]


def wrapped(error: ClientError) -> OSError:
    """As s3fs raises an answer it has no Python exception for."""
    wrapper = OSError(errno.EIO, str(error))
    wrapper.__cause__ = error
    return wrapper


def raised_while_handling(error: Exception, handled: Exception) -> Exception:
    try:
        try:
            raise handled
        except Exception:
            raise error  # noqa: B904 (the implicit __context__ is the point)
    except Exception as both:
        return both


TRANSIENT = {
    "connection reset": ConnectionResetError(),
    "connection refused": ConnectionRefusedError(),
    "broken pipe": BrokenPipeError(),
    "timeout": TimeoutError(),
    "asyncio timeout": asyncio.TimeoutError(),
    "ECONNRESET": OSError(errno.ECONNRESET, "reset"),
    "ETIMEDOUT": OSError(errno.ETIMEDOUT, "timed out"),
    "EPIPE": OSError(errno.EPIPE, "pipe"),
    "ENETUNREACH": OSError(errno.ENETUNREACH, "unreachable"),
    "DNS, try again": socket.gaierror(socket.EAI_AGAIN, "try again"),
    "botocore endpoint": EndpointConnectionError(endpoint_url="http://s3"),
    "botocore closed": ConnectionClosedError(endpoint_url="http://s3"),
    "botocore read timeout": ReadTimeoutError(endpoint_url="http://s3"),
    "aiohttp disconnected": ServerDisconnectedError(),
    "aiohttp timeout": ServerTimeoutError(),
    "aiohttp body cut short": ClientPayloadError(),
    "asyncio body cut short": asyncio.IncompleteReadError(b"", 10),
    "503 SlowDown": answer("SlowDown", 503),
    "500": answer("InternalError", 500),
    "429": answer("TooManyRequests", 429),
    "throttling on 400": answer("Throttling", 400),
    "503 wrapped by s3fs": wrapped(answer("ServiceUnavailable", 503)),
}
PERMANENT = {
    "IndexError": IndexError("list index out of range"),
    "AssertionError": AssertionError(),
    "ImportError": ImportError("no module named x"),
    "ZeroDivisionError": ZeroDivisionError(),
    "not found": FileNotFoundError(),
    "access denied": PermissionError(),
    "disk full": OSError(errno.ENOSPC, "no space left"),
    "EIO with no answer": OSError(errno.EIO, "i/o error"),
    "DNS, no such name": socket.gaierror(socket.EAI_NONAME, "unknown host"),
    "nbflow's own": DatastoreError("x"),
    "no credentials": NoCredentialsError(),
    "404": answer("NoSuchKey", 404),
    "403 wrapped by s3fs": wrapped(answer("AccessDenied", 403)),
    "a bug while handling a 503": raised_while_handling(IndexError(), answer("SlowDown", 503)),
}


@pytest.mark.parametrize("error", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_a_transient_error_is_tried_again(error: Exception) -> None:
    assert is_transient(error)
    failures = [error]
    assert call(FAST, "read x", "s3://b", lambda: fail_then(failures, "done")) == "done"


@pytest.mark.parametrize("error", PERMANENT.values(), ids=PERMANENT.keys())
def test_any_other_error_raises_at_once_unchanged(error: Exception) -> None:
    assert not is_transient(error)
    failures = [error] * FAST.tries
    with pytest.raises(type(error)) as caught:
        call(FAST, "read x", "s3://b", lambda: fail_then(failures, "done"))
    assert caught.value is error
    assert len(failures) == FAST.tries - 1  # one try only


def test_async_calls_classify_alike() -> None:
    async def flaky() -> str:
        return fail_then(failures, "done")

    failures: list[Exception] = [ServerDisconnectedError()]
    assert asyncio.run(acall(FAST, "read x", "s3://b", flaky)) == "done"
    failures = [IndexError("bug")] * FAST.tries
    with pytest.raises(IndexError, match="bug"):
        asyncio.run(acall(FAST, "read x", "s3://b", flaky))
    assert len(failures) == FAST.tries - 1


def test_giving_up_names_the_last_transient_error() -> None:
    failures = [ConnectionResetError("reset by peer")] * FAST.tries
    with pytest.raises(DatastoreError, match="ConnectionResetError: reset by peer"):
        call(FAST, "read x", "s3://b", lambda: fail_then(failures, "done"))


def fail_then(failures: list[Exception], result: str) -> str:
    if failures:
        raise failures.pop()
    return result
