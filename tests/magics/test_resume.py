"""`%flow resume` and `%flow load` on the kernel executor, in IPython's in-process shell.

The resume matrix: for each graph shape, one task position at a time fails in a full run, then
`%flow resume` must re-run exactly what did not finish (the failed task, its descendants, and
what the failure kept from starting) and take over everything else from the failed run. Each
task execution appends its name to a log file: the side-effect counter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magictools import clear_marks, fails, marks, ok

from nbflow import Flow, Run
from nbflow.exceptions import NbflowError, NotFound, StepError, StepFailed
from nbflow.kernel.magics import load_ipython_extension

# The notebook's plain cell. A task calls `enter(name)`: it is counted, then fails while the
# file gates/NAME exists (a file, not a notebook variable: plain data a step reads is context,
# recorded with the run and restored on resume).
HELPERS = """\
import os
LOG = @LOG@
GATES = @GATES@
def mark(name):
    with open(LOG, 'a') as f:
        f.write(f'{name}\\n')
def enter(name):
    mark(name)
    if os.path.exists(os.path.join(GATES, name)):
        raise RuntimeError(f'{name} is broken')
"""


def helpers(tmp_path: Path) -> str:
    return HELPERS.replace("@LOG@", repr(str(tmp_path / "log.txt"))).replace(
        "@GATES@", repr(str(tmp_path / "gates"))
    )


def start_session(shell: InteractiveShell, tmp_path: Path) -> None:
    """A fresh nbflow session (a restarted kernel) with the plain cell run."""
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    ok(shell, "%flow name demo")
    ok(shell, helpers(tmp_path))


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("NBFLOW_DATASTORE", str(tmp_path / "store"))
    for name in ("NBFLOW_EXECUTOR", "NBFLOW_WORKERS", "NBFLOW_CACHE", "NBFLOW_METADATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gates").mkdir()
    shell = InteractiveShell.instance()
    start_session(shell, tmp_path)
    yield shell


def break_task(tmp_path: Path, name: str) -> None:
    (tmp_path / "gates" / name).touch()


def mend_task(tmp_path: Path, name: str) -> None:
    (tmp_path / "gates" / name).unlink()


def name_of(step: str, path: tuple[int, ...]) -> str:
    """The name a task logs: its step and its element indices (`inner10`)."""
    return step + "".join(map(str, path))


# -- the shapes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    cells: list[str]
    parents: dict[str, list[str]]  # task name -> the task names it reads from
    result: int  # `result`, bound by the last step

    @property
    def tasks(self) -> set[str]:
        return set(self.parents)

    def descendants(self, name: str) -> set[str]:
        below = {child for child, ps in self.parents.items() if name in ps}
        for child in list(below):
            below |= self.descendants(child)
        return below


LINEAR = Shape(
    cells=["%%step s1\nenter('s1')\nv = 1"]
    + [f"%%step s{i} --after s{i - 1}\nenter('s{i}')\nv = v + 1" for i in range(2, 5)]
    + ["%%step s5 --after s4\nenter('s5')\nresult = v + 1"],
    parents={"s1": [], "s2": ["s1"], "s3": ["s2"], "s4": ["s3"], "s5": ["s4"]},
    result=5,
)

BRANCH = Shape(
    cells=[
        "%%step start\nenter('start')\nbase = 1",
        "%%step a --after start\nenter('a')\nsa = base + 1",
        "%%step b --after start\nenter('b')\nsb = base + 2",
        "%%step both --after a b\nenter('both')\ntotal = sa + sb",
        "%%step end --after both\nenter('end')\nresult = total * 10",
    ],
    parents={"start": [], "a": ["start"], "b": ["start"], "both": ["a", "b"], "end": ["both"]},
    result=50,
)

FOREACH = Shape(
    cells=[
        "%%step start\nenter('start')\nxs = [1, 2, 3]",
        "%%step each --after start --foreach xs\nenter(f'each{item_index}')\nsq = item * item",
        "%%step joined --after each --join\nenter('joined')\ntotal = sum(i.sq for i in inputs)",
        "%%step end --after joined\nenter('end')\nresult = total + 1",
    ],
    parents={
        "start": [],
        "each0": ["start"],
        "each1": ["start"],
        "each2": ["start"],
        "joined": ["each0", "each1", "each2"],
        "end": ["joined"],
    },
    result=15,
)

NESTED = Shape(
    cells=[
        "%%step start\nenter('start')\nxs = [1, 2]",
        "%%step outer --after start --foreach xs\noi = item_index\nenter(f'outer{oi}')\n"
        "ys = [item * 10, item * 10 + 1]",
        "%%step inner --after outer --foreach ys\nenter(f'inner{oi}{item_index}')\nv = item * 2",
        "%%step ijoin --after inner --join\nenter(f'ijoin{oi}')\npart = sum(i.v for i in inputs)",
        "%%step ojoin --after ijoin --join\nenter('ojoin')\ntotal = sum(i.part for i in inputs)",
        "%%step end --after ojoin\nenter('end')\nresult = total",
    ],
    parents={
        "start": [],
        "outer0": ["start"],
        "outer1": ["start"],
        "inner00": ["outer0"],
        "inner01": ["outer0"],
        "inner10": ["outer1"],
        "inner11": ["outer1"],
        "ijoin0": ["inner00", "inner01"],
        "ijoin1": ["inner10", "inner11"],
        "ojoin": ["ijoin0", "ijoin1"],
        "end": ["ojoin"],
    },
    result=20 + 22 + 40 + 42,
)

SHAPES = {"linear": LINEAR, "branch": BRANCH, "foreach": FOREACH, "nested": NESTED}
MATRIX = [
    pytest.param(shape, name, id=f"{key}-{name}")
    for key, shape in SHAPES.items()
    for name in shape.parents  # every task position, in order
]


def register(ip: InteractiveShell, tmp_path: Path, shape: Shape) -> None:
    """Run the step cells once (nothing broken), as a notebook's Run All would."""
    for cell in shape.cells:
        ok(ip, cell)
    assert marks(tmp_path) and Flow("demo").latest_run.status == "done"
    clear_marks(tmp_path)


