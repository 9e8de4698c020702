"""Nothing lost to a racing gc, and nothing taken over that is not there.

- `nbflow gc` racing a run that stores a value equal to an old unreferenced blob: the blob is
  refreshed while gc lists, and must survive (before: deleted 3 of 3 tries).
- Resume takes tasks over by element, not by position: a foreach over a set of strings, whose
  order differs in each process (before: two elements twice, two missing).
- A result whose blob was deleted (as `fsck` advises for a damaged one) is computed again by
  the cache and by resume (before: `cached`, then "missing").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from faulttools import fault_env, nbflow_cli, write_notebook
from IPython.core.interactiveshell import InteractiveShell
from magics.magictools import fails, flow_shell, ok

from nbflow import Flow
from nbflow.config import Config
from nbflow.store.gc import sweep
from nbflow.store.stores import open_store

HOUR = 3600


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """A notebook's kernel: the cross-run cache on."""
    yield flow_shell(tmp_path, monkeypatch, "race", cache=True)


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_a_blob_refreshed_after_gc_listed_it_is_kept(tmp_path: Path) -> None:
    store = open_store(Config(datastore=str(tmp_path / "store")))
    value = np.arange(10_000)
    first = store.save(value)
    blob = Path(store.values.blobs.where(first.key).removeprefix("file://"))
    _age(blob, 2 * HOUR)
    cutoff = time.time() - HOUR
    listed = [e for e in store.values.blobs.entries() if e.modified < cutoff]  # gc's listing
    assert [e.name for e in listed] == [first.key]
    again = store.save(value)  # a run binds the same value meanwhile: refreshed, not written
    assert again.key == first.key and again.refreshed
    assert sweep(store.meta, store.values.blobs, listed, cutoff) == []
    assert blob.exists()
    _age(blob, 2 * HOUR)  # unreferenced and old when looked at again: it goes
    assert [e.name for e in sweep(store.meta, store.values.blobs, listed, cutoff)] == [first.key]


def test_a_blob_removed_under_a_save_is_written_again(tmp_path: Path) -> None:
    store = open_store(Config(datastore=str(tmp_path / "store")))
    value = np.arange(10_000)
    stored = store.save(value)
    blobs = store.values.blobs
    original_put = blobs.put

    def put_then_gc_takes_it(key: str, chunks: object) -> bool:
        written = original_put(key, chunks)  # type: ignore[arg-type]
        if not written:
            blobs.delete(key)  # a gc deletes it between this look and the refresh
        return written

    blobs.put = put_then_gc_takes_it  # type: ignore[method-assign]
    again = store.save(value)
    blobs.put = original_put  # type: ignore[method-assign]
    assert again.key == stored.key and not again.refreshed
    assert np.array_equal(store.load(stored.key), value)


