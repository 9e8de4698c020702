"""What a step binds, what a join inherits, and what a caught failure keeps: the semantics a
mechanical port of a Metaflow flow relies on (`self.x` -> `x`, `merge_artifacts` -> `merge`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magictools import fails, flow_shell, ok

from nbflow import Flow
from nbflow.exceptions import StepError


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    (tmp_path / "notes.txt").write_text("hello")
    yield flow_shell(tmp_path, monkeypatch, "port")


def artifacts(step: str) -> set[str]:
    return set(Flow("port").latest_run[step].task.artifacts)


# -- `with ... as` targets are handles ------------------------------------------------------------


def test_with_targets_are_not_stored(ip: InteractiveShell) -> None:
    ok(
        ip,
        "%%step start\n"
        "with open('notes.txt') as f:\n"
        "    text = f.read()\n"
        "import threading\n"
        "with threading.Lock() as held, open('notes.txt') as (g):\n"
        "    size = len(g.read())",
    )
    assert artifacts("start") == {"text", "size"}
    ok(ip, "%%step upper --after start\nshout = text.upper()")
    assert Flow("port").latest_run.data.shout == "HELLO"


def test_out_stores_a_with_target(ip: InteractiveShell) -> None:
    ok(
        ip,
        "%%step start --out where,text\n"
        "import tempfile\n"
        "with tempfile.TemporaryDirectory() as where:\n"
        "    text = 'made in ' + where",
    )
    assert artifacts("start") == {"where", "text"}


# -- parameters are read-only inside steps --------------------------------------------------------


def test_a_step_that_binds_a_parameter_fails_before_it_runs(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    ok(ip, "%%params\nint_param = 123")
    error = fails(ip, "%%step start\nopen('ran', 'w').close()\nint_param = 5")
    assert isinstance(error, StepError)
    assert str(error) == (
        "step 'start' (cell line 3): binds 'int_param', which is a parameter of the run "
        "(parameters are read-only inside steps). Bind another name, e.g. `int_param_2 = ...`."
    )
    assert not (tmp_path / "ran").exists()
    ok(ip, "%%step start\nx = int_param + 1")
    ok(ip, "%%step after --after start\nseen = int_param")
    run = Flow("port").latest_run
    assert (run.params["int_param"], run.data.seen, run.data.x) == (123, 123, 124)


def test_rebinding_a_parameter_from_itself_is_refused(ip: InteractiveShell) -> None:
    # Metaflow's tutorial 03 does `self.genre = self.genre.lower()`.
    ok(ip, "%%params\ngenre = 'Sci-Fi'")
    error = fails(ip, "%%step start\ngenre = genre.lower()")
    assert "binds 'genre', which is a parameter of the run" in str(error)
    error = fails(ip, "%flow run")  # the cell is registered: a full run refuses it too
    assert isinstance(error, StepError)
    assert "binds 'genre'" in str(error)
    ok(ip, "%%step start\nlower_genre = genre.lower()")
    assert ok(ip, "%flow run").data.lower_genre == "sci-fi"


def test_a_parameter_bound_where_the_analysis_cannot_see_fails_the_task(
    ip: InteractiveShell,
) -> None:
    ok(ip, "%%params\nint_param = 123")
    error = fails(ip, "%%step start\nglobals()['int_param'] = 5")
    assert isinstance(error, StepError)
    assert "binds 'int_param', which is a parameter of the run" in str(error)
    assert Flow("port").latest_run["start"].task.status == "failed"


def test_a_parameter_name_local_to_a_function_is_no_binding(ip: InteractiveShell) -> None:
    ok(ip, "%%params\nn = 3")
    ok(ip, "%%step start\ndef twice(n):\n    return 2 * n\ny = twice(n)")
    assert Flow("port").latest_run.data.y == 6


# -- a caught failure keeps what the step bound ---------------------------------------------------


def test_catch_keeps_what_the_step_bound_before_the_error(ip: InteractiveShell) -> None:
    ok(
        ip,
        "%%step s --catch err --retry 1\n"
        "a = 1\n"
        "import threading\n"
        "lock = threading.Lock()  # cannot be stored: quietly left out\n"
        "raise ValueError('late')\n"
        "never = 2",
    )
    task = Flow("port").latest_run["s"].task
    assert set(task.artifacts) == {"a", "err"}
    assert task.data.a == 1
    assert (task.data.err.ename, task.data.err.evalue) == ("ValueError", "late")
    assert task.data.err.attempts == 2
    assert len(task.attempts) == 2
    assert ip.user_ns["a"] == 1
    ok(ip, "%%step after --after s\nb = a + 1\nwhy = err.ename")
    run = Flow("port").latest_run
    assert (run.data.b, run.data.why) == (2, "ValueError")


def test_a_failed_attempt_that_is_retried_stores_nothing(ip: InteractiveShell) -> None:
    ok(
        ip,
        "%%step s --catch err --retry 1\n"
        "import os\n"
        "first = not os.path.exists('tried')\n"
        "open('tried', 'w').close()\n"
        "attempt_value = 'first' if first else 'second'\n"
        "if first:\n"
        "    raise ValueError('once')",
    )
    task = Flow("port").latest_run["s"].task
    assert task.data.attempt_value == "second"
    assert task.data.err is None
    assert "attempt_value" not in task.attempts[0].artifacts


# -- joins: Metaflow's test/core merge_artifacts and merge_artifacts_include, ported --------------
# `self.x` -> `x`, `self.merge_artifacts(inputs, ...)` -> `merge(inputs, ...)`, `current.task_id`
# -> a fresh uuid. One deliberate difference: nbflow binds what the inputs agree on before the
# join's code runs (API.md), so Metaflow's "nothing is set before merge_artifacts" checks are
# not ported.

HELPERS = """
import uuid
from nbflow.exceptions import StepError

