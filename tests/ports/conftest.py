"""Fixtures of the Metaflow ports; their helpers live in porttools.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

KERNEL_NAME = "python3"
PYTHON_ALIASES = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info)}


def _spec_runs_this_python() -> bool:
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        return False
    program = spec.argv[0] if spec.argv else ""
    return program in PYTHON_ALIASES or Path(program).resolve() == Path(sys.executable).resolve()


@pytest.fixture(scope="session")
def kernel_name() -> str:
    """`python3`, made to start this venv's interpreter (as tests/kernel/conftest.py does)."""
    if not _spec_runs_this_python():
        subprocess.run(
            [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME],
            check=True,
            capture_output=True,
        )
    assert _spec_runs_this_python(), f"kernel spec {KERNEL_NAME!r} does not start {sys.executable}"
    return KERNEL_NAME
