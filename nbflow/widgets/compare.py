"""CompareWidget: runs side by side, and `compare_view`, the plain data it (and the run
browser's compare) shows.

What differs between runs is decided by `nbflow.query.results.comparison`, the same code as
`nbflow compare`: parameters and scalar results by value, artifacts by content key. This
module only adds the artifacts' stored previews and the step timeline picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anywidget
import traitlets

from nbflow.exceptions import NbflowError
from nbflow.query.client import Run
from nbflow.query.results import comparison, end_artifacts
from nbflow.query.views import (
    ArtifactCell,
    ArtifactRow,
    ComparedRun,
    Comparison,
    ValueRow,
    run_view,
)
from nbflow.render.svg import render_timeline_svg
from nbflow.render.text import comparison_table
from nbflow.widgets._assets import css, esm, svg_data_uri, with_fallbacks

__all__ = ["CompareWidget", "compare_view"]


class CompareWidget(anywidget.AnyWidget):
    """`runs` (Run objects or "flow/12") side by side: parameters, results, artifacts,
    step timeline, and a chosen result plotted against a chosen parameter."""

    _esm = esm("compare.js")
    _css = css()
    comparison = traitlets.Dict().tag(sync=True)

    def __init__(self, runs: Sequence[Run | str], **kwargs: Any) -> None:
        self.runs = [run if isinstance(run, Run) else Run(run) for run in runs]
        if not self.runs:
            raise NbflowError("CompareWidget needs one or more runs, e.g. flow.runs()[:3]")
        super().__init__(comparison=compare_view(self.runs), **kwargs)

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        extra = {
            "image/svg+xml": timeline_svg(self.runs),
            "text/plain": comparison_table(comparison(self.runs)),
        }
        return with_fallbacks(super()._repr_mimebundle_(**kwargs), extra)


def compare_view(runs: Sequence[Run]) -> Comparison:
    """`{"runs", "params", "results", "artifacts", "timeline"}`: one row per parameter,
    result and artifact (values in run order, `differs`/`changed` marked), and the step
    timeline as an SVG `data:` URI."""
    views = comparison(runs)
    if not views:
        return {"runs": [], "params": [], "results": [], "artifacts": [], "timeline": ""}
    differs = views[0]["differs"]
    previews = [{n: a.preview for n, a in end_artifacts(run).items()} for run in runs]
    return {
        "runs": [_compared_run(view) for view in views],
        "params": _rows([view["params"] for view in views], differs["params"]),
        "results": _rows([view["results"] for view in views], differs["results"]),
        "artifacts": _artifact_rows(views, previews),
        "timeline": svg_data_uri(timeline_svg(runs)),
    }


def _compared_run(view: Mapping[str, Any]) -> ComparedRun:
    return {
        "id": view["id"],
        "status": view["status"],
        "started_at": view["started_at"],
        "finished_at": view["finished_at"],
        "duration": view["duration"],
        "tags": view["tags"],
    }


def timeline_svg(runs: Sequence[Run]) -> str:
    return render_timeline_svg([run_view(run) for run in runs])


def _rows(mappings: Sequence[Mapping[str, Any]], differing: Sequence[str]) -> list[ValueRow]:
    names = dict.fromkeys(name for mapping in mappings for name in mapping)
    return [
        {
            "name": name,
            "differs": name in differing,
            "present": [name in mapping for mapping in mappings],
            "values": [mapping.get(name) for mapping in mappings],
        }
        for name in names
    ]


def _artifact_rows(
    views: Sequence[Mapping[str, Any]], previews: Sequence[Mapping[str, Any]]
) -> list[ArtifactRow]:
    # comparison() gives every run every artifact name (key None where a run has none).
    rows: list[ArtifactRow] = []
    for name, first in views[0]["artifacts"].items():
        cells: list[ArtifactCell] = [
            {"key": view["artifacts"][name]["key"], "type": view["artifacts"][name]["type"],
             "size": view["artifacts"][name]["size"], "preview": shown.get(name)}
            for view, shown in zip(views, previews, strict=True)
        ]  # fmt: skip
        rows.append({"name": name, "changed": bool(first["changed"]), "cells": cells})
    return rows
