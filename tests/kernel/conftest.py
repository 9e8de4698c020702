"""Fixtures of the real-kernel tests; the helpers they use live in kerneltools.py."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from kerneltools import KERNEL_NAME, LiveKernel, kernel_env

# jupyter_client puts the running interpreter in place of a kernel spec's bare "python".
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
    """`python3`, made to start this venv's interpreter (installed into the venv if needed)."""
    if not _spec_runs_this_python():
        subprocess.run(
            [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME],
            check=True,
            capture_output=True,
        )
    if not _spec_runs_this_python():
        pytest.fail(
            f"kernel spec {KERNEL_NAME!r} does not start {sys.executable} even after "
            "`ipykernel install --sys-prefix` (a user-level spec of that name shadows it?)"
        )
    return KERNEL_NAME


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def datastore(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def live(workdir: Path, datastore: Path, kernel_name: str) -> Iterator[LiveKernel]:
    with LiveKernel(workdir, kernel_env(datastore), kernel_name) as kernel:
        yield kernel
