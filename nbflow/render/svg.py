"""Standalone `image/svg+xml` pictures: a run's graph and a timeline of step durations.

They are the fallback every widget output carries (exported notebooks, nbviewer, GitHub) and the
pictures of the HTML report, so they reference nothing outside themselves: no fonts, images,
scripts or ids another SVG on the page could clash with. Every string taken from a view is
escaped and stripped of characters XML cannot carry, so a step called `<script>` is drawn as
those characters. Colours follow the Okabe-Ito palette, and each status also has a glyph, a word
and (for the pale ones) a dashed outline, so nothing depends on telling colours apart.

Every colour is written twice: as a presentation attribute (what renderers without CSS draw)
and as a CSS variable with that colour as its fallback, in the element's `style`, so a page
that inlines a picture recolours it for its theme by setting the variables (the JupyterLab
sidebar and the widgets do: labextension/style/base.css, nbflow/widgets/static/widgets.css):

- `--nbflow-svg-text`: names, durations, counts, labels; `--nbflow-svg-muted`: axis ticks;
- `--nbflow-svg-edge`: edges and arrows; `--nbflow-svg-track`: the progress track, grid lines;
- `--nbflow-fill`, `--nbflow-stroke`, `--nbflow-ink`: a status's colours, set per status on
  the elements that carry `data-status` (a step's group, a timeline row, a run row).

No text is smaller than 11 px, so a picture shown at its own size reads in a side panel.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import pairwise
from typing import Any
from xml.sax.saxutils import escape

from nbflow.render.layout import Box, Edge, Layout, layout
from nbflow.render.text import format_duration

__all__ = [
    "STATUS_STYLES",
    "StatusStyle",
    "format_duration",
    "render_runs_svg",
    "render_svg",
    "render_timeline_svg",
]


@dataclass(frozen=True)
class StatusStyle:
    """How one status is drawn: colours, plus a glyph and dash that need no colour vision."""

    fill: str
    stroke: str
    ink: str  # the status word: a darker shade of the stroke, readable on the fill
    glyph: str
    dash: str = ""


STATUS_STYLES: Mapping[str, StatusStyle] = {
    "pending": StatusStyle("#ffffff", "#8c8c8c", "#4d4d4d", "○", "4 3"),
    "running": StatusStyle("#e1effa", "#0072b2", "#005080", "▶"),
    "done": StatusStyle("#e0f3ec", "#009e73", "#00664a", "✓"),
    "failed": StatusStyle("#fbe1d3", "#d55e00", "#a04600", "✗"),
    "skipped": StatusStyle("#ececec", "#9e9e9e", "#4d4d4d", "↷", "2 3"),
    "cached": StatusStyle("#f6e6ef", "#cc79a7", "#8c3f6b", "↺"),
    # A step of the flow the run did not get to; a run that ended without all of its steps.
    "not_run": StatusStyle("#fafafa", "#b0b0b0", "#595959", "–", "1 4"),
    "incomplete": StatusStyle("#fdf0d2", "#e69f00", "#805800", "◐", "6 3"),
}
_UNKNOWN = StatusStyle("#f5f5f5", "#8c8c8c", "#4d4d4d", "?", "1 2")
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
_INK = "#1f2328"
_EDGE = "#6e7781"
_MUTED = "#57606a"
_TRACK = "#d0d7de"
# The CSS variable of each colour above (see the module's docstring).
_VARIABLES = {
    _INK: "--nbflow-svg-text",
    _EDGE: "--nbflow-svg-edge",
    _MUTED: "--nbflow-svg-muted",
    _TRACK: "--nbflow-svg-track",
}
_PAD = 16.0
_HEADER = 28.0
_FAN = 8.0  # how far the stacked outlines behind a foreach step reach
_ARROW = 8.0
_TASK_KEYS = ("total", "done", "failed", "running", "skipped", "cached")
# Characters XML 1.0 cannot carry at all, even escaped: drawn as U+FFFD instead.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def render_svg(
    view: Mapping[str, Any], layout: Layout | None = None, *, header: bool = True
) -> str:
    """The graph of a run view (`{"id", "status", "steps": [...]}`) as a standalone SVG.

    `header=False` leaves out the run's id and status line, for a page that shows them itself
    (the notebook widget). The graph widget shows this same drawing, so it is drawn only here.
    """
    steps = [step for step in _list(view.get("steps")) if isinstance(step, Mapping)]
    drawing = layout if layout is not None else _layout(steps)
    run_id, status = _str(view.get("id")), _str(view.get("status"))
    style = _style(status)
    # The header widens a narrow graph rather than being cut; a huge id is cut at 480 px.
    shown_id, shown_status = _fit(run_id, 480, 8.6), _fit(status_word(status), 120, 7.4)
    title = (4 + len(shown_id)) * 8.6 + 10 + (2 + len(shown_status)) * 7.4 if header else 0.0
    top = _HEADER if header else 0.0
    width = max(drawing.width + _FAN, title) + 2 * _PAD
    height = drawing.height + _FAN + top + 2 * _PAD
    heading = [
        f'<text x="{_PAD}" y="{_PAD + 8}" font-size="14" font-weight="600" {_paint(fill=_INK)}>'
        f"run {_text(shown_id)}"
        f'<tspan dx="10" font-weight="400" data-status="{_attr(status)}" '
        f"{_status_paint(style, fill='ink')}>"
        f"{_text(style.glyph)} {_text(shown_status)}</tspan></text>"
    ]
    parts = [
        _open_svg(width, height, "nbflow-graph"),
        f"<title>{_text(f'run {run_id}: {status}')}</title>",
        *(heading if header else []),
        f'<g transform="translate({_PAD} {_PAD + top})">',
        f'<g class="nbflow-edges" fill="none" {_paint(stroke=_EDGE)} stroke-width="1.5">',
        *(_edge(edge) for edge in drawing.edges),
        "</g>",
        *(_step(step, drawing.boxes[name]) for step, name in _drawn(steps, drawing)),
        "</g>",
        "</svg>",
    ]
    return "\n".join(parts)


def render_timeline_svg(runs: Sequence[Mapping[str, Any]]) -> str:
    """Step durations as bars, one block of rows per run, on one time axis shared by all runs
    (seconds since each run started), so runs can be compared at a glance."""
    blocks = [_TimelineRun.read(run) for run in runs if isinstance(run, Mapping)]
    span = max((block.span for block in blocks), default=0.0) or 1.0
    tick = _tick_step(span)
    axis_end = math.ceil(span / tick - 1e-9) * tick
    scale = _CHART_WIDTH / axis_end
    rows = sum(1 + len(block.bars) for block in blocks)
    height = _AXIS_HEIGHT + rows * _ROW + len(blocks) * _RUN_GAP + 2 * _PAD
    width = _LABEL_WIDTH + _CHART_WIDTH + 80 + 2 * _PAD
    parts = [_open_svg(width, height, "nbflow-timeline"), "<title>step timeline</title>"]
    parts += _axis(axis_end, tick, scale, height - 2 * _PAD)
    if not blocks:
        parts.append(
            f'<text x="{_PAD}" y="{_PAD + _AXIS_HEIGHT + 14}" {_paint(fill=_INK)}>no runs</text>'
        )
    top = _PAD + _AXIS_HEIGHT
    for block in blocks:
        parts += block.draw(top, scale)
        top += (1 + len(block.bars)) * _ROW + _RUN_GAP
    parts.append("</svg>")
    return "\n".join(parts)


# -- the graph ---------------------------------------------------------------------------------


def _layout(steps: list[Mapping[str, Any]]) -> Layout:
    return layout([{"name": _str(step.get("name")), "parents": _parents(step)} for step in steps])


def _drawn(
    steps: list[Mapping[str, Any]], drawing: Layout
) -> Iterable[tuple[Mapping[str, Any], str]]:
    """Each step with a box in the layout, once (a name repeated in the view is drawn once)."""
    seen: set[str] = set()
    for step in steps:
        name = _str(step.get("name"))
        if name in drawing.boxes and name not in seen:
            seen.add(name)
            yield step, name


def _edge(edge: Edge) -> str:
    points = list(edge.points)
    if len(points) < 2:
        return ""
    (x_end, y_end), (x_before, y_before) = points[-1], points[-2]
    length = math.hypot(x_end - x_before, y_end - y_before) or 1.0
    # The curves leave and enter boxes vertically, so the arrow points straight down.
    points[-1] = (x_end, y_end - min(_ARROW, length))
    path = [f"M{_num(points[0][0])},{_num(points[0][1])}"]
    for (x1, y1), (x2, y2) in pairwise(points):
        if x1 == x2:
            path.append(f"L{_num(x2)},{_num(y2)}")
        else:
            middle = (y1 + y2) / 2
            path.append(
                f"C{_num(x1)},{_num(middle)} {_num(x2)},{_num(middle)} {_num(x2)},{_num(y2)}"
            )
    head = (
        f"{_num(x_end - 4.5)},{_num(y_end - _ARROW)} {_num(x_end + 4.5)},{_num(y_end - _ARROW)} "
        f"{_num(x_end)},{_num(y_end)}"
    )
    return (
        f'<g class="nbflow-edge" data-source="{_attr(edge.source)}" '
        f'data-target="{_attr(edge.target)}"><path d="{" ".join(path)}"/>'
        f'<polygon points="{head}" {_paint(fill=_EDGE)} stroke="none"/></g>'
    )


def _step(step: Mapping[str, Any], box: Box) -> str:
    status = _str(step.get("status") or "pending")
    style = _style(status)
    tasks = _tasks(step.get("tasks"))
    foreach = step.get("foreach")
    fan_out = tasks["total"] > 1 or bool(foreach)
    duration = format_duration(_number(step.get("duration")))
    width, height = box.width, box.height
    dash = f' stroke-dasharray="{style.dash}"' if style.dash else ""
    outline = f"{_status_paint(style, fill='fill', stroke='stroke')}{dash}"
    parts = [
        f'<g class="nbflow-step" data-step="{_attr(box.name)}" data-status="{_attr(status)}" '
        f'transform="translate({_num(box.x)} {_num(box.y)})">',
        f"<title>{_text(_hover(step, box.name, status, duration, tasks))}</title>",
    ]
    if fan_out:
        parts += [
            f'<rect class="nbflow-fan" x="{offset}" y="{offset}" width="{_num(width)}" '
            f'height="{_num(height)}" rx="8" {outline} stroke-width="1" opacity="0.7"/>'
            for offset in (_FAN, _FAN / 2)
        ]
    parts += [
        f'<rect class="nbflow-box" width="{_num(width)}" height="{_num(height)}" rx="8" '
        f'{outline} stroke-width="{2.5 if status == "failed" else 1.5}"/>',
        f'<text x="12" y="21" font-size="13" font-weight="600" {_paint(fill=_INK)}>'
        f"{_text(_fit(box.name, width - 24, 7.4))}</text>",
        f'<text x="12" y="39" font-size="11" {_status_paint(style, fill="ink")}>'
        f"{_text(style.glyph)} {_text(_fit(status_word(status), width / 2 - 12, 6.2))}</text>",
    ]
    if duration:
        parts.append(
            f'<text x="{_num(width - 12)}" y="39" font-size="11" text-anchor="end" '
            f"{_paint(fill=_INK)}>{_text(duration)}</text>"
        )
    if fan_out:
        parts += _progress(tasks, width)
    parts.append("</g>")
    return "".join(parts)


def _progress(tasks: Mapping[str, int], width: float) -> list[str]:
    """'k/n' and a thin bar: finished (done or cached), then failed, then running."""
    total, finished = tasks["total"], tasks["done"] + tasks["cached"]
    count = f"{finished}/{total}" if total else f"{finished}/?"
    bar = width - 24 - 56
    parts = [
        f'<text class="nbflow-count" x="{_num(width - 12)}" y="57" font-size="11" '
        f'text-anchor="end" {_paint(fill=_INK)}>{count}</text>',
        f'<rect x="12" y="50" width="{_num(bar)}" height="5" rx="2.5" {_paint(fill=_TRACK)}/>',
    ]
    start = 12.0
    for share, status in (
        (finished, "done"),
        (tasks["failed"], "failed"),
        (tasks["running"], "running"),
    ):
        length = bar * min(share / total, 1.0) if total else 0.0
        length = min(length, 12 + bar - start)
        if length > 0:
            parts.append(
                f'<rect class="nbflow-progress" x="{_num(start)}" y="50" width="{_num(length)}" '
                f'height="5" data-status="{status}" '
                f"{_status_paint(STATUS_STYLES[status], fill='stroke')}/>"
            )
            start += length
    return parts


def _hover(
    step: Mapping[str, Any], name: str, status: str, duration: str, tasks: Mapping[str, int]
) -> str:
    foreach = step.get("foreach")
    lines = [name, f"status: {status_word(status)}"]
    if duration:
        lines.append(f"duration: {duration}")
    if foreach:
        lines.append(f"foreach over {_str(foreach)}")
    environment = " ".join(_str(r) for r in _list(step.get("env")))
    if environment or step.get("python"):
        python = f" (python {_str(step.get('python'))})" if step.get("python") else ""
        lines.append(f"environment: {environment or 'the flow’s'}{python}")
    counts = ", ".join(f"{tasks[key]} {key}" for key in _TASK_KEYS[1:])
    lines.append(f"tasks: {tasks['total']} ({counts})")
    return "\n".join(lines)


# -- the timeline ------------------------------------------------------------------------------

_LABEL_WIDTH = 170.0
_CHART_WIDTH = 600.0
_AXIS_HEIGHT = 28.0
_ROW = 20.0
_RUN_GAP = 10.0


@dataclass(frozen=True)
class _Bar:
    name: str
    status: str
    start: float | None  # seconds since the run started; None: the step has not started
    end: float | None


@dataclass(frozen=True)
class _TimelineRun:
    run_id: str
    bars: tuple[_Bar, ...]

    @property
    def span(self) -> float:
        return max((bar.end or 0.0 for bar in self.bars), default=0.0)

    @classmethod
    def read(cls, run: Mapping[str, Any]) -> _TimelineRun:
        steps = [step for step in _list(run.get("steps")) if isinstance(step, Mapping)]
        times = [(_moment(s.get("started_at")), _moment(s.get("finished_at"))) for s in steps]
        known = [t for pair in times for t in pair if t is not None]
        origin = _moment(run.get("started_at"))
        if origin is None:
            origin = min(known, default=0.0)
        latest = max(known, default=origin)
        bars = []
        for step, (started, finished) in zip(steps, times, strict=True):
            # A step still running (no finish yet) reaches to the latest moment the run knows.
            end = (
                None if started is None else max(latest if finished is None else finished, started)
            )
            bars.append(
                _Bar(
                    name=_str(step.get("name")),
                    status=_str(step.get("status") or "pending"),
                    start=None if started is None else max(started - origin, 0.0),
                    end=None if end is None else max(end - origin, 0.0),
                )
            )
        return cls(run_id=_str(run.get("id")), bars=tuple(bars))

    def draw(self, top: float, scale: float) -> list[str]:
        parts = [
            f'<g class="nbflow-run" data-run="{_attr(self.run_id)}">',
            f'<text x="{_PAD}" y="{_num(top + 14)}" font-size="12" font-weight="600" '
            f"{_paint(fill=_INK)}>run {_text(self.run_id)}</text>",
        ]
        for row, bar in enumerate(self.bars, start=1):
            parts.append(self._row(bar, top + row * _ROW, scale))
        parts.append("</g>")
        return parts

    def _row(self, bar: _Bar, top: float, scale: float) -> str:
        style = _style(bar.status)
        label = (
            f'<text x="{_PAD + 8}" y="{_num(top + 14)}" font-size="11" {_paint(fill=_INK)}>'
            f"{_text(_fit(bar.name, _LABEL_WIDTH - 16, 6.4))}</text>"
        )
        if bar.start is None or bar.end is None:
            hover = f"{bar.name}: {bar.status}, not started"
            return (
                f'<g class="nbflow-row" data-status="{_attr(bar.status)}">'
                f"<title>{_text(hover)}</title>{label}"
                f'<text x="{_PAD + _LABEL_WIDTH}" y="{_num(top + 14)}" font-size="11" '
                f"{_status_paint(style, fill='ink')}>"
                f"{_text(style.glyph)} {_text(bar.status)}</text></g>"
            )
        duration = bar.end - bar.start
        left = _PAD + _LABEL_WIDTH + bar.start * scale
        width = duration * scale
        hover = f"{bar.name}: {bar.status}, {format_duration(duration)} from +{bar.start:g} s"
        return (
            f'<g class="nbflow-row" data-status="{_attr(bar.status)}">'
            f"<title>{_text(hover)}</title>{label}"
            f'<rect class="nbflow-bar" data-step="{_attr(bar.name)}" '
            f'data-status="{_attr(bar.status)}" x="{_num(left)}" y="{_num(top + 3)}" '
            f'width="{_num(width)}" height="14" rx="2" '
            f'{_status_paint(style, fill="stroke", stroke="ink")} stroke-width="0.5"/>'
            f'<text x="{_num(left + width + 4)}" y="{_num(top + 14)}" font-size="11" '
            f"{_status_paint(style, fill='ink')}>"
            f"{_text(style.glyph)} {_text(format_duration(duration))}</text></g>"
        )


def _axis(axis_end: float, tick: float, scale: float, height: float) -> list[str]:
    parts = [f'<g class="nbflow-axis" font-size="11" {_paint(fill=_MUTED)}>']
    for index in range(round(axis_end / tick) + 1):
        seconds = round(index * tick, 9)
        x = _PAD + _LABEL_WIDTH + seconds * scale
        parts.append(
            f'<line x1="{_num(x)}" y1="{_num(_PAD + 18)}" x2="{_num(x)}" '
            f'y2="{_num(_PAD + height)}" {_paint(stroke=_TRACK)} stroke-width="1"/>'
            f'<text class="nbflow-tick" x="{_num(x)}" y="{_num(_PAD + 12)}" '
            f'text-anchor="middle">{seconds:g} s</text>'
        )
    parts.append("</g>")
    return parts


def _tick_step(span: float) -> float:
    """The smallest 1-2-5 step (0.5, 1, 2, 5, 10 ...) that cuts `span` into at most 8 parts."""
    raw = span / 8
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def _moment(value: object) -> float | None:
    """Seconds since the epoch from a number, a numeric string, an ISO 8601 string or a datetime."""
    if isinstance(value, datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=timezone.utc).timestamp()
    if isinstance(value, str):
        try:
            return _number(float(value))
        except ValueError:
            pass
        try:
            return _moment(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            return None
    return _number(value)


# -- the run list ------------------------------------------------------------------------------

# (title, width in px) of the run list's columns; params take what is left of the row.
_RUN_COLUMNS = (("run", 150.0), ("status", 90.0), ("started", 150.0), ("duration", 80.0))
_PARAMS_WIDTH = 330.0


def render_runs_svg(runs: Sequence[Mapping[str, Any]], more: int = 0) -> str:
    """Runs (`Run.as_dict()` rows) as a table: what the run browser shows where widgets are not
    drawn. `more` older runs not listed are counted in a last line."""
    rows = [run for run in runs if isinstance(run, Mapping)]
    lines = len(rows) + (1 if more or not rows else 0)
    width = sum(w for _, w in _RUN_COLUMNS) + _PARAMS_WIDTH + 2 * _PAD
    height = _HEADER + lines * _ROW + 2 * _PAD
    parts = [_open_svg(width, height, "nbflow-runs"), "<title>runs</title>"]
    x = _PAD
    for title, column_width in (*_RUN_COLUMNS, ("params", _PARAMS_WIDTH)):
        parts.append(
            f'<text x="{_num(x)}" y="{_num(_PAD + 14)}" font-size="12" font-weight="600" '
            f"{_paint(fill=_INK)}>{title}</text>"
        )
        x += column_width
    top = _PAD + _HEADER
    for row, run in enumerate(rows):
        parts.append(_run_row(run, top + row * _ROW))
    if more or not rows:
        note = f"… and {more:,} older runs" if rows else "no runs"
        parts.append(
            f'<text x="{_PAD}" y="{_num(top + len(rows) * _ROW + 14)}" font-size="11" '
            f"{_paint(fill=_EDGE)}>{_text(note)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _run_row(run: Mapping[str, Any], top: float) -> str:
    status = _str(run.get("status"))
    style = _style(status)
    params = run.get("params")
    if not isinstance(params, Mapping):
        params = {}
    ink = _status_paint(style, fill="ink")
    cells = [
        (_str(run.get("id")), _paint(fill=_INK)),
        (f"{style.glyph} {status_word(status)}", ink),
        (_started(run.get("started_at")), _paint(fill=_INK)),
        (format_duration(_number(run.get("duration"))), _paint(fill=_INK)),
        (", ".join(f"{key}={value}" for key, value in params.items()), _paint(fill=_INK)),
    ]
    widths = [w for _, w in _RUN_COLUMNS] + [_PARAMS_WIDTH]
    parts, x = [f'<g class="nbflow-run-row" data-status="{_attr(status)}">'], _PAD
    for (text, paint), column_width in zip(cells, widths, strict=True):
        parts.append(
            f'<text x="{_num(x)}" y="{_num(top + 14)}" font-size="11" {paint}>'
            f"{_text(_fit(text, column_width - 8, 6.4))}</text>"
        )
        x += column_width
    parts.append("</g>")
    return "".join(parts)


def _started(value: object) -> str:
    moment = _moment(value)
    if moment is None:
        return ""
    # Local time and its zone, as the HTML report and the sidebar's tooltips write times.
    return datetime.fromtimestamp(moment).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()


# -- shared ------------------------------------------------------------------------------------


def _open_svg(width: float, height: float, kind: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{kind}" '
        f'width="{_num(width)}" height="{_num(height)}" viewBox="0 0 {_num(width)} {_num(height)}" '
        f'font-family="{_FONT}">'
    )


def _paint(**colours: str) -> str:
    """`fill="#1f2328" style="fill:var(--nbflow-svg-text,#1f2328)"`: each property's colour as
    a presentation attribute, and as its CSS variable with that colour as the fallback."""
    attributes = " ".join(f'{name}="{colour}"' for name, colour in colours.items())
    styles = ";".join(
        f"{name}:var({_VARIABLES[colour]},{colour})" for name, colour in colours.items()
    )
    return f'{attributes} style="{styles}"'


def _status_paint(style: StatusStyle, **roles: str) -> str:
    """As _paint, with a status's colours: `fill="ink"` paints with the status's ink, its
    variable `--nbflow-ink`."""
    colours = {name: getattr(style, role) for name, role in roles.items()}
    attributes = " ".join(f'{name}="{colour}"' for name, colour in colours.items())
    styles = ";".join(
        f"{name}:var(--nbflow-{role},{colours[name]})" for name, role in roles.items()
    )
    return f'{attributes} style="{styles}"'


def _style(status: str) -> StatusStyle:
    return STATUS_STYLES.get(status, _UNKNOWN)


def status_word(status: str) -> str:
    """A status as a word to read: `not_run` is "not run"."""
    return status.replace("_", " ")


def _tasks(value: object) -> dict[str, int]:
    given = value if isinstance(value, Mapping) else {}
    counts = {}
    for key in _TASK_KEYS:
        number = _number(given.get(key))
        counts[key] = max(int(number), 0) if number is not None else 0
    return counts


def _parents(step: Mapping[str, Any]) -> list[str]:
    given = step.get("parents")
    if isinstance(given, str):
        return [given]
    return [_str(parent) for parent in _list(given)]


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _str(value: object) -> str:
    return "" if value is None else str(value)


def _fit(text: str, width: float, char_width: float) -> str:
    """Cut `text` to about `width` pixels (an estimate: no font metrics without a browser)."""
    room = max(int(width / char_width), 1)
    return text if len(text) <= room else text[: room - 1] + "…"


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", value))


def _attr(value: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", value), {'"': "&quot;", "\n": "&#10;", "\t": "&#9;"})


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")
