"""What the REST API accepts in a URL, a query or a body, checked before anything is read.

Flow and step names are Python identifiers, run ids and task ids are digits: an argument that is
anything else (a path, `..`, a backslash, a NUL) is refused with 400 here, so no argument ever
reaches the datastore as a path. The ids are only ever looked up in the metadata database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NAME_MAX = 200
NUMBER = re.compile(r"[0-9]{1,18}")  # fits SQLite's 64-bit integers
LATEST = "latest"
RUNS_LIMIT_DEFAULT, RUNS_LIMIT_MAX = 100, 5000
COMPARE_MIN, COMPARE_MAX = 2, 20
CELLS_MAX = 10_000
BODY_MAX = 32 * 2**20  # bytes of a POST check body: a big notebook is a few MB
CELL_ID_MAX = 256


class BadArgument(ValueError):
    """An argument the API refuses (400); the message says what was expected."""


@dataclass(frozen=True)
class RunRef:
    """A run named in a request: `run_id` None means the flow's latest run."""

    flow: str
    run_id: int | None


@dataclass(frozen=True)
class Cell:
    """A notebook code cell as the frontend sends it for `check`."""

    cell_id: str
    source: str


def flow_name(text: str) -> str:
    return _identifier("flow name", text, "for example 'quickstart'")


def step_name(text: str) -> str:
    return _identifier("step name", text, "for example 'train'")


def run_id(text: str) -> int | None:
    """A run id (digits), or None for "latest"."""
    if text == LATEST:
        return None
    return _number("run id", text, "a number such as 12, or 'latest'")


def task_id(text: str) -> int:
    return _number("task id", text, "a number such as 7")


def run_ref(text: str) -> RunRef:
    """`FLOW/RUN_ID` as the compare query names a run."""
    flow, slash, run = text.partition("/")
    if not slash or "/" in run:
        raise BadArgument(f"{_shown(text)} is not a run: name runs as FLOW/RUN_ID, e.g. demo/3.")
    return RunRef(flow_name(flow), run_id(run))


def compared_runs(text: str | None) -> list[RunRef]:
    """`?runs=demo/1,demo/2`: two to twenty runs."""
    if not text:
        raise BadArgument("name the runs to compare: ?runs=FLOW/RUN_ID,FLOW/RUN_ID (2 to 20).")
    refs = [run_ref(part.strip()) for part in text.split(",")]
    if not COMPARE_MIN <= len(refs) <= COMPARE_MAX:
        raise BadArgument(
            f"compare takes {COMPARE_MIN} to {COMPARE_MAX} runs, not {len(refs)}: "
            "?runs=FLOW/RUN_ID,FLOW/RUN_ID"
        )
    return refs


def page(limit: str | None, offset: str | None) -> tuple[int, int]:
    """`?limit=&offset=` of the runs listing: limit 1 to 5000 (default 100), offset 0 or more."""
    count = RUNS_LIMIT_DEFAULT if limit is None else _number("limit", limit, "a number")
    start = 0 if offset is None else _number("offset", offset, "a number, 0 or more")
    if not 1 <= count <= RUNS_LIMIT_MAX:
        raise BadArgument(f"limit must be 1 to {RUNS_LIMIT_MAX}, not {count}; page with offset.")
    return count, start


def check_request(body: object) -> tuple[str | None, list[Cell]]:
    """`{"flow": str | null, "cells": [{"id": str, "source": str}, ...]}` of POST check."""
    if not isinstance(body, Mapping):
        raise BadArgument('send a JSON object: {"flow": "NAME" or null, "cells": [...]}.')
    flow = body.get("flow")
    if flow is not None and not isinstance(flow, str):
        raise BadArgument('"flow" must be a flow name (a string) or null.')
    cells = body.get("cells")
    if not isinstance(cells, list):
        raise BadArgument('"cells" must be a list of {"id": str, "source": str}, one per cell.')
    if len(cells) > CELLS_MAX:
        raise BadArgument(f"at most {CELLS_MAX:,} cells are checked at once, not {len(cells):,}.")
    return (None if flow is None else flow_name(flow)), [_cell(i, c) for i, c in enumerate(cells)]


def _cell(index: int, cell: Any) -> Cell:
    cell_id = cell.get("id") if isinstance(cell, Mapping) else None
    source = cell.get("source") if isinstance(cell, Mapping) else None
    if not isinstance(cell_id, str) or not 0 < len(cell_id) <= CELL_ID_MAX:
        raise BadArgument(f'cells[{index}] needs an "id": the cell\'s id, a short string.')
    if not isinstance(source, str):
        raise BadArgument(f'cells[{index}] needs a "source": the cell\'s text, one string.')
    return Cell(cell_id, source)


def _identifier(what: str, text: str, example: str) -> str:
    # The same test nbflow applies when a flow or step is named (`str.isidentifier`): letters,
    # digits and _ only, so never `.`, `/`, `\\`, `%`, whitespace or a control character.
    if not (text.isidentifier() and len(text) <= NAME_MAX):
        raise BadArgument(
            f"{_shown(text)} is not a {what}: use a Python identifier (letters, digits and _, "
            f"not starting with a digit), {example}."
        )
    return text


def _number(what: str, text: str, expected: str) -> int:
    if not NUMBER.fullmatch(text):
        raise BadArgument(f"{_shown(text)} is not a {what}: expected {expected}.")
    return int(text)


def _shown(text: str) -> str:
    # Echo what was sent, escaped (repr) and cut, so a hostile argument stays inert text.
    return repr(text if len(text) <= 80 else text[:80] + "…")
