"""Fixtures of the export tests. They need Metaflow (the `test` extra) and a `python3` kernel
that starts this interpreter; without Metaflow they skip, or fail where every part is required
(tests/needs.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from needs import missing


@pytest.fixture
def metaflow_installed() -> None:
    if importlib.util.find_spec("metaflow") is None:
        missing("Metaflow is not installed: pip install 'metaflow>=2.19'")


@pytest.fixture(scope="session")
def kernel_name() -> str:
    """`python3`, made to start this venv's interpreter (as tests/ports/conftest.py does)."""
    try:
        program = KernelSpecManager().get_kernel_spec("python3").argv[0]
    except NoSuchKernel:
        program = ""
    if Path(program).name not in ("python", "python3") and Path(program) != Path(sys.executable):
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name",
                        "python3"], check=True, capture_output=True)  # fmt: skip
    return "python3"
