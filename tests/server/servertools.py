"""Helpers of the server tests: the runs they read, the server's config, requests to the API
and strict reading of what comes back."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from tornado.httpclient import HTTPResponse
from traitlets.config import Config

from nbflow.kernel.magics import load_ipython_extension

Fetch = Callable[..., Awaitable[HTTPResponse]]
API = ("nbflow", "api")
NO_CREDENTIALS = {"Authorization": ""}  # jp_fetch adds the token unless the header is given
HOSTILE = "<script>alert(1)</script>"

PARAMS = f"%%params\nn = 3\nlabel = {HOSTILE!r}\nceiling = float('inf')"
START = f"%%step start\nxs = list(range(n))\nevil = {HOSTILE!r}\nprint(evil)"
SQUARE = "%%step square --after start --foreach xs --as x\nsq = x * x"
TOTAL = (
    "%%step total --after square --join\ntotal = sum(inp.sq for inp in inputs)\n"
    "ratio = float('inf')"
)
TOTAL_EDITED = TOTAL.replace("sum(", "1 + sum(")
BOOM = "%%step boom\nraise ValueError('no ' + " + repr(HOSTILE) + ")"


@dataclass(frozen=True)
class Runs:
    """The datastore the tests read: flow `demo` (runs 1 and 2, the second after an edit of
    `total`) and flow `broken` (one failed run)."""

    path: Path
    cells: dict[str, str]  # the source of each demo cell, as the notebook holds it


def make_runs(path: Path) -> Runs:
    """Real runs, made by nbflow's magics in IPython's in-process shell (no kernel process)."""
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)  # a fresh nbflow session
    for cell in (f"%flow config datastore={path}", "%flow name demo", PARAMS, START, SQUARE):
        shell.run_cell(cell).raise_error()
    shell.run_cell(TOTAL).raise_error()
    shell.run_cell(TOTAL_EDITED).raise_error()  # run 2: start and square reused, total again
    shell.run_cell("%flow name broken").raise_error()
    assert shell.run_cell(BOOM).error_in_exec is not None
    shell.reset(new_session=True)
    return Runs(path, {"params": PARAMS, "start": START, "square": SQUARE, "total": TOTAL_EDITED})


def server_config(datastore: Path | None) -> Config:
    """The extension enabled (a failure to load it fails the test), serving `datastore`.

    pytest-jupyter would add jupyter_server_terminals, whose websocket handler fails Jupyter's
    own authentication check (see test_api_startup_check); it is not needed here."""
    config = Config(
        {
            "ServerApp": {
                "jpserver_extensions": {"nbflow.server": True, "jupyter_server_terminals": False},
                "reraise_server_extension_failures": True,
            }
        }
    )
    if datastore is not None:
        config.NbflowServer.datastore = str(datastore)
    return config


def strict_json(body: bytes) -> Any:
    """The body as JSON, refusing NaN and Infinity (a browser's JSON.parse would)."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(body, parse_constant=refuse)


async def get(jp_fetch: Fetch, *parts: str, **params: str) -> Any:
    """GET an API route with the server's token; its JSON, after checking for 200."""
    response = await jp_fetch(*API, *parts, params=params, raise_error=False)
    assert response.code == 200, response.body
    assert response.headers["Content-Type"].startswith("application/json")
    return strict_json(response.body)


async def error(jp_fetch: Fetch, status: int, *parts: str, **params: str) -> str:
    """GET a route that must fail with `status`; the message of its {"error": ...} body."""
    response = await jp_fetch(*API, *parts, params=params, raise_error=False)
    assert response.code == status, (parts, params, response.body)
    return str(strict_json(response.body)["error"])


async def check(jp_fetch: Fetch, cells: list[tuple[str, str]], flow: str | None) -> Any:
    """POST check with the token for these (cell id, source) pairs."""
    body = {"flow": flow, "cells": [{"id": i, "source": s} for i, s in cells]}
    response = await jp_fetch(*API, "check", method="POST", body=json.dumps(body))
    assert response.code == 200
    return strict_json(response.body)
