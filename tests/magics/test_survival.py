"""Surviving failures on the kernel executor: --retry, --retry-delay, --timeout, --catch,
--when, bad options, and the cross-run cache, as a notebook user sees them (in-process)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magictools import clear_marks, fails, marks, ok

from nbflow import Flow, Run
from nbflow.exceptions import NbflowError, StepError, StepFailed
from nbflow.kernel.magics import load_ipython_extension

# A plain cell: helpers the steps call. `mark` appends one line per task execution (the
# side-effect counter); `bump` counts calls per name in a file, to fail the first attempts.
HELPERS = """\
import os
LOG = @LOG@
COUNTS = @COUNTS@
def mark(name):
    with open(LOG, 'a') as f:
        f.write(f'{name}\\n')
def bump(name):
    path = os.path.join(COUNTS, name)
    n = 1
    if os.path.exists(path):
        with open(path) as f:
            n = int(f.read()) + 1
    with open(path, 'w') as f:
        f.write(str(n))
    return n
"""


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("NBFLOW_DATASTORE", str(tmp_path / "store"))
    for name in ("NBFLOW_EXECUTOR", "NBFLOW_WORKERS", "NBFLOW_CACHE", "NBFLOW_METADATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "counts").mkdir()
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)  # a fresh nbflow session for every test
    ok(shell, "%flow name demo")
    ok(
        shell,
        HELPERS.replace("@LOG@", repr(str(tmp_path / "log.txt"))).replace(
            "@COUNTS@", repr(str(tmp_path / "counts"))
        ),
    )
    yield shell


def statuses(run: Run, step: str) -> list[str]:
    return [t.status for t in run[step].tasks()]


# -- --retry, --retry-delay -------------------------------------------------------------------


def test_retry_records_every_attempt_and_shows_only_the_last(
    ip: InteractiveShell, capsys: Any
) -> None:
    ok(
        ip,
        "%%step flaky --retry 2\n"
        "n = bump('flaky')\n"
        "partial = n * 10\n"
        "if n < 3:\n"
        "    raise RuntimeError(f'attempt {n} failed')\n"
        "result = n",
    )
    assert "retry 1 of 2" in capsys.readouterr().err
    assert ip.user_ns["result"] == 3
    assert ip.user_ns["partial"] == 30
    run = Flow("demo").latest_run
    assert run.status == "done"
    (task,) = run["flaky"].tasks()  # one visible task, not three
    assert task.status == "done"
    assert (task.data.result, task.data.partial) == (3, 30)
    attempts = task.attempts
    assert [a.status for a in attempts] == ["failed", "failed", "done"]
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert attempts[-1].pathspec == task.pathspec
    assert [a.error["ename"] for a in attempts[:2]] == ["RuntimeError", "RuntimeError"]
    assert [a.error["evalue"] for a in attempts[:2]] == ["attempt 1 failed", "attempt 2 failed"]
    assert attempts[-1].error is None
    assert attempts[0].artifacts == {} and attempts[1].artifacts == {}  # nothing kept of them


def test_retry_in_a_foreach_retries_only_the_failed_element(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nxs = ['a', 'b', 'c']")
    ok(
        ip,
        "%%step each --after start --foreach xs --retry 1\n"
        "n = bump(item)\n"
        "if item == 'b' and n == 1:\n"
        "    raise ValueError('first try of b')\n"
        "out = item * (item_index + 1)",
    )
    ok(ip, "%%step joined --after each --join\nouts = [i.out for i in inputs]")
    run = Flow("demo").latest_run
    tasks = run["each"].tasks()
    assert [t.status for t in tasks] == ["done", "done", "done"]
    assert [len(t.attempts) for t in tasks] == [1, 2, 1]
    assert tasks[1].attempts[0].error["evalue"] == "first try of b"
    assert run.data.outs == ["a", "bb", "ccc"]  # the join sees each element once


def test_retries_exhausted_fail_the_step_after_exactly_n_plus_one_attempts(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    error = fails(ip, "%%step doomed --retry 2\nbump('doomed')\nraise KeyError('never')")
    assert isinstance(error, StepFailed)
    assert error.ename == "KeyError"
    assert (tmp_path / "counts" / "doomed").read_text() == "3"
    run = Flow("demo").latest_run
    assert run.status == "failed"
    (task,) = run["doomed"].tasks()
    assert task.status == "failed"
    assert [a.status for a in task.attempts] == ["failed"] * 3
    assert all(a.error["ename"] == "KeyError" for a in task.attempts)


def test_a_step_done_on_retry_feeds_a_later_cell_after_a_failure(ip: InteractiveShell) -> None:
    # The retried step's first attempt failed; its last one is done. After a downstream
    # step fails, re-running that step's cell must find its parent done, not failed.
    ok(ip, "%%step flaky --retry 1\nn = bump('flaky')\nif n < 2:\n    raise RuntimeError('x')")
    fails(ip, "%%step after --after flaky\ny = 1 / 0")
    ok(ip, "%%step after --after flaky\ny = n * 10")
    assert ip.user_ns["y"] == 20
    reused = Flow("demo").latest_run["flaky"].task
    assert reused.status == "cached" and reused.origin.attempt == 2  # not run again


def test_retry_delay_is_waited_between_attempts(ip: InteractiveShell) -> None:
    delay = 0.3
    ok(
        ip,
        f"%%step flaky --retry 2 --retry-delay {delay}\n"
        "n = bump('flaky')\n"
        "if n < 3:\n"
        "    raise RuntimeError('not yet')",
    )
    attempts = Flow("demo").latest_run["flaky"].task.attempts
    assert len(attempts) == 3
    for before, after in itertools.pairwise(attempts):
        assert (after.started_at - before.finished_at).total_seconds() >= delay - 1e-3


# -- --timeout --------------------------------------------------------------------------------


def test_timeout_stops_the_task_and_the_kernel_stays_usable(ip: InteractiveShell) -> None:
    error = fails(ip, "%%step slow --timeout 0.5\nimport time\ntime.sleep(10)\nfinished = True")
    assert isinstance(error, StepFailed)
    assert error.ename == "TaskTimeout"
    assert "0.5 s" in error.evalue and "--timeout" in error.evalue
    task = Flow("demo").latest_run["slow"].task
    assert task.status == "failed"
    assert task.error["ename"] == "TaskTimeout"
    assert task.duration is not None and task.duration < 5  # interrupted, not slept out
    assert "finished" not in ip.user_ns
    ok(ip, "after = 1 + 1")
    assert ip.user_ns["after"] == 2
    ok(ip, "%%step fine\ny = 3")
    assert Flow("demo").latest_run["fine"].task.data.y == 3


def test_a_timeout_is_not_swallowed_by_a_broad_except_in_the_step(ip: InteractiveShell) -> None:
    # Retry loops around network calls catch Exception; the limit must still hold.
    error = fails(
        ip,
        "%%step slow --timeout 0.3\n"
        "import time\n"
        "for _ in range(10):\n"
        "    try:\n"
        "        time.sleep(0.3)\n"
        "    except Exception:\n"
        "        pass\n"
        "finished = True",
    )
    assert isinstance(error, StepFailed)
    assert error.ename == "TaskTimeout"
    assert Flow("demo").latest_run["slow"].task.status == "failed"


def test_a_finished_task_leaves_no_alarm_behind(ip: InteractiveShell) -> None:
    ok(ip, "%%step quick --timeout 0.3\nz = 1")
    ok(ip, "import time\ntime.sleep(0.5)\nafter_sleep = True")  # no TaskTimeout out of nowhere
    assert ip.user_ns["after_sleep"] is True


def test_timeout_with_retry_is_attempted_twice(ip: InteractiveShell) -> None:
    error = fails(ip, "%%step slow --timeout 0.3 --retry 1\nimport time\ntime.sleep(10)")
    assert isinstance(error, StepFailed)
    assert error.ename == "TaskTimeout"
    attempts = Flow("demo").latest_run["slow"].task.attempts
    assert [a.status for a in attempts] == ["failed", "failed"]
    assert [a.error["ename"] for a in attempts] == ["TaskTimeout", "TaskTimeout"]


# -- --catch ----------------------------------------------------------------------------------


def test_catch_stores_the_error_and_the_run_goes_on(ip: InteractiveShell, tmp_path: Path) -> None:
    ok(ip, "%%step start\nx = 1")
    ok(
        ip,
        "%%step risky --after start --retry 1 --catch err\n"
        "bump('risky')\n"
        "half = 'bound before the error'\n"
        "raise ValueError(f'bad {x}')",
    )
    assert (tmp_path / "counts" / "risky").read_text() == "2"  # caught after the last retry
    assert ip.user_ns["err"].ename == "ValueError"
    ok(ip, "%%step after --after risky\nkind = err.ename\nwhy = err.evalue\ny = x + 1")
    run = Flow("demo").latest_run
    assert run.status == "done"
    task = run["risky"].task
    assert task.status == "done"
    assert (task.data.err.ename, task.data.err.evalue) == ("ValueError", "bad 1")
    assert [a.status for a in task.attempts] == ["failed", "done"]
    assert task.attempts[0].error["ename"] == "ValueError"
    assert task.error is not None and task.error["ename"] == "ValueError"  # on record
    assert (run.data.kind, run.data.why, run.data.y) == ("ValueError", "bad 1", 2)

    full = ok(ip, "%flow run")
    assert full.status == "done"
    assert full["after"].task.data.kind == "ValueError"


def test_catch_on_success_binds_none(ip: InteractiveShell) -> None:
    ok(ip, "%%step safe --catch err\nvalue = 7")
    task = Flow("demo").latest_run["safe"].task
    assert task.data.err is None
    assert task.data.value == 7
    assert ip.user_ns["err"] is None


def test_a_caught_failure_is_not_reused_by_the_cache(ip: InteractiveShell) -> None:
    # The caught task did not succeed: a later full run must try it again, not replay the error.
    ok(
        ip,
        "%%step fetch --catch err\n"
        "n = bump('fetch')\n"
        "if n <= 2:\n"
        "    raise ConnectionError('offline')\n"
        "value = n",
    )
    first = ok(ip, "%flow run")
    assert first["fetch"].task.data.err.ename == "ConnectionError"
    second = ok(ip, "%flow run")
    task = second["fetch"].task
    assert task.status == "done", "a caught failure was reused from the cache"
    assert task.data.err is None
    assert task.data.value == 3


# -- --when -----------------------------------------------------------------------------------

WHEN_FLOW = [
    "%%step start\nxs = [1, 2, 3, 4]",
    "%%step each --after start --foreach xs\nv = item * 10\nmark(f'each{item}')",
    "%%step big --after each --when 'v > 20'\nw = v + 1\nmark(f'big{item}')",
    "%%step after --after big\nu = w * 2\nmark(f'after{item}')",
    "%%step joined --after after --join\nus = [i.u for i in inputs]\nn = len(inputs)\n"
    "mark('joined')",
]


def _check_when_run(run: Run) -> None:
    assert run.status == "done"
    assert statuses(run, "each") == ["done"] * 4
    assert statuses(run, "big") == ["skipped", "skipped", "done", "done"]
    assert statuses(run, "after") == ["skipped", "skipped", "done", "done"]
    assert statuses(run, "joined") == ["done"]
    assert (run.data.us, run.data.n) == ([62, 82], 2)


def test_when_skips_elements_what_follows_them_and_the_join_gets_the_rest(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    for cell in WHEN_FLOW:
        ok(ip, cell)
    _check_when_run(Flow("demo").latest_run)
    assert sorted(m for m in marks(tmp_path) if not m.startswith("each")) == [
        "after3", "after4", "big3", "big4", "joined",
    ]  # fmt: skip
    clear_marks(tmp_path)
    ok(ip, "%flow config cache=off")
    _check_when_run(ok(ip, "%flow run"))
    assert sorted(m for m in marks(tmp_path) if not m.startswith("each")) == [
        "after3", "after4", "big3", "big4", "joined",
    ]  # fmt: skip


def test_when_false_on_a_branch_the_static_join_gets_the_other_branch(
    ip: InteractiveShell,
) -> None:
    ok(ip, "%%params\nuse_a = False")
    ok(ip, "%%step start\nbase = 1")
    ok(ip, "%%step a --after start --when use_a\nscore_a = base + 1")
    ok(ip, "%%step only_a --after a\nmore = score_a + 1")
    ok(ip, "%%step b --after start\nscore_b = base + 2")
    ok(ip, "%%step both --after a b\nn = len(inputs)\nseen = [i.step for i in inputs]")
    run = ok(ip, "%flow run")
    assert run.status == "done"
    assert statuses(run, "a") == ["skipped"]
    assert statuses(run, "only_a") == ["skipped"]
    assert (run["both"].task.data.n, run["both"].task.data.seen) == (1, ["b"])
    run = ok(ip, "%flow run -p use_a=true")
    assert statuses(run, "a") == ["done"]
    assert run["only_a"].task.data.more == 3
    assert (run["both"].task.data.n, run["both"].task.data.seen) == (2, ["a", "b"])


def test_when_that_does_not_compile_is_refused_at_once(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nv = 1")
    runs = len(Flow("demo").runs())
    error = fails(ip, "%%step big --after start --when 'v >'\nw = v")
    assert isinstance(error, StepError)
    assert "step 'big'" in str(error)
    assert "--when" in str(error)
    assert len(Flow("demo").runs()) == runs  # nothing ran, no run was made
    assert "w" not in ip.user_ns


def test_when_that_raises_fails_clearly_and_the_kernel_goes_on(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nv = 1")
    error = fails(ip, "%%step big --after start --when 'v / 0 > 1'\nw = v")
    assert isinstance(error, NbflowError)
    message = str(error)
    assert "big" in message
    assert "ZeroDivisionError" in message
    assert "v / 0 > 1" in message
    run = Flow("demo").latest_run
    assert run.status == "failed"
    assert "w" not in ip.user_ns
    ok(ip, "%%step big --after start --when 'v > 0'\nw = v + 1")
    assert Flow("demo").latest_run["big"].task.data.w == 2


# -- bad options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("--retry -1", "--retry -1"),
        ("--retry 1.5", "--retry 1.5"),
        ("--retry abc", "--retry abc"),
        ("--retry-delay -2", "--retry-delay -2"),
        ("--timeout 0", "--timeout 0"),
        ("--timeout -1", "--timeout -1"),
        ("--timeout abc", "--timeout abc"),
        ("--timeout nan", "--timeout nan"),
        ("--resources tpu=1", "unknown resource 'tpu'"),
        ("--resources cpu=lots", "cpu"),
        ("--catch 1x", "--catch 1x"),
    ],
)
def test_bad_option_values_are_refused_before_anything_runs(
    ip: InteractiveShell, tmp_path: Path, options: str, message: str
) -> None:
    error = fails(ip, f"%%step slow {options}\nmark('ran')\nx = 1")
    assert isinstance(error, StepError)
    assert message in str(error)
    assert "step 'slow'" in str(error)
    assert marks(tmp_path) == []
    assert Flow("demo").runs() == []
    error = fails(ip, "%flow run")  # the refused step was not registered either
    assert "no steps are registered" in str(error)


def test_a_resource_request_the_machine_can_never_meet_is_refused_by_a_full_run(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    ok(ip, "%%step huge --resources cpu=100000\nmark('huge')\nx = 1")
    clear_marks(tmp_path)
    error = fails(ip, "%flow run")
    assert isinstance(error, StepError)
    assert "huge" in str(error) and "cpu" in str(error)
    assert marks(tmp_path) == []


# -- the cache --------------------------------------------------------------------------------

CACHE_FLOW = [
    "def scale(v):\n    return v * 2\ndef twice(v):\n    return scale(v)\nmode = 'plain'",
    "%%params\nn = 3",
    "%%step r1\nmark('r1')\nx = 1",
    "%%step c1 --after r1\nmark('c1')\ncx = x + 1",
    "%%step r2\nmark('r2')\ny = n",
    "%%step c2 --after r2\nmark('c2')\ncy = twice(y)",
    "%%step r3\nmark('r3')\nxs = [1, 2, 3]\nlabel = mode",
    "%%step each --after r3 --foreach xs\nmark(f'each{item_index}')\ne = item * 10",
    "%%step joined --after each --join\nmark('joined')\ntotal = sum(i.e for i in inputs)",
]
ALL = {"r1", "c1", "r2", "c2", "r3", "each0", "each1", "each2", "joined"}


@pytest.fixture
def cached(ip: InteractiveShell, tmp_path: Path) -> Run:
    """The cache flow registered, then one full run that ran everything: the cache source."""
    for cell in CACHE_FLOW:
        ok(ip, cell)
    clear_marks(tmp_path)
    first: Run = ok(ip, "%flow run")
    assert first.status == "done"
    assert sorted(marks(tmp_path)) == sorted(ALL)
    clear_marks(tmp_path)
    return first


def _ran_and_cached(run: Run) -> tuple[set[str], set[str]]:
    ran, reused = set(), set()
    for step in run:
        for task in step.tasks():
            name = step.name + (str(task.path[-1]) if step.name == "each" else "")
            assert task.status in ("done", "cached"), (name, task.status)
            (ran if task.status == "done" else reused).add(name)
    return ran, reused


def test_a_second_full_run_reuses_every_task(
    ip: InteractiveShell, tmp_path: Path, cached: Run
) -> None:
    second: Run = ok(ip, "%flow run")
    assert second.status == "done"
    assert marks(tmp_path) == []  # no body ran again
    assert _ran_and_cached(second) == (set(), ALL)
    for step in second:
        for old, new in zip(cached[step.name].tasks(), step.tasks(), strict=True):
            assert new.origin is not None
            assert new.origin.pathspec == old.pathspec
            assert new.origin.pathspec.startswith(f"{cached.pathspec}/")
    assert (second.data.total, second["c2"].task.data.cy) == (60, 6)
    assert [t.item for t in second["each"].tasks()] == [1, 2, 3]


def test_a_changed_step_runs_again_with_what_reads_its_changed_output(
    ip: InteractiveShell, tmp_path: Path, cached: Run
) -> None:
    ok(ip, "%%step r1\nmark('r1')\nx = 5")  # edited by hand: always runs
    assert marks(tmp_path) == ["r1"]
    clear_marks(tmp_path)
    run = ok(ip, "%flow run")
    assert sorted(marks(tmp_path)) == ["c1", "r1"]
    assert _ran_and_cached(run) == ({"r1", "c1"}, ALL - {"r1", "c1"})
    assert run["c1"].task.data.cx == 6


def test_a_changed_step_with_the_same_output_keeps_its_children_cached(
    ip: InteractiveShell, tmp_path: Path, cached: Run
) -> None:
    ok(ip, "%%step r1\nmark('r1')\nx = 2 - 1")
    clear_marks(tmp_path)
    run = ok(ip, "%flow run")
    assert marks(tmp_path) == ["r1"]  # c1's input artifact is the same value
    assert run["c1"].task.status == "cached"


def test_a_changed_parameter_reruns_only_the_tasks_that_read_it(
    ip: InteractiveShell, tmp_path: Path, cached: Run
) -> None:
    run = ok(ip, "%flow run -p n=4")
    assert sorted(marks(tmp_path)) == ["c2", "r2"]
    assert _ran_and_cached(run) == ({"r2", "c2"}, ALL - {"r2", "c2"})
    assert run["c2"].task.data.cy == 8
    clear_marks(tmp_path)
    back = ok(ip, "%flow run -p n=3")  # the first run's parameters again: all cached
    assert marks(tmp_path) == []
    assert back["c2"].task.origin.pathspec == cached["c2"].task.pathspec


def test_a_changed_foreach_element_reruns_only_that_element_and_the_join(
    ip: InteractiveShell, tmp_path: Path, cached: Run
) -> None:
    ok(ip, "%%step r3\nmark('r3')\nxs = [1, 2, 4]\nlabel = mode")
    clear_marks(tmp_path)
    run = ok(ip, "%flow run")
    assert sorted(marks(tmp_path)) == ["each2", "joined", "r3"]
    assert statuses(run, "each") == ["cached", "cached", "done"]
    assert run.data.total == 70


def test_a_changed_helper_function_invalidates_the_steps_that_call_it(
    ip: InteractiveShell, tmp_path: Path, cached: Run
) -> None:
    ok(ip, "def twice(v):\n    return scale(v) + 0.5")
    run = ok(ip, "%flow run")
    assert marks(tmp_path) == ["c2"]
    assert run["c2"].task.data.cy == 6.5
    clear_marks(tmp_path)
    ok(ip, "def scale(v):\n    return v * 3")  # a helper of the helper
    run = ok(ip, "%flow run")
    assert marks(tmp_path) == ["c2"]
    assert run["c2"].task.data.cy == 9.5


def test_changed_plain_data_read_by_a_step_invalidates_it(
    ip: InteractiveShell, tmp_path: Path, cached: Run
) -> None:
    ok(ip, "mode = 'fancy'")
    run = ok(ip, "%flow run")
    # xs is unchanged, so the foreach elements stay cached (the join, which carries the new
    # `label` along, may run again).
    assert set(marks(tmp_path)) - {"joined"} == {"r3"}
    assert run["r3"].task.data.label == "fancy"


def test_no_cache_step_always_runs_in_a_full_run(
    ip: InteractiveShell, tmp_path: Path, cached: Run
) -> None:
    ok(ip, "%%step c1 --after r1 --no-cache\nmark('c1')\ncx = x + 1")
    clear_marks(tmp_path)
    for _ in range(2):
        run = ok(ip, "%flow run")
        assert marks(tmp_path) == ["c1"]
        assert _ran_and_cached(run) == ({"c1"}, ALL - {"c1"})
        clear_marks(tmp_path)


def test_flow_config_cache_off_runs_everything(
    ip: InteractiveShell, tmp_path: Path, cached: Run
) -> None:
    ok(ip, "%flow config cache=off")
    run = ok(ip, "%flow run")
    assert sorted(marks(tmp_path)) == sorted(ALL)
    assert _ran_and_cached(run) == (ALL, set())
    ok(ip, "%flow config cache=on")
    clear_marks(tmp_path)
    ok(ip, "%flow run")
    assert marks(tmp_path) == []


def test_a_step_cell_run_by_hand_always_runs(
    ip: InteractiveShell, tmp_path: Path, cached: Run
) -> None:
    for _ in range(2):
        ok(ip, "%%step r1\nmark('r1')\nx = 1")
        assert Flow("demo").latest_run["r1"].task.status == "done"
    assert marks(tmp_path) == ["r1", "r1"]
