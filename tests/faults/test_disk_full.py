"""Disk full: a real, small tmpfs as the datastore, filled up while a flow runs through
`%flow run` (IPython's shell with nbflow loaded, in a child process with a mount namespace of
its own, so the mount disappears with it).

The error names the step, the artifact and the fix; nothing is stored under a final name that is
not a whole blob; no record points at a missing blob; the task is recorded failed, not left
running; the metadata database passes `PRAGMA integrity_check`; the kernel stays usable; once
space is freed the same `%flow run` works. Two ways to run out: a large value (the space is
reserved up front and refused before a byte is written) and a value that fills the disk mid-way.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from needs import missing

REPO = Path(__file__).resolve().parents[2]
MOUNT_SIZE = "16m"

SCENARIO = r"""
import json, os, sqlite3, sys
from pathlib import Path
sys.path.insert(0, os.path.join(sys.argv[2], "tests"))
from IPython.core.interactiveshell import InteractiveShell
from magics.magictools import ok, fails
from nbflow.store.blobs import encode
from nbflow.kernel.magics import load_ipython_extension

mount, size = Path(sys.argv[1]), int(sys.argv[3])
store = mount / "store"
os.environ["NBFLOW_DATASTORE"] = str(store)
os.environ["NBFLOW_CACHE"] = "off"
ip = InteractiveShell.instance()
load_ipython_extension(ip)
ok(ip, "%flow name full")
ok(ip, "%%params\nfill = 3")
ok(ip, "%%step start\nimport numpy as np\nsmall = 3")
ok(ip, "%%step train --after start\nimport numpy as np\n"
       f"big = np.random.default_rng(fill).random({size // 8})")  # random: stored raw, full size

# Fill the disk, leaving 512 KiB: room for SQLite's pages, not for `big`.
filler = mount / "filler"
free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
with open(filler, "wb") as f:
    f.write(b"\0" * max(free - (512 << 10), 0))

