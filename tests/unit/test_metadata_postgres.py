"""The metadata store on both of its databases: SQLite (the default) and a real PostgreSQL.

Every behaviour of the store runs against both, so the one SQL layer is held to one contract.
PostgreSQL comes from pgserver.py (a throwaway cluster; skipped with what to install when run
by hand without it, required in CI).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pgserver
import pytest
from IPython.core.interactiveshell import InteractiveShell

from nbflow.config import Config
from nbflow.exceptions import DatastoreError, NotFound
from nbflow.store.blobs.artifacts import Stored
from nbflow.store.metadata import MetadataStore, TaskRecord
from nbflow.store.metadata import schema as metadata_schema
from nbflow.store.metadata.databases import open_database
from nbflow.store.metadata.records import latest_attempts
from nbflow.store.metadata.schema import Migration

# The session's PostgreSQL server, and a new database on it for each test.
postgres_server = pgserver.postgres_server
postgres_url = pgserver.postgres_url

BACKENDS = ["sqlite", "postgresql"]


location = pgserver.location


@pytest.fixture
def meta(location: str | Path) -> Iterator[MetadataStore]:
    store = MetadataStore(location)
    yield store
    store.close()


def stored(name: str, size: int = 10, inline: bytes | None = b"x") -> Stored:
    key = (name.encode().hex() + "0" * 32)[:32]
    return Stored(key, size, "int", inline, {"kind": "scalar", "repr": name})


def finished_task(
    meta: MetadataStore,
    flow: str,
    run_id: int,
    step: str,
    values: dict[str, Stored],
    *,
    path: tuple[int, ...] = (),
    parents: tuple[int, ...] = (),
    status: str = "done",
    cache_key: str | None = "k",
) -> int:
    task_id = meta.start_task(flow, run_id, step, path, parents, cache_key=cache_key)
    meta.commit_task(
        task_id,
        status=status,
        objects=list(values.values()),
        artifacts=[(name, value.key, "output") for name, value in values.items()],
        stdout=f"{step} out\n",
    )
    return task_id


# -- runs ---------------------------------------------------------------------------------------


def test_run_ids_count_per_flow_and_records_round_trip(meta: MetadataStore) -> None:
    before = time.time()
    first = meta.create_run("a", {"lr": 0.1, "layers": [1, 2]}, tags=["x", "y"], notebook="a.ipynb")
    second = meta.create_run("a", {}, origin_run=1, launcher="batch-1")
    other = meta.create_run("b", {})
    assert (first.run_id, second.run_id, other.run_id) == (1, 2, 1)
    assert first.params == {"lr": 0.1, "layers": [1, 2]}
    assert first.tags == ("x", "y")
    assert (first.notebook, first.status, first.finished_at) == ("a.ipynb", "running", None)
    assert (second.origin_run, second.launcher) == (1, "batch-1")
    # A timestamp keeps its full precision (a double, not a 4-byte float).
    assert before <= first.started_at <= second.started_at <= time.time()
    assert abs(meta.run("a", 1).started_at - first.started_at) < 1e-6

    meta.finish_run("a", 1, "done")
    assert meta.run("a", 1).status == "done"
    assert meta.run("a", 1).finished_at is not None
    meta.reopen_run("a", 1)
    assert meta.run("a", 1).status == "running"

    assert [r.run_id for r in meta.runs("a")] == [2, 1]
    assert [r.run_id for r in meta.runs("a", limit=1)] == [2]
    assert [r.run_id for r in meta.runs("a", limit=1, offset=1)] == [1]
    assert [r.run_id for r in meta.runs("a", offset=1)] == [1]
    assert [r.run_id for r in meta.runs_by_launcher("batch-1")] == [2]
    assert meta.flows() == ["a", "b"]
    with pytest.raises(NotFound, match="no run a/9 in"):
        meta.run("a", 9)


def test_discard_run_keeps_a_run_with_tasks_of_its_own(meta: MetadataStore) -> None:
    run = meta.create_run("f", {}).run_id
    origin = finished_task(meta, "f", run, "s", {"x": stored("x")})
    copy_run = meta.create_run("f", {}).run_id
    meta.reuse_tasks("f", copy_run, [meta.task(origin)])
    meta.discard_run("f", copy_run)
    assert [r.run_id for r in meta.runs("f")] == [run]
    assert meta.tasks("f", copy_run) == []
    with pytest.raises(ValueError, match="ran tasks of its own"):
        meta.discard_run("f", run)


def test_executed_notebook_is_kept_with_the_run(meta: MetadataStore) -> None:
    run = meta.create_run("f", {}).run_id
    notebook = stored("notebook", inline=b"{}")
    meta.set_run_notebook("f", run, notebook)
    meta.set_run_notebook("f", run, notebook)  # the same value again is no conflict
    assert meta.run("f", run).notebook_key == notebook.key
    assert meta.inline(notebook.key) == b"{}"


# -- steps --------------------------------------------------------------------------------------


def test_steps_are_replaced_and_planned_counts_reset(meta: MetadataStore) -> None:
    run = meta.create_run("f", {}).run_id
    meta.save_steps("f", run, [(1, {"name": "b"}, "y = 2"), (0, {"name": "a"}, "x = 1")])
    assert meta.steps("f", run) == [(0, {"name": "a"}, "x = 1"), (1, {"name": "b"}, "y = 2")]
    meta.set_planned("f", run, "b", 4)
    assert meta.planned("f", run) == {"b": 4}
    meta.save_steps("f", run, [(2, {"name": "b", "foreach": "xs"}, "y = 3")])
    assert meta.steps("f", run)[1] == (2, {"name": "b", "foreach": "xs"}, "y = 3")
    assert meta.planned("f", run) == {}


def test_planning_a_step_reserves_its_task_ids_in_element_order(meta: MetadataStore) -> None:
    run = meta.create_run("f", {}).run_id
    meta.save_steps("f", run, [(0, {"name": "a"}, ""), (1, {"name": "b"}, "")])
    first = meta.start_task("f", run, "a", (), ())  # a task before any reservation
    a_ids = meta.set_planned("f", run, "a", 3)
    b_ids = meta.set_planned("f", run, "b", 2)
    assert a_ids == sorted(a_ids) and b_ids == sorted(b_ids) and len(set(a_ids + b_ids)) == 5
    assert min(a_ids) > first and max(a_ids) < min(b_ids)
    assert meta.set_planned("f", run, "b", 0) == []
    # With retries, each task's attempts have their ids together: 3 tasks, 2 attempts each.
    retried = meta.set_planned("f", run, "b", 3, attempts=2)
    assert [t - retried[0] for t in retried] == [0, 2, 4]
    # Started out of order (b before a, a's last element first), each keeps its reserved id;
    # an unreserved task takes an id after all of them.
    started = [meta.start_task("f", run, "b", (i,), (), task_id=t) for i, t in enumerate(b_ids)]
    started += [meta.start_task("f", run, "a", (2,), (), task_id=a_ids[2])]
    unreserved = meta.start_task("f", run, "a", (2,), (), attempt=2)
    assert started == [*b_ids, a_ids[2]] and unreserved > max(retried)
    copied = meta.reuse_tasks("f", run, [meta.task(started[-1])], [a_ids[0]])
    assert copied == {a_ids[2]: a_ids[0]}
    by_id = {t.task_id: t for t in meta.tasks("f", run)}
    assert by_id[a_ids[0]].status == "cached" and by_id[a_ids[2]].path == (2,)


# -- tasks, attempts, artifacts -------------------------------------------------------------------


def test_a_committed_task_reads_back_whole(meta: MetadataStore) -> None:
    run = meta.create_run("f", {}).run_id
    task_id = meta.start_task("f", run, "s", (2, 0), (7,), attempt=2, cache_key="ck")
    assert meta.task(task_id).status == "running"
    big = stored("big", size=5 * 2**30, inline=None)  # sizes pass 2 GiB: 64-bit columns
    small = stored("small", inline=bytes(range(256)) * 20)
    meta.commit_task(
        task_id,
        status="done",
        objects=[big, small],
        artifacts=[("big", big.key, "output"), ("small", small.key, "inherited"),
                   ("seen", small.key, "context")],
        stdout="out\n",
        stderr="err\n",
        displays=[{"data": {"text/plain": "42"}, "metadata": {}}],
    )  # fmt: skip
    task = meta.task(task_id)
    assert task == TaskRecord(
        task_id, "f", run, "s", "done", (2, 0), (7,), None, task.started_at, task.finished_at,
        "out\n", "err\n", None, 2, None, "ck", ({"data": {"text/plain": "42"}, "metadata": {}},),
    )  # fmt: skip
    assert task.started_at is not None and task.finished_at is not None
    assert task.started_at <= task.finished_at
    artifacts = {a.name: a for a in meta.artifacts(task)}
    assert sorted(artifacts) == ["big", "small"]
    assert (artifacts["big"].size, artifacts["big"].kind) == (5 * 2**30, "output")
    assert artifacts["small"].preview == {"kind": "scalar", "repr": "small"}
    assert [a.name for a in meta.artifacts(task, kinds=("context",))] == ["seen"]
    assert meta.inline(small.key) == bytes(range(256)) * 20
    assert meta.inline(big.key) is None
    assert meta.inline("0" * 32) is None
    with pytest.raises(NotFound):
        meta.task(task_id + 1000)


def test_failures_attempts_and_lost_tasks(meta: MetadataStore) -> None:
    run = meta.create_run("f", {}).run_id
    first = meta.start_task("f", run, "s", (0,), (), cache_key="k0")
    meta.commit_task(first, status="failed", error={"ename": "ValueError", "evalue": "bad"})
    second = meta.start_task("f", run, "s", (0,), (), attempt=2, cache_key="k0")
    meta.commit_task(second, status="done", cacheable=False)
    other = meta.start_task("f", run, "s", (1,), ())
    assert meta.task(first).error == {"ename": "ValueError", "evalue": "bad"}
    assert meta.task(second).cache_key is None  # a caught failure is never reused
    latest = latest_attempts(meta.tasks("f", run, "s"))
    assert [(t.path, t.attempt) for t in latest] == [((0,), 2), ((1,), 1)]
    meta.fail_running_tasks("f", run, "the kernel died")
    lost = meta.task(other)
    assert lost.status == "failed"
    assert lost.error == {"ename": "TaskLost", "evalue": "the kernel died"}
    assert meta.task(second).status == "done"


def test_cache_lookup_and_reused_tasks_point_at_their_origin(meta: MetadataStore) -> None:
    run = meta.create_run("f", {"n": 1}).run_id
    a = finished_task(meta, "f", run, "a", {"x": stored("x")}, cache_key="ka")
    b = finished_task(meta, "f", run, "b", {"y": stored("y")}, parents=(a,), cache_key="kb")
    failed = finished_task(meta, "f", run, "c", {}, status="failed", cache_key="kc")
    assert meta.cached_tasks("f", "a", "ka") == [meta.task(a)]
    assert meta.cached_tasks("f", "c", "kc") == []  # only finished tasks are reused
    assert meta.cached_tasks("f", "a", "other") == []

    again = meta.create_run("f", {"n": 1}).run_id
    mapping = meta.reuse_tasks("f", again, [meta.task(a), meta.task(b)])
    copy_a, copy_b = meta.task(mapping[a]), meta.task(mapping[b])
    assert (copy_a.status, copy_a.origin, copy_a.data_from, copy_a.run_id) == ("cached", a, a, 2)
    assert copy_b.parents == (copy_a.task_id,)  # parents follow the copies
    assert [x.name for x in meta.artifacts(copy_b)] == ["y"]  # the origin's rows, no copy
    assert meta.cached_tasks("f", "a", "ka") == [meta.task(a)]  # a copy is not `done`

    assert list(meta.runs_with("f", ["a", "b"])) == [again, run]
    assert meta.latest_run_with("f", ["a", "c"]) is None  # c failed
    assert meta.latest_run_with("f", ["a"], params={"n": 2}) is None
    assert meta.latest_run_with("f", ["a"], params={"n": 1}) == again
    assert failed


def test_reusing_a_task_removed_meanwhile_is_refused(meta: MetadataStore) -> None:
    run = meta.create_run("f", {}).run_id
    task = meta.task(finished_task(meta, "f", run, "a", {"x": stored("x")}))
    with meta.exclusive():
        meta.remove_runs([("f", run)], [task.task_id])
    later = meta.create_run("f", {}).run_id
    with pytest.raises(NotFound, match="was removed"):
        meta.reuse_tasks("f", later, [task])
    assert meta.tasks("f", later) == []  # nothing of the refused copy is left


# -- garbage collection helpers -------------------------------------------------------------------


def test_gc_helpers_delete_only_inside_exclusive(meta: MetadataStore) -> None:
    keep = meta.create_run("f", {}).run_id
    kept = finished_task(meta, "f", keep, "a", {"x": stored("x")})
    drop = meta.create_run("f", {}).run_id
    dropped = finished_task(meta, "f", drop, "a", {"y": stored("y", inline=None, size=99)})
    meta.set_run_notebook("f", keep, stored("nb"))
    with pytest.raises(RuntimeError, match="only inside exclusive"):
        meta.remove_unreferenced_objects()

    links = {task_id: (flow, run_id, reads) for task_id, flow, run_id, reads in meta.task_links()}
    assert links[kept] == ("f", keep, ())

    with meta.exclusive(dry_run=True):
        meta.remove_runs([("f", drop)], [dropped])
        assert meta.remove_unreferenced_objects() == [(stored("y").key, 99, False)]
    assert meta.task(dropped).status == "done"  # the dry run left everything

    with meta.exclusive():
        meta.remove_runs([("f", drop)], [dropped])
        assert meta.remove_unreferenced_objects() == [(stored("y").key, 99, False)]
    with pytest.raises(NotFound):
        meta.task(dropped)
    assert meta.referenced_keys() == {stored("x").key, stored("nb").key}
    assert [r.run_id for r in meta.runs("f")] == [keep]


# -- schema versions and migrations ---------------------------------------------------------------


def version_of(location: str | Path) -> int:
    db = open_database(location)
    try:
        return metadata_schema.schema_version(db)
    finally:
        db.close()


def test_a_new_database_is_at_the_latest_version(location: str | Path) -> None:
    MetadataStore(location).close()
    MetadataStore(location).close()  # opening again changes nothing
    assert version_of(location) == metadata_schema.MIGRATIONS[-1].version == 5


def test_an_older_database_is_migrated_in_order(
    location: str | Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with closing(MetadataStore(location)) as meta:
        meta.create_run("f", {"n": 1})
    latest = metadata_schema.MIGRATIONS[-1].version
    step_2 = Migration(
        latest + 1,
        "a note per run",
        ("ALTER TABLE runs ADD COLUMN note TEXT",
         "CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status)"),
    )  # fmt: skip
    monkeypatch.setattr(metadata_schema, "MIGRATIONS", (*metadata_schema.MIGRATIONS, step_2))
    with closing(MetadataStore(location)) as meta:
        assert meta.run("f", 1).params == {"n": 1}  # the data came through
        meta.create_run("f", {})
    assert version_of(location) == latest + 1
    db = open_database(location)
    try:
        assert db.execute("SELECT run_id, note FROM runs ORDER BY run_id").fetchall() == [
            (1, None),
            (2, None),
        ]
    finally:
        db.close()


def test_a_database_newer_than_the_code_is_refused(location: str | Path) -> None:
    MetadataStore(location).close()
    db = open_database(location)
    with db.write():
        db.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    db.close()
    with pytest.raises(DatastoreError, match="schema version 7, made by a newer nbflow") as error:
        MetadataStore(location)
    assert "pip install -U nbflow" in str(error.value)


def test_migrations_must_be_numbered_in_order(location: str | Path) -> None:
    db = open_database(location)
    try:
        with pytest.raises(ValueError, match="numbered"):
            metadata_schema.migrate(db, [Migration(2, "skips 1", ())])
    finally:
        db.close()


def test_a_datastore_written_by_the_first_version_opens_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "metadata.sqlite"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(metadata_schema.META_TABLE)
        for statement in metadata_schema.INITIAL_SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (1,))
        conn.execute("INSERT INTO run_ids VALUES ('old', 4)")
        conn.execute(
            "INSERT INTO runs VALUES ('old', 4, 'done', 1.5, 2.5, '{}', '[]', NULL, NULL, NULL, "
            "NULL)"
        )
    with closing(MetadataStore(path)) as meta:
        assert meta.run("old", 4).finished_at == 2.5
        assert meta.create_run("old", {}).run_id == 5
        assert meta.run("old", 4).heartbeat is None  # a run from before heartbeats
    assert version_of(path) == metadata_schema.MIGRATIONS[-1].version


# -- many writers at once -------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from nbflow.store.blobs.artifacts import Stored
    from nbflow.store.metadata import MetadataStore

    location, barrier, worker, runs = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    open_late = sys.argv[5] == "open-at-go"  # every writer opens (and creates) the database at once
    meta = None if open_late else MetadataStore(location)
    (barrier / f"ready-{worker}").touch()
    while not (barrier / "go").exists():
        time.sleep(0.001)
    meta = meta or MetadataStore(location)
    made = []
    for i in range(runs):
        run = meta.create_run("race", {"worker": worker, "i": i})
        task = meta.start_task("race", run.run_id, "s", (), ())
        value = Stored(f"{int(worker):08x}{i:024x}", 1, "int", b"v", {})
        meta.commit_task(task, status="done", objects=[value],
                         artifacts=[("v", value.key, "output")])
        meta.finish_run("race", run.run_id, "done")
        made.append([run.run_id, task])
    print(json.dumps(made))
    """
)


