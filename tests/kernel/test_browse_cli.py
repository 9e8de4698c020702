"""`nbflow runs`, `show`, `compare` and `gc` as a user calls them: subprocesses on a real store.

The runs are made in this process with IPython's in-process shell (fast); every command runs
as `python -m nbflow.cli ...` with NBFLOW_DATASTORE pointing at that store.
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

from nbflow import Run
from nbflow.kernel.magics import load_ipython_extension
from nbflow.store.blobs import encode
from nbflow.store.stores import Store, open_store

pytestmark = pytest.mark.kernel

BIG = 5000  # characters: above the inline limit, so each of these values is a blob file
HOUR = 3600.0


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Three runs of flow 'demo':

    demo/1  interactive, n=1: start (shared, own='1'*BIG), end (score 0.1, label 'x')
    demo/2  `%flow run -p n=2`: own='2'*BIG, score 0.2
    demo/3  the end cell edited: start taken over from demo/1 (data_from), score 1.1, label 'y'
    """
    root = tmp_path / "store"
    monkeypatch.setenv("NBFLOW_DATASTORE", str(root))
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    for cell in (
        "%flow name demo",
        "%%params\nn = 1",
        f"%%step start\nshared = 'a' * {BIG}\nown = str(n) * {BIG}",
        "%%step end --after start\nscore = n / 10\nlabel = 'x'",
        "%flow run -p n=2",
        "%%step end --after start\nscore = n / 10 + 1\nlabel = 'y'",
    ):
        shell.run_cell(cell).raise_error()
    yield root


