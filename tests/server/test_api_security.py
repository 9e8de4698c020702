"""What keeps the API safe: Jupyter's authentication on every route, XSRF on the POST, no
argument that can name a path, and text that stays text."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from servertools import API, HOSTILE, NO_CREDENTIALS, Fetch, Runs, get, strict_json
from tornado.httpclient import HTTPResponse

CHECK_BODY = json.dumps({"flow": "demo", "cells": [{"id": "a", "source": "%%step start\nx = 1"}]})
# (method, path under /nbflow/api/, query): one of each route, with arguments that exist.
ROUTES = [
    ("GET", "flows", {}),
    ("GET", "flows/demo/runs", {}),
    ("GET", "runs/demo/1", {}),
    ("GET", "runs/demo/1/start", {}),
    ("GET", "runs/demo/1/start/1", {}),
    ("GET", "compare", {"runs": "demo/1,demo/2"}),
    ("POST", "check", {}),
]
TRAVERSALS = ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "a%5Cb", "a%00b", "..", "%2E%2E"]
# Every argument position of every route, X marking where the hostile text goes.
POSITIONS = [
    "flows/X/runs",
    "runs/X/1",
    "runs/demo/X",
    "runs/demo/1/X",
    "runs/demo/1/start/X",
    "flows/demo/runs?limit=X",
    "flows/demo/runs?offset=X",
    "compare?runs=X,demo/1",
    "compare?runs=demo/1,X",
    "compare?runs=X/1,demo/1",
    "compare?runs=demo/X,demo/1",
]
PASSWD = b"root:"  # what /etc/passwd would show, were it ever read


async def _send(
    jp_fetch: Fetch, method: str, path: str, query: dict[str, str], **extra: Any
) -> HTTPResponse:
    """One request to a route of ROUTES (the POST with CHECK_BODY)."""
    body = {"body": CHECK_BODY} if method == "POST" else {}
    return await jp_fetch(
        *API, *path.split("/"), method=method, params=query, raise_error=False, **body, **extra
    )


@pytest.mark.parametrize(("method", "path", "query"), ROUTES)
async def test_every_route_answers_with_the_token(
    jp_fetch: Fetch, runs: Runs, method: str, path: str, query: dict[str, str]
) -> None:
    response = await _send(jp_fetch, method, path, query)
    assert response.code == 200, response.body
    assert strict_json(response.body)


@pytest.mark.parametrize(("method", "path", "query"), ROUTES)
async def test_every_route_refuses_a_request_without_credentials(
    jp_fetch: Fetch, runs: Runs, method: str, path: str, query: dict[str, str]
) -> None:
    for headers in (NO_CREDENTIALS, {"Authorization": "token not-the-token"}):
        response = await _send(jp_fetch, method, path, query, headers=dict(headers))
        assert response.code == 403, response.body
        # A POST without a token is refused by the XSRF check before authentication.
        expected = "_xsrf" if method == "POST" else "not authenticated"
        assert expected in strict_json(response.body)["error"]
        assert b"demo" not in response.body


async def test_a_login_cookie_reads_but_a_post_also_needs_the_xsrf_token(
    jp_fetch: Fetch, runs: Runs
) -> None:
    # A token-authenticated request logs the browser in: the server sets its login cookie.
    first = await jp_fetch(*API, "flows")
    cookie = "; ".join(c.split(";")[0] for c in first.headers.get_list("Set-Cookie"))
    assert cookie
    as_browser = {"Authorization": "", "Cookie": cookie}
    reads = await jp_fetch(*API, "flows", headers=dict(as_browser))
    assert strict_json(reads.body)["flows"]
    refused = await _send(jp_fetch, "POST", "check", {}, headers=dict(as_browser))
    assert refused.code == 403
    assert "_xsrf" in strict_json(refused.body)["error"]
    xsrf = {"Cookie": f"{cookie}; _xsrf=abc123", "X-XSRFToken": "abc123"}
    accepted = await _send(jp_fetch, "POST", "check", {}, headers={**as_browser, **xsrf})
    assert accepted.code == 200, accepted.body
    assert strict_json(accepted.body)["steps"][0]["name"] == "start"


async def test_a_post_with_the_token_header_needs_no_xsrf_token(jp_fetch: Fetch) -> None:
    response = await _send(jp_fetch, "POST", "check", {})  # no cookie, no XSRF token
    assert response.code == 200
    assert strict_json(response.body)["steps"][0]["name"] == "start"


@pytest.mark.parametrize("position", POSITIONS)
async def test_no_argument_can_name_a_path(
    http_server_client: Any, jp_base_url: str, jp_auth_header: dict[str, str], position: str
) -> None:
    # Sent raw (jp_fetch would escape the %): the server sees exactly these bytes.
    for hostile in TRAVERSALS:
        url = f"{jp_base_url}nbflow/api/{position.replace('X', hostile)}"
        response = await http_server_client.fetch(url, headers=jp_auth_header, raise_error=False)
        assert response.code == 400, (url, response.body)
        message = strict_json(response.body)["error"]
        assert "is not a" in message or "not of the form" in message or "FLOW/RUN_ID" in message
        assert PASSWD not in response.body


DOT_DOT = ["runs/../x/1", "runs/demo/../x", "runs/demo/1/../x", "flows/../x/runs", "../../x"]
ABSOLUTE = ["runs//etc/passwd", "runs/demo//etc/passwd", "flows//etc/passwd/runs", "/etc/passwd"]


@pytest.mark.parametrize("path", DOT_DOT + ABSOLUTE)
async def test_a_dot_dot_segment_or_an_absolute_path_reads_nothing(
    http_server_client: Any, jp_base_url: str, jp_auth_header: dict[str, str], path: str
) -> None:
    url = f"{jp_base_url}nbflow/api/{path}"
    response = await http_server_client.fetch(url, headers=jp_auth_header, raise_error=False)
    assert response.code in (400, 404), (url, response.code)
    assert PASSWD not in response.body


@pytest.mark.parametrize(
    "flow", ["../../etc/passwd", "/etc/passwd", "a\\b", "a\x00b", "..%2Fx", ".", "a b"]
)
async def test_check_refuses_a_flow_that_is_not_a_name(jp_fetch: Fetch, flow: str) -> None:
    body = json.dumps({"flow": flow, "cells": []})
    response = await jp_fetch(*API, "check", method="POST", body=body, raise_error=False)
    assert response.code == 400
    assert "is not a flow name" in strict_json(response.body)["error"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{not json", "not JSON"),
        ("[]", "JSON object"),
        ('{"cells": "x"}', '"cells" must be a list'),
        ('{"cells": [{"id": "a"}]}', 'cells[0] needs a "source"'),
        ('{"cells": [{"source": "x"}]}', 'cells[0] needs an "id"'),
        ('{"flow": 3, "cells": []}', '"flow" must be a flow name'),
    ],
)
async def test_check_says_what_a_bad_body_lacks(jp_fetch: Fetch, body: str, expected: str) -> None:
    response = await jp_fetch(*API, "check", method="POST", body=body, raise_error=False)
    assert response.code == 400
    assert expected in strict_json(response.body)["error"]


Pick = Callable[[Any], Any]


@pytest.mark.parametrize(
    ("parts", "query", "pick"),
    [
        (["flows", "demo", "runs"], {}, lambda r: r["runs"][0]["params"]["label"]),
        (["flows", "demo", "runs"], {}, lambda r: r["runs"][0]["results"]["evil"]),
        (["runs", "demo", "1", "start"], {}, lambda r: r["tasks"][0]["stdout"].strip()),
        (["compare"], {"runs": "demo/1,demo/2"}, lambda r: _row(r["results"], "evil")[0]),
    ],
)
async def test_hostile_text_comes_back_as_the_same_plain_string(
    jp_fetch: Fetch, runs: Runs, parts: list[str], query: dict[str, str], pick: Pick
) -> None:
    response = await jp_fetch(*API, *parts, params=query)
    assert pick(strict_json(response.body)) == HOSTILE
    # Written as \u003c...\u003e: equal once parsed, never markup in the body itself.
    assert b"<script" not in response.body


async def test_an_artifact_preview_stays_text(jp_fetch: Fetch) -> None:
    (task,) = (await get(jp_fetch, "runs", "demo", "1", "start"))["tasks"]
    shown = await jp_fetch(*API, "runs", "demo", "1", "start", str(task["task_id"]))
    artifacts = {a["name"]: a for a in strict_json(shown.body)["artifacts"]}
    assert artifacts["evil"]["preview"]["repr"] == repr(HOSTILE)
    assert b"<script" not in shown.body


def _row(rows: list[dict[str, Any]], name: str) -> list[Any]:
    return next(row["values"] for row in rows if row["name"] == name)


# -- encodings a path check can miss -----------------------------------------------------------

# Double-encoded, overlong UTF-8, fullwidth and unicode dots, `..;`, a backslash'd climb, an
# encoded NUL at the end: whatever a decoder does with them, none is a name or a number.
ENCODED = [
    "%252e%252e%252fetc%252fpasswd",
    "%c0%ae%c0%ae%c0%afetc",
    "%EF%BC%8E%EF%BC%8E%EF%BC%8Fetc",
    "%E2%80%A4%E2%80%A4",
    "..;",
    "..%5C..%5Cetc%5Cpasswd",
    "demo%00",
    "%2e%2e%2f",
    "....%2F%2F",
    "~root",
]


@pytest.mark.parametrize("hostile", ENCODED)
async def test_no_encoding_of_a_path_is_taken_for_an_argument(
    http_server_client: Any, jp_base_url: str, jp_auth_header: dict[str, str], hostile: str
) -> None:
    for position in POSITIONS:
        url = f"{jp_base_url}nbflow/api/{position.replace('X', hostile)}"
        response = await http_server_client.fetch(url, headers=jp_auth_header, raise_error=False)
        # 400 from the argument check (or from tornado, for bytes that are not UTF-8).
        assert response.code == 400, (url, response.body)
        assert PASSWD not in response.body


# -- a datastore someone else wrote: planted symlinks and pickles ------------------------------

SECRET = "the-secret-text-4f1c"  # in a file outside the datastore, named by planted symlinks
BOMB_CELLS = [
    "%flow name planted",
    # An artifact whose pickle, once loaded, creates the marker file (as any code could run).
    "class Bomb:\n"
    "    def __init__(self, marker):\n        self.marker = marker\n"
    "    def __reduce__(self):\n"
    "        return (exec, (f'open({self.marker!r}, \"w\").close()  # ' + 'x' * 5000,))\n"
    "    def __repr__(self):\n        return 'Bomb()'",
    "%%step start\nbomb = Bomb(MARKER)\nbig = 'y' * 10_000\nprint('started')",
    "%%step end --after start\nsize = len(big)",
]


class Planted:
    """A datastore with a bomb artifact, a blob swapped for a symlink to a secret file outside
    it, and symlinks named like what a request could name (a flow, `..`-ish names, `blobs`)."""

    def __init__(self, root: Any) -> None:
        self.path, self.marker, self.secret = root / "store", root / "marker", root / "secret"
        self.secret.write_text(SECRET)

    def make(self) -> None:
        from IPython.core.interactiveshell import InteractiveShell

        from nbflow.kernel.magics import load_ipython_extension

        shell = InteractiveShell.instance()
        shell.reset(new_session=True)
        load_ipython_extension(shell)
        shell.run_cell(f"%flow config datastore={self.path}").raise_error()
        for cell in BOMB_CELLS:
            shell.run_cell(cell.replace("MARKER", repr(str(self.marker)))).raise_error()
        shell.reset(new_session=True)
        self.marker.unlink(missing_ok=True)  # had the writer unpickled: only the server counts
        self.plant()

    def plant(self) -> None:
        blobs = sorted((self.path / "blobs").glob("*/*"), key=lambda p: p.stat().st_size)
        biggest = blobs[-1]  # `big`'s blob: its bytes are never sent, whatever they are
        biggest.unlink()
        biggest.symlink_to(self.secret)
        for name in ("planted", "etc", "passwd", "1", "start", "secret", "..."):
            (self.path / name).symlink_to(self.secret)
        (self.path / "blobs" / "se").mkdir()
        (self.path / "blobs" / "se" / "cret").symlink_to(self.secret)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    store = Planted(tmp_path_factory.mktemp("planted"))
    store.make()
    return store


class TestAStoreWithPlantedSymlinksAndPickles:
    """Served by a server of its own (the fixture below replaces the shared store's config)."""

    @pytest.fixture
    def jp_server_config(self, planted: Planted) -> Any:
        from servertools import server_config

        return server_config(planted.path)

    async def test_every_route_answers_and_none_unpickles_or_follows_a_link(
        self, jp_fetch: Fetch, planted: Planted
    ) -> None:
        (start,) = (await get(jp_fetch, "runs", "planted", "1", "start"))["tasks"]
        routes = [
            ("flows",),
            ("flows", "planted", "runs"),
            ("runs", "planted", "1"),
            ("runs", "planted", "latest", "end"),
            ("runs", "planted", "1", "start", str(start["task_id"])),
        ]
        bodies = [await get(jp_fetch, *route) for route in routes]
        bodies.append(await get(jp_fetch, "compare", runs="planted/1,planted/latest"))
        shown = json.dumps(bodies)
        assert "Bomb()" in shown  # the bomb's stored preview: data, not its pickle
        assert SECRET not in shown
        assert not planted.marker.exists(), "a route unpickled an artifact"

    async def test_a_symlink_named_in_a_request_is_never_followed(
        self, http_server_client: Any, jp_base_url: str, jp_auth_header: dict[str, str],
        planted: Planted,
    ) -> None:  # fmt: skip
        for name in ("secret", "etc", "passwd", "...", "blobs", "se"):
            for position in [*POSITIONS, "runs/planted/1/X", "runs/planted/X/start/1"]:
                url = f"{jp_base_url}nbflow/api/{position.replace('X', name)}"
                response = await http_server_client.fetch(
                    url, headers=jp_auth_header, raise_error=False
                )
                # A name is only ever looked up in the database: `flows/secret/runs` is a flow
                # with no runs (200, empty), anything else is refused or not found.
                assert response.code in (200, 400, 404), (url, response.code)
                assert SECRET.encode() not in response.body
                if response.code == 200:
                    assert strict_json(response.body)["runs"] == []
        assert not planted.marker.exists()
