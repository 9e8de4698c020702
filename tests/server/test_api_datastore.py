"""Which datastore the server shows, what kernels are told, and a datastore not made yet."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from servertools import API, Fetch, Runs, check, error, get, server_config
from traitlets.config import Config


@pytest.fixture
def jp_server_config(request: pytest.FixtureRequest, runs: Runs) -> Config:
    """The extension without c.NbflowServer.datastore. Parametrized: "env" starts the server
    with $NBFLOW_DATASTORE naming the datastore of real runs; "relative" configures
    c.NbflowServer.datastore as a path relative to the server's root directory."""
    choice = getattr(request, "param", None)
    if choice == "env":
        os.environ["NBFLOW_DATASTORE"] = str(runs.path)  # restored by _kernel_environment
    if choice == "relative":
        return server_config(Path("shared") / "store")
    return server_config(None)


async def test_a_new_user_sees_empty_lists_and_nothing_is_created(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    default = jp_root_dir / ".nbflow"
    assert await get(jp_fetch, "flows") == {"datastore": str(default), "flows": []}
    assert await get(jp_fetch, "flows", "demo", "runs") == {"flow": "demo", "total": 0, "runs": []}
    assert "nothing has run" in await error(jp_fetch, 404, "runs", "demo", "latest")
    assert "nothing has run" in await error(jp_fetch, 404, "compare", runs="demo/1,demo/2")
    reply = await check(jp_fetch, [("a", "%%step start\nx = 1")], "demo")
    assert reply["steps"][0]["changed"] is None
    assert not default.exists()  # reading never makes a datastore
    # Every kernel this server starts writes where the sidebar reads.
    assert os.environ["NBFLOW_DATASTORE"] == str(default)


@pytest.mark.parametrize("jp_server_config", ["env"], indirect=True)
async def test_the_environment_names_the_datastore_when_no_config_does(
    jp_fetch: Fetch, runs: Runs
) -> None:
    reply = await get(jp_fetch, "flows")
    assert reply["datastore"] == str(runs.path)
    assert {flow["name"] for flow in reply["flows"]} == {"demo", "broken"}
    assert os.environ["NBFLOW_DATASTORE"] == str(runs.path)


@pytest.mark.parametrize("jp_server_config", ["relative"], indirect=True)
async def test_a_relative_datastore_is_taken_from_the_root_directory(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    served = jp_root_dir / "shared" / "store"
    assert (await get(jp_fetch, "flows"))["datastore"] == str(served)
    assert os.environ["NBFLOW_DATASTORE"] == str(served)  # absolute: the same for every kernel


async def test_runs_made_after_the_server_started_show_up(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    assert (await get(jp_fetch, "flows"))["flows"] == []
    from nbflow.config import Config as NbflowConfig
    from nbflow.store.stores import open_store

    store = open_store(NbflowConfig(datastore=str(jp_root_dir / ".nbflow")))
    run = store.meta.create_run("later", {"a": 1})
    store.meta.finish_run("later", run.run_id, "done")
    flows = (await get(jp_fetch, "flows"))["flows"]
    assert [(flow["name"], flow["runs"]) for flow in flows] == [("later", 1)]
    view = await get(jp_fetch, "runs", "later", "1")
    assert (view["steps"], view["layout"]["boxes"]) == ([], [])


async def test_only_the_configured_datastore_is_read(jp_fetch: Fetch) -> None:
    # No argument names a datastore: a query asking for another one changes nothing.
    response = await jp_fetch(*API, "flows", params={"datastore": "/etc"})
    assert json.loads(response.body)["flows"] == []
