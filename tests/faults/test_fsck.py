"""`nbflow fsck [--repair]` on real stores: made by real runs (IPython's shell with nbflow
loaded), damaged behind nbflow's back the ways disks, people and crashes damage them, then
checked with the real command in a subprocess.

Each damage must be found, named by flow/run/step/task and artifact, with its fix; the check
itself changes nothing; --repair removes only old temp files, never a blob.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magics.magictools import ok
from pgserver import postgres_server, postgres_url  # noqa: F401 (fixtures)
from s3server import S3Server

from nbflow import Flow
from nbflow.kernel.magics import load_ipython_extension
from nbflow.store.blobs import FsspecBlobStore, encode
from nbflow.store.stores import open_store

STEPS = (
    "%%step start\nimport numpy as np\nbig = np.arange(20_000)\nsmall = 7",
    "%%step train --after start\nmodel = big * 2\nscore = float(model.sum())",
)
HOUR = 3600


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A datastore with two runs of a two-step flow: blobs (big, model) and inline values."""
    root = tmp_path / "store"
    monkeypatch.setenv("NBFLOW_DATASTORE", str(root))
    monkeypatch.setenv("NBFLOW_CACHE", "off")
    monkeypatch.chdir(tmp_path)
    make_runs(runs=2)
    return root


def make_runs(runs: int) -> None:
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    ok(shell, "%flow name demo")
    for step in STEPS:
        ok(shell, step)  # run 1, cell by cell
    for _ in range(runs - 1):
        ok(shell, "%flow run")


