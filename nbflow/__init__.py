"""nbflow: Jupyter-native pipelines. Steps in cells, a scheduler in the kernel, versioned runs.

    %load_ext nbflow                      # in a notebook
    from nbflow import Flow, Run, compare  # anywhere: read past runs (Metaflow's client)
    from nbflow import current             # in a step: run id, task id, attempt, foreach

Importing nbflow is cheap: the client, IPython and pandas load only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "Flow", "Run", "Step", "Task", "compare", "current", "default_namespace", "flows",
    "get_namespace", "load_ipython_extension", "merge", "namespace",
]  # fmt: skip

if TYPE_CHECKING:
    from nbflow.core.inputs import merge
    from nbflow.query.client import Flow, Run, Step, Task, compare, flows
    from nbflow.query.namespace import default_namespace, get_namespace, namespace
    from nbflow.run.current import current

_LAZY = {
    "Flow": "nbflow.query.client",
    "Run": "nbflow.query.client",
    "Step": "nbflow.query.client",
    "Task": "nbflow.query.client",
    "compare": "nbflow.query.client",
    "flows": "nbflow.query.client",
    "namespace": "nbflow.query.namespace",
    "get_namespace": "nbflow.query.namespace",
    "default_namespace": "nbflow.query.namespace",
    # The module is not named `current`: importing it would shadow the object on the package.
    "current": "nbflow.run.current",
    "merge": "nbflow.core.inputs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib  # noqa: PLC0415 - lazy: `import nbflow` imports typing only

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nbflow' has no attribute '{name}'")


def load_ipython_extension(shell: Any) -> None:
    """`%load_ext nbflow`: registers %%step, %%params and %flow."""
    from nbflow.kernel.magics import load_ipython_extension as load  # noqa: PLC0415 - IPython

    load(shell)


# -- Jupyter's hooks: names it looks up on the package; nothing is imported until it calls them.


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nbflow.server"}]  # the REST API behind the JupyterLab sidebar


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "nbflow"}]  # prebuilt, inside the package
