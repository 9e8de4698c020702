"""RunBrowser: every run of a flow in a table; sort, filter, select, compare.

The rows come from the client's listing (one query for all runs). The scalar results of each
run's last step need a query or two per run, so they are read up front only while a time
budget lasts; the rest are asked for by the browser as their rows scroll into view
(`{"type": "results", "ids": [...]}`). Selecting runs and pressing Compare sends
`{"type": "compare", "ids": [...]}`; the comparison (`nbflow.widgets.compare.compare_view`,
what a CompareWidget shows) is synced back and drawn below the table.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import anywidget
import traitlets

from nbflow.exceptions import NotFound
from nbflow.query.client import Flow, Run
from nbflow.query.results import run_results
from nbflow.query.views import RunRow, run_summary
from nbflow.render.svg import render_runs_svg
from nbflow.render.text import runs_table
from nbflow.widgets._assets import css, esm, with_fallbacks
from nbflow.widgets.compare import compare_view

__all__ = ["RunBrowser"]

RESULTS_BUDGET = 0.2  # seconds spent reading results up front; later rows load lazily
TEXT_ROWS = 50  # runs listed in the picture and text fallbacks


class RunBrowser(anywidget.AnyWidget):
    """The runs of `flow` (a `Flow` or its name), newest first."""

    _esm = esm("browser.js")
    _css = css()
    runs = traitlets.List(traitlets.Dict()).tag(sync=True)
    selected = traitlets.List(traitlets.Unicode()).tag(sync=True)
    comparison = traitlets.Dict().tag(sync=True)

    def __init__(self, flow: Flow | str, **kwargs: Any) -> None:
        self.flow = flow if isinstance(flow, Flow) else Flow(flow)
        self._runs: dict[str, Run] = {}
        super().__init__(runs=self._rows(), **kwargs)
        self.on_msg(self._on_message)

    def refresh(self) -> None:
        """List the runs again (new runs appear, running ones update)."""
        self.runs = [dict(row) for row in self._rows()]

    def results(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The scalar results of the last step of each known run in `ids`."""
        return {i: run_results(self._runs[i]) for i in ids if i in self._runs}

    def compare(self, ids: Sequence[str] | None = None) -> None:
        """Compare these runs (default: the selected ones) below the table."""
        chosen = list(self.selected if ids is None else ids)
        unknown = [i for i in chosen if i not in self._runs]
        if unknown:
            raise NotFound(f"runs not in this browser: {', '.join(unknown)}")
        self.comparison = dict(compare_view([self._runs[i] for i in chosen])) if chosen else {}

    def _rows(self) -> list[RunRow]:
        runs = self.flow.runs()
        self._runs = {run.pathspec: run for run in runs}
        deadline = time.perf_counter() + RESULTS_BUDGET
        rows: list[RunRow] = []
        for run in runs:
            found = run_results(run) if time.perf_counter() < deadline else None
            rows.append({**run_summary(run), "results": found})
        return rows

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind, ids = content.get("type"), [str(i) for i in content.get("ids") or []]
        try:
            if kind == "results":
                self.send({"type": "results", "results": self.results(ids)})
            elif kind == "compare":
                self.compare(ids)
                self.send({"type": "compared"})  # the same runs again change no trait
            elif kind == "refresh":
                self.refresh()
        except Exception as error:  # shown in the widget, not lost in a log
            self.send({"type": "error", "message": f"{type(error).__name__}: {error}"})

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        runs = list(self._runs.values())
        text = (
            runs_table([run.as_dict() for run in runs[:TEXT_ROWS]])
            if runs
            else f"no runs of flow '{self.flow.name}'"
        )
        older = max(len(runs) - TEXT_ROWS, 0)
        if older:
            text += f"\n... and {older:,} older runs"
        picture = render_runs_svg([run.as_dict() for run in runs[:TEXT_ROWS]], more=older)
        extra = {"image/svg+xml": picture, "text/plain": text}
        return with_fallbacks(super()._repr_mimebundle_(**kwargs), extra)
