"""GraphWidget: a run's graph in the notebook; click a step for its tasks, artifacts and logs.

Python computes and draws everything: synced to the browser are `view`
(`nbflow.query.views.run_view`, for the header and the panel) and `svg`, the graph as
`nbflow.render.svg` draws it for the report and the sidebar, so it is drawn in one place. The ES
module makes its steps clickable; a click sends `{"type": "step", "name": ...}`, the reply is
`nbflow.widgets.tasks.step_tasks`. `refresh()` re-reads the run, for a run still going.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anywidget
import traitlets

from nbflow.query.client import Run
from nbflow.query.views import RunView, StepTasks, run_view
from nbflow.render.layout import Layout, layout
from nbflow.render.svg import render_svg
from nbflow.widgets._assets import css, esm, with_fallbacks
from nbflow.widgets.tasks import step_tasks

__all__ = ["GraphWidget"]


class GraphWidget(anywidget.AnyWidget):
    """The graph of `run` (a `Run` or "flow/12"), drawn and clickable."""

    _esm = esm("graph.js")
    _css = css()
    view = traitlets.Dict().tag(sync=True)
    svg = traitlets.Unicode().tag(sync=True)

    def __init__(self, run: Run | str, **kwargs: Any) -> None:
        self.run = run if isinstance(run, Run) else Run(run)
        view = run_view(self.run)
        self._layout = _layout(view)
        super().__init__(view=view, svg=_drawing(view, self._layout), **kwargs)
        self.on_msg(self._on_message)

    def refresh(self) -> None:
        """Re-read the run from the store and redraw (laid out again only if the graph changed)."""
        self.run = Run(self.run.pathspec, store=self.run._store)
        view = run_view(self.run)
        if _shape(view) != _shape(self.view):
            self._layout = _layout(view)
        self.svg = _drawing(view, self._layout)
        self.view = dict(view)

    def step_tasks(self, name: str) -> StepTasks:
        """What a click on step `name` shows: its tasks, read afresh (the run may be going)."""
        return step_tasks(Run(self.run.pathspec, store=self.run._store), name)

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "step":
            name = str(content.get("name", ""))
            reply: Mapping[str, Any]
            try:
                reply = self.step_tasks(name)
            except Exception as error:  # the panel says so instead of waiting forever
                reply = {
                    "type": "error",
                    "step": name,
                    "message": f"{type(error).__name__}: {error}",
                }
            self.send(reply)

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        extra = {"image/svg+xml": render_svg(self.view), "text/plain": repr(self.run)}
        return with_fallbacks(super()._repr_mimebundle_(**kwargs), extra)


def _layout(view: RunView) -> Layout:
    return layout(view["steps"])


def _drawing(view: Mapping[str, Any], placed: Layout) -> str:
    return render_svg(view, placed, header=False)  # the widget draws the header itself


def _shape(view: Mapping[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    return [(step["name"], tuple(step["parents"])) for step in view.get("steps", [])]
