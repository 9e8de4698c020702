"""The REST API under `/nbflow/api/`: small handlers over `replies` and `check`.

Every method is wrapped in `tornado.web.authenticated` (outermost, where Jupyter's start-up
check looks for it) and `authorized`, so a request without Jupyter's credentials gets 403 and a
POST sent with a cookie but no XSRF token is refused. Arguments are validated before anything
is read; errors answer `{"error": "what is wrong and how to fix it"}`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from nbflow.exceptions import NbflowError, NotFound
from nbflow.server import replies, validation
from nbflow.server.check import check_cells, checked_reply
from nbflow.server.datastore import ServedStore
from nbflow.server.encoding import to_json
from nbflow.server.validation import BadArgument
from nbflow.store.stores import Store

AUTH_RESOURCE = "nbflow"  # what Jupyter's Authorizer is asked about
SETTINGS_KEY = "nbflow_served_store"
NOT_AUTHENTICATED = (
    "not authenticated: send the server's token (header `Authorization: token ...`) or log in "
    "to Jupyter first; a POST with a login cookie also needs its XSRF token (X-XSRFToken)."
)
SEGMENT = "([^/]+)"  # one path segment; what it may hold is checked by `validation`


class ApiError(web.HTTPError):
    """An answer with this status and `{"error": message}`. The message is kept apart from
    tornado's `log_message`, which is %-formatted and would choke on a stray `%`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status)
        self.message = message


class NbflowHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def served(self) -> ServedStore:
        served: ServedStore = self.settings[SETTINGS_KEY]
        return served

    def valid(self, check: Callable[..., Any], *arguments: Any) -> Any:
        """`check(*arguments)`, or a 400 answer saying what was expected."""
        try:
            return check(*arguments)
        except BadArgument as error:
            raise ApiError(400, str(error)) from None

    async def answer(self, reader: Callable[[Store | None], Any]) -> None:
        """Send `reader(store)` as JSON; read off the event loop. No such thing: 404."""
        try:
            reply = await self.served.read(reader)
        except NotFound as error:
            raise ApiError(404, str(error)) from None
        except NbflowError as error:  # the datastore cannot be used; the message says why
            raise ApiError(500, str(error)) from None
        await self.finish(to_json(reply))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ApiError):
            message = error.message
        elif isinstance(error, web.HTTPError) and error.log_message:  # Jupyter's, tornado's
            message = error.log_message % error.args if error.args else error.log_message
        elif status_code == 403:
            message = NOT_AUTHENTICATED
        else:
            message = f"{status_code} {self._reason}: the Jupyter server's log says more."
        self.finish(to_json({"error": message}))


class FlowsHandler(NbflowHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        path = self.served.path
        await self.answer(lambda store: replies.flows_reply(store, path))


class RunsHandler(NbflowHandler):
    @web.authenticated
    @authorized
    async def get(self, flow: str) -> None:
        name = self.valid(validation.flow_name, flow)
        limit, offset = self.valid(
            validation.page,
            self.get_query_argument("limit", None),
            self.get_query_argument("offset", None),
        )
        await self.answer(lambda store: replies.runs_reply(store, name, limit, offset))


class RunHandler(NbflowHandler):
    @web.authenticated
    @authorized
    async def get(self, flow: str, run_id: str) -> None:
        ref = self.run_ref(flow, run_id)
        await self.answer(lambda store: replies.run_reply(store, ref))

    def run_ref(self, flow: str, run_id: str) -> validation.RunRef:
        return validation.RunRef(
            self.valid(validation.flow_name, flow), self.valid(validation.run_id, run_id)
        )


class StepHandler(RunHandler):
    @web.authenticated
    @authorized
    async def get(self, flow: str, run_id: str, step: str) -> None:
        ref, name = self.run_ref(flow, run_id), self.valid(validation.step_name, step)
        await self.answer(lambda store: replies.step_reply(store, ref, name))


class TaskHandler(RunHandler):
    @web.authenticated
    @authorized
    async def get(self, flow: str, run_id: str, step: str, task_id: str) -> None:
        ref, name = self.run_ref(flow, run_id), self.valid(validation.step_name, step)
        number = self.valid(validation.task_id, task_id)
        await self.answer(lambda store: replies.task_reply(store, ref, name, number))


class CompareHandler(NbflowHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        refs = self.valid(validation.compared_runs, self.get_query_argument("runs", None))
        await self.answer(lambda store: replies.compare_reply(store, refs))


class CheckHandler(NbflowHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        if len(self.request.body) > validation.BODY_MAX:
            raise ApiError(
                413, f"the body is larger than {validation.BODY_MAX:,} bytes: check fewer cells."
            )
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError as error:
            raise ApiError(400, f"the body is not JSON ({error}).") from None
        except RecursionError:
            raise ApiError(400, "the body is JSON nested too deeply to read.") from None
        flow, cells = self.valid(validation.check_request, body)
        # The cells in a thread of their own, outside the store's reads: a big notebook
        # neither holds the event loop nor keeps the other requests waiting for the store.
        checked = await asyncio.to_thread(check_cells, cells)
        await self.answer(lambda store: checked_reply(store, flow, checked))


def routes(base_url: str) -> list[tuple[str, type[NbflowHandler]]]:
    """The API's URL patterns under the server's base URL."""
    api = url_path_join(base_url, "nbflow", "api")
    table: list[tuple[str, type[NbflowHandler]]] = [
        ("flows", FlowsHandler),
        (f"flows/{SEGMENT}/runs", RunsHandler),
        (f"runs/{SEGMENT}/{SEGMENT}", RunHandler),
        (f"runs/{SEGMENT}/{SEGMENT}/{SEGMENT}", StepHandler),
        (f"runs/{SEGMENT}/{SEGMENT}/{SEGMENT}/{SEGMENT}", TaskHandler),
        ("compare", CompareHandler),
        ("check", CheckHandler),
    ]
    return [(url_path_join(api, path), handler) for path, handler in table]
