"""nbflow's Jupyter Server extension: the REST API behind the JupyterLab sidebar and badges.

Enabled with `{"ServerApp": {"jpserver_extensions": {"nbflow": true}}}` (the package's
jupyter-config file) or `{"nbflow.server": true}`. Jupyter imports this module only to load
the extension: `import nbflow` never imports it, and the handlers load inside the hook.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nbflow.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Serve the configured datastore under `/nbflow/api/` and point kernels at it."""
    # lazy: jupyter_server and tornado load with the extension, not when Jupyter only looks
    # up its extension points here
    from nbflow.server import datastore  # noqa: PLC0415
    from nbflow.server.handlers import SETTINGS_KEY, routes  # noqa: PLC0415

    config = datastore.served_config(serverapp)
    web_app = serverapp.web_app
    web_app.settings[SETTINGS_KEY] = datastore.ServedStore(config)
    web_app.add_handlers(".*$", routes(web_app.settings["base_url"]))
    exported = datastore.export_to_kernels(config)
    told = f"; kernels are told through {', '.join(exported)}" if exported else ""
    serverapp.log.info("nbflow: serving the datastore %s%s", config.datastore, told)
    elsewhere = datastore.kernels_elsewhere(config)
    if elsewhere:
        serverapp.log.warning(
            "nbflow: kernels write to %s ($%s) but the sidebar shows %s; make them match.",
            elsewhere,
            datastore.DATASTORE_ENV,
            config.datastore,
        )
