"""The bad-input catalogue: every error API.md section 5 and issues 01-08 name, each checked to
say what is wrong, where, and how to fix it, with the store left as it was.

Each case runs its setup cells in a fresh kernel shell (nbflow loaded, its own datastore),
photographs the store (every metadata row, every blob file), runs the bad cell, and checks the
error's message for the thing it names and the fix it gives, then compares the store with its
photograph. Cases whose bad input is a step that really runs and fails (an unstorable value, a
`--when` that raises) change the store the way a failed task must: a failed task and run,
nothing committed done; those are checked as such.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magictools import fails, flow_shell, ok

TABLES = ("run_ids", "runs", "steps", "tasks", "objects", "artifacts")


def photograph(store: Path) -> dict[str, object]:
    """Everything the store holds: each table's rows and the blob files."""
    taken: dict[str, object] = {}
    database = store / "metadata.sqlite"
    for table in TABLES:  # a store not yet created holds what an empty one holds
        taken[table] = []
    if database.exists():
        with closing(sqlite3.connect(database)) as connection:
            for table in TABLES:
                taken[table] = sorted(map(repr, connection.execute(f"SELECT * FROM {table}")))
    taken["files"] = sorted(
        str(p.relative_to(store))
        for p in store.rglob("*")
        if p.is_file() and "metadata" not in p.name
    )
    return taken


@dataclass
class Case:
    name: str
    setup: list[str]
    bad: str
    says: list[str]  # fragments the message must hold: the thing, where, the fix
    unchanged: bool = True  # False: a step ran and failed; checked as a failed task instead
    recover: str = ""  # a cell that undoes the setup, before checking the kernel goes on


CASES = [
    Case(
        "unknown parent",
        ["%%step start\nx = 1"],
        "%%step b --after nope\ny = x",
        ["step 'b'", "'nope'", "steps so far: start", "fix --after"],
    ),
    Case(
        "step name not an identifier",
        [],
        "%%step 2fast\nx = 1",
        ["'2fast'", "Use a Python identifier"],
    ),
    Case(
        "cycle",
        ["%%step a\nx = 1", "%%step b --after a\ny = x"],
        "%%step a --after b\nx = y",
        ["a -> b -> a", "Remove one of these parents from --after"],
    ),
    Case(
        "foreach over a missing artifact",
        ["%%step start\nx = 1"],
        "%%step each --after start --foreach nothing\ny = item",
        ["step 'each'", "--foreach nothing", "it binds: x", "fix --foreach"],
    ),
    Case(
        "foreach over a non-iterable",
        ["%%step start\nx = 1"],
        "%%step each --after start --foreach x\ny = item",
        ["'x'", "each", "of type int", "Bind a list"],
    ),
    Case(
        "join with no open foreach",
        ["%%step start\nx = 1"],
        "%%step j --after start --join\ny = 1",
        ["step 'j'", "no foreach is open", "Remove --join"],
    ),
    Case(
        "static join mixing foreach levels",
        [
            "%%step start\nitems = [1, 2]",
            "%%step each --after start --foreach items\ny = item",
            "%%step side --after start\nz = 1",
        ],
        "%%step j --after each side\nw = 1",
        [
            "step 'j'",
            "'each' in foreach each",
            "'side' in no foreach",
            "Close each foreach with a --join step",
        ],
    ),
    Case(
        "retry not a positive number",
        [],
        "%%step s --retry -1\nx = 1",
        ["step 's'", "--retry -1", "a whole number, 0 or more"],
    ),
    Case(
        "timeout not a positive number",
        [],
        "%%step s --timeout soon\nx = 1",
        ["step 's'", "--timeout soon", "a number of seconds, more than 0"],
    ),
    Case(
        "unknown resource",
        [],
        "%%step s --resources tpu=1\nx = 1",
        ["step 's'", "'tpu'", "--resources cpu=2,memory=4G,gpu=1"],
    ),
    Case(
        "when that does not compile",
        ["%%step start\nx = 1"],
        "%%step s --after start --when 'x >'\ny = 1",
        ["step 's'", "--when 'x >'", "Fix --when"],
    ),
    Case(
        "resume with nothing to resume",
        [],
        "%flow resume",
        ["no failed run to resume", "%flow resume RUN_ID --from STEP"],
    ),
    Case(
        "resume of a run that does not exist",
        ["%%step start\nx = 1"],
        "%flow resume 99",
        ["no run bad/99", "%flow runs"],
    ),
    Case(
        "unknown setting",
        [],
        "%flow config colour=red",
        ["'colour'", "Known settings", "%flow config datastore="],
    ),
    Case(
        "datastore not writable",
        ["%flow config datastore=/proc/nbflow"],
        "%%step s\nx = 1",
        ["/proc/nbflow", "No such file or directory", "to a writable folder"],
        recover="%flow config datastore=store",
    ),
    Case(
        "object-store datastore with no metadata database",
        ["%flow config datastore=s3://bucket/prefix"],
        "%%step s\nx = 1",
        ["s3://bucket/prefix", "NBFLOW_METADATA", "postgresql://user:password@host/db"],
        recover="%flow config datastore=store",
    ),
    Case(
        "unknown executor",
        ["%%step start\nx = 1"],
        "%flow run --executor nope",
        ["'nope'", "use kernel, processes, dask or dask://HOST:PORT"],
    ),
    Case("unknown %flow command", [], "%flow frobnicate", ["'%flow frobnicate'", "Commands: name"]),
    Case(
        "environment requirement that cannot be resolved",
        ['%flow env "pandas==0.0.1"'],
        "%%step s\nx = 1",
        ["pandas==0.0.1", "uv says", "No solution found", "Fix the requirement"],
        recover="%flow env --clear",
    ),
    Case(
        "unstorable artifact",
        [],
        "%%step start\nimport threading\nlock = threading.Lock()\nfine = 1",
        ["step 'start'", "lock: _thread.lock", "--transient lock"],
        unchanged=False,
    ),
]


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> InteractiveShell:
    return flow_shell(tmp_path, monkeypatch, "bad")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_says_what_where_and_the_fix(
    case: Case, ip: InteractiveShell, tmp_path: Path
) -> None:
    for cell in case.setup:
        ok(ip, cell)
    store = tmp_path / "store"
    before = photograph(store)
    message = str(fails(ip, case.bad))
    for fragment in case.says:
        assert fragment in message, f"{case.name}: {fragment!r} not in the message:\n{message}"
    if case.unchanged:
        assert photograph(store) == before, f"{case.name}: the store changed"
    else:
        _only_a_failed_task_was_added(store, before)
    if case.recover:
        ok(ip, case.recover)
    ok(ip, "%%step after_the_error\nstill = 'usable'")  # the kernel goes on


