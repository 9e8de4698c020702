"""The nbflow this test run imports is visible to its environment's JupyterLab and Jupyter
Server: the editable install under `make test`, the wheel's venv under `make test-wheel`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")  # jupyter colours `enabled` and `OK` even in a pipe


def _jupyter(*args: str) -> str:
    jupyter = Path(sys.executable).parent / "jupyter"
    done = subprocess.run(
        [str(jupyter), *args], capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    output = ANSI.sub("", done.stdout + done.stderr)
    assert done.returncode == 0, f"jupyter {' '.join(args)} failed:\n{output}"
    return output


def test_jupyterlab_lists_the_extension_of_this_environment() -> None:
    listed = _jupyter("labextension", "list")
    folder = None
    for line in listed.splitlines():
        if line.startswith("/"):
            folder = line.strip()  # the folder whose extensions the indented lines below list
        elif re.match(r"\s+nbflow v", line):
            assert re.search(r"nbflow v\S+\s+enabled\s+OK", line), listed
            assert folder == str(Path(sys.prefix) / "share/jupyter/labextensions"), listed
            return
    raise AssertionError(f"JupyterLab does not list nbflow:\n{listed}")


def test_jupyter_server_lists_the_server_extension_enabled() -> None:
    listed = _jupyter("server", "extension", "list")
    assert re.search(r"^\s*nbflow\s+enabled", listed, re.MULTILINE), listed
    assert re.search(r"nbflow \S+\s+OK", listed), listed
