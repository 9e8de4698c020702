"""POST check: the badges' view of a notebook's `%%step` cells, as the kernel would see them."""

from __future__ import annotations

import json
from typing import Any

from servertools import Fetch, Runs, check

PLAIN = "import math\ndef helper():\n    return 1"


def _steps(reply: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["name"]: step for step in reply["steps"]}


def _errors(reply: dict[str, Any]) -> dict[str, str]:
    return {error["cell_id"]: error["message"] for error in reply["errors"]}


async def test_the_notebook_that_made_the_runs_is_valid_and_unchanged(
    jp_fetch: Fetch, runs: Runs
) -> None:
    cells = [("c0", PLAIN), *((name, source) for name, source in runs.cells.items())]
    reply = await check(jp_fetch, cells, "demo")
    assert reply["flow"] == "demo"
    assert reply["errors"] == []
    steps = _steps(reply)
    assert list(steps) == ["start", "square", "total"]  # plain and %%params cells are no steps
    assert steps["square"] == {
        "cell_id": "square",
        "name": "square",
        "parents": ["start"],
        "foreach": "xs",
        "join": False,
        "error": None,
        "changed": False,
    }
    assert steps["total"]["join"] is True
    assert [step["changed"] for step in steps.values()] == [False, False, False]


async def test_an_edited_step_is_changed(jp_fetch: Fetch, runs: Runs) -> None:
    edited = runs.cells["start"] + "\nextra = 1"
    cells = [("start", edited), ("square", runs.cells["square"]), ("total", runs.cells["total"])]
    steps = _steps(await check(jp_fetch, cells, "demo"))
    assert (steps["start"]["changed"], steps["square"]["changed"]) == (True, False)
    # Only the newest recorded code counts: the first version of `total` is changed now.
    first_total = runs.cells["total"].replace("1 + sum(", "sum(")
    steps = _steps(await check(jp_fetch, [("total", first_total)], "demo"))
    assert steps["total"]["changed"] is True


async def test_a_step_no_run_recorded_has_changed_null(jp_fetch: Fetch, runs: Runs) -> None:
    cells = [("new", "%%step fresh\nx = 1"), ("start", runs.cells["start"])]
    steps = _steps(await check(jp_fetch, cells, "demo"))
    assert steps["fresh"]["changed"] is None
    # Without a `%flow name`, the flow is "flow", which has no runs here.
    reply = await check(jp_fetch, [("start", runs.cells["start"])], None)
    assert reply["flow"] == "flow"
    assert _steps(reply)["start"]["changed"] is None


async def test_a_bad_step_line_is_an_error_on_its_cell(jp_fetch: Fetch) -> None:
    cells = [
        ("ok", "%%step start\nx = 1"),
        ("retry", "%%step train --after start --retry many\ny = 2"),
        ("nameless", "%%step\nz = 3"),
        ("quote", "%%step q --when 'x > 1\nz = 3"),
        ("option", "%%step p --paralel\nz = 3"),
    ]
    reply = await check(jp_fetch, cells, "demo")
    errors = _errors(reply)
    assert sorted(errors) == ["nameless", "option", "quote", "retry"]
    assert "--retry many: expected a whole number" in errors["retry"]
    assert "required: name" in errors["nameless"]
    assert "quotes" in errors["quote"]
    assert "unrecognized arguments: --paralel" in errors["option"]
    assert list(_steps(reply)) == ["start"]  # a cell whose line does not parse is no step


async def test_an_unknown_parent_is_an_error_on_the_cell_that_names_it(jp_fetch: Fetch) -> None:
    cells = [("a", "%%step start\nx = 1"), ("b", "%%step train --after prep\ny = x")]
    reply = await check(jp_fetch, cells, "demo")
    assert list(_errors(reply)) == ["b"]
    message = _errors(reply)["b"]
    assert "step 'train'" in message and "names parent 'prep', which no cell defines" in message
    assert _steps(reply)["train"]["error"] == message
    assert _steps(reply)["start"]["error"] is None


async def test_a_duplicate_step_is_an_error_on_the_later_cell(jp_fetch: Fetch) -> None:
    cells = [("a", "%%step start\nx = 1"), ("b", "%%step start\nx = 2")]
    errors = _errors(await check(jp_fetch, cells, "demo"))
    assert list(errors) == ["b"]
    assert "earlier cell" in errors["b"] and "rename one" in errors["b"]


async def test_order_cycles_and_graph_rules(jp_fetch: Fetch) -> None:
    cells = [
        ("late", "%%step b --after a\ny = 1"),
        ("a", "%%step a\nx = 1"),
        ("c1", "%%step c --after d\nz = 1"),
        ("d1", "%%step d --after c\nw = 1"),
        ("join", "%%step j --after a --join\nv = 1"),
        ("child", "%%step k --after j\nu = 1"),
        ("syntax", "%%step s\nx = (1"),
    ]
    errors = _errors(await check(jp_fetch, cells, "demo"))
    assert "which a later cell defines" in errors["late"]
    assert "move this cell below" in errors["late"]
    assert "cycle: c -> d -> c" in errors["c1"]
    assert "parent 'c', whose cell has an error" in errors["d1"]
    assert "uses --join but no foreach is open" in errors["join"]
    assert "parent 'j', whose cell has an error" in errors["child"]
    assert "syntax error in the cell" in errors["syntax"]
    assert "a" not in errors


async def test_ipython_syntax_in_a_step_is_read_as_the_kernel_reads_it(jp_fetch: Fetch) -> None:
    cells = [("a", "\n%%step start\n!echo hi\n%time x = 1\nx")]
    reply = await check(jp_fetch, cells, "demo")
    assert reply["errors"] == []
    assert _steps(reply)["start"]["cell_id"] == "a"


async def test_a_body_nested_too_deeply_or_too_big_is_a_clear_400(jp_fetch: Fetch) -> None:
    from servertools import API

    deep = "[" * 100_000 + "]" * 100_000
    response = await jp_fetch(*API, "check", method="POST", body=deep, raise_error=False)
    assert response.code == 400
    assert b"nested too deeply" in response.body
    huge = json.dumps({"flow": None, "cells": [{"id": "c", "source": "x" * (33 * 2**20)}]})
    response = await jp_fetch(*API, "check", method="POST", body=huge, raise_error=False)
    assert response.code == 413
    assert b"check fewer cells" in response.body


async def test_a_long_chain_of_steps_is_checked_whole(jp_fetch: Fetch) -> None:
    # Checked in one pass (each step against the steps above), not the whole graph per step:
    # 1,500 steps took minutes before.
    cells = [("c0", "%%step s0\nx = 0")] + [
        (f"c{i}", f"%%step s{i} --after s{i - 1}\nx = {i}") for i in range(1, 1_500)
    ]
    reply = await check(jp_fetch, cells, "chain")
    assert reply["errors"] == [] and len(reply["steps"]) == 1_500
    assert _steps(reply)["s1499"]["parents"] == ["s1498"]
