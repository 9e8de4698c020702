"""A run as one self-contained HTML page: `render_report(view)` draws the data of
`nbflow.query.report.report_view(run)` with the Jinja2 templates in `templates/`
(`run.report()`, `nbflow show --html RUN > report.html`).

The page opens offline and runs nothing: CSS and SVG are inline, images are `data:` URIs, and
there are no scripts or external addresses. Everything taken from the store (names, previews,
logs, errors, rich outputs) reaches the page through the templates' autoescaping and is shown as
text; stored HTML is never trusted, so an artifact whose value is `<script>` shows those
characters. The functions here only turn stored previews and outputs, whatever their shape, into
plain pieces the templates draw. Long texts are cut with a note, and the page is pure ASCII
(other characters become references), so it survives any terminal encoding on its way to a file.
"""

from __future__ import annotations

import base64
import datetime
import math
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from nbflow.render.svg import STATUS_STYLES, render_svg, render_timeline_svg
from nbflow.render.text import format_duration, format_size

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["LOG_LIMIT", "PREVIEW_LIMIT", "Report", "preview_html", "render_report"]

PREVIEW_LIMIT = 2_000  # characters of one preview text (a repr, a cell)
LOG_LIMIT = 20_000  # characters of one log or traceback: the head and the tail are kept
ERROR_LINE_LIMIT = 200  # characters of an exception's one-line summary
SHORT_LIMIT = 60  # characters of a value in a foreach element's row
TABLE_ROWS = 20  # rows and columns of a stored head drawn, whatever the preview holds
TABLE_COLUMNS = 30
IMAGE_LIMIT = 4_000_000  # characters of one base64 image; a bigger one is left out with a note
_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml")
_TEXTS = ("text/plain", "text/markdown", "text/latex", "application/json")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Characters HTML cannot carry as text (controls, lone surrogates): shown as U+FFFD.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_GENERIC_REPR = re.compile(r"<[\w.]+ object( at 0x[0-9a-f]+)?>")


class Report:
    """A run's HTML report: `.html`, `.save(path)`; shown in a notebook in a sandboxed iframe,
    so its CSS stays inside it."""

    def __init__(self, page: str, name: str = "run") -> None:
        self.html = page
        self.name = name

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(self.html, encoding="utf-8")
        return target

    def _repr_html_(self) -> str:
        return _environment().get_template("frame.html.j2").render(page=self.html, name=self.name)

    def __repr__(self) -> str:
        return f"<Report of run {self.name}: {len(self.html):,} characters of HTML>"


def render_report(view: Mapping[str, Any]) -> str:
    """The whole page of a report view: header, graph, parameters, results, timeline, then
    every step."""
    template = _environment().get_template("report.html.j2")
    page = template.render(
        run=view,
        graph=_figure(render_svg(view["graph"])),
        timeline=_figure(render_timeline_svg([view["graph"]])),
        statuses=STATUS_STYLES,
    )
    return page.encode("ascii", "xmlcharrefreplace").decode("ascii")


def preview_html(preview: object) -> str:
    """A stored preview as escaped HTML: a DataFrame's head as a table, an array's shape,
    dtype and first values, a scalar or a string's head as text. Never raises."""
    macros = _environment().get_template("macros.html.j2").module
    return str(macros.preview(preview))  # type: ignore[attr-defined]


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("nbflow.render", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        finalize=_printable,
    )
    filters: dict[str, Callable[..., Any]] = {
        "duration": format_duration,
        "size": format_size,
        "when": _when,
        "thousands": "{:,}".format,
        "plain": _str,
        "literal": _literal,
        "show": _show,
        "short": _short,
        "typename": _type,
        "noansi": lambda text: _ANSI.sub("", text),
        "lines": _line_count,
        "css_name": _css_name,
        "glyph": _glyph,
        "parts": _preview_parts,
        "display": _display_parts,
    }
    environment.filters.update(filters)
    environment.globals.update(
        PREVIEW_LIMIT=PREVIEW_LIMIT,
        LOG_LIMIT=LOG_LIMIT,
        ERROR_LINE_LIMIT=ERROR_LINE_LIMIT,
        SHORT_LIMIT=SHORT_LIMIT,
    )
    return environment


