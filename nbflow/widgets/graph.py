"""GraphWidget: a run's graph in the notebook; click a step for its tasks, artifacts and logs.

Python computes everything (the run view, the layered layout); the ES module only draws it.
Synced to the browser: `view` (`nbflow.query.views.run_view`) and `layout` (`nbflow.render.layout`'s
`as_dict()`). A click on a step sends `{"type": "step", "name": ...}`; the reply is
`nbflow.widgets.tasks.step_tasks`. `refresh()` re-reads the run, for a run still going.
"""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets

from nbflow.query.client import Run
from nbflow.query.views import run_view
from nbflow.render.layout import layout
from nbflow.render.svg import render_svg
from nbflow.widgets._assets import css, esm, with_fallbacks
from nbflow.widgets.tasks import step_tasks

__all__ = ["GraphWidget"]


class GraphWidget(anywidget.AnyWidget):
    """The graph of `run` (a `Run` or "flow/12"), drawn and clickable."""

    _esm = esm("graph.js")
    _css = css()
    view = traitlets.Dict().tag(sync=True)
    layout = traitlets.Dict().tag(sync=True)

    def __init__(self, run: Run | str, **kwargs: Any) -> None:
        self.run = run if isinstance(run, Run) else Run(run)
        view = run_view(self.run)
        super().__init__(view=view, layout=_layout(view), **kwargs)
        self.on_msg(self._on_message)

    def refresh(self) -> None:
        """Re-read the run from the store and redraw (the layout only if the graph changed)."""
        self.run = Run(self.run.id, store=self.run._store)
        view = run_view(self.run)
        if _shape(view) != _shape(self.view):
            self.layout = _layout(view)
        self.view = view

    def step_tasks(self, name: str) -> dict[str, Any]:
        """What a click on step `name` shows: its tasks, read afresh (the run may be going)."""
        return step_tasks(Run(self.run.id, store=self.run._store), name)

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "step":
            name = str(content.get("name", ""))
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


def _layout(view: dict[str, Any]) -> dict[str, Any]:
    return layout(view["steps"]).as_dict()


def _shape(view: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    return [(step["name"], tuple(step["parents"])) for step in view.get("steps", [])]
