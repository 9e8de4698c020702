"""What the widgets share: their ES modules and CSS, and their MIME bundles.

Each widget's ES module, `static/<widget>.js`, is built from the JupyterLab extension's
TypeScript (`labextension/src/widgets/<widget>.ts`, bundled with the shared `dom.ts`,
`preview.ts`, `compare.ts` by esbuild: `jlpm build:widgets`, part of `jlpm build` and of the
wheel's build). It is preceded here by the status styles of `nbflow.render.svg` as a constant,
so the widgets draw exactly the colours and glyphs of the SVG pictures. No imports at run time:
anywidget loads the text as one module.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from nbflow.render.svg import STATUS_STYLES

STATIC = Path(__file__).with_name("static")
_UNKNOWN = {"fill": "#f5f5f5", "stroke": "#8c8c8c", "ink": "#4d4d4d", "glyph": "?", "dash": "1 2"}


class MissingBuild(RuntimeError):
    """A widget's ES module was not built (a work tree where the extension never was)."""


@cache
def esm(name: str) -> str:
    """The built ES module `static/<name>` (it exports `render`), after the status styles."""
    path = STATIC / name
    if not path.is_file():
        raise MissingBuild(
            f"nbflow's widget module {path} is missing: it is built from labextension/src/widgets"
            " (cd labextension && jlpm build)"
        )
    styles = {
        name: {"fill": s.fill, "stroke": s.stroke, "ink": s.ink, "glyph": s.glyph, "dash": s.dash}
        for name, s in STATUS_STYLES.items()
    }
    head = f"const STYLES = {json.dumps(styles)};\nconst UNKNOWN_STYLE = {json.dumps(_UNKNOWN)};\n"
    return head + _read(name)


@cache
def css() -> str:
    return _read("widgets.css")


def _read(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def svg_data_uri(svg: str) -> str:
    """An SVG picture as a `data:` URI, for an <img>: drawn as an image, nothing in it runs."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def with_fallbacks(
    bundle: tuple[dict[str, Any], dict[str, Any]] | None, extra: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """anywidget's bundle (the widget view) plus pictures and text for places without widgets:
    exported HTML, nbviewer, GitHub, a terminal."""
    data, metadata = bundle if bundle is not None else ({}, {})
    return {**data, **extra}, metadata