def nbflow(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBFLOW_")}
    env["NBFLOW_DATASTORE"] = str(store)
    return subprocess.run(
        [sys.executable, "-m", "nbflow.cli", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def ok(store: Path, *args: str) -> str:
    done = nbflow(store, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def as_json(store: Path, *args: str) -> Any:
    return json.loads(ok(store, *args, "--json"))


def blob_key(text: str) -> str:
    return encode(text).key


def blob_files(store: Path) -> set[str]:
    files = (store / "blobs").glob("*/*")
    return {p.parent.name + p.name for p in files if p.is_file() and p.name[0] != "."}


def age_files(store: Path, seconds: float = 2 * HOUR) -> None:
    then = time.time() - seconds
    for path in (store / "blobs").glob("*/*"):
        os.utime(path, (then, then))


def query(store: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store / "metadata.sqlite") as conn:
        return conn.execute(sql).fetchall()


# -- runs, show, compare ------------------------------------------------------------------------


def test_runs_json_lists_every_run_newest_first_with_the_contract_fields(store: Path) -> None:
    runs = as_json(store, "runs", "demo")
    assert [r["id"] for r in runs] == ["demo/3", "demo/2", "demo/1"]
    assert set(runs[0]) >= {"id", "flow", "status", "started_at", "finished_at", "duration",
                            "params", "tags"}  # fmt: skip
    assert [r["params"] for r in runs] == [{"n": 1}, {"n": 2}, {"n": 1}]
    assert {r["status"] for r in runs} == {"done"}
    first = runs[-1]
    assert first["duration"] == pytest.approx(first["finished_at"] - first["started_at"])
    assert [r["id"] for r in as_json(store, "runs", "--limit", "2")] == ["demo/3", "demo/2"]


def test_runs_prints_a_table(store: Path) -> None:
    lines = ok(store, "runs").splitlines()
    assert lines[0].split() == ["run", "status", "started", "duration", "params", "tags"]
    assert lines[2].split()[:2] == ["demo/2", "done"]
    assert lines[2].rstrip().endswith("n=2")
    assert " ms" in lines[2] or " s" in lines[2]


def test_show_json_is_the_run_with_its_steps_and_tasks(store: Path) -> None:
    shown = as_json(store, "show", "demo/3")
    assert (shown["id"], shown["status"], shown["params"]) == ("demo/3", "done", {"n": 1})
    assert shown["results"] == {"score": 1.1, "label": "y"}
    start, end = shown["steps"]
    assert (start["name"], start["status"], end["status"]) == ("start", "cached", "done")
    assert start["tasks"][0]["data_from"] is not None  # taken over from demo/1
    artifacts = {a["name"]: a for a in end["tasks"][0]["artifacts"]}
    assert artifacts["score"]["preview"]["value"] == 1.1
    assert artifacts["own"]["kind"] == "inherited"
    assert end["duration"] is not None


def test_show_prints_steps_with_status_and_duration(store: Path) -> None:
    text = ok(store, "show", "demo/3")
    assert text.startswith("run demo/3: done")
    assert "params   n=1" in text
    start_row = next(line for line in text.splitlines() if line.startswith("start"))
    assert start_row.split()[:3] == ["start", "cached", "1"]
    assert "results  label='y', score=1.1" in text


def test_compare_json_marks_differing_params_and_changed_artifacts(store: Path) -> None:
    first, second = as_json(store, "compare", "demo/1", "demo/2")
    assert (first["id"], second["id"]) == ("demo/1", "demo/2")
    assert (first["params"], second["params"]) == ({"n": 1}, {"n": 2})
    assert (first["results"]["score"], second["results"]["score"]) == (0.1, 0.2)
    assert first["differs"] == {
        "params": ["n"],
        "results": ["score"],
        "artifacts": ["own", "score"],
    }
    assert second["artifacts"]["own"]["changed"] and not second["artifacts"]["shared"]["changed"]
    assert first["artifacts"]["shared"]["key"] == second["artifacts"]["shared"]["key"]
    assert set(first["step_durations"]) == {"start", "end"}


def test_compare_prints_runs_side_by_side_with_differences_marked(store: Path) -> None:
    text = ok(store, "compare", "demo/1", "demo/3")
    assert text.splitlines()[0].split() == ["demo/1", "demo/3"]
    assert row(text, "score") == ["*", "score", "0.1", "1.1"]
    assert row(text, "label") == ["*", "label", "'x'", "'y'"]
    assert row(text, "n") == ["n", "1", "1"]  # the same in both runs: not marked
    assert row(text, "shared")[0] == "shared"
    assert row(text, "own")[0] == "own"  # demo/3 reuses demo/1's value
    titles = [line for line in text.splitlines() if line[:1].isalpha()]
    assert titles == ["parameters", "results", "artifacts", "step durations"]
    assert text.rstrip().endswith("* differs between the runs")


def row(text: str, name: str) -> list[str]:
    """The words of the table row for `name` (with its * mark, if any)."""
    for line in text.splitlines():
        words = line.split()
        if name in words[:2] and line[:1] in " *":
            return words
    raise AssertionError(f"no row {name!r} in:\n{text}")


# -- gc -----------------------------------------------------------------------------------------


def test_gc_keeps_exactly_what_the_remaining_runs_reference(store: Path) -> None:
    shared, own1, own2 = (blob_key(t) for t in ("a" * BIG, "1" * BIG, "2" * BIG))
    assert blob_files(store) == {shared, own1, own2}
    age_files(store)
    # What gc frees is the bytes on disk: demo/2's own value, compressed (4.9 KB of one letter).
    freed = (store / "blobs" / own2[:2] / own2[2:]).stat().st_size
    out = ok(store, "gc", "--keep-last", "1")
    assert "demo/1, demo/2" in out and f"bytes      {freed} bytes" in out, out
    assert [r["id"] for r in as_json(store, "runs")] == ["demo/3"]
    # demo/2's own value went; the shared one, and demo/1's that demo/3 reuses, stayed.
    assert blob_files(store) == {shared, own1}
    referenced = {k for (k,) in query(store, "SELECT key FROM artifacts")}
    assert {k for (k,) in query(store, "SELECT key FROM objects")} == referenced
    assert {shared, own1} <= referenced and own2 not in referenced
    run = Run("demo/3", store=open_store())  # still complete: its data loads
    assert (run.data.own, run.data.shared, run.data.score) == ("1" * BIG, "a" * BIG, 1.1)
    assert as_json(store, "show", "demo/3")["steps"][0]["tasks"][0]["artifacts"]


def test_gc_by_default_removes_no_run_only_old_unreferenced_files(store: Path) -> None:
    blobs = open_store().values.blobs
    stray, fresh = "0" * 32, "1" * 32
    blobs.put(stray, [b"left by a crashed writer"])
    abandoned = store / "blobs" / "00" / ".tmp-123-abc"
    abandoned.write_bytes(b"a write killed long ago")
    age_files(store)
    blobs.put(fresh, [b"stored, its task not committed yet"])
    writing = store / "blobs" / "00" / ".tmp-456-def"
    writing.write_bytes(b"being written")
    before = blob_files(store)
    out = ok(store, "gc")
    assert len(as_json(store, "runs")) == 3
    assert blob_files(store) == before - {stray}  # the fresh one is within the grace period
    assert writing.exists() and not abandoned.exists()
    assert "kept 1 unreferenced blob" in out


def test_gc_dry_run_changes_nothing(store: Path) -> None:
    age_files(store)
    files, rows = blob_files(store), dump(store)
    out = ok(store, "gc", "--keep-last", "1", "--dry-run")
    assert "dry run" in out and "demo/1, demo/2" in out
    assert "blobs      1" in out
    assert blob_files(store) == files
    assert dump(store) == rows


def test_gc_keeps_a_running_run_and_the_blobs_a_writer_just_stored(store: Path) -> None:
    meta = open_store().meta
    writing = write_running_run(open_store())
    age_files(store)
    just_stored = open_store().save("b" * BIG)  # blob written; its task not committed yet
    ok(store, "gc", "--keep-last", "0")
    assert [r["id"] for r in as_json(store, "runs")] == [f"demo/{writing.run_id}"]
    assert meta.run("demo", writing.run_id).status == "running"
    assert blob_files(store) == {blob_key("w" * BIG), just_stored.key}
    ok(store, "gc", "--keep-last", "0", "--grace", "0")
    assert blob_files(store) == {blob_key("w" * BIG)}  # referenced by the running run's task


def write_running_run(store: Store) -> Any:
    meta = store.meta
    run = meta.create_run("demo", {"n": 9})
    task_id = meta.start_task("demo", run.run_id, "start", (), ())
    value = store.save("w" * BIG)
    meta.commit_task(
        task_id, status="done", objects=[value], artifacts=[("own", value.key, "output")]
    )
    return run


def dump(store: Path) -> list[str]:
    with sqlite3.connect(store / "metadata.sqlite") as conn:
        return list(conn.iterdump())


def test_gc_of_one_flow_leaves_the_other_flows_runs(store: Path) -> None:
    other = open_store().meta.create_run("other", {})
    open_store().meta.finish_run("other", other.run_id, "done")
    said = ok(store, "gc", "--keep-last", "0", "--flow", "demo", "--grace", "0")
    # demo/3 is the working run of the fixture's shell, a live kernel (this process): kept.
    assert "kept demo/3: a live kernel may be working in it" in said
    assert [r["id"] for r in as_json(store, "runs")] == ["other/1", "demo/3"]
    assert blob_files(store) == {blob_key("a" * BIG), blob_key("1" * BIG)}  # what demo/3 reads


WRITER = """
import sys
from IPython.core.interactiveshell import InteractiveShell
from nbflow.kernel.magics import load_ipython_extension

shell = InteractiveShell.instance()
load_ipython_extension(shell)
for cell in sys.argv[2:]:
    shell.run_cell(cell).raise_error()
for n in range(10, 10 + int(sys.argv[1])):
    shell.run_cell(f"%flow run -p n={n}").raise_error()
"""


def test_gc_is_safe_while_another_process_writes_runs(store: Path, tmp_path: Path) -> None:
    age_files(store)
    cells = ["%flow name demo", "%%params\nn = 1", f"%%step start\nshared = 'a' * {BIG}\n"
             f"own = str(n) * {BIG}", "%%step end --after start\nscore = n / 10"]  # fmt: skip
    env = {**os.environ, "NBFLOW_DATASTORE": str(store)}
    command = [sys.executable, "-c", WRITER, "60", *cells]
    collections = []
    with subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE) as writer:
        while writer.poll() is None:
            collections.append(nbflow(store, "gc", "--keep-last", "2"))
        _, errors = writer.communicate()
    assert writer.returncode == 0, errors
    assert len(collections) >= 3
    assert all(done.returncode == 0 for done in collections), collections[-1].stderr
    runs = as_json(store, "runs")
    assert len(runs) >= 2 and runs[0]["params"] == {"n": 69}
    for listed in runs:  # every run left is whole: its blobs are there, its data loads
        run = Run(listed["id"], store=open_store())
        assert run.data.own == str(listed["params"]["n"]) * BIG
        assert run.data.shared == "a" * BIG


# -- bad input and help -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "demo"], "'demo' is not of the form FLOW/RUN_ID"),
        (["show", "demo/x"], "'x' is not a run id"),
        (["show", "demo/99"], "no run demo/99"),
        (["show", "nope/1"], "no flow 'nope'"),
        (["runs", "nope"], "no flow 'nope'"),
        (["compare", "demo/1", "demo/99"], "no run demo/99"),
        (["compare", "demo/1"], "compare needs two or more runs"),
        (["gc", "--flow", "nope"], "no flow 'nope'"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_1(store: Path, args: list[str], message: str) -> None:
    done = nbflow(store, *args)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("nbflow: ") and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["runs", "show", "compare", "gc"])
def test_every_command_explains_itself_with_an_example(tmp_path: Path, command: str) -> None:
    text = ok(tmp_path / "store", command, "--help")
    assert "example" in text and f"nbflow {command} " in text.split("example", 1)[1]
