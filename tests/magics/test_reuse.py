"""Reuse is never wrong: each case a rerun that must run, and one that may reuse.

In IPython's in-process shell with the cross-run cache on (as in a notebook): `%flow run`
reuses a task only when its code, the code it calls (notebook cells and the user's own
modules), its inputs, parameters, foreach elements at every level and the files it read are
unchanged.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magictools import fails, flow_shell, ok

from nbflow import Flow, Run, current
from nbflow.core.graph import StepSpec
from nbflow.exceptions import StepFailed
from nbflow.run.cache import cache_key
from nbflow.run.task import TaskPayload


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """A notebook's kernel: the cross-run cache on."""
    monkeypatch.syspath_prepend(str(tmp_path))  # `import helper` finds tmp_path/helper.py
    yield flow_shell(tmp_path, monkeypatch, "reuse", cache=True)
    sys.modules.pop("helper", None)


def latest() -> Run:
    return Flow("reuse").latest_run


def statuses(run: Run, step: str) -> list[str]:
    return [t.status for t in run[step].tasks()]


NESTED = [
    "%%step start\nouter = ['a', 'b']",
    "%%step mid --after start --foreach outer\ninner = [0, 1]",
    "%%step draw --after mid --foreach inner\nimport random\nv = random.random()",
    "%%step inner_join --after draw --join\nvs = [i.v for i in inputs]",
    "%%step outer_join --after inner_join --join\ndraws = [i.vs for i in inputs]",
]


def test_siblings_under_other_outer_elements_are_not_reused(ip: InteractiveShell) -> None:
    for cell in NESTED:
        ok(ip, cell)
    ok(ip, "%flow run")
    first = latest()
    # The inner body reads only its own element, but (a, 0) and (b, 0) are different tasks.
    assert statuses(first, "draw") == ["done"] * 4
    draws = first.data.draws
    assert len({v for vs in draws for v in vs}) == 4
    ok(ip, "%flow run")  # nothing changed: the notebook may reuse every task
    second = latest()
    assert statuses(second, "draw") == ["cached"] * 4
    assert second.data.draws == draws
    origins = [t.origin.pathspec for t in second["draw"].tasks()]
    assert all(o.startswith(f"{first.pathspec}/") for o in origins) and len(set(origins)) == 4


def test_the_foreach_stack_is_in_the_record_and_in_current(ip: InteractiveShell) -> None:
    ok(ip, NESTED[0])
    ok(ip, NESTED[1])
    ok(ip, "%%step draw --after mid --foreach inner --out seen\nfrom nbflow import current\n"
           "seen = (current.step_name, current.foreach_stack(), current.attempt)")  # fmt: skip
    ok(ip, "%%step back --after draw --join\nfrom nbflow import current\n"
           "outer_after_join = [(f.step, f.index, f.value) for f in current.foreach]")  # fmt: skip
    ok(ip, "%%step done --after back --join\nn = len(inputs)")
    ok(ip, "%flow run")
    run = latest()
    tasks = run["draw"].tasks()
    seen = [t.data.seen for t in tasks]
    assert seen == [
        ("draw", [(o, 2, outer), (i, 2, i)], 1) for o, outer in enumerate("ab") for i in range(2)
    ]
    # --out drops the element from the artifacts; the task still knows it, at every level.
    assert [t.item for t in tasks] == [0, 1, 0, 1]
    assert tasks[0].artifacts["item"].kind == "inherited"  # the outer element, not its own
    assert tasks[3].foreach_stack() == [(1, 2, "b"), (1, 2, 1)]
    # After the inner join the outer element is still reachable.
    assert [t.data.outer_after_join for t in run["back"].tasks()] == [
        [("mid", 0, "a")], [("mid", 1, "b")]
    ]
    assert [t.item for t in run["back"].tasks()] == ["a", "b"]  # in the outer foreach still
    assert current.run_id is None and current.foreach == ()  # outside a task


def test_current_knows_the_retry_and_the_resumed_run(ip: InteractiveShell, tmp_path: Path) -> None:
    gate = tmp_path / "broken"
    gate.write_text("x")
    ok(ip, "%%step start\nx = 1")
    fails(ip, f"%%step shaky --after start --retry 1\nimport os\nfrom nbflow import current\n"
           f"attempt, retries = current.attempt, current.retry_count\n"
           f"resumed, origin = current.is_resumed(), current.origin_run_id\n"
           f"if attempt == 1 or os.path.exists({str(gate)!r}):\n"
           f"    raise RuntimeError('not yet')")  # fmt: skip
    assert isinstance(fails(ip, "%flow run"), StepFailed)
    failed = latest()
    assert failed.status == "failed"
    gate.unlink()
    ok(ip, "%flow resume")
    resumed = latest()
    data = resumed["shaky"].task.data
    assert (data.attempt, data.retries) == (2, 1)
    assert (data.resumed, data.origin) == (True, str(failed.run_id))


