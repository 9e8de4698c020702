"""What runs inside a worker process of the processes executor.

A worker is long-lived: it is forked from the kernel (or spawned) once, prepares itself, then
runs one task payload at a time with the same task body as the kernel executor
(`nbflow.run.task.run_body`), and sends back the small TaskResult. It reads its inputs from and
writes its artifacts to the datastore folder itself; only blob keys travel back.

Rich output: the value of a last bare expression, and whatever the step's code passes to
`IPython.display.display`, are formatted here into Jupyter MIME bundles and kept in the
result's `displays`, for the kernel to show grouped with the task's stdout and stderr.
"""

from __future__ import annotations

import base64
import io
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import types
import warnings
from contextlib import redirect_stderr, redirect_stdout
from multiprocessing.connection import Connection, wait
from typing import Any

import cloudpickle
from IPython.core.displaypub import DisplayPublisher
from IPython.core.formatters import DisplayFormatter
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.pylabtools import print_figure
from traitlets.config import Config

from nbflow.config import temporary_environment
from nbflow.exceptions import UnreadableInput
from nbflow.run.cellcode import default_format_traceback
from nbflow.run.task import TaskPayload, TaskResult, run_body
from nbflow.store.blobs import ArtifactStore, open_blob_store

# A message from the executor: (task id, extra environment, cloudpickled TaskPayload),
# or None to stop.
Message = tuple[int, dict[str, str] | None, bytes] | None

_stores: dict[str, ArtifactStore] = {}

# The displays of the task running now; the publisher and `show` append here.
_displays: list[dict[str, Any]] = []


class _Display:
    formatter: DisplayFormatter | None = None  # the shell's, once prepare_process() ran


class _Null(io.TextIOBase):
    """A text sink: run_body keeps its own copy of the task's output."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        return len(text)

    def isatty(self) -> bool:
        return False


_NULL = _Null()


class _Recorder(DisplayPublisher):
    """Keeps what `IPython.display.display` publishes, for the running task's record."""

    def publish(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        source: Any = None,
        *,
        transient: dict[str, Any] | None = None,
        update: bool = False,
        **kwargs: Any,
    ) -> None:
        display_id = (transient or {}).get("display_id")
        record = {"data": _jsonable(data), "metadata": metadata or {}, "display_id": display_id}
        if update and display_id is not None:
            # An updated display: the task record keeps its last state, as the notebook would.
            for i, old in enumerate(_displays):
                if old.get("display_id") == display_id:
                    _displays[i] = record
                    return
        _displays.append(record)

    def clear_output(self, wait: bool = False) -> None:
        _displays.clear()


def store_for(datastore_root: str) -> ArtifactStore:
    """The datastore, opened once per process."""
    store = _stores.get(datastore_root)
    if store is None:
        store = _stores[datastore_root] = ArtifactStore(open_blob_store(datastore_root))
    return store


def show(value: Any) -> None:
    """run_body's `display`: the value of a step's last bare expression."""
    formatter = _Display.formatter or DisplayFormatter()  # without prepare_process()
    data, metadata = formatter.format(value)
    if data:
        _displays.append({"data": _jsonable(data), "metadata": metadata, "display_id": None})


def run_payload(payload_bytes: bytes, datastore_root: str) -> TaskResult:
    """Run one cloudpickled TaskPayload here; stdout, stderr and displays go to the result.

    Call prepare_process() once first: it routes the step's display() calls to the result.
    """
    payload: TaskPayload = cloudpickle.loads(payload_bytes)
    store = store_for(datastore_root)
    names = {key: name for name, key in payload.loads.items()}

    def load(key: str, fresh: bool) -> Any:
        try:
            return store.load(key, payload.inline.get(key))
        except Exception as error:
            raise UnreadableInput(_unreadable(names.get(key, key), error, payload)) from error

    _displays.clear()
    # run_body tees the task's output to sys.stdout/sys.stderr: in a worker that copy must go
    # nowhere, since the kernel replays the kept copy grouped per task.
    with redirect_stdout(_NULL), redirect_stderr(_NULL):
        try:
            result = run_body(
                payload,
                load=load,
                save=store.save,
                display=show,
                format_traceback=default_format_traceback,
            )
        finally:
            _show_open_figures()
    result.displays = [{"data": d["data"], "metadata": d["metadata"]} for d in _displays]
    _displays.clear()
    return result


def _unreadable(name: str, error: Exception, payload: TaskPayload) -> str:
    message = f"input '{name}' cannot be loaded here ({type(error).__name__}: {error})"
    if not payload.kernel_versions:
        return message
    # importlib.metadata (20-30 ms) only for this message, not at every worker's start.
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - see above

    pairs = []
    for package, theirs in payload.kernel_versions.items():
        try:
            ours = version(package)
        except PackageNotFoundError:
            ours = "not installed"
        pairs.append(f"{package} {theirs} in the kernel, {ours} in this step's environment")
    return (
        f"{message}: it was most likely written by a library version this environment cannot "
        f"read ({'; '.join(pairs)}). Pass the step plain data (lists, dicts, numpy arrays), "
        "or give both the same version."
    )