def _only_a_failed_task_was_added(store: Path, before: dict[str, object]) -> None:
    with closing(sqlite3.connect(store / "metadata.sqlite")) as connection:
        statuses = [s for (s,) in connection.execute("SELECT status FROM tasks")]
        artifacts = connection.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0]
        runs = [s for (s,) in connection.execute("SELECT status FROM runs")]
    assert "done" not in statuses and "failed" in statuses
    assert runs and set(runs) == {"failed"}
    assert artifacts == len(before.get("artifacts", []))  # nothing of the failed task committed


# The same from a shell: `nbflow` commands given bad input (each fails before any kernel).
COMMANDS = [
    ("run", "missing.ipynb", ["no notebook at missing.ipynb", "Give the path of an .ipynb"]),
    ("run", "notes.txt", ["notes.txt is not a Jupyter notebook", "expected .ipynb JSON"]),
    ("batch", "notes.txt --grid a=1,2", ["notes.txt is not a Jupyter notebook"]),
    ("batch", "flow.ipynb --grid alphas", ["--grid 'alphas'", "for example --grid depth=4,8"]),
    ("runs", "nope", ["no flow 'nope'", "its flows: bad"]),
    ("show", "bad", ["'bad' is not of the form FLOW/RUN_ID", "e.g. demo/3"]),
    ("show", "bad/7", ["no run bad/7", "`nbflow runs bad`"]),
]


@pytest.mark.parametrize("bad", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_bad_command_line_says_what_and_the_fix(
    bad: tuple[str, str, list[str]],
    ip: InteractiveShell,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from nbflow.cli import main

    command, arguments, says = bad
    ok(ip, "%%step start\nx = 1")  # the store holds flow 'bad', run 1
    (tmp_path / "notes.txt").write_text("not a notebook")
    (tmp_path / "flow.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4}')
    store = tmp_path / "store"
    before = photograph(store)
    capsys.readouterr()
    assert main([command, *arguments.split()]) == 1
    said = capsys.readouterr().err
    for fragment in says:
        assert fragment in said, f"nbflow {command} {arguments}: {fragment!r} not in:\n{said}"
    assert photograph(store) == before