def test_gc_racing_a_run_loses_no_blob(ip: InteractiveShell, tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = open_store()
    # Old values nothing references (their runs went), among many old blobs; while gc runs,
    # steps bind them again, one after the other: each commit that lands between gc's
    # listing and its delete used to lose its blob.
    olds = 300
    for i in range(olds):
        store.save(np.arange(5_000) + i)
    for i in range(5_000):
        store.save(np.full(600, -i))  # 4.8 KB each: a blob file, not an inline value
    for path in (root / "blobs").rglob("*"):
        if path.is_file():
            _age(path, 2 * HOUR)
    env = fault_env(root)
    gc = subprocess.Popen(
        [sys.executable, "-m", "nbflow.cli", "gc"], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    bound = 0
    while gc.poll() is None and bound < olds:
        ok(ip, f"%%step start\nimport numpy as np\nv = np.arange(5_000) + {bound}")
        bound += 1
    out, err = gc.communicate(timeout=120)
    assert gc.returncode == 0, err
    assert bound >= 3, f"the gc ended before the run could race it: {out}"
    report = nbflow_cli(["fsck", "--json"], env, tmp_path)
    assert report.returncode == 0, report.stdout + report.stderr
    assert json.loads(report.stdout)["problems"] == []
    for run in Flow("race").runs():
        v = run["start"].task.data.v
        assert int(v[0]) == run.run_id - 1 and len(v) == 5_000


def test_a_deleted_result_is_computed_again_not_reused(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nimport numpy as np\nbig = np.arange(20_000)")
    ok(ip, "%%step end --after start\ntotal = int(big.sum())")
    ok(ip, "%flow run")
    first = Flow("race").latest_run
    blob = open_store().values.blobs.where(first["start"].task.artifacts["big"].key)
    Path(blob.removeprefix("file://")).unlink()  # what fsck says to do with a damaged blob
    ok(ip, "%flow run")
    second = Flow("race").latest_run
    assert [t.status for t in second["start"].tasks()] == ["done"]
    assert [t.status for t in second["end"].tasks()] == ["cached"]  # same input: its key
    assert second.data.total == sum(range(20_000))


def test_resume_computes_again_a_result_whose_blob_is_gone(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    gate = tmp_path / "broken"
    gate.write_text("x")
    ok(ip, "%%step start\nimport numpy as np\nbig = np.arange(20_000)")
    fails(ip, f"%%step end --after start\nimport os\nassert not os.path.exists({str(gate)!r})\n"
              "total = int(big.sum())")  # fmt: skip
    ok(ip, "%flow config cache=off")
    assert fails(ip, "%flow run")
    failed = Flow("race").latest_run
    blob = open_store().values.blobs.where(failed["start"].task.artifacts["big"].key)
    Path(blob.removeprefix("file://")).unlink()
    gate.unlink()
    ok(ip, "%flow resume")
    resumed = Flow("race").latest_run
    assert [t.status for t in resumed["start"].tasks()] == ["done"]  # not taken over
    assert resumed.data.total == sum(range(20_000))


SET_NOTEBOOK = [
    "%load_ext nbflow\n%flow name words",
    "%%step start\nwords = {'alpha', 'bravo', 'charlie', 'delta', 'echo', 'golf', 'hotel',"
    " 'fail-me'}",
    "%%step each --after start --foreach words --as word\nimport os\n"
    "if word == 'fail-me' and not os.path.exists('ready'):\n    raise RuntimeError(word)\n"
    "upper = word.upper()",
    "%%step end --after each --join\nseen = sorted(inp.upper for inp in inputs)",
]


@pytest.mark.kernel
def test_resume_takes_tasks_over_by_element_not_position(tmp_path: Path) -> None:
    write_notebook(tmp_path / "words.ipynb", SET_NOTEBOOK)
    env = fault_env(tmp_path / ".nbflow")
    failed = nbflow_cli(["run", "words.ipynb"], env, tmp_path)
    assert failed.returncode != 0
    (tmp_path / "ready").write_text("ok")
    # Another set order in each resuming process; the second resumes the first resumed run.
    for seed, args in (("1", []), ("2", ["--run", "2", "--from", "end"])):
        run_env = {**env, "PYTHONHASHSEED": seed}
        resumed = nbflow_cli(["resume", "words.ipynb", *args], run_env, tmp_path)
        assert resumed.returncode == 0, resumed.stderr
    store = open_store(Config(datastore=str(tmp_path / ".nbflow")))
    words = ["alpha", "bravo", "charlie", "delta", "echo", "fail-me", "golf", "hotel"]
    second, third = Flow("words", store=store).runs()[1::-1]
    for run in (second, third):
        assert run.data.seen == sorted(w.upper() for w in words), run.pathspec
        assert sorted(t.item for t in run["each"].tasks()) == sorted(words), run.pathspec
        assert all(t.data.upper == t.item.upper() for t in run["each"].tasks()), run.pathspec
        assert sorted(t.path for t in run["each"].tasks()) == [(i,) for i in range(8)]
    assert {t.status for t in third["each"].tasks()} == {"cached"}  # all taken over
