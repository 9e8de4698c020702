"""Helpers of the real-kernel tests: run notebooks with nbclient, read runs from a new process.

Each test works in its own folder with its own datastore (NBFLOW_DATASTORE, handed to the
kernel through its environment). What a run stored is read back by `flow_dump.py` in a new
Python process through the public client, so the tests see what any later process would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat import NotebookNode

HERE = Path(__file__).resolve().parent
NOTEBOOKS = HERE.parent / "notebooks"
FLOW_DUMP = HERE / "flow_dump.py"
KERNEL_NAME = "python3"
TIMEOUT = 120
STEP_LINE = re.compile(r"%%step (\w+)")


# -- the kernel -----------------------------------------------------------------------------------


def kernel_env(datastore: Path) -> dict[str, str]:
    """The environment of a kernel (or process) working on `datastore` and nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBFLOW_")}
    env["NBFLOW_DATASTORE"] = str(datastore)
    # ipykernel's debugger otherwise warns about frozen modules on stderr at every start.
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


def new_notebook(sources: list[str]) -> NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    return nb


def read_notebook(name: str) -> NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def execute(
    nb: NotebookNode,
    workdir: Path,
    env: dict[str, str],
    *,
    kernel: str = KERNEL_NAME,
) -> NotebookNode:
    """Run every cell of `nb` in a new kernel in `workdir`; stop at the first error."""
    client = NotebookClient(
        nb,
        kernel_name=kernel,
        timeout=TIMEOUT,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute(env=env)
    return nb


class LiveKernel:
    """One kernel kept running: cells are appended to a notebook and executed one at a time."""

    def __init__(self, workdir: Path, env: dict[str, str], kernel: str = KERNEL_NAME) -> None:
        self.nb = nbformat.v4.new_notebook()
        self.env = env
        self.client = NotebookClient(
            self.nb,
            kernel_name=kernel,
            timeout=TIMEOUT,
            allow_errors=True,
            resources={"metadata": {"path": str(workdir)}},
        )

    def __enter__(self) -> LiveKernel:
        self._context = self.client.setup_kernel(env=self.env)
        self._context.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._context.__exit__(None, None, None)

    def execute(self, source: str) -> NotebookNode:
        """Execute one cell, whatever it outputs."""
        cell = nbformat.v4.new_code_cell(source)
        self.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.nb.cells) - 1)
        return cell

    def run(self, source: str) -> NotebookNode:
        """Execute one cell that must succeed (else the test fails showing the error)."""
        cell = self.execute(source)
        for error in error_outputs(cell):
            pytest.fail(f"the cell failed:\n{source}\n{error.ename}: {error.evalue}")
        return cell

    def fail(self, source: str) -> NotebookNode:
        """Execute one cell that must show an error."""
        cell = self.execute(source)
        if not error_outputs(cell):
            pytest.fail(f"expected an error from the cell:\n{source}\nit printed:\n{text(cell)}")
        return cell


# -- cell outputs ---------------------------------------------------------------------------------


def code_cell(nb: NotebookNode, prefix: str) -> NotebookNode:
    """The one code cell whose source starts with the words `prefix` (e.g. "%%step pick")."""
    found = [
        c
        for c in nb.cells
        if c.cell_type == "code" and re.match(rf"{re.escape(prefix)}(\W|$)", c.source)
    ]
    assert len(found) == 1, f"{len(found)} cells start with {prefix!r}"
    return found[0]


def step_cells(nb: NotebookNode) -> dict[str, NotebookNode]:
    cells = {}
    for cell in nb.cells:
        match = STEP_LINE.match(cell.source) if cell.cell_type == "code" else None
        if match:
            cells[match.group(1)] = cell
    return cells


def text(cell: NotebookNode, stream: str = "stdout") -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == stream)


def displayed(cell: NotebookNode) -> list[str]:
    """text/plain of the cell's display_data and execute_result outputs, in order."""
    return [
        o.data.get("text/plain", "")
        for o in cell.outputs
        if o.output_type in ("display_data", "execute_result")
    ]


def error_outputs(cell: NotebookNode) -> list[NotebookNode]:
    return [o for o in cell.outputs if o.output_type == "error"]


def the_error(cell: NotebookNode) -> NotebookNode:
    errors = error_outputs(cell)
    assert len(errors) == 1, f"expected one error output, got {len(errors)}: {cell.outputs}"
    return errors[0]


# -- reading the datastore from a fresh process ---------------------------------------------------


class RunState:
    """One run as `flow_dump.py` printed it."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.id: str = raw["id"]
        self.run_id: int = raw["run_id"]
        self.status: str = raw["status"]
        self.params: dict[str, Any] = raw["params"]
        self.data: dict[str, Any] | None = raw["data"]
        self.steps: dict[str, list[dict[str, Any]]] = raw["steps"]

    def tasks(self, step: str) -> list[dict[str, Any]]:
        assert step in self.steps, f"run {self.id} has no step {step!r}: {list(self.steps)}"
        return self.steps[step]

    def task(self, step: str) -> dict[str, Any]:
        tasks = self.tasks(step)
        assert len(tasks) == 1, f"step {step!r} of {self.id} has {len(tasks)} tasks"
        return tasks[0]

    def statuses(self) -> dict[str, list[str]]:
        return {step: [t["status"] for t in tasks] for step, tasks in self.steps.items()}

    def __repr__(self) -> str:
        return f"RunState({self.id} {self.status} {self.statuses()})"


class FlowState:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.runs = [RunState(r) for r in raw["runs"]]  # newest first

    @property
    def latest(self) -> RunState:
        assert self.runs, "the flow has no runs"
        return self.runs[0]

    def run(self, run_id: int) -> RunState:
        found = [r for r in self.runs if r.run_id == run_id]
        assert found, f"no run {run_id}: {[r.id for r in self.runs]}"
        return found[0]


def client_process(datastore: Path, args: list[str]) -> str:
    env = kernel_env(datastore)
    result = subprocess.run(
        [sys.executable, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"client process failed:\n{result.stderr}"
    return result.stdout


def read_flow(datastore: Path, flow: str) -> FlowState:
    """Every run of `flow`, read through the client in a new Python process."""
    return FlowState(json.loads(client_process(datastore, [str(FLOW_DUMP), flow])))


def client_json(datastore: Path, script: str) -> Any:
    """Run `script` in a new Python process; it prints one JSON document."""
    return json.loads(client_process(datastore, ["-c", script]))


def blob_files(datastore: Path) -> list[Path]:
    """The stored blobs (temp and probe files, named with a leading dot, are not blobs)."""
    blobs = datastore / "blobs"
    return [p for p in blobs.rglob("*") if p.is_file() and not p.name.startswith(".")]


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def traceback_text(error: NotebookNode) -> str:
    """An error output's traceback as plain text (IPython colours it)."""
    return ANSI.sub("", "\n".join(error.traceback))


def summary_line(cell: NotebookNode) -> str:
    """The `✓ NAME · N tasks · time · run FLOW/ID` line a step cell ends with ('' if none)."""
    lines = [line for line in text(cell).splitlines() if line.startswith("✓ ")]
    return lines[-1] if lines else ""
