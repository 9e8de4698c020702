"""Every number a person reads, formatted once: durations, sizes, times, values, and the
aligned tables of the command line. The widgets' and the extension's TypeScript
(`labextension/src/dom.ts`) follow the same rules."""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from typing import Any

CELL_WIDTH = 32  # a value in a table is cut to this many characters


def format_duration(seconds: float | None) -> str:
    """'3 ms', '0.42 s', '12.5 s', '3 min 2 s', '2 h 5 min'; '' when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    if seconds < 0.0995:  # fast steps are the common case: say how fast
        return "<1 ms" if seconds < 0.0005 else f"{seconds * 1000:.0f} ms"
    if seconds < 9.995:
        return f"{seconds:.2f} s"
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(whole, 3600)
    return f"{hours} h {rest // 60} min" if rest >= 60 else f"{hours} h"


def format_size(count: float) -> str:
    """'512 bytes', '1.5 KB', '3.2 GB'."""
    if count < 1024:
        return f"{count:.0f} bytes"
    size, unit = float(count) / 1024, "KB"
    for bigger in ("MB", "GB", "TB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.1f} {unit}"


def format_when(timestamp: float | None) -> str:
    """A local time to the second, '-' when unknown."""
    if timestamp is None:
        return "-"
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def cut(text: str, width: int = CELL_WIDTH * 2) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def format_value(value: Any) -> str:
    """A scalar result as a table shows it: floats to 6 significant digits, others as repr."""
    text = f"{value:.6g}" if isinstance(value, float) else repr(value)
    return cut(text, CELL_WIDTH)


def pairs(values: dict[str, Any], limit: int | None = CELL_WIDTH * 2) -> str:
    """`name=value, ...`, cut to `limit` characters (None: whole)."""
    text = ", ".join(f"{name}={format_value(value)}" for name, value in values.items())
    return text if limit is None else cut(text, limit)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    """Aligned columns; the columns in `right` are right-aligned."""
    cells = [[cut(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]
    return "\n".join(lines)


def describe_preview(preview: dict[str, Any], type_name: str | None) -> str:
    """A value in one short phrase, from its preview: its repr, or its kind and shape
    (`ndarray 3 int64`, `DataFrame 2×1`)."""
    if "repr" in preview:
        return cut(str(preview["repr"]), CELL_WIDTH)
    kind = str(type_name or preview.get("type") or "value").rsplit(".", 1)[-1]
    shape = preview.get("shape")
    if shape is not None:
        dtype = f" {preview['dtype']}" if "dtype" in preview else ""
        return f"{kind} {'×'.join(map(str, shape)) or 'scalar'}{dtype}"
    return f"<{kind}>"


def _or_dash(seconds: float | None) -> str:
    return format_duration(seconds) or "-"


# -- the command line's tables, drawn from the views of nbflow.query.results ---------------


def runs_table(runs: Sequence[dict[str, Any]]) -> str:
    """Runs (their `as_dict()`), one per line."""
    rows = [
        [run["id"], run["status"], format_when(run["started_at"]), _or_dash(run["duration"]),
         pairs(run["params"]), ", ".join(run["tags"])]
        for run in runs
    ]  # fmt: skip
    headers = ["run", "status", "started", "duration", "params", "tags"]
    return table(headers, rows, right={3})


def describe(view: dict[str, Any]) -> str:
    """A run (its `show_view`): status, parameters, steps, results, files read, errors."""
    lines = [
        # "run FLOW/ID: STATUS" first, as `nbflow run` has always printed it for scripts.
        f"run {view['id']}: {view['status']}  started {format_when(view['started_at'])}  "
        f"duration {_or_dash(view['duration'])}"
    ]
    if view["params"]:
        lines.append(f"params   {pairs(view['params'], limit=None)}")
    if view["tags"]:
        lines.append(f"tags     {', '.join(view['tags'])}")
    rows = [
        [step["name"], step["status"], str(len(step["tasks"])), _or_dash(step["duration"])]
        for step in view["steps"]
    ]
    lines += ["", table(["step", "status", "tasks", "duration"], rows, right={2, 3})]
    if view["results"]:
        lines += ["", f"results  {pairs(view['results'], limit=None)}"]
    others = {k: v for k, v in view["end_artifacts"].items() if k not in view["results"]}
    if others:  # what is not a scalar result, in a phrase each: `arr=ndarray 3 int64`
        made = [f"{k}={describe_preview(v['preview'], v['type'])}" for k, v in others.items()]
        lines.append(f"made     {', '.join(made)}")
    lines += [
        f"read     {read['path']}  {format_size(read['size'])}  xxh3 {read['hash'][:12]}  "
        f"by {', '.join(read['steps'])}"
        for read in view["files_read"]
    ]
    lines += [f"error    task {found['task']}: {found['error']}" for found in view["task_errors"]]
    if view["error"]:
        lines.append(f"error    {view['error']}")
    return "\n".join(lines)


def comparison_table(views: Sequence[dict[str, Any]]) -> str:
    """Runs side by side (their `comparison`), differences marked with *."""
    differs = views[0]["differs"]
    headers = ["", *(view["id"] for view in views)]
    rows = [
        ["  status", *(view["status"] for view in views)],
        ["  duration", *(_or_dash(view["duration"]) for view in views)],
    ]
    rows += _section("parameters", "params", views, differs["params"], format_value)
    rows += _section("results", "results", views, differs["results"], format_value)
    rows += _section("artifacts", "artifacts", views, differs["artifacts"], _short_key)
    rows += _section("step durations", "step_durations", views, [], _or_dash)
    right = set(range(1, len(headers)))
    return table(headers, rows, right=right) + "\n\n* differs between the runs"


def _section(
    title: str, field: str, views: Sequence[dict[str, Any]], marked: list[str], show: Any
) -> list[list[str]]:
    names = list(dict.fromkeys(name for view in views for name in view[field]))
    if not names:
        return []
    rows = [[""] * (len(views) + 1), [title, *[""] * len(views)]]
    for name in names:
        cells = [show(view[field][name]) if name in view[field] else "-" for view in views]
        rows.append([f"{'*' if name in marked else ' '} {name}", *cells])
    return rows


def _short_key(artifact: dict[str, Any]) -> str:
    return "-" if artifact["key"] is None else artifact["key"][:10]
