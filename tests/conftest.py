"""For every test: under `make test-wheel` (NBFLOW_EXPECT_INSTALLED=<the wheel's venv>), the
nbflow under test must be the one installed there, never the work tree's `nbflow/` folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import nbflow


def pytest_configure(config: pytest.Config) -> None:
    expected = os.environ.get("NBFLOW_EXPECT_INSTALLED")
    imported = Path(nbflow.__file__).resolve()
    if expected and not imported.is_relative_to(Path(expected).resolve()):
        raise pytest.UsageError(
            f"nbflow is imported from {imported}, not from the install in {expected}: run "
            "pytest outside the work tree, without PYTHONPATH (see `make test-wheel`)."
        )