def serve(conn: Connection, datastore_root: str) -> None:
    """A worker process's main loop: run each task sent on `conn`, answer with its result."""
    prepare_process()
    while True:
        try:
            message: Message = conn.recv()
        except (EOFError, OSError):
            return  # the executor is gone
        if message is None:
            return
        task_id, env, payload_bytes = message
        result = run_message(task_id, env, payload_bytes, datastore_root)
        try:
            conn.send(result)
        except (EOFError, OSError):
            return
        except Exception as error:  # a display bundle or record that does not pickle
            conn.send(_failure(task_id, error, time.time(), "cannot send the task's result"))


def run_message(
    task_id: int, env: dict[str, str] | None, payload_bytes: bytes, datastore_root: str
) -> TaskResult:
    """Run one task with `env` set for it; any failure is this task's result, never raised."""
    started = time.time()
    try:
        with temporary_environment(env):
            return run_payload(payload_bytes, datastore_root)
    except BaseException as error:
        # Failures outside the step's own code (unpickling the payload, loading an input, or a
        # SystemExit from the step) fail this task only; the worker goes on.
        return _failure(task_id, error, started, "in the worker process")


def _failure(task_id: int, error: BaseException, started: float, where: str) -> TaskResult:
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    evalue = f"{where}: {error}"
    return TaskResult(
        task_id,
        error={
            "ename": type(error).__name__,
            "evalue": evalue,
            "traceback": "".join(lines),
            "line": None,
        },
        rendered=[*lines[:-1], f"{type(error).__name__}: {evalue}\n"],
        started_at=started,
        finished_at=time.time(),
    )


def prepare_process() -> None:
    """Make a fresh (forked or spawned) process a worker; once, before any task."""
    # Jupyter's interrupt signals the kernel's whole process group: the kernel decides what
    # happens to running tasks (it stops their workers), a worker must not die half-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # A forked worker inherits the kernel's streams, which write through the kernel's ZMQ
    # sockets; a child must never touch those. Worker-level messages go to the real streams.
    sys.stdout = sys.__stdout__ or _NULL
    sys.stderr = sys.__stderr__ or _NULL
    prepare_display()
    _exit_with_parent()


def prepare_display() -> None:
    """Route what steps show (display(), figures) to their results; once per process."""
    _use_agg()
    _install_display()


def _use_agg() -> None:
    # No GUI and no kernel-bound backend (the inline one) in a worker: figures are rendered
    # to PNG by the display formatter instead.
    os.environ["MPLBACKEND"] = "Agg"
    if "matplotlib" in sys.modules:
        import matplotlib  # noqa: PLC0415 - only when the step's code imported it

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matplotlib.use("Agg", force=True)


def _install_display() -> DisplayFormatter:
    """Route IPython's display() into this task's record; returns the formatter to use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. IPython's profile-folder notices
        # Forked from the kernel: its shell, with the formatters the notebook registered.
        initialized = InteractiveShell.initialized()
        shell = InteractiveShell.instance() if initialized else _new_shell()
    # display() looks the publisher up on the shell singleton at each call, so replacing it
    # catches every display() in the step's code, however `display` was imported.
    # IPython's DisplayPublisher.__init__, which _Recorder inherits, is unannotated.
    shell.display_pub = _Recorder()  # type: ignore[no-untyped-call]
    formatter = shell.display_formatter
    assert formatter is not None  # a shell always has one
    formatter.formatters["image/png"].for_type_by_name("matplotlib.figure", "Figure", _figure_png)
    _Display.formatter = formatter
    return formatter


def _new_shell() -> InteractiveShell:
    config = Config()
    config.HistoryManager.enabled = False  # no SQLite history file shared by the workers
    # A module of its own as the shell's user module: a shell whose user module is named
    # `__main__` replaces sys.modules["__main__"].
    module = types.ModuleType("__nbflow_worker__")
    return InteractiveShell.instance(config=config, user_module=module)


def _figure_png(figure: Any) -> str:
    return str(print_figure(figure, "png", base64=True))


def _show_open_figures() -> None:
    # As the inline backend does at the end of a cell: show the figures the step left open,
    # then close them, so a long-lived worker does not accumulate them across tasks.
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    try:
        for number in pyplot.get_fignums():
            show(pyplot.figure(number))
    finally:
        pyplot.close("all")


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    # Image bytes as base64 text, as nbformat stores them: the record stays JSON.
    return {
        mime: base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
        for mime, value in data.items()
    }


def _exit_with_parent() -> None:
    # If the kernel dies without closing the executor (kill -9, crash), stop at once, even in
    # the middle of a task: nobody is left to read the result.
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="nbflow-parent-watch", daemon=True).start()