def race(location: str, workdir: Path, workers: int, runs_each: int, *, open_at_go: bool) -> Any:
    """`workers` processes writing `runs_each` runs each, all let go at the same moment."""
    barrier = workdir / "barrier"
    barrier.mkdir()
    how = "open-at-go" if open_at_go else "open-first"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, location, str(barrier), str(w), str(runs_each), how],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    deadline = time.monotonic() + 60
    while len(list(barrier.glob("ready-*"))) < workers and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.perf_counter()
    (barrier / "go").touch()
    outputs = [proc.communicate(timeout=120) for proc in procs]
    elapsed = time.perf_counter() - started
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outputs]
    return [pair for out, _ in outputs for pair in json.loads(out)], elapsed


@pytest.mark.parametrize("backend", BACKENDS)
def test_many_concurrent_writers_never_share_or_skip_a_run_id(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    workers, runs_each = 8, 20
    location = (
        str(tmp_path / "metadata.sqlite")
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    MetadataStore(location).close()  # the schema exists before the race
    made, elapsed = race(location, tmp_path, workers, runs_each, open_at_go=False)

    total = workers * runs_each
    assert sorted(run_id for run_id, _ in made) == list(range(1, total + 1))
    assert len({task for _, task in made}) == total
    with closing(MetadataStore(location)) as meta:
        runs = meta.runs("race")
        assert len(runs) == total
        assert all(run.status == "done" for run in runs)
        # Ids sort by start time: each was handed out together with its start.
        by_start = sorted(runs, key=lambda r: (r.started_at, r.run_id))
        assert [r.run_id for r in by_start] == list(range(1, total + 1))
        for run_id, task_id in made:
            task = meta.task(task_id)
            assert (task.run_id, task.status) == (run_id, "done")
            assert [a.name for a in meta.artifacts(task)] == ["v"]
    print(f"\n{backend}: {workers} writers x {runs_each} runs in {elapsed:.2f} s")


@pytest.mark.parametrize("backend", BACKENDS)
def test_writers_creating_a_new_database_at_once_make_it_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    location = (
        str(tmp_path / "metadata.sqlite")
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    made, _ = race(location, tmp_path, 6, 2, open_at_go=True)
    assert sorted(run_id for run_id, _ in made) == list(range(1, 13))
    assert version_of(location) == metadata_schema.MIGRATIONS[-1].version


def test_gc_holds_writers_back_until_it_is_done(location: str | Path) -> None:
    gc, writer = MetadataStore(location), MetadataStore(location)
    finished: list[float] = []

    def write() -> None:
        writer.create_run("f", {})
        finished.append(time.monotonic())

    try:
        with gc.exclusive():
            thread = threading.Thread(target=write)
            thread.start()
            time.sleep(0.3)
            assert not finished  # the writer waits for the collector's transaction
            released = time.monotonic()
        thread.join(timeout=30)
        assert finished and finished[0] >= released
        assert [r.run_id for r in gc.runs("f")] == [1]
    finally:
        gc.close()
        writer.close()


# -- choosing the database, and when it cannot be reached -----------------------------------------


def test_config_tells_a_postgres_url_from_a_sqlite_file(tmp_path: Path) -> None:
    for url in ("postgresql://u:p@h:5432/db", "postgres://h/db"):
        assert Config(metadata=url).metadata_url == url
    sqlite = Config(datastore=str(tmp_path), metadata="sqlite:///" + str(tmp_path / "m.db"))
    assert sqlite.metadata_url is None
    assert sqlite.metadata_path == tmp_path / "m.db"
    assert Config(datastore=str(tmp_path)).metadata_path == tmp_path / "metadata.sqlite"


def test_an_unreachable_server_fails_fast_naming_the_url_without_its_password() -> None:
    url = "postgresql://nbflow:s3cret-pw@127.0.0.1:1/x"  # nothing listens on port 1
    started = time.monotonic()
    with pytest.raises(DatastoreError) as error:
        MetadataStore(url)
    assert time.monotonic() - started < 5
    message = str(error.value)
    assert "postgresql://nbflow:***@127.0.0.1:1/x" in message
    assert "s3cret-pw" not in message
    assert "running and reachable" in message
    assert error.value.__cause__ is None  # nothing chained that could echo the URL


def test_a_wrong_password_is_reported_masked(postgres_server: pgserver.PostgresServer) -> None:
    url = postgres_server.url().replace(pgserver.PASSWORD, "wrong-one")
    with pytest.raises(DatastoreError, match="password authentication failed") as error:
        MetadataStore(url)
    assert "wrong-one" not in str(error.value)
    assert ":***@127.0.0.1" in str(error.value)


def test_without_psycopg_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` raises ImportError
    with pytest.raises(DatastoreError, match=r'pip install "psycopg\[binary\]"'):
        MetadataStore("postgres://someone:pw@db.example:5432/runs")


def test_the_sqlite_path_never_imports_psycopg(tmp_path: Path) -> None:
    code = (
        "import sys, nbflow\n"
        "from nbflow.store.stores import open_store\n"
        "open_store().meta.create_run('f', {})\n"
        "print('psycopg' in sys.modules)"
    )
    env = {**os.environ, "NBFLOW_DATASTORE": str(tmp_path / "store")}
    env.pop("NBFLOW_METADATA", None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


# -- a whole flow through the notebook session ----------------------------------------------------


def test_a_notebook_flow_on_postgres_is_read_back_by_another_process(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbflow.kernel.magics import load_ipython_extension

    store = tmp_path / "store"
    monkeypatch.setenv("NBFLOW_DATASTORE", str(store))
    monkeypatch.delenv("NBFLOW_METADATA", raising=False)
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)

    def ok(code: str) -> Any:
        result = shell.run_cell(code)
        result.raise_error()
        return result.result

    ok(f"%flow config metadata={postgres_url}")
    ok("%flow name pgdemo")
    ok("%%params\nn = 4")
    ok("%%step start\nxs = list(range(n))")
    ok("%%step sq --after start --foreach xs\ny = item * item")
    ok("%%step total --after sq --join\ns = sum(i.y for i in inputs)")
    run = ok("%flow run -p n=5")
    assert run.status == "done"
    assert not (store / "metadata.sqlite").exists()  # nothing went to the SQLite default

    reader = (
        "import json\nfrom nbflow import Flow\n"
        "run = Flow('pgdemo').latest_run\n"
        "print(json.dumps({'id': run.pathspec, 'status': run.status, 'params': run.params,"
        " 's': run.data.s, 'items': [t.item for t in run['sq'].tasks()],"
        " 'runs': len(Flow('pgdemo').runs())}))"
    )
    env = {**os.environ, "NBFLOW_DATASTORE": str(store), "NBFLOW_METADATA": postgres_url}
    out = subprocess.run(
        [sys.executable, "-c", reader],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "id": run.pathspec,
        "status": "done",
        "params": {"n": 5},
        "s": sum(i * i for i in range(5)),
        "items": [0, 1, 2, 3, 4],
        "runs": 2,  # the cells run one by one made run 1, `%flow run` run 2
    }
