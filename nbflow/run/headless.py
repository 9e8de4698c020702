"""Run a whole notebook headless, with papermill, in a fresh kernel, as one isolated run.

The kernel learns what this execution is about through environment variables (nbflow's
session reads them): the parameter overrides, tags, an id that marks the runs it makes, and,
for a parallel executor or a resume, that step cells only register and a last cell runs the
whole flow. The executed notebook is stored with the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbflow.config import Config, absolute_tracking_uri, env_name, temporary_environment
from nbflow.core.params import parse_value
from nbflow.exceptions import NbflowError
from nbflow.store.blobs import Stored, raw
from nbflow.store.metadata import RunRecord
from nbflow.store.metadata.records import ENDED_WELL
from nbflow.store.stores import Store, open_store

Progress = Callable[[int, int, str], None]

# The environment a headless kernel reads (see nbflow.kernel.session.Session.from_environment).
PARAMS, TAGS, LAUNCHER, DEFERRED, FULL_RUN = (
    "NBFLOW_PARAMS", "NBFLOW_TAGS", "NBFLOW_LAUNCHER", "NBFLOW_DEFERRED", "NBFLOW_FULL_RUN",
)  # fmt: skip
LOG_MODEL = "NBFLOW_MLFLOW_LOG_MODEL"  # the kernel's mlflow_log_model setting


@dataclass
class Execution:
    """What to run and how."""

    notebook: Path
    params: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    executor: str | None = None
    workers: int | None = None
    output: Path | None = None
    timeout: int | None = None  # per cell
    resume_run: int | None = None  # resume this run (or the latest failed one: 0)
    resume_from: str | None = None
    # A fresh run runs every task; `reuse` (--reuse, or NBFLOW_CACHE=on) takes earlier tasks
    # whose code, inputs, parameters and files are unchanged, as the notebook does.
    reuse: bool = False
    progress: Progress | None = None
    # --log-model: the end artifact the kernel logs as an MLflow model (NBFLOW_MLFLOW_LOG_MODEL).
    log_model: str | None = None
    # The folder it runs in, and whose .nbflow/ is its default datastore: the notebook's own,
    # unless a script exported with `nbflow export --to script` runs its cells from elsewhere.
    home: Path | None = None

    @property
    def folder(self) -> Path:
        return (self.home or self.notebook.parent).resolve()


@dataclass
class HeadlessResult:
    runs: list[RunRecord]
    error: str | None  # the failing cell's error, when the notebook failed
    store: Store


def run_notebook(execution: Execution) -> HeadlessResult:
    """Execute the notebook in a new kernel beside it; return the runs it made."""
    path = execution.notebook
    check_notebook(path)
    if execution.output is not None and execution.output.resolve() == path.resolve():
        raise NbflowError(
            f"--output {execution.output} is the input notebook; nbflow never writes over it. "
            "Give another path."
        )
    _without_iri_checks()
    launcher = uuid.uuid4().hex
    store = open_store(config_beside(execution.folder / path.name))
    error: str | None = None
    with tempfile.TemporaryDirectory(prefix="nbflow-run-") as scratch:
        executed = Path(scratch) / path.name
        source = _with_final_cell(path, execution, Path(scratch) / f"input-{path.name}")
        with temporary_environment(_kernel_environment(execution, launcher, store)):
            try:
                _execute(source, executed, execution)
            except Exception as failure:  # papermill's cell error, or a dead kernel
                error = _describe_failure(failure)
            finally:
                runs = _settle(store, launcher, executed, error)
        if execution.output is not None and executed.exists():
            _write_output(executed, execution.output)
    return HeadlessResult(runs, error, store)


def config_beside(path: Path) -> Config:
    # The kernel runs beside the notebook, so its default datastore is `.nbflow/` there.
    config = Config.from_env()
    if not config.datastore:
        config = config.updated(datastore=str(path.parent.resolve() / ".nbflow"))
    return config


def check_notebook(path: Path) -> None:
    if not path.is_file():
        raise NbflowError(f"no notebook at {path}. Give the path of an .ipynb file.")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        content = None
    if not (isinstance(content, dict) and "cells" in content):
        raise NbflowError(f"{path} is not a Jupyter notebook (expected .ipynb JSON with 'cells').")
    _check_one_cell_per_step(path, content["cells"])


def _check_one_cell_per_step(path: Path, cells: list[dict[str, Any]]) -> None:
    """Refuse a notebook with two `%%step NAME` cells of one name before anything runs: which
    one the run keeps would depend on the executor (cell by cell, or all registered first)."""
    seen: dict[str, int] = {}
    for number, cell in enumerate(cells, start=1):
        name = _step_name(cell) if cell.get("cell_type") == "code" else None
        if name is None:
            continue
        if name in seen:
            raise NbflowError(
                f"{path}: step '{name}' is defined by two cells, cell {seen[name]} and cell "
                f"{number}. Each step is defined by one cell: rename one of them."
            )
        seen[name] = number


def _step_name(cell: dict[str, Any]) -> str | None:
    source = cell.get("source", "")
    first = ("".join(source) if isinstance(source, list) else source).lstrip().split("\n", 1)[0]
    words = first.split()
    return words[1] if len(words) > 1 and words[0] == "%%step" else None


def _with_final_cell(path: Path, execution: Execution, copy: Path) -> Path:
    """With a parallel executor or a resume, step cells only register; a last cell runs."""
    final = _final_command(execution)
    if final is None:
        return path
    import nbformat  # noqa: PLC0415 - lazy: 0.3 s (jsonschema), only for a final cell

    notebook = nbformat.read(path, as_version=4)
    cell = nbformat.v4.new_code_cell(final)
    cell.metadata["tags"] = ["nbflow-run"]
    notebook.cells.append(cell)
    nbformat.write(notebook, copy)
    return copy


def _final_command(execution: Execution) -> str | None:
    workers = f" --workers {execution.workers}" if execution.workers else ""
    if execution.resume_run is not None:
        run = f" {execution.resume_run}" if execution.resume_run else ""
        start = f" --from {execution.resume_from}" if execution.resume_from else ""
        executor = f" --executor {execution.executor}" if execution.executor else ""
        return f"%flow resume{run}{start}{executor}{workers}"
    if execution.executor and execution.executor != "kernel":
        return f"%flow run --executor {execution.executor}{workers}"
    return None


def _kernel_environment(execution: Execution, launcher: str, store: Store) -> dict[str, str]:
    env = {
        PARAMS: json.dumps(execution.params),
        TAGS: json.dumps(execution.tags),
        LAUNCHER: launcher,
        FULL_RUN: "1",
        "NBFLOW_CACHE": "on" if execution.reuse or _reuse_asked() else "off",
        "NBFLOW_DATASTORE": str(store.root),
        # As Jupyter does: the kernel knows its notebook, so the flow is named after it.
        "JPY_SESSION_NAME": str(execution.notebook.resolve()),
    }
    if _final_command(execution) is not None:
        env[DEFERRED] = "1"
    if execution.log_model:
        env[LOG_MODEL] = execution.log_model
    tracking = os.environ.get(env_name("mlflow"))
    if tracking:  # relative to where `nbflow run` was typed, as the datastore is
        env[env_name("mlflow")] = absolute_tracking_uri(tracking, Path.cwd())
    return env


def _reuse_asked() -> bool:
    # Only an explicit NBFLOW_CACHE=on: the notebook's default ("on") is not a headless one.
    return os.environ.get("NBFLOW_CACHE", "").strip().lower() == "on"


def _without_iri_checks() -> None:
    """jsonschema (under nbformat and papermill) imports rfc3987-syntax where it is installed,
    to check the `iri` string formats, and that module builds its grammar at import: 0.7 s of
    every `nbflow run` on a quiet machine, more than nbflow's own work. It is installed
    wherever JupyterLab is (jupyter-server's jupyter-events). This process validates notebooks
    only, whose schema has no such format: jsonschema goes without it, as where it is absent.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def _execute(source: Path, executed: Path, execution: Execution) -> None:
    import papermill  # noqa: PLC0415 - lazy: 0.8 s, once the notebook is checked and announced

    # The kernel reads overrides from NBFLOW_PARAMS (%%params applies them); papermill's own
    # injection is for notebooks that tag a plain cell `parameters`, as papermill users do.
    tagged = _has_parameters_cell(source)
    extra: dict[str, Any] = {"kernel_manager_class": _quiet_kernel_manager()}
    if execution.progress is not None:
        extra["on_cell_executed"] = _progress_hook(source, execution.progress, injected=tagged)
    papermill.execute_notebook(
        str(source),
        str(executed),
        parameters=(execution.params or None) if tagged else None,
        kernel_name="python3",
        language="python",  # nbflow runs Python kernels; a notebook may not say so itself
        cwd=str(execution.folder),
        progress_bar=execution.progress is None and sys.stderr.isatty(),
        request_save_on_cell_execute=False,  # one write at the end, not one per cell
        execution_timeout=execution.timeout,
        **extra,
    )


def _has_parameters_cell(source: Path) -> bool:
    cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
    return any("parameters" in c.get("metadata", {}).get("tags", []) for c in cells)


def _progress_hook(source: Path, progress: Progress, *, injected: bool) -> Callable[..., None]:
    cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
    total = sum(c["cell_type"] == "code" for c in cells) + injected
    done = [0]

    def on_cell_executed(cell: Any = None, **_: Any) -> None:
        done[0] += 1
        first_line = cell.source.splitlines()[0] if cell is not None and cell.source else ""
        progress(done[0], total, first_line)

    return on_cell_executed


def _quiet_kernel_manager() -> type:
    """A kernel manager on IPC sockets (no TCP ports; ipykernel warns about unencrypted TCP)
    whose kernel process keeps its own log lines to itself: they are not the notebook's."""
    from jupyter_client.manager import AsyncKernelManager  # noqa: PLC0415 - lazy: as papermill

    class QuietKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._sockets = tempfile.TemporaryDirectory(prefix="nbflow-kernel-")
            self.transport = "ipc"
            self.ip = str(Path(self._sockets.name) / "kernel")
            # The run is recorded before shutdown: a kernel slow to exit is not worth 5 s.
            self.shutdown_wait_time = 1.0

        async def _async_start_kernel(self, **kwargs: Any) -> None:
            kwargs.setdefault("stderr", subprocess.DEVNULL)
            await super()._async_start_kernel(**kwargs)

        # The base class binds start_kernel to its own coroutine: point it at ours.
        start_kernel = _async_start_kernel

    return QuietKernelManager


def _describe_failure(failure: Exception) -> str:
    ename = getattr(failure, "ename", type(failure).__name__)
    evalue = getattr(failure, "evalue", str(failure))
    if ename in ("StepFailed", "ArtifactError", "StepError", "GraphError"):
        return str(evalue)  # nbflow's own message already names the step, line and fix
    cell = getattr(failure, "exec_count", None)
    where = f" in cell [{cell}]" if cell is not None else ""
    return f"{ename}{where}: {evalue}".strip()


def _settle(
    store: Store, launcher: str, executed: Path, error: str | None = None
) -> list[RunRecord]:
    """The runs this execution made; any left `running` (a dead kernel) are marked failed, and
    the executed notebook is stored with each. A notebook that stopped before its end leaves
    no run `done`: its later steps never ran (a bad `%%step` line, a failing plain cell), so
    `latest_successful_run` must not return it."""
    meta = store.meta
    runs = meta.runs_by_launcher(launcher)
    notebook = _store_notebook(store, executed) if executed.exists() else None
    stopped = f"the notebook stopped before its end: {error}" if error else None
    for run in runs:
        if run.status == "running":  # the kernel died, or was stopped, mid-run
            meta.fail_running_tasks(run.flow, run.run_id, "the kernel stopped while it ran")
            meta.finish_run(run.flow, run.run_id, "failed", stopped)
        elif run.status in ENDED_WELL and stopped:
            meta.finish_run(run.flow, run.run_id, "failed", stopped)
        if notebook is not None:
            meta.set_run_notebook(run.flow, run.run_id, notebook)
    return meta.runs_by_launcher(launcher)


def _store_notebook(store: Store, executed: Path) -> Stored:
    """The executed notebook as its .ipynb JSON bytes, never a pickle: reading it back (as
    `Run.notebook` does) runs no code, whoever wrote the store."""
    data = executed.read_bytes()
    # The text is given for its preview only; the bytes written are `data` as they are.
    return store.save(data.decode("utf-8", "replace"), raw(data, "nbformat.ipynb"))


def _write_output(executed: Path, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(executed.read_text(encoding="utf-8"), encoding="utf-8")


def print_progress(done: int, total: int, first_line: str) -> None:
    """Plain lines on a pipe; a bar that redraws itself on a terminal."""
    if sys.stderr.isatty():
        width = 24
        filled = int(width * done / max(total, 1))
        bar = "█" * filled + "·" * (width - filled)
        sys.stderr.write(f"\r  {bar} {done}/{total} {first_line[:50]:<50}")
        if done == total:
            sys.stderr.write("\n")
    else:
        sys.stderr.write(f"  [{done}/{total}] {first_line[:70]}\n")
    sys.stderr.flush()


def parse_params(pairs: list[list[str]] | None) -> dict[str, Any]:
    """`-p NAME VALUE` pairs, values read as papermill reads them."""
    return {name: parse_value(value) for name, value in pairs or []}
