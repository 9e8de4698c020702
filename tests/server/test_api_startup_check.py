"""Jupyter Server's own guard (≥ 2.13). With `allow_unauthenticated_access = False` the server
checks every handler an extension adds: each method must be wrapped in `@web.authenticated`
(or marked `@allow_unauthenticated`), else it warns at start-up (an error here: pytest runs
with warnings as errors), and it refuses every request without credentials."""

from __future__ import annotations

from typing import Any

import pytest
from jupyter_server.base.handlers import APIHandler
from servertools import API, NO_CREDENTIALS, Fetch, Runs, server_config, strict_json
from traitlets.config import Config

from nbflow.server.handlers import routes

GET_ROUTES = [
    ("flows",),
    ("flows", "demo", "runs"),
    ("runs", "demo", "1"),
    ("runs", "demo", "1", "start"),
    ("runs", "demo", "1", "start", "1"),
]


@pytest.fixture
def jp_server_config(runs: Runs) -> Config:
    config = server_config(runs.path)
    config.ServerApp.allow_unauthenticated_access = False
    return config


class Unguarded(APIHandler):
    """What the check exists to catch: a method nobody wrapped in @web.authenticated."""

    async def get(self) -> None:
        await self.finish("{}")


def test_the_server_starts_and_every_nbflow_handler_passes_its_check(jp_serverapp: Any) -> None:
    assert jp_serverapp.allow_unauthenticated_access is False
    assert jp_serverapp.extension_manager.extensions["nbflow.server"].enabled
    web_app = jp_serverapp.web_app
    ours = routes(web_app.settings["base_url"])
    assert len(ours) == 7
    # The function ServerWebApplication.add_handlers runs on each handler at start-up.
    for pattern, handler in ours:
        assert web_app._check_handler_auth(pattern, handler) == [], handler
    assert web_app._check_handler_auth("/x", Unguarded) == ["- GET of Unguarded registered for /x"]


async def test_with_the_guard_on_requests_need_credentials(jp_fetch: Fetch) -> None:
    for parts in GET_ROUTES:
        refused = await jp_fetch(*API, *parts, headers=dict(NO_CREDENTIALS), raise_error=False)
        assert refused.code == 403, parts
        answered = await jp_fetch(*API, *parts)
        assert strict_json(answered.body), parts
    compare = {"runs": "demo/1,demo/2"}
    refused = await jp_fetch(
        *API, "compare", params=compare, headers=dict(NO_CREDENTIALS), raise_error=False
    )
    assert refused.code == 403
    body = '{"flow": null, "cells": []}'
    refused = await jp_fetch(
        *API, "check", method="POST", body=body, headers=dict(NO_CREDENTIALS), raise_error=False
    )
    assert refused.code == 403
