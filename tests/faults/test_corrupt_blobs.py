"""A corrupt blob (a flipped byte, a truncated file, another valid blob swapped in) is caught
before anything is unpickled, and the error names the artifact (flow/run/step/task and the
variable), on every path a user loads through: the client (`run.data.x`), `%flow load`, and a
resumed run that reads it as an input. The swapped-in blob is a "bomb" (its unpickling creates
a marker file), so a load that decoded first would show. The fix the message gives works.

Runs in IPython's in-process shell with nbflow loaded, on a real folder datastore.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magics.magictools import fails, ok

from nbflow import Flow
from nbflow.exceptions import DamagedArtifact, StepFailed
from nbflow.kernel.magics import load_ipython_extension
from nbflow.store.blobs import encode
from nbflow.store.stores import open_store

HELPERS = """\
import os
GATE = @GATE@
class Bomb:
    def __init__(self, marker):
        self.marker = marker
    def __reduce__(self):
        return (exec, (f"import pathlib; pathlib.Path({self.marker!r}).touch()",))
"""
STEPS = (
    "%%step start\nimport numpy as np\nbig = np.arange(20_000)",
    "%%step train --after start\nif os.path.exists(GATE): raise RuntimeError('gate closed')\n"
    "model = big * 2",
)
DAMAGES = ("flip", "truncate", "swap")


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("NBFLOW_DATASTORE", str(tmp_path / "store"))
    monkeypatch.setenv("NBFLOW_CACHE", "off")
    for name in ("NBFLOW_EXECUTOR", "NBFLOW_METADATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    restart(shell, tmp_path)
    for step in STEPS:
        ok(shell, step)
    yield shell


def restart(shell: InteractiveShell, tmp_path: Path) -> None:
    """A fresh session, as after a kernel restart: nothing is held in memory any more."""
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    ok(shell, "%flow name demo")
    ok(shell, HELPERS.replace("@GATE@", repr(str(tmp_path / "gate"))))


def blob_of(tmp_path: Path, name: str) -> tuple[Path, int]:
    """The blob file of artifact `name` of run 1, and the task that produced it."""
    with sqlite3.connect(tmp_path / "store" / "metadata.sqlite") as db:
        key, task_id = db.execute(
            "SELECT a.key, a.task_id FROM artifacts a JOIN tasks t ON t.task_id = a.task_id "
            "WHERE t.run_id = 1 AND a.name = ? AND a.kind = 'output'",
            (name,),
        ).fetchone()
    return tmp_path / "store" / "blobs" / key[:2] / key[2:], int(task_id)


def damage(blob: Path, how: str, marker: Path) -> None:
    data = bytearray(blob.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0x10
    elif how == "truncate":
        data = data[: len(data) // 3]
    else:  # a valid blob of another value, whose unpickling would leave the marker
        shell = InteractiveShell.instance()
        bomb = shell.ev(f"Bomb({str(marker)!r})")
        data = bytearray(b"".join(bytes(c) for c in encode(bomb).chunks))
    blob.write_bytes(data)


def expect_named(error: BaseException, where: str, marker: Path) -> None:
    assert isinstance(error, DamagedArtifact), repr(error)
    message = str(error)
    assert where in message, message
    assert "damaged" in message and "re-run the step that produced it" in message
    assert "nbflow fsck" in message
    assert not marker.exists()  # nothing was unpickled


@pytest.mark.parametrize("how", DAMAGES)
def test_client_names_the_artifact(ip: InteractiveShell, tmp_path: Path, how: str) -> None:
    ok(ip, "%flow run")  # run 1... is the cell-by-cell run; this is run 2, sharing the blob
    blob, task_id = blob_of(tmp_path, "big")
    damage(blob, how, tmp_path / "marker")
    task = Flow("demo", store=open_store()).latest_run["start"].task
    with pytest.raises(DamagedArtifact) as caught:
        _ = task.data.big
    expect_named(caught.value, f"'big' of {task.pathspec}", tmp_path / "marker")
    assert f"'big' of demo/1/start/{task_id}" in str(caught.value)  # the task that wrote it


@pytest.mark.parametrize("how", DAMAGES)
def test_flow_load_names_the_artifact(ip: InteractiveShell, tmp_path: Path, how: str) -> None:
    blob, task_id = blob_of(tmp_path, "big")
    damage(blob, how, tmp_path / "marker")
    restart(ip, tmp_path)
    error = fails(ip, "%flow load 1/train")
    expect_named(error, "'big' (as task demo/1/train/", tmp_path / "marker")
    assert f"'big' of demo/1/start/{task_id}" in str(error)
    ok(ip, "x = 1")  # the kernel stays usable


@pytest.mark.parametrize("how", DAMAGES)
def test_resume_names_the_input_it_cannot_load(
    ip: InteractiveShell, tmp_path: Path, how: str
) -> None:
    (tmp_path / "gate").touch()
    assert isinstance(fails(ip, "%flow run"), StepFailed)  # run 2: start done, train failed
    (tmp_path / "gate").unlink()
    with sqlite3.connect(tmp_path / "store" / "metadata.sqlite") as db:
        (start,) = db.execute(
            "SELECT task_id FROM tasks WHERE run_id = 2 AND step = 'start'"
        ).fetchone()
    blob, _ = blob_of(tmp_path, "big")
    damage(blob, how, tmp_path / "marker")
    error = fails(ip, "%flow resume 2")
    expect_named(error, f"'big' of demo/2/start/{start}", tmp_path / "marker")
    resumed = Flow("demo", store=open_store()).latest_run
    assert resumed.status == "failed"
    assert [t.status for t in resumed["train"].tasks()] == ["failed"]  # not left running

    # The fix the message gives: delete the damaged blob, re-run the step that produced it.
    os.unlink(blob)
    run = ok(ip, "%flow resume 2 --from start")
    assert run.status == "done"
    assert list(run["train"].task.data.model[:3]) == [0, 2, 4]
    assert not (tmp_path / "marker").exists()