def state():
    blobs = store / "blobs"
    files = [p for p in blobs.rglob("*") if p.is_file()]
    with sqlite3.connect(store / "metadata.sqlite") as db:
        keys = [k for (k,) in db.execute(
            "SELECT a.key FROM artifacts a JOIN objects o ON o.key = a.key "
            "WHERE o.inline IS NULL")]
        tasks = db.execute("SELECT run_id, step, status FROM tasks ORDER BY task_id").fetchall()
        runs = db.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall()
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    from nbflow.store.blobs.serialize import key_of
    return {
        "temp_files": [p.name for p in files if p.name.startswith(".tmp-")],
        "bad_blobs": [p.name for p in files if not p.name.startswith(".")
                      and key_of(p.read_bytes()) != p.parent.name + p.name],
        "dangling": [k for k in keys if not (blobs / k[:2] / k[2:]).exists()],
        "tasks": tasks, "runs": runs, "integrity": integrity,
        "big_key": encode(__import__("numpy").random.default_rng(5).random(size // 8)).key,
        "blob_names": sorted(p.parent.name + p.name for p in files),
    }

error = fails(ip, "%flow run -p fill=5")  # a new value: it must be written
report = {"error": f"{type(error).__name__}: {error}", "after_error": state()}
report["usable"] = ok(ip, "40 + 2")
filler.unlink()
run = ok(ip, "%flow run -p fill=5")
report["rerun"] = run.status
report["loaded"] = run["train"].task["big"].sha == report["after_error"]["big_key"]
report["after_rerun"] = state()
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def can_mount(tmp_path_factory: pytest.TempPathFactory) -> None:
    if shutil.which("unshare") is None:
        missing("needs unshare(1) (util-linux)")
    probe = tmp_path_factory.mktemp("probe")
    done = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {probe}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        missing(f"cannot mount a tmpfs in a private mount namespace here: {done.stderr.strip()}")


def run_on_a_small_disk(
    tmp_path: Path, value_size: int, scenario: str = SCENARIO
) -> dict[str, Any]:
    mount = tmp_path / "small"
    mount.mkdir()
    script = tmp_path / "scenario.py"
    script.write_text(scenario)
    shell = (
        f"mount -t tmpfs -o size={MOUNT_SIZE} tmpfs {mount} || exit 99; "
        f'exec "$0" "$1" {mount} {REPO} {value_size}'
    )
    done = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", shell, sys.executable, str(script)],
        capture_output=True, text=True, check=False, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "value_size",
    [
        pytest.param(4 << 20, id="reserved-up-front"),  # over 1 MiB: posix_fallocate refuses
        pytest.param(900 << 10, id="full-mid-write"),  # under: the writes fill the disk
    ],
)
def test_full_disk_fails_cleanly_and_the_next_run_works(
    can_mount: None, tmp_path: Path, value_size: int
) -> None:
    report = run_on_a_small_disk(tmp_path, value_size)
    after = report["after_error"]
    error = report["error"]

    # Named: the error, the step, the artifact, the cause and the fix.
    assert error.startswith("ArtifactWriteError: step 'train': cannot store 'big'"), error
    assert "no space left on device" in error
    assert "Fix: free space there, or set NBFLOW_DATASTORE" in error
    # Nothing half-visible, nothing pointing at nothing.
    assert after["temp_files"] == [] and after["bad_blobs"] == [] and after["dangling"] == []
    assert after["big_key"] not in after["blob_names"]
    assert after["integrity"] == "ok"
    assert after["runs"][-1] == [2, "failed"]
    assert after["tasks"][-2:] == [[2, "start", "done"], [2, "train", "failed"]]

    # The kernel stays usable, and once space is free the same run works.
    assert report["usable"] == 42
    assert report["rerun"] == "done"
    assert report["loaded"] is True  # the value of fill=5, stored under its key
    again = report["after_rerun"]
    assert again["big_key"] in again["blob_names"]
    assert again["temp_files"] == [] and again["bad_blobs"] == [] and again["dangling"] == []
    assert again["integrity"] == "ok"


# -- the metadata database's disk fills ---------------------------------------------------------

METADATA_SCENARIO = r"""
import json, os, sqlite3, sys
from pathlib import Path
sys.path.insert(0, os.path.join(sys.argv[2], "tests"))
from IPython.core.interactiveshell import InteractiveShell
from magics.magictools import ok, fails
from nbflow.store.fsck import check
from nbflow.kernel.magics import load_ipython_extension
from nbflow.store.stores import open_store

mount = Path(sys.argv[1])
store = mount / "store"
os.environ["NBFLOW_DATASTORE"] = str(store)
os.environ["NBFLOW_CACHE"] = "off"
ip = InteractiveShell.instance()
load_ipython_extension(ip)
ok(ip, "%flow name full")
ok(ip, "%%params\nfill = 0")
ok(ip, "%%step start\nsmall = 3")
# The step fills the disk to the last byte; its values are small (kept in the database, no
# blob): recording the task is the first write that finds no space.
ok(ip, "%%step train --after start\n"
       "if fill:\n"
       f"    with open({str(mount / 'filler')!r}, 'wb') as _filler:\n"
       "        try:\n"
       "            while True:\n"
       "                _filler.write(b'0' * 4096)\n"
       "                _filler.flush()\n"
       "        except OSError:\n"
       "            pass\n"
       "notes = 'n' * 3000")

def state():
    with sqlite3.connect(store / "metadata.sqlite") as db:
        return {
            "runs": db.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall(),
            "tasks": db.execute(
                "SELECT run_id, step, status FROM tasks ORDER BY task_id").fetchall(),
            "integrity": db.execute("PRAGMA integrity_check").fetchone()[0],
        }

error = fails(ip, "%flow run -p fill=1")
report = {"error": f"{type(error).__name__}: {error}"}
report["usable"] = ok(ip, "40 + 2")
(mount / "filler").unlink()
report["freed"] = state()  # as the kernel left it, before it writes again
run = ok(ip, "%flow run -p fill=0")
report["rerun"] = run.status
report["after_rerun"] = state()
report["fsck"] = [p.kind for p in check(open_store()).problems]
print(json.dumps(report))
"""


def test_a_full_disk_under_the_metadata_database_is_named_and_leaves_no_task_running(
    can_mount: None, tmp_path: Path
) -> None:
    report = run_on_a_small_disk(tmp_path, 0, METADATA_SCENARIO)
    error = report["error"]
    assert error.startswith("DatastoreError: cannot write to the metadata database "), error
    assert "metadata.sqlite: database or disk is full" in error
    assert "has no space left" in error and "Fix: free space there" in error
    assert "no transaction is active" not in error
    assert report["usable"] == 42

    # As the kernel left it: nothing could be written, so run 2 is still open...
    freed = report["freed"]
    assert freed["integrity"] == "ok"
    assert freed["runs"] == [[1, "done"], [2, "running"]]
    # ...until its next write: then it is failed, with no task left running.
    after = report["after_rerun"]
    assert report["rerun"] == "done"
    assert after["runs"] == [[1, "done"], [2, "failed"], [3, "done"]]
    assert ["running"] not in [t[2:] for t in after["tasks"]]
    run_2 = [t for t in after["tasks"] if t[0] == 2]
    assert run_2 == [[2, "start", "done"], [2, "train", "failed"]]
    assert after["integrity"] == "ok"
    assert report["fsck"] == []