def failed_run(ip: InteractiveShell, tmp_path: Path, broken: str) -> tuple[Run, set[str]]:
    """A full run in which task `broken` fails; returns it and the tasks that finished in it."""
    break_task(tmp_path, broken)
    error = fails(ip, "%flow run")
    assert isinstance(error, StepFailed)
    assert f"{broken} is broken" in error.evalue
    origin = Flow("demo").latest_run
    assert origin.status == "failed"
    finished = set(marks(tmp_path)) - {broken}
    mend_task(tmp_path, broken)
    clear_marks(tmp_path)
    return origin, finished


def check_resumed(
    resumed: Run, origin: Run, shape: Shape, *, ran: list[str], finished: set[str], broken: str
) -> None:
    assert resumed.status == "done"
    assert resumed.pathspec != origin.pathspec
    assert len(ran) == len(set(ran)), f"a task ran twice: {ran}"
    # Everything that finished in the failed run is taken over; the rest runs now.
    assert set(ran) == shape.tasks - finished
    assert {broken} | shape.descendants(broken) <= set(ran)
    seen = set()
    for step in resumed:
        for task in step.tasks():
            name = name_of(step.name, task.path)
            seen.add(name)
            if name in ran:
                assert task.status == "done", (name, task.status)
                assert task.origin is None
            else:
                assert task.status == "cached", (name, task.status)
                assert task.origin is not None, name
                assert task.origin.pathspec.startswith(f"{origin.pathspec}/"), name
                assert task.origin.status == "done"
    assert seen == shape.tasks
    assert resumed.data.result == shape.result


# -- the matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "broken"), MATRIX)
def test_resume_reruns_only_what_did_not_finish(
    ip: InteractiveShell, tmp_path: Path, shape: Shape, broken: str
) -> None:
    register(ip, tmp_path, shape)
    origin, finished = failed_run(ip, tmp_path, broken)
    assert not finished & ({broken} | shape.descendants(broken))
    resumed: Run = ok(ip, "%flow resume")
    check_resumed(resumed, origin, shape, ran=marks(tmp_path), finished=finished, broken=broken)