def raises(call, *words):
    try:
        call()
    except StepError as error:
        assert all(word in str(error) for word in words), str(error)
    else:
        raise AssertionError("expected a StepError")
"""

START = """
non_modified_passdown = "a"
modified_to_same_value = "b"
manual_merge_required = "c"
ignore_me = "d"
"""

MODIFY = """
manual_merge_required = uuid.uuid4().hex
ignore_me = uuid.uuid4().hex
modified_to_same_value = "e"
assert non_modified_passdown == "a"
"""

ALL = """
assert non_modified_passdown == "a"
"""

MERGE = """
raises(lambda: merge(inputs), "'manual_merge_required'", "existed before the split")
raises(lambda: merge(inputs, exclude=["ignore_me"], include=["non_modified_passdown"]),
       "not both")
# It differs, so it is not bound; and a failed merge binds nothing.
assert "manual_merge_required" not in globals()
manual_merge_required = mine = uuid.uuid4().hex
merge(inputs, exclude=["ignore_me"])
assert non_modified_passdown == "a"
assert modified_to_same_value == "e"
assert manual_merge_required == mine
assert "ignore_me" not in globals()
"""

MERGE_INCLUDE = """
manual_merge_required = mine = uuid.uuid4().hex
raises(lambda: merge(inputs, include=["manual_merge_required", "foobar"]), "'foobar'",
       "no input has")
