"""Notebook widgets (anywidget): a run's live graph, a run browser and a run comparison.

    from nbflow.widgets import GraphWidget, RunBrowser, CompareWidget
    GraphWidget(run)          # the graph; click a step for its tasks, artifacts and logs
    RunBrowser(flow)          # every run: sort, filter, select, compare
    CompareWidget(runs)       # params, results, artifacts, timeline, a result against a param

Each widget's output also carries an `image/svg+xml` picture and text, so exported notebooks
keep something to show. anywidget (and ipywidgets) load only when a widget is first used:
`import nbflow` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["CompareWidget", "GraphWidget", "RunBrowser"]

if TYPE_CHECKING:
    from nbflow.widgets.browser import RunBrowser
    from nbflow.widgets.compare import CompareWidget
    from nbflow.widgets.graph import GraphWidget

_LAZY = {
    "GraphWidget": "nbflow.widgets.graph",
    "RunBrowser": "nbflow.widgets.browser",
    "CompareWidget": "nbflow.widgets.compare",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'nbflow.widgets' has no attribute '{name}'")
    try:
        module = importlib.import_module(_LAZY[name])
    except ModuleNotFoundError as error:
        if error.name not in ("anywidget", "ipywidgets"):
            raise
        raise ModuleNotFoundError(
            f"nbflow's widgets need {error.name}: pip install anywidget", name=error.name
        ) from None
    return getattr(module, name)