def test_one_failed_foreach_element_reruns_only_it_and_the_join(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    register(ip, tmp_path, FOREACH)
    _, finished = failed_run(ip, tmp_path, "each2")
    assert finished == {"start", "each0", "each1"}
    resumed = ok(ip, "%flow resume")
    assert sorted(marks(tmp_path)) == ["each2", "end", "joined"]
    assert [t.status for t in resumed["each"].tasks()] == ["cached", "cached", "done"]
    assert [t.item for t in resumed["each"].tasks()] == [1, 2, 3]


def test_resume_takes_the_latest_failed_run_or_the_one_named(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    register(ip, tmp_path, LINEAR)
    origin, _ = failed_run(ip, tmp_path, "s3")
    ok(ip, "%flow config cache=off")  # the later run must not serve s3 from the cache
    ok(ip, "%flow run")  # a later successful run does not hide the failed one
    for command in (
        "%flow resume", f"%flow resume {origin.run_id}", f"%flow resume {origin.pathspec}"
    ):
        clear_marks(tmp_path)
        resumed = ok(ip, command)
        assert sorted(marks(tmp_path)) == ["s3", "s4", "s5"], command
        assert resumed["s2"].task.origin.pathspec.startswith(f"{origin.pathspec}/"), command


# -- --from -----------------------------------------------------------------------------------


def test_resume_from_a_step_of_a_done_run_reruns_it_and_below(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    register(ip, tmp_path, LINEAR)
    done: Run = ok(ip, "%flow run")
    clear_marks(tmp_path)
    resumed = ok(ip, f"%flow resume {done.run_id} --from s3")
    assert resumed.status == "done"
    assert sorted(marks(tmp_path)) == ["s3", "s4", "s5"], "--from must re-run, not reuse"
    assert [resumed[s].task.status for s in ("s1", "s2", "s3", "s4", "s5")] == [
        "cached", "cached", "done", "done", "done",
    ]  # fmt: skip
    assert resumed.data.result == 5


def test_resume_from_a_step_above_the_failure_reruns_from_there(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    register(ip, tmp_path, LINEAR)
    origin, _ = failed_run(ip, tmp_path, "s4")
    resumed = ok(ip, "%flow resume --from s2")
    assert sorted(marks(tmp_path)) == ["s2", "s3", "s4", "s5"], "--from must re-run, not reuse"
    assert resumed["s1"].task.status == "cached"
    assert resumed["s1"].task.origin.pathspec.startswith(f"{origin.pathspec}/")


def test_resume_after_editing_a_finished_step_keeps_the_record_consistent(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    # The user edits s1 (which had finished) before resuming. Either the resumed run takes
    # s1 over and records the code that made it, or it runs the new code: never new code
    # recorded over old results.
    register(ip, tmp_path, LINEAR)
    origin, _ = failed_run(ip, tmp_path, "s3")
    ok(ip, "%%step s1\nenter('s1')\nv = 100")
    # That cell made an `incomplete` run (s2..s5 not in it), which a bare `%flow resume`
    # would take now (tests/magics/test_run_status.py); the failed run is named here.
    resumed: Run = ok(ip, f"%flow resume {origin.run_id}")
    meta = resumed._store.meta
    before = {spec["name"]: code for _, spec, code in meta.steps("demo", origin.run_id)}
    after = {spec["name"]: code for _, spec, code in meta.steps("demo", resumed.run_id)}
    s1 = resumed["s1"].task
    if s1.status == "cached":
        assert after["s1"] == before["s1"], "s1 is recorded with code that did not make it"
        assert resumed.data.result == 5
    else:
        assert s1.data.v == 100
        assert resumed.data.result == 104


# -- bad targets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "error_type", "message"),
    [
        ("%flow resume", NotFound, "no failed run to resume"),
        ("%flow resume 99", NotFound, "99"),
        ("%flow resume demo/99", NotFound, "99"),
        ("%flow resume abc", NbflowError, "'abc' is not a run"),
        ("%flow resume 2", StepError, "nothing to resume"),
        ("%flow resume 2 --from nope", StepError, "--from nope: no such step"),
    ],
)
def test_resume_without_something_to_resume_is_a_clear_error(
    ip: InteractiveShell, tmp_path: Path, command: str, error_type: type, message: str
) -> None:
    register(ip, tmp_path, LINEAR)
    ok(ip, "%flow run")  # demo/2, done
    clear_marks(tmp_path)
    runs = [r.pathspec for r in Flow("demo").runs()]
    error = fails(ip, command)
    assert isinstance(error, error_type)
    assert message in str(error)
    assert error._render_traceback_() == [f"{type(error).__name__}: {error}"]
    assert marks(tmp_path) == []
    assert [r.pathspec for r in Flow("demo").runs()] == runs  # no run left behind
    if "nothing to resume" in message:
        assert "--from" in str(error)  # says how to re-run part of it


def test_resume_from_an_unknown_step_of_a_failed_run_is_refused(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    register(ip, tmp_path, LINEAR)
    failed_run(ip, tmp_path, "s2")
    runs = len(Flow("demo").runs())
    error = fails(ip, "%flow resume --from s9")
    assert isinstance(error, StepError)
    assert "s9" in str(error) and "s1" in str(error)  # lists the steps there are
    assert len(Flow("demo").runs()) == runs
    assert marks(tmp_path) == []


# -- a restarted kernel -----------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "broken"), [(LINEAR, "s3"), (NESTED, "inner10")])
def test_resume_after_a_restart_finds_the_steps_in_the_run_record(
    ip: InteractiveShell, tmp_path: Path, shape: Shape, broken: str
) -> None:
    register(ip, tmp_path, shape)
    origin, finished = failed_run(ip, tmp_path, broken)
    start_session(ip, tmp_path)  # only the plain cell runs again, no step cell
    resumed = ok(ip, "%flow resume")
    check_resumed(resumed, origin, shape, ran=marks(tmp_path), finished=finished, broken=broken)


# -- context values ---------------------------------------------------------------------------

CONTEXT_FLOW = [
    "mode = 'old'",
    "%%step s1\nenter('s1')\nm1 = mode",
    "%%step s2 --after s1\nenter('s2')\nm2 = mode",
    "%%step s3 --after s2\nenter('s3')\nm3 = mode",
]


def test_a_resumed_task_sees_the_context_recorded_in_the_failed_run(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    for cell in CONTEXT_FLOW:
        ok(ip, cell)
    clear_marks(tmp_path)
    failed_run(ip, tmp_path, "s2")
    ok(ip, "mode = 'new'")  # hidden state changes between the failure and the resume
    resumed = ok(ip, "%flow resume")
    assert sorted(marks(tmp_path)) == ["s2", "s3"]
    assert resumed["s1"].task.data.m1 == "old"
    assert resumed["s2"].task.data.m2 == "old", "the re-run failed task saw today's notebook"


def test_a_task_that_never_ran_sees_the_context_of_the_run_it_resumes(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    for cell in CONTEXT_FLOW:
        ok(ip, cell)
    clear_marks(tmp_path)
    failed_run(ip, tmp_path, "s2")
    ok(ip, "mode = 'new'")
    resumed = ok(ip, "%flow resume")
    data = resumed.data
    assert (data.m1, data.m3) == ("old", "old"), "one resumed run mixed two values of 'mode'"


# -- %flow load -------------------------------------------------------------------------------

LOAD_FLOW = [
    "%%params\nk = 2",
    "mode = 'old'",
    "%%step start\nenter('start')\nxs = [1, 2, 3]\nbase = 10",
    "%%step sq --after start --foreach xs\nenter(f'sq{item_index}')\ny = item * k + base",
    "%%step total --after sq --join\nenter('total')\ns = sum(i.y for i in inputs)\nlabel = mode",
]
SEEN = ("k", "xs", "base", "item", "item_index", "inputs", "y", "s", "mode", "label")


def forget(ip: InteractiveShell) -> None:
    for name in SEEN:
        ip.user_ns.pop(name, None)


def test_load_a_foreach_task_binds_what_it_saw(ip: InteractiveShell, tmp_path: Path) -> None:
    for cell in LOAD_FLOW:
        ok(ip, cell)
    run: Run = ok(ip, "%flow run -p k=5")
    second = run["sq"].tasks()[1]
    forget(ip)
    ok(ip, f"%flow load {run.run_id}/sq/{second.task_id}")
    ns = ip.user_ns
    assert (ns["item"], ns["item_index"]) == (2, 1)
    assert (ns["xs"], ns["base"]) == ([1, 2, 3], 10)
    assert ns["k"] == 5  # the run's parameter, not the notebook's default
    assert "y" not in ns  # what the task bound is not an input
    ok(ip, "y = item * k + base")  # the step's body, by hand
    assert ns["y"] == second.data.y == 20
    forget(ip)
    ok(ip, f"%flow load {run.pathspec}/sq/{second.task_id}")  # the full FLOW/RUN/STEP/TASK form
    assert ns["item"] == 2


def test_load_a_join_binds_inputs_and_the_run_context(ip: InteractiveShell) -> None:
    for cell in LOAD_FLOW:
        ok(ip, cell)
    run: Run = ok(ip, "%flow run")
    ok(ip, "mode = 'new'")
    forget(ip)
    ok(ip, f"%flow load {run.run_id}/total")
    ns = ip.user_ns
    assert len(ns["inputs"]) == 3
    assert [i.y for i in ns["inputs"]] == [12, 14, 16]
    assert [i.item for i in ns["inputs"]] == [1, 2, 3]
    assert (ns["base"], ns["k"]) == (10, 2)
    assert ns["mode"] == "old"  # the context value the task read, not today's notebook
    assert "s" not in ns
    ok(ip, "s = sum(i.y for i in inputs)")
    assert ns["s"] == run.data.s


def test_load_a_step_with_several_tasks_lists_them(ip: InteractiveShell) -> None:
    for cell in LOAD_FLOW:
        ok(ip, cell)
    run: Run = ok(ip, "%flow run")
    error = fails(ip, f"%flow load {run.run_id}/sq")
    assert isinstance(error, NotFound)
    ids = [str(t.task_id) for t in run["sq"].tasks()]
    assert "3 tasks" in str(error)
    for task_id in ids:
        assert task_id in str(error)
    assert "%flow load" in str(error)  # how to name one
    error = fails(ip, f"%flow load {run.run_id}/nope")
    assert isinstance(error, NotFound)


def test_load_a_failed_foreach_element_binds_its_item(ip: InteractiveShell, tmp_path: Path) -> None:
    # Post-mortem: the task that failed is the one a user wants to replay.
    for cell in LOAD_FLOW:
        ok(ip, cell)
    break_task(tmp_path, "sq1")
    fails(ip, "%flow run")
    run = Flow("demo").latest_run
    failed = next(t for t in run["sq"].tasks() if t.status == "failed")
    forget(ip)
    ok(ip, f"%flow load {run.run_id}/sq/{failed.task_id}")
    ns = ip.user_ns
    assert (ns["xs"], ns["base"], ns["k"]) == ([1, 2, 3], 10, 2)
    assert (ns.get("item"), ns.get("item_index")) == (2, 1), "the failed element's item"


def test_load_a_cached_task_of_a_resumed_run(ip: InteractiveShell, tmp_path: Path) -> None:
    for cell in LOAD_FLOW:
        ok(ip, cell)
    break_task(tmp_path, "sq2")
    fails(ip, "%flow run")
    mend_task(tmp_path, "sq2")
    resumed: Run = ok(ip, "%flow resume")
    first = resumed["sq"].tasks()[0]
    assert first.status == "cached"
    forget(ip)
    ok(ip, f"%flow load {resumed.run_id}/sq/{first.task_id}")
    assert (ip.user_ns["item"], ip.user_ns["item_index"], ip.user_ns["base"]) == (1, 0, 10)