def fsck(store: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, Any, str]:
    """Run `nbflow fsck --json`: (exit status, the JSON report, stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "fsck", "--json", *args],
        env={**os.environ, "NBFLOW_DATASTORE": str(store), **(env or {})},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    report = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, report, done.stderr


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file's bytes; the metadata database as its rows (a checkpoint moves its bytes)."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("metadata.sqlite"):
            files[str(path.relative_to(root))] = path.read_bytes()
    if (root / "metadata.sqlite").exists():
        with sqlite3.connect(root / "metadata.sqlite") as db:
            files["metadata.sqlite"] = "\n".join(db.iterdump()).encode()
    return files


def artifact_blob(store: Path, step: str, name: str, run_id: int = 1) -> Path:
    """The blob file of one artifact, found through the metadata database."""
    with sqlite3.connect(store / "metadata.sqlite") as db:
        (key,) = db.execute(
            "SELECT a.key FROM artifacts a JOIN tasks t ON t.task_id = a.task_id "
            "WHERE t.run_id = ? AND t.step = ? AND a.name = ? AND a.kind = 'output'",
            (run_id, step, name),
        ).fetchone()
    return store / "blobs" / key[:2] / key[2:]


def task_id(store: Path, step: str, run_id: int = 1) -> int:
    with sqlite3.connect(store / "metadata.sqlite") as db:
        row = db.execute(
            "SELECT task_id FROM tasks WHERE run_id = ? AND step = ?", (run_id, step)
        ).fetchone()
    return int(row[0])


def problems_by_kind(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for problem in report["problems"]:
        found.setdefault(problem["kind"], []).append(problem)
    return found


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


# -- a sound store -----------------------------------------------------------------------------


def test_a_sound_store_passes_and_is_left_unchanged(store: Path) -> None:
    before = snapshot(store / "blobs")
    status, report, _ = fsck(store)
    assert status == 0, report
    assert report["ok"] is True and report["problems"] == []
    checked = report["checked"]
    # Two runs x (big, small, model, score, and the inherited rows); the values are shared.
    assert checked["blobs"] == 2 and checked["hashed"] is True
    assert checked["inline"] >= 2 and checked["tasks"] == 4 and checked["records"] >= 8
    assert report["orphan_blobs"] == [] and report["temp_files"] == []
    assert snapshot(store / "blobs") == before


# -- damage is found and named --------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["flip", "truncate", "swap", "delete"])
def test_a_damaged_blob_is_named_with_its_artifacts_and_the_fix(store: Path, damage: str) -> None:
    blob = artifact_blob(store, "start", "big")
    data = bytearray(blob.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
        blob.write_bytes(data)
    elif damage == "truncate":
        blob.write_bytes(data[:-100])
    elif damage == "swap":  # another valid blob (model = big * 2: the same size) in its place
        blob.write_bytes(artifact_blob(store, "train", "model").read_bytes())
    else:
        blob.unlink()
    before = snapshot(store)

    status, report, _ = fsck(store)

    assert status == 1
    (problem,) = report["problems"]
    # A compressed blob's size is its header's: a cut one is found by its hash, not its size.
    cut = "damaged-blob" if data[:4] == b"NBZ1" else "wrong-size"
    expected_kind = {"truncate": cut, "delete": "missing-blob"}.get(damage, "damaged-blob")
    assert problem["kind"] == expected_kind
    key = blob.parent.name + blob.name
    assert problem["key"] == key
    start1, start2 = task_id(store, "start", 1), task_id(store, "start", 2)
    # Both runs' records of `big` (run 2 stored the same bytes), and the train tasks that
    # inherited it, are named: flow/run/step/task and the artifact's name.
    assert f"'big' of demo/1/start/{start1}" in problem["artifacts"]
    assert f"'big' of demo/2/start/{start2}" in problem["artifacts"]
    assert f"'big' of demo/1/start/{start1}" in problem["message"]
    assert "re-run step 'start' of run demo/1" in problem["fix"].lower()
    if damage != "delete":  # a re-run keeps a blob that exists: the damaged file must go first
        assert f"Delete {blob}" in problem["fix"]
    assert snapshot(store) == before  # checking changes nothing


def test_quick_mode_finds_missing_and_resized_blobs_without_reading_them(store: Path) -> None:
    artifact_blob(store, "train", "model").unlink()
    flipped = artifact_blob(store, "start", "big")
    data = bytearray(flipped.read_bytes())
    data[-1] ^= 0xFF
    flipped.write_bytes(data)  # same size: only a hash would see it

    status, report, _ = fsck(store, "--quick")

    assert status == 1
    assert [p["kind"] for p in report["problems"]] == ["missing-blob"]
    assert "'model' of demo/1/train/" in report["problems"][0]["message"]
    assert report["checked"]["hashed"] is False


def test_damaged_inline_bytes_in_the_database_are_found(store: Path) -> None:
    with sqlite3.connect(store / "metadata.sqlite") as db:
        key, inline = db.execute(
            "SELECT o.key, o.inline FROM objects o JOIN artifacts a ON a.key = o.key "
            "WHERE a.name = 'score' LIMIT 1"
        ).fetchone()
        db.execute("UPDATE objects SET inline = ? WHERE key = ?", (inline[:-1] + b"\0", key))

    status, report, _ = fsck(store)

    assert status == 1
    (problem,) = report["problems"]
    assert problem["kind"] == "damaged-inline" and problem["key"] == key
    assert "'score' of demo/1/train/" in problem["message"]
    assert "backup" in problem["fix"]


def test_lost_records_and_broken_task_links_are_found(store: Path) -> None:
    start = task_id(store, "start", 1)
    with sqlite3.connect(store / "metadata.sqlite") as db:
        db.execute("DELETE FROM tasks WHERE task_id = ?", (start,))  # train of run 1 reads it
        db.execute(
            "DELETE FROM objects WHERE key IN (SELECT key FROM artifacts WHERE name = 'score')"
        )

    status, report, _ = fsck(store)

    assert status == 1
    kinds = problems_by_kind(report)
    (link,) = kinds["broken-link"]
    assert f"reads task(s) {start}" in link["message"] and "demo/1" in link["message"]
    assert any(f"task(s) {start}" in p["message"] for p in kinds["missing-task"])
    (lost,) = kinds["missing-object"]
    assert "'score' of demo/" in lost["message"]
    assert "Re-run step 'train'" in lost["fix"]


# -- orphans, temp files and --repair -------------------------------------------------------------


def test_repair_removes_old_temp_files_only_and_never_a_blob(store: Path) -> None:
    blobs = store / "blobs"
    orphan = encode("x" * 10_000)  # a valid blob no record names: what a crashed writer leaves
    orphan_file = blobs / orphan.key[:2] / orphan.key[2:]
    orphan_file.parent.mkdir(exist_ok=True)
    orphan_file.write_bytes(b"".join(bytes(c) for c in orphan.chunks))
    age(orphan_file, 2 * HOUR)
    old_temp = blobs / orphan.key[:2] / ".tmp-4242-deadbeef"
    old_temp.write_bytes(b"half a blob")
    age(old_temp, 2 * HOUR)
    young_temp = blobs / orphan.key[:2] / ".tmp-4243-cafe"  # a writer busy right now
    young_temp.write_bytes(b"being written")
    damaged = artifact_blob(store, "train", "model")
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"?")

    status, report, _ = fsck(store)
    assert status == 1  # the damaged blob; orphans alone are not problems
    assert [e["name"] for e in report["orphan_blobs"]] == [orphan.key]
    assert [e["name"] for e in report["temp_files"]] == [f"{orphan.key[:2]}/.tmp-4242-deadbeef"]
    assert old_temp.exists()  # listed, not removed, without --repair

    kept = {p: b for p, b in snapshot(blobs).items() if ".tmp-4242" not in p}
    status, report, _ = fsck(store, "--repair")

    assert status == 1
    repaired = report["repaired"]
    assert repaired["temp_files"] == [f"{orphan.key[:2]}/.tmp-4242-deadbeef"]
    assert not old_temp.exists()
    assert snapshot(blobs) == kept  # every blob (orphan and damaged too) and the young temp


def test_repair_marks_a_dead_run_failed_and_keeps_its_finished_tasks(store: Path) -> None:
    # Run 2's kernel died two hours ago: its run row still says running, its last beat is old,
    # and its process is gone.
    stale = time.time() - 2 * HOUR
    gone = subprocess.Popen(["true"])
    gone.wait()
    with sqlite3.connect(store / "metadata.sqlite") as db:
        db.execute(
            "UPDATE runs SET status = 'running', finished_at = NULL, started_at = ?, "
            "heartbeat = ?, pid = ? WHERE run_id = 2",
            (stale, stale, gone.pid),
        )
    status, report, _ = fsck(store)
    assert status == 0 and report["running_runs"] == ["demo/2"]  # listed, not a problem

    status, report, _ = fsck(store, "--repair")

    assert status == 0
    assert report["repaired"]["dead_runs"] == ["demo/2"]
    with sqlite3.connect(store / "metadata.sqlite") as db:
        assert db.execute("SELECT status FROM runs WHERE run_id = 2").fetchone() == ("failed",)
        statuses = db.execute("SELECT status FROM tasks WHERE run_id = 2").fetchall()
    assert statuses == [("done",), ("done",)]  # what finished stays finished
    status, report, _ = fsck(store, "--repair")
    assert report["repaired"]["dead_runs"] == [] and report["running_runs"] == []


def test_a_task_left_running_in_an_ended_run_is_reported_and_repair_fails_it(
    store: Path,
) -> None:
    # What a full disk used to leave: run 2 marked failed, its task `train` still running.
    with sqlite3.connect(store / "metadata.sqlite") as db:
        db.execute("UPDATE runs SET status = 'failed' WHERE run_id = 2")
        db.execute("UPDATE tasks SET status = 'running' WHERE run_id = 2 AND step = 'train'")
        (task_id,) = db.execute(
            "SELECT task_id FROM tasks WHERE run_id = 2 AND step = 'train'"
        ).fetchone()
    status, report, _ = fsck(store)
    assert status == 1
    (problem,) = report["problems"]
    assert problem["kind"] == "running-task" and problem["key"] == "demo/2"
    assert (
        f"run demo/2 has ended, but its task(s) train/{task_id} are still marked running"
        in (problem["message"])
    )
    assert "nbflow fsck --repair" in problem["fix"]

    status, report, _ = fsck(store, "--repair")
    assert status == 0 and report["problems"] == []
    assert report["repaired"]["lost_tasks"] == [f"demo/2/{task_id}"]
    with sqlite3.connect(store / "metadata.sqlite") as db:
        assert db.execute("SELECT status FROM tasks WHERE task_id = ?", (task_id,)).fetchone() == (
            "failed",
        )
    status, report, _ = fsck(store)
    assert status == 0 and report["problems"] == []


def test_repair_with_nothing_to_do_is_clean(store: Path) -> None:
    status, report, _ = fsck(store, "--repair")
    assert status == 0
    assert report["repaired"]["temp_files"] == []


def test_text_report_names_problem_and_fix(store: Path) -> None:
    artifact_blob(store, "start", "big").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "fsck"],
        env={**os.environ, "NBFLOW_DATASTORE": str(store)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "missing-blob: artifact 'big' of demo/" in done.stdout
    assert "  fix: Re-run step 'start' of run demo/1" in done.stdout
    assert done.stdout.rstrip().endswith("1 problem(s) found")


def test_a_datastore_that_cannot_be_opened_exits_2(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    status, report, stderr = fsck(blocked)
    assert status == 2 and report is None
    assert "cannot check the datastore" in stderr and str(blocked) in stderr


def test_help_says_what_is_checked_what_repair_changes_and_the_exit_codes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "fsck", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    text = " ".join(done.stdout.split())
    assert "hash to its key" in text and "without unpickling" in text
    assert "--repair removes those old temp files" in text
    assert "never deletes or changes a blob" in text
    assert "0 no problems" in text and "1 problems found" in text and "2 the datastore" in text


# -- an object store -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


def test_object_store_is_checked_past_the_read_cache(
    s3: S3Server,
    postgres_url: str,  # noqa: F811 (a fixture)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The team's setup: blobs on S3, metadata in PostgreSQL."""
    bucket = "fsck-checks"
    client = s3.client()
    client.create_bucket(Bucket=bucket)
    env = {
        "NBFLOW_DATASTORE": f"s3://{bucket}/store",
        "NBFLOW_METADATA": postgres_url,
        "NBFLOW_STORAGE_OPTIONS": json.dumps(s3.storage_options()),
        "NBFLOW_CACHE_DIR": str(tmp_path / "read-cache"),
        "NBFLOW_CACHE": "off",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    make_runs(runs=1)
    key = Flow("demo", store=open_store()).latest_run["start"].task.artifacts["big"].key
    blobs = FsspecBlobStore(env["NBFLOW_DATASTORE"], s3.storage_options(),
                            cache_dir=tmp_path / "read-cache")  # fmt: skip
    blobs.get(key)  # a good copy is now in this machine's read cache
    body = client.get_object(Bucket=bucket, Key=f"store/blobs/{key[:2]}/{key[2:]}")["Body"]
    data = bytearray(body.read())
    data[100] ^= 0x01
    client.put_object(Bucket=bucket, Key=f"store/blobs/{key[:2]}/{key[2:]}", Body=bytes(data))
    upload = client.create_multipart_upload(Bucket=bucket, Key="store/blobs/ab/cdef0123")

    status, report, _ = fsck(Path("unused"), "--grace", "0", env=env)

    assert status == 1
    (problem,) = report["problems"]
    assert problem["kind"] == "damaged-blob" and problem["key"] == key
    assert "'big' of demo/1/start/" in problem["message"]
    assert f"Delete s3://{bucket}/store/blobs/{key[:2]}/{key[2:]}" in problem["fix"]
    assert [e["name"] for e in report["temp_files"]] == [f"ab/cdef0123?upload={upload['UploadId']}"]

    status, report, _ = fsck(Path("unused"), "--grace", "0", "--repair", env=env)
    assert report["repaired"]["temp_files"] == [f"ab/cdef0123?upload={upload['UploadId']}"]
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    listing = client.list_objects_v2(Bucket=bucket, Prefix="store/blobs/")["Contents"]
    assert any(item["Key"].endswith(key[2:]) for item in listing)  # the damaged blob stays
