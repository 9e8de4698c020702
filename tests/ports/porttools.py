"""Helpers of the Metaflow ports: `nbflow run` as a user types it, in a folder of its own.

Each port runs in a copy of tests/ports/notebooks beside a copy of tests/ports/data (so the
notebooks' relative paths hold) with its own datastore; the runs are read back through the
public client (`from nbflow import Run`) with NBFLOW_DATASTORE pointing there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

PORTS = Path(__file__).resolve().parent
NOTEBOOKS = PORTS / "notebooks"
DATA = PORTS / "data"
TIMEOUT = 180
RUN_LINE = re.compile(r"^run (\S+)/(\d+): (\w+)", re.MULTILINE)


@dataclass
class Done:
    """What one `nbflow run` printed, and the run it made (None if it made none)."""

    returncode: int
    stdout: str
    stderr: str
    run_id: str | None  # FLOW/ID

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Ports:
    """A folder laid out like tests/ports (notebooks/, data/) with a datastore of its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.notebooks = root / "notebooks"
        self.store = root / "store"
        shutil.copytree(DATA, root / "data")
        shutil.copytree(NOTEBOOKS, self.notebooks, ignore=shutil.ignore_patterns("make_*.py"))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NBFLOW_")}
        env["NBFLOW_DATASTORE"] = str(self.store)
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        return env

    def variant(self, name: str, new_name: str, edit: dict[str, str]) -> str:
        """A copy of notebook `name` whose cells have each `old` replaced by `new`, and whose
        flow is named after the copy (a flow belongs to one notebook)."""
        nb = nbformat.read(self.notebooks / f"{name}.ipynb", as_version=4)
        for old, new in edit.items():
            hits = [c for c in nb.cells if old in c.source]
            assert hits, f"{old!r} is in no cell of {name}"
            for cell in hits:
                cell.source = cell.source.replace(old, new)
        for cell in nb.cells:
            cell.source = re.sub(r"(%flow name \w+)", rf"\1_{new_name}", cell.source)
        nbformat.write(nb, self.notebooks / f"{new_name}.ipynb")
        return new_name

    def run(self, name: str, *args: str) -> Done:
        """`nbflow run notebooks/NAME.ipynb ARGS...`, from the notebooks' folder."""
        done = subprocess.run(
            [sys.executable, "-m", "nbflow.cli", "run", f"{name}.ipynb", *args],
            cwd=self.notebooks,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        found = RUN_LINE.findall(done.stdout)
        run_id = f"{found[-1][0]}/{found[-1][1]}" if found else None
        return Done(done.returncode, done.stdout, done.stderr, run_id)

    def ok(self, name: str, *args: str) -> Done:
        done = self.run(name, *args)
        assert done.returncode == 0 and done.run_id, f"nbflow run {name} failed:\n{done.output}"
        return done