def test_an_edited_module_is_not_reused(ip: InteractiveShell, tmp_path: Path) -> None:
    helper = tmp_path / "helper.py"
    helper.write_text("def double(x):\n    return 2 * x\n")
    ok(ip, "import helper")
    ok(ip, "%%step start\nvalue = helper.double(21)")
    ok(ip, "%flow run")
    ok(ip, "%flow run")
    assert statuses(latest(), "start") == ["cached"]  # unchanged: may reuse
    assert latest().data.value == 42
    _rewrite(helper, "def double(x):\n    return 3 * x\n")
    importlib.reload(sys.modules["helper"])
    ok(ip, "%flow run")
    assert statuses(latest(), "start") == ["done"]
    assert latest().data.value == 63


def test_a_module_reached_through_another_is_in_the_key(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    (tmp_path / "helper.py").write_text("import inner\ndef f():\n    return inner.g()\n")
    inner = tmp_path / "inner.py"
    inner.write_text("def g():\n    return 'one'\n")
    ok(ip, "from helper import f")
    ok(ip, "%%step start\nvalue = f()")
    ok(ip, "%flow run")
    _rewrite(inner, "def g():\n    return 'two'\n")
    importlib.reload(sys.modules["inner"])
    ok(ip, "%flow run")
    assert (statuses(latest(), "start"), latest().data.value) == (["done"], "two")
    sys.modules.pop("inner", None)


def test_a_file_the_step_read_is_in_the_key(ip: InteractiveShell, tmp_path: Path) -> None:
    movies = tmp_path / "movies.csv"
    movies.write_text("title,genre\nAlien,Sci-Fi\nHeat,Crime\nDune,Sci-Fi\n")
    ok(ip, "%%step start\nimport csv\nwith open('movies.csv') as f:\n"
           "    rows = list(csv.DictReader(f))\n"
           "scifi = [r['title'] for r in rows if r['genre'] == 'Sci-Fi']")  # fmt: skip
    ok(ip, "%%step end --after start\nplaylist = sorted(scifi)")
    ok(ip, "%flow run")
    first = latest()
    [read] = first["start"].task.reads
    assert (read["path"], read["size"]) == (str(movies.resolve()), movies.stat().st_size)
    assert first["end"].task.reads == []  # it read no file
    ok(ip, "%flow run")
    assert statuses(latest(), "start") == ["cached"]
    assert latest()["start"].task.reads == [read]  # a reused task keeps its lineage
    _rewrite(movies, "title,genre\nHeat,Crime\n")  # every Sci-Fi row removed
    ok(ip, "%flow run")
    third = latest()
    assert statuses(third, "start") == ["done"]
    assert third.data.playlist == []
    assert third["start"].task.reads[0]["hash"] != read["hash"]


def test_files_written_and_nbflow_own_reads_are_not_lineage(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    ok(ip, "%%step start\nimport numpy as np\nbig = np.arange(100_000)\n"
           "with open('out.txt', 'w') as f:\n    f.write('hello')")  # fmt: skip
    ok(ip, "%%step end --after start\ntotal = int(big.sum())")  # loads a blob lazily
    ok(ip, "%flow run")
    assert latest()["start"].task.reads == []
    assert latest()["end"].task.reads == []


def test_the_environment_is_in_the_key() -> None:
    payload = TaskPayload(task_id=1, step="s", code="x = 1", loads={}, values={})
    plain = StepSpec(name="s", code="x = 1")
    pinned = StepSpec(name="s", code="x = 1", env=("six==1.15.0",))
    other = StepSpec(name="s", code="x = 1", env=("six==1.16.0",))
    python = StepSpec(name="s", code="x = 1", env=("six==1.15.0",), python="3.12")
    keys = {cache_key(payload, spec) for spec in (plain, pinned, other, python)}
    assert len(keys) == 4
    assert cache_key(payload, pinned) == cache_key(payload, pinned)


def test_parameters_are_task_data(ip: InteractiveShell) -> None:
    ok(ip, "%%params\nint_param = 123")
    ok(ip, "%%step start\nx = int_param + 1")
    run = latest()
    assert run["start"].task.data.int_param == 123
    assert "int_param" in run["start"].task.data and run.data.x == 124


def _rewrite(path: Path, text: str) -> None:
    # A new mtime for sure (some file systems keep whole seconds), as an editor's save gives.
    path.write_text(text)
    later = time.time() + 2
    os.utime(path, (later, later))


def test_a_worker_process_records_its_reads_and_knows_current(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    (tmp_path / "data.txt").write_text("one\ntwo\n")
    ok(ip, "%%step start\nitems = ['x', 'y']")
    ok(ip, "%%step each --after start --foreach items\nimport os\nfrom nbflow import current\n"
           "with open('data.txt') as f:\n    lines = f.read().splitlines()\n"
           "where = (current.step_name, current.foreach_stack(), os.getpid())")  # fmt: skip
    ok(ip, "%flow run --executor processes --workers 1")
    tasks = latest()["each"].tasks()
    assert [t.data.where[:2] for t in tasks] == [
        ("each", [(0, 2, "x")]), ("each", [(1, 2, "y")])
    ]  # fmt: skip
    assert all(t.data.where[2] != os.getpid() for t in tasks)  # ran in a worker
    assert [[r["path"] for r in t.reads] for t in tasks] == [[str(tmp_path / "data.txt")]] * 2