def _printable(value: object) -> object:
    """Every value the templates print: text HTML cannot carry becomes U+FFFD (then it is
    escaped, unless it is markup the templates made)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return _NOT_TEXT.sub("\ufffd", value)
    return value


def _figure(svg: str) -> Markup:
    # Inline SVG in HTML needs no namespace declaration; dropping it keeps the page free of
    # any address at all. The SVG is nbflow.render.svg's, which escapes what it draws.
    return Markup(svg.replace(' xmlns="http://www.w3.org/2000/svg"', ""))


# -- previews: any stored shape, as pieces the `preview` macro draws -----------------------------


def _preview_parts(preview: object) -> dict[str, Any]:
    try:
        return _parts(preview)
    except Exception as error:  # a preview of a shape this code does not expect
        return {"kind": "note", "note": f"preview could not be shown ({type(error).__name__})"}


def _parts(preview: object) -> dict[str, Any]:  # noqa: PLR0911 (one return per kind)
    if not isinstance(preview, Mapping):
        return {"kind": "code", "text": _str(preview), "length": None, "problem": ""}
    problem = _str(preview["error"]) if preview.get("error") else ""
    if isinstance(preview.get("columns"), list) and isinstance(preview.get("head"), list):
        return {**_frame(preview), "problem": problem}
    if isinstance(preview.get("head"), list) and isinstance(preview.get("index"), list):
        return {**_series(preview), "problem": problem}
    if "shape" in preview and isinstance(preview.get("values"), list):
        return {**_array(preview), "problem": problem}
    if "value" in preview:
        text = _str(preview.get("repr") or _show(preview["value"]))
        return {"kind": "code", "text": text, "length": None, "problem": ""}
    if "repr" in preview:
        length = preview.get("length")
        length = length if isinstance(length, int) and not isinstance(length, bool) else None
        return {"kind": "code", "text": _str(preview["repr"]), "length": length,
                "problem": problem}  # fmt: skip
    return {"kind": "note", "note": problem or "no preview"}


def _frame(preview: Mapping[str, Any]) -> dict[str, Any]:
    columns = [_str(c) for c in preview["columns"][:TABLE_COLUMNS]]
    index = _list(preview.get("index"))
    rows = [row for row in preview["head"][:TABLE_ROWS] if isinstance(row, list)]
    return {
        "kind": "frame",
        "shape": _shape(preview.get("shape")),
        "columns": columns,
        "dtypes": [_str(t) for t in _list(preview.get("dtypes"))[: len(columns)]],
        "rows": [
            {
                "label": _show(index[i]) if i < len(index) else "",
                "cells": [_show(cell) for cell in row[:TABLE_COLUMNS]],
            }
            for i, row in enumerate(rows)
        ],
        "more": _more_rows(preview, rows),
    }


def _series(preview: Mapping[str, Any]) -> dict[str, Any]:
    index, head = preview["index"][:TABLE_ROWS], preview["head"][:TABLE_ROWS]
    name = f" {_show(preview['name'])}" if preview.get("name") is not None else ""
    facts = f"Series{name} {_shape(preview.get('shape'))} {_str(preview.get('dtype'))}"
    return {
        "kind": "series",
        "facts": facts,
        "rows": [[_show(label), _show(cell)] for label, cell in zip(index, head, strict=False)],
        "more": _more_rows(preview, head),
    }


def _more_rows(preview: Mapping[str, Any], shown: Sequence[Any]) -> int:
    shape = preview.get("shape")
    rows = shape[0] if isinstance(shape, list) and shape and isinstance(shape[0], int) else 0
    return max(rows - len(shown), 0)


def _array(preview: Mapping[str, Any]) -> dict[str, Any]:
    shape = preview.get("shape")
    values = preview["values"][:TABLE_ROWS]
    size = math.prod(shape) if isinstance(shape, list) and _all_ints(shape) else len(values)
    shown = ", ".join(_show(value) for value in values)
    rest = ", \u2026" if size > len(values) else ""
    return {
        "kind": "array",
        "shape": _shape(shape),
        "dtype": _str(preview.get("dtype")),
        "values": f"[{shown}{rest}]",
    }


def _short(preview: object) -> str:
    """One line for a table cell: the value, or what kind of thing it is."""
    if not isinstance(preview, Mapping):
        return _str(preview)
    if "columns" in preview:
        return f"DataFrame {_shape(preview.get('shape'))}"
    if "shape" in preview:
        return f"{_type(_str(preview.get('type')))} {_shape(preview.get('shape'))}"
    text = _str(preview.get("repr") if "repr" in preview else preview.get("value"))
    return text if len(text) <= SHORT_LIMIT else text[: SHORT_LIMIT - 1] + "\u2026"


# -- rich outputs: one stored MIME bundle, as pieces the `display` macro draws ------------------


def _display_parts(shown: object) -> dict[str, Any] | None:
    """An image as a `data:` URI, anything else as text. Stored HTML is not trusted: its
    text/plain alternative is shown, or, when that says nothing, its source. None: nothing."""
    data = shown.get("data") if isinstance(shown, Mapping) else None
    if not isinstance(data, Mapping):
        return None
    metadata = shown.get("metadata") if isinstance(shown, Mapping) else None
    for mime in _IMAGES:
        if mime in data:
            return _image(mime, data[mime], data.get("text/plain"), metadata)
    plain = _joined(data.get("text/plain"))
    if "text/html" in data and (not plain or _GENERIC_REPR.fullmatch(plain.strip())):
        label = "HTML output, shown as its source (stored HTML is not run)"
        return {"kind": "text", "label": label, "text": _joined(data["text/html"])}
    for mime in _TEXTS:
        if mime in data:
            return {"kind": "text", "label": mime, "text": _joined(data[mime])}
    kinds = ", ".join(map(str, data))
    return {"kind": "note", "label": "output", "note": f"kinds not shown: {kinds}"}


def _image(mime: str, value: object, alt: object, metadata: object) -> dict[str, Any]:
    encoded = _joined(value)
    if mime == "image/svg+xml":  # drawn as an image, so a script inside it cannot run
        encoded = base64.b64encode(encoded.encode("utf-8", "replace")).decode("ascii")
    encoded = "".join(encoded.split())
    if len(encoded) > IMAGE_LIMIT:
        size = format_size(len(encoded) * 3 // 4)
        return {"kind": "note", "label": mime, "note": f"image of {size} left out"}
    if not _BASE64.fullmatch(encoded):
        return {"kind": "note", "label": mime, "note": "image data is not base64; left out"}
    sizes = metadata.get(mime) if isinstance(metadata, Mapping) else None
    width = sizes.get("width") if isinstance(sizes, Mapping) else None
    return {
        "kind": "image",
        "label": mime,
        "src": f"data:{mime};base64,{encoded}",
        "alt": _joined(alt) or mime,
        "width": int(width) if isinstance(width, int | float) else None,
    }


def _joined(value: object) -> str:
    # Notebook files may hold a text output as a list of lines.
    if isinstance(value, list):
        return "".join(_str(part) for part in value)
    return _str(value)


# -- small things ------------------------------------------------------------------------------


def _glyph(status: str) -> str:
    style = STATUS_STYLES.get(status)
    return style.glyph if style else "?"


def _css_name(status: str) -> str:
    return status if status in STATUS_STYLES else "unknown"


def _line_count(text: str) -> int:
    return text.count("\n") + (not text.endswith("\n"))


def _literal(value: object) -> str:
    """A parameter or result as Python writes it: strings quoted, so '1' and 1 differ."""
    return repr(value) if isinstance(value, str) else _show(value)


def _show(value: object) -> str:
    if isinstance(value, float):
        exact = repr(value)
        return exact if len(exact) <= 12 else f"{value:.6g}"
    if isinstance(value, str):
        return value
    return repr(value) if value is None or isinstance(value, bool | int) else _str(value)


def _str(value: object) -> str:
    if value is None:
        return ""
    try:
        return str(value)
    except Exception:  # a stored value is plain data, but be safe
        return "?"


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _all_ints(values: list[Any]) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _shape(shape: object) -> str:
    if isinstance(shape, list) and _all_ints(shape):
        return " \u00d7 ".join(str(n) for n in shape) if shape else "scalar"
    return ""


def _type(name: str) -> str:
    return name.removeprefix("builtins.")


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    moment = datetime.datetime.fromtimestamp(timestamp).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