merge(inputs, include=["non_modified_passdown"])
assert non_modified_passdown == "a"
assert manual_merge_required == mine
assert "ignore_me" not in globals()
"""

END = """
assert non_modified_passdown == "a"
assert isinstance(manual_merge_required, str)
"""


def branch(join: str) -> list[str]:
    return [
        f"%%step start\n{START}",
        f"%%step a --after start\n{MODIFY}",
        f"%%step b --after start\n{MODIFY}",
        f"%%step join --after a b\n{join}",
        f"%%step end --after join\n{END}",
    ]


def nested_branches(join: str) -> list[str]:
    # Metaflow's nested_branches.json: three levels of two-way splits, joined pairwise.
    cells = [f"%%step start\n{START}"]
    for split in ("a", "b", "aa", "ab", "ba", "bb"):
        cells.append(f"%%step {split} --after {split[:-1] or 'start'}\n{ALL}")
    for split in ("aa", "ab", "ba", "bb"):
        cells.append(f"%%step {split}a --after {split}\n{MODIFY}")
        cells.append(f"%%step {split}b --after {split}\n{MODIFY}")
        cells.append(f"%%step {split}a_{split}b_join --after {split}a {split}b\n{join}")
    cells.append(f"%%step aa_ab_join --after aaa_aab_join aba_abb_join\n{join}")
    cells.append(f"%%step ba_bb_join --after baa_bab_join bba_bbb_join\n{join}")
    cells.append(f"%%step a_b_join --after aa_ab_join ba_bb_join\n{join}")
    cells.append(f"%%step end --after a_b_join\n{END}")
    return cells


def foreach(join: str) -> list[str]:
    return [
        f"%%step start\n{START}",
        f"%%step foreach_split --after start\narr = [1, 2, 3]\n{ALL}",
        f"%%step foreach_inner_first --after foreach_split --foreach arr\n{MODIFY}",
        f"%%step foreach_inner_second --after foreach_inner_first\n{MODIFY}",
        f"%%step foreach_join --after foreach_inner_second --join\n{join}",
        f"%%step end --after foreach_join\n{END}",
    ]


def nested_foreach(join: str) -> list[str]:
    return [
        f"%%step start\n{START}",
        f"%%step split_x --after start\nx = 'abc'\n{ALL}",
        f"%%step split_y --after split_x --foreach x\ny = 'de'\n{ALL}",
        f"%%step split_z --after split_y --foreach y\nz = 'fghijk'\n{ALL}",
        f"%%step inner --after split_z --foreach z\n{MODIFY}",
        f"%%step join_z --after inner --join\n{join}",
        f"%%step join_y --after join_z --join\n{join}",
        f"%%step join_x --after join_y --join\n{join}",
        f"%%step end --after join_x\n{END}",
    ]


SHAPES = {
    "branch": branch,
    "nested_branches": nested_branches,
    "foreach": foreach,
    "nested_foreach": nested_foreach,
}
JOINS = {"merge_artifacts": MERGE, "merge_artifacts_include": MERGE_INCLUDE}


@pytest.mark.parametrize("test", JOINS)
@pytest.mark.parametrize("shape", SHAPES)
def test_metaflow_merge_artifacts(ip: InteractiveShell, shape: str, test: str) -> None:
    ok(ip, HELPERS)
    for cell in SHAPES[shape](JOINS[test]):
        ok(ip, cell)
    for run in (Flow("port").latest_run, ok(ip, "%flow run")):  # cell by cell, then whole
        assert run.status == "done"
        end = run["end"].task
        assert end.data.non_modified_passdown == "a"
        assert "ignore_me" not in end.artifacts  # excluded: it does not flow past the join
        if test == "merge_artifacts":
            assert end.data.modified_to_same_value == "e"
        else:  # include= binds only what it names
            assert "modified_to_same_value" not in end.artifacts


# -- joins: what is bound, what is left to `inputs`, what flows on --------------------------------


def test_a_name_created_in_every_branch_is_left_to_inputs(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nxs = [1, 2, 3]\nbase = 10")
    ok(ip, "%%step body --after start --foreach xs\nscore = item * base\na, b = item, -item")
    # The mechanical port of `self.merge_artifacts(inputs)`: no error over `score`, `a`, `b`
    # (created in the branches) nor `item`, `item_index` (the foreach's own).
    ok(ip, "%%step join --after body --join\nscores = [inp.score for inp in inputs]\nmerge(inputs)")
    join = Flow("port").latest_run["join"].task
    assert join.data.scores == [10, 20, 30]
    assert {"score", "a", "b", "item", "item_index"}.isdisjoint(join.artifacts)
    assert join.data.base == 10
    assert join.artifacts["base"].kind == "inherited"  # merge bound it: not stored again
    ok(ip, "%%step untouched --after body --join\nn = len(inputs)")
    assert "score" not in Flow("port").latest_run["untouched"].task.artifacts


def test_merge_exclude_stops_a_name_from_flowing_on(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nx = 1\nkeep = 2")
    ok(ip, "%%step a --after start\nya = 1")
    ok(ip, "%%step b --after start\nyb = 2")
    ok(
        ip,
        "%%step join --after a b\n"
        "seen = x\n"
        "merge(inputs, exclude=['x'])\n"
        "gone = 'x' not in globals()",
    )
    join = Flow("port").latest_run["join"].task
    assert (join.data.seen, join.data.gone) == (1, True)
    assert "x" not in join.artifacts
    assert {"keep", "ya", "yb"} <= set(join.artifacts)
    error = fails(ip, "%%step after --after join\ny = x")
    assert "NameError" in str(error)
    ok(ip, "%%step after --after join\ny = keep")
    ok(ip, "%flow config cache=on")
    for _ in range(2):  # the second run reuses the join from the cache: x still does not flow
        run = ok(ip, "%flow run")
        assert "x" not in run["join"].task.artifacts
        assert {"keep", "ya", "yb"} <= set(run["join"].task.artifacts)
    assert run["join"].task.status == "cached"


def test_merge_include_refuses_a_name_the_inputs_disagree_on(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nx = 1")
    ok(ip, "%%step a --after start\nscore = 1")
    ok(ip, "%%step b --after start\nscore = 2")
    error = fails(ip, "%%step join --after a b\nmerge(inputs, include=['score'])")
    assert "step 'join': merge(): include= names 'score', on which the inputs disagree" in str(
        error
    )
    error = fails(ip, "%%step join --after a b\nmerge(inputs, exclude='score')")
    assert "exclude= takes a list of names, e.g. exclude=['score']" in str(error)
    ok(
        ip,
        "%%step join --after a b\n"
        "score = max(i.score for i in inputs)\n"
        "merge(inputs, include=['score', 'x'])",
    )
    assert Flow("port").latest_run["join"].task.data.score == 2


def test_a_nested_join_keeps_the_outer_element(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\ngroups = [[1, 2], [3]]")
    ok(ip, "%%step outer --after start --foreach groups\nlabel = f'g{item_index}'")
    ok(ip, "%%step inner --after outer --foreach item\nsquare = item * item")
    ok(
        ip,
        "%%step inner_join --after inner --join\nseen = (item, item_index, label)\nmerge(inputs)",
    )
    joins = Flow("port").latest_run["inner_join"].tasks()
    assert [t.data.seen for t in joins] == [([1, 2], 0, "g0"), ([3], 1, "g1")]


def test_the_same_semantics_on_worker_processes(ip: InteractiveShell) -> None:
    # Payloads and results cross a process boundary there: what merge dropped, what a caught
    # step kept.
    ok(ip, HELPERS)
    for cell in foreach(MERGE_INCLUDE):
        ok(ip, cell)
    ok(ip, "%%step risky --after end --catch err\nkept = 1\nraise ValueError('no')")
    run = ok(ip, "%flow run --executor processes --workers 2")
    assert run.status == "done"
    assert "modified_to_same_value" not in run["end"].task.artifacts
    risky = run["risky"].task
    assert (risky.data.kept, risky.data.err.ename, risky.data.err.attempts) == (1, "ValueError", 1)
