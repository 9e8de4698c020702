"""Every GET route of the REST API over real runs: what it answers, and what it refuses."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from servertools import HOSTILE, Fetch, Runs, error, get


async def test_flows_lists_each_flow_with_its_latest_run(jp_fetch: Fetch, runs: Runs) -> None:
    reply = await get(jp_fetch, "flows")
    assert reply["datastore"] == str(runs.path)
    flows = {flow["name"]: flow for flow in reply["flows"]}
    assert sorted(flows) == ["broken", "demo"]
    assert flows["demo"]["runs"] == 2
    assert flows["demo"]["latest"]["id"] == "demo/2"
    assert flows["demo"]["latest"]["status"] == "done"
    assert flows["broken"]["latest"]["status"] == "failed"


async def test_runs_come_newest_first_with_the_results_of_their_last_step(
    jp_fetch: Fetch,
) -> None:
    reply = await get(jp_fetch, "flows", "demo", "runs")
    assert reply["flow"] == "demo"
    assert reply["total"] == 2
    assert [run["id"] for run in reply["runs"]] == ["demo/2", "demo/1"]
    newest, oldest = reply["runs"]
    # A parameter of inf is kept as a float by the metadata; JSON has no inf: it is null.
    assert newest["params"] == {"n": 3, "label": HOSTILE, "ceiling": None}
    assert (oldest["results"]["total"], newest["results"]["total"]) == (5, 6)
    assert newest["results"]["ratio"] == "inf"  # previews hold non-finite numbers as text
    assert newest["results"]["evil"] == HOSTILE


async def test_runs_are_paged_and_the_page_is_checked(jp_fetch: Fetch) -> None:
    page = await get(jp_fetch, "flows", "demo", "runs", limit="1", offset="1")
    assert (page["total"], [run["id"] for run in page["runs"]]) == (2, ["demo/1"])
    beyond = await get(jp_fetch, "flows", "demo", "runs", offset="10")
    assert (beyond["total"], beyond["runs"]) == (2, [])
    assert "limit must be 1 to 5000" in await error(
        jp_fetch, 400, "flows", "demo", "runs", limit="0"
    )
    assert "limit must be 1 to 5000" in await error(
        jp_fetch, 400, "flows", "demo", "runs", limit="5001"
    )
    assert "not a limit" in await error(jp_fetch, 400, "flows", "demo", "runs", limit="-1")
    assert "not a offset" in await error(jp_fetch, 400, "flows", "demo", "runs", offset="x")


async def test_a_flow_without_runs_has_an_empty_list(jp_fetch: Fetch) -> None:
    reply = await get(jp_fetch, "flows", "not_run_yet", "runs")
    assert reply == {"flow": "not_run_yet", "total": 0, "runs": []}


async def test_a_run_has_its_steps_layout_and_picture(jp_fetch: Fetch) -> None:
    run = await get(jp_fetch, "runs", "demo", "1")
    assert (run["id"], run["status"]) == ("demo/1", "done")
    steps = {step["name"]: step for step in run["steps"]}
    assert list(steps) == ["start", "square", "total"]
    assert steps["square"]["tasks"]["total"] == 3
    assert steps["square"]["foreach"] == "xs"
    assert steps["total"]["join"] is True
    boxes = {box["name"]: box for box in run["layout"]["boxes"]}
    assert boxes["start"]["layer"] < boxes["square"]["layer"] < boxes["total"]["layer"]
    assert {(e["source"], e["target"]) for e in run["layout"]["edges"]} == {
        ("start", "square"),
        ("square", "total"),
    }
    svg = ET.fromstring(run["svg"])  # a well-formed picture
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert "demo/1" in "".join(svg.itertext())


async def test_latest_names_the_newest_run(jp_fetch: Fetch) -> None:
    assert (await get(jp_fetch, "runs", "demo", "latest"))["id"] == "demo/2"


async def test_a_step_shows_its_tasks_as_a_click_in_the_graph_does(jp_fetch: Fetch) -> None:
    square = await get(jp_fetch, "runs", "demo", "1", "square")
    assert (square["type"], square["step"], square["total"]) == ("tasks", "square", 3)
    assert [task["item_name"] for task in square["tasks"]] == ["x", "x", "x"]
    assert [task["status"] for task in square["tasks"]] == ["done"] * 3
    start = await get(jp_fetch, "runs", "demo", "1", "start")
    assert start["tasks"][0]["stdout"] == HOSTILE + "\n"


async def test_a_task_has_its_artifacts_with_previews_and_its_logs(jp_fetch: Fetch) -> None:
    (listed,) = (await get(jp_fetch, "runs", "demo", "1", "start"))["tasks"]
    task = await get(jp_fetch, "runs", "demo", "1", "start", str(listed["task_id"]))
    assert task["id"] == f"demo/1/start/{listed['task_id']}"
    artifacts = {artifact["name"]: artifact for artifact in task["artifacts"]}
    assert artifacts["xs"]["preview"]["repr"] == "[0, 1, 2]"
    assert artifacts["evil"]["type_name"] == "builtins.str"
    assert task["stdout"] == HOSTILE + "\n"
    assert task["origin"] is None


async def test_a_reused_task_names_its_origin(jp_fetch: Fetch) -> None:
    (first,) = (await get(jp_fetch, "runs", "demo", "1", "start"))["tasks"]
    (reused,) = (await get(jp_fetch, "runs", "demo", "2", "start"))["tasks"]
    task = await get(jp_fetch, "runs", "demo", "2", "start", str(reused["task_id"]))
    assert task["status"] == "cached"
    assert task["origin"] == first["id"]


async def test_a_failed_task_carries_its_error(jp_fetch: Fetch) -> None:
    (boom,) = (await get(jp_fetch, "runs", "broken", "1", "boom"))["tasks"]
    assert boom["status"] == "failed"
    task = await get(jp_fetch, "runs", "broken", "1", "boom", str(boom["task_id"]))
    assert task["error"]["ename"] == "ValueError"
    assert task["error"]["evalue"] == "no " + HOSTILE


async def test_compare_puts_runs_side_by_side_with_a_timeline(jp_fetch: Fetch) -> None:
    reply = await get(jp_fetch, "compare", runs="demo/1,demo/2")
    assert [run["id"] for run in reply["runs"]] == ["demo/1", "demo/2"]
    results = {row["name"]: row for row in reply["results"]}
    assert (results["total"]["values"], results["total"]["differs"]) == ([5, 6], True)
    assert results["evil"]["differs"] is False
    params = {row["name"]: row for row in reply["params"]}
    assert params["n"] == {"name": "n", "differs": False, "present": [True, True], "values": [3, 3]}
    assert params["ceiling"]["values"] == [None, None]
    assert ET.fromstring(reply["timeline_svg"]).tag == "{http://www.w3.org/2000/svg}svg"
    latest = await get(jp_fetch, "compare", runs="demo/latest,broken/1")
    assert [run["id"] for run in latest["runs"]] == ["demo/2", "broken/1"]


async def test_compare_takes_two_to_twenty_runs(jp_fetch: Fetch) -> None:
    assert "2 to 20" in await error(jp_fetch, 400, "compare")
    assert "2 to 20 runs, not 1" in await error(jp_fetch, 400, "compare", runs="demo/1")
    many = ",".join(["demo/1"] * 21)
    assert "2 to 20 runs, not 21" in await error(jp_fetch, 400, "compare", runs=many)
    assert "FLOW/RUN_ID" in await error(jp_fetch, 400, "compare", runs="demo,demo/1")


async def test_what_is_not_there_is_404_with_a_message(jp_fetch: Fetch) -> None:
    (square, *_) = (await get(jp_fetch, "runs", "demo", "1", "square"))["tasks"]
    message = await error(jp_fetch, 404, "runs", "nope", "1")
    assert "no flow 'nope'" in message and "broken, demo" in message
    assert "no run demo/99" in await error(jp_fetch, 404, "runs", "demo", "99")
    assert "no step 'nope'" in await error(jp_fetch, 404, "runs", "demo", "1", "nope")
    assert "no step 'nope'" in await error(jp_fetch, 404, "runs", "demo", "1", "nope", "1")
    message = await error(jp_fetch, 404, "runs", "demo", "1", "start", "999999")
    assert "has no task 999999" in message
    # A real task id, asked for under another step or run, is not found either.
    assert "has no task" in await error(
        jp_fetch, 404, "runs", "demo", "1", "start", str(square["task_id"])
    )
    assert "has no task" in await error(
        jp_fetch, 404, "runs", "broken", "1", "boom", str(square["task_id"])
    )
    assert "no run demo/99" in await error(jp_fetch, 404, "compare", runs="demo/1,demo/99")
    assert "no flow 'nope'" in await error(jp_fetch, 404, "runs", "nope", "latest")
