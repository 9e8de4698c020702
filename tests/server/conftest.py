"""A real Jupyter server with nbflow's extension (`jp_fetch`), over a datastore of real runs
made once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# pytest-jupyter's fixtures (jp_fetch, jp_serverapp, ...) for this folder only: a
# `pytest_plugins` line is refused outside the top-level conftest, and would reach every test.
from pytest_jupyter.jupyter_server import *  # noqa: F403
from servertools import Runs, make_runs, server_config
from traitlets.config import Config


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return make_runs(tmp_path_factory.mktemp("nbflow") / "store")


@pytest.fixture
def jp_server_config(runs: Runs) -> Config:
    return server_config(runs.path)


@pytest.fixture(autouse=True)
def _kernel_environment() -> Iterator[None]:
    """The extension tells kernels the datastore through os.environ; undo it after a test."""
    names = ("NBFLOW_DATASTORE", "NBFLOW_METADATA")
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ.pop(name, None)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
