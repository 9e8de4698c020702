"""A datastore this user cannot write (a colleague's, a mounted archive) is browsed and loaded;
writing to it is one clear error; nothing is written there, not even SQLite's -wal and -shm.

For real: a store made by `nbflow run`, then given to another user (nobody) and made read-only
(chmod -R a-w). The checks run in a user namespace (`unshare -Ur`): root there has no power
over files of a user the namespace does not map, so the permissions hold even when the tests
run as root. The store's owner being another user, the foreign-store warning fires on load.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from faulttools import nbflow_cli, write_notebook
from kerneltools import kernel_env
from needs import missing

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[2]

SCENARIO = r"""
import json, os, subprocess, sys, warnings
from pathlib import Path
sys.path.insert(0, os.path.join(sys.argv[2], "tests"))
store = Path(sys.argv[1])
os.environ["NBFLOW_DATASTORE"] = str(store)
report = {"writable": os.access(store, os.W_OK)}

def cli(*args):
    done = subprocess.run([sys.executable, "-m", "nbflow.cli", *args], capture_output=True,
                          text=True)
    return {"code": done.returncode, "out": done.stdout, "err": done.stderr}

report["runs"] = cli("runs", "archive", "--json")
report["show"] = cli("show", "archive/1", "--json")

from nbflow import Flow
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    run = Flow("archive").latest_run
    report["status"] = run.status
    report["big_sum"] = int(run["train"].task.data.big.sum())  # a blob
    report["small"] = run.data.small  # kept in the metadata database
report["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]

from IPython.core.interactiveshell import InteractiveShell
from magics.magictools import fails
from nbflow.kernel.magics import load_ipython_extension
ip = InteractiveShell.instance()
load_ipython_extension(ip)
ip.run_cell("%flow name archive")
error = fails(ip, "%%step start\nx = 1")
report["write_error"] = f"{type(error).__name__}: {error}"
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def can_unshare() -> None:
    if shutil.which("unshare") is None:
        missing("needs unshare(1) (util-linux)")
    done = subprocess.run(["unshare", "-Ur", "true"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        missing(f"cannot make a user namespace here: {done.stderr.strip()}")
    if os.geteuid() != 0:
        missing("needs root, to give the store to another user (chown)")


def read_only_store(tmp_path: Path) -> Path:
    """A store with one run of flow `archive`, owned by nobody, read-only for everyone."""
    notebook = write_notebook(
        tmp_path / "archive.ipynb",
        [
            "%load_ext nbflow",
            "%%step start\nsmall = 7",
            "%%step train --after start\nimport numpy as np\nbig = np.arange(100_000)",
        ],
    )
    store = tmp_path / "store"
    made = nbflow_cli(["run", str(notebook)], kernel_env(store), tmp_path)
    assert made.returncode == 0, made.stderr
    subprocess.run(["chown", "-R", "nobody", str(store)], check=True)
    subprocess.run(["chmod", "-R", "a-w,a+rX", str(store)], check=True)
    return store


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def in_user_namespace(store: Path, tmp_path: Path) -> dict[str, Any]:
    script = tmp_path / "scenario.py"
    script.write_text(SCENARIO)
    env = {**kernel_env(store), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        ["unshare", "-Ur", sys.executable, str(script), str(store), str(REPO)],
        capture_output=True, text=True, check=False, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_read_only_store_is_browsed_and_loaded_and_refuses_writes(
    can_unshare: None, tmp_path: Path
) -> None:
    store = read_only_store(tmp_path)
    before = files(store)
    report = in_user_namespace(store, tmp_path)
    assert report["writable"] is False  # really read-only, for the process that reads it

    assert report["runs"]["code"] == 0, report["runs"]["err"]
    (listed,) = json.loads(report["runs"]["out"])
    assert (listed["id"], listed["status"]) == ("archive/1", "done")
    assert report["show"]["code"] == 0, report["show"]["err"]
    assert [s["name"] for s in json.loads(report["show"]["out"])["steps"]] == ["start", "train"]

    assert report["status"] == "done"
    assert report["big_sum"] == int(np.arange(100_000).sum()) and report["small"] == 7
    (warning,) = report["warnings"]  # a colleague's store: unpickling it runs their code
    assert warning.startswith("UntrustedStoreWarning: the datastore ") and "nobody" in warning

    error = report["write_error"]
    assert error.startswith("DatastoreError: the datastore "), error
    assert "is read-only" in error and "browses and loads from it" in error
    assert "Fix: set NBFLOW_DATASTORE to a writable folder" in error
    assert files(store) == before  # nothing written: no -wal, no -shm, no probe file
