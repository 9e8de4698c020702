"""Values that cannot be stored (a lock, a generator, an open file, a socket, an object whose
pickling raises) bound by a step, beside a large value that can be: the error names each of
them with its type and the fix; nothing is half-committed (the task is recorded failed, with no
artifact rows, and no blob of the storable value is left behind); the kernel stays usable, and
the step fixed as the message says runs.

Runs in IPython's in-process shell with nbflow loaded, on a real folder datastore, on the kernel
executor and on worker processes (where the values are stored by the worker).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from magics.magictools import fails, ok

from nbflow import Flow
from nbflow.exceptions import ArtifactError
from nbflow.kernel.magics import load_ipython_extension
from nbflow.store.blobs import encode
from nbflow.store.stores import open_store

HELPERS = """\
class Stubborn:
    def __reduce__(self):
        raise ValueError("Stubborn objects refuse to be pickled")
"""
# `big` can be stored (a blob of its own); the other five cannot.
STEP = """\
%%step start {options}
import socket, threading
import numpy as np
big = np.arange(50_000)
lock = threading.Lock()
gen = (i for i in range(3))
handle = open({path!r})
sock = socket.socket()
stubborn = Stubborn()
# Closed, so that no warning about them outlives the test; they are no more storable.
handle.close()
sock.close()
"""
UNSTORABLE = {
    "lock": "_thread.lock",
    "gen": "builtins.generator",
    "handle": "_io.TextIOWrapper",
    "sock": "socket.socket",
    "stubborn": "__main__.Stubborn",
}


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> InteractiveShell:
    monkeypatch.setenv("NBFLOW_DATASTORE", str(tmp_path / "store"))
    monkeypatch.setenv("NBFLOW_CACHE", "off")
    for name in ("NBFLOW_EXECUTOR", "NBFLOW_METADATA", "NBFLOW_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("some text")
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    ok(shell, "%flow name demo")
    ok(shell, HELPERS)
    return shell


def step(tmp_path: Path, options: str = "") -> str:
    return STEP.format(options=options, path=str(tmp_path / "notes.txt"))


def rows(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "store" / "metadata.sqlite") as db:
        return db.execute(sql).fetchall()


def check_nothing_committed(tmp_path: Path) -> None:
    """The failed task: recorded failed, no artifact rows; no blob or temp file of `big`."""
    tasks = rows(tmp_path, "SELECT task_id, status FROM tasks WHERE step = 'start'")
    assert [status for _, status in tasks] == ["failed"]
    assert rows(tmp_path, "SELECT name FROM artifacts WHERE kind = 'output'") == []
    assert rows(tmp_path, "SELECT COUNT(*) FROM objects") == [(0,)]
    blobs = tmp_path / "store" / "blobs"
    assert [p.name for p in blobs.rglob("*") if p.is_file()] == []
    big = encode(np.arange(50_000)).key
    assert not (blobs / big[:2] / big[2:]).exists()


def check_message(error: BaseException) -> None:
    assert isinstance(error, ArtifactError), repr(error)
    message = str(error)
    for name, type_name in UNSTORABLE.items():
        assert f"  {name}: {type_name}" in message, (name, message)
    assert "big" not in message.split("Fix:", maxsplit=1)[0]  # the storable value is not accused
    assert "Stubborn objects refuse to be pickled" in message  # the reason, as raised
    assert "an open file; store its path or contents" in message
    assert "--transient lock,gen,handle,sock,stubborn" in message
    assert error.problems.keys() == UNSTORABLE.keys()


def test_a_cell_run_names_each_value_and_commits_nothing(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    error = fails(ip, step(tmp_path))
    check_message(error)
    check_nothing_committed(tmp_path)
    run = Flow("demo", store=open_store()).latest_run
    assert run.status == "failed"

    # The kernel stays usable: the next cell, then the step fixed as the message says.
    assert ok(ip, "1 + 1") == 2
    ok(ip, step(tmp_path, "--transient lock,gen,handle,sock,stubborn"))
    task = Flow("demo", store=open_store()).latest_run["start"].task
    assert task.status == "done"
    assert sorted(task.artifacts) == ["big"]
    assert int(task.data.big.sum()) == int(np.arange(50_000).sum())


@pytest.mark.parametrize("executor", ["kernel", "processes"])
def test_a_scheduled_run_names_each_value_and_commits_nothing(
    ip: InteractiveShell, tmp_path: Path, executor: str
) -> None:
    fails(ip, step(tmp_path))  # the cell registers the step (and fails, as above)
    error = fails(ip, f"%flow run --executor {executor} --workers 1")
    check_message(error)
    run = Flow("demo", store=open_store()).latest_run
    assert run.status == "failed"
    assert [t.status for t in run["start"].tasks()] == ["failed"]
    assert rows(tmp_path, "SELECT name FROM artifacts WHERE kind = 'output'") == []
    blobs = tmp_path / "store" / "blobs"
    assert [p.name for p in blobs.rglob("*") if p.is_file()] == []  # no blob, no temp file

    assert ok(ip, "1 + 1") == 2
    fixed = step(tmp_path, "--transient lock,gen,handle,sock,stubborn")
    ok(ip, fixed)
    run = ok(ip, f"%flow run --executor {executor} --workers 1")
    assert run.status == "done"
    assert sorted(run["start"].task.artifacts) == ["big"]
