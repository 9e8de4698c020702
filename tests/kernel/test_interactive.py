"""Working in a notebook, cell by cell, on a real kernel: edits, restarts, Run All, failures.

Cells are executed one at a time in a kernel kept running (`LiveKernel`), the way a user runs
them in JupyterLab; what the runs stored is read back from a fresh process.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from kerneltools import (
    FlowState,
    LiveKernel,
    blob_files,
    error_outputs,
    kernel_env,
    read_flow,
    read_notebook,
    step_cells,
    summary_line,
    text,
    the_error,
    traceback_text,
)
from nbformat import NotebookNode

pytestmark = pytest.mark.kernel

MIB = 1 << 20


def assert_no_run_left_running(flow: FlowState) -> None:
    # A cell that has finished, however it ended, leaves no run `running` behind.
    stuck = [run.id for run in flow.runs if run.status == "running"]
    assert not stuck, f"runs left 'running' after their cell finished: {stuck} ({flow.runs})"
    tasks = [t for run in flow.runs for ts in run.steps.values() for t in ts]
    assert {t["status"] for t in tasks} <= {"done", "cached", "failed"}


# -- (a) editing a step and running its cell again ------------------------------------------------

BIG = """%%step big
weights = np.random.default_rng(7).random(128 * 1024)
print(f"{weights.nbytes} bytes")"""
PREP = """%%step prep --after big
scaled = weights / weights.max()
total = round(float(weights.sum()), 6)"""
MODEL = """%%step model --after prep
score = round(total * {factor}, 3)
print(f"score {{score}}")"""


def test_rerunning_an_edited_step_reuses_upstream_tasks(live: LiveKernel, datastore: Path) -> None:
    live.run("%load_ext nbflow\n%flow name edits")
    live.run("import numpy as np")
    live.run(BIG)
    live.run(PREP)
    first_model = live.run(MODEL.format(factor=2))
    assert summary_line(first_model).endswith("run edits/1")
    blobs = len(blob_files(datastore))
    assert blobs == 2  # `weights` and `scaled`, 1 MiB each; the scalars are stored inline

    second_model = live.run(MODEL.format(factor=3))  # the user edits the cell and runs it again
    assert summary_line(second_model).endswith("run edits/2")
    shown = live.run("print(score)")
    flow = read_flow(datastore, "edits")
    first, second = flow.run(1), flow.run(2)
    assert [r.status for r in flow.runs] == ["done", "done"]
    total = first.task("prep")["data"]["total"]
    assert first.task("model")["data"]["score"] == round(total * 2, 3)  # history is kept
    assert second.task("model")["data"]["score"] == round(total * 3, 3)
    assert second.task("model")["status"] == "done"
    assert text(shown) == f"{round(total * 3, 3)}\n"  # the new value is bound in the notebook
    for step in ("big", "prep"):
        reused, original = second.task(step), first.task(step)
        assert reused["status"] == "cached"
        assert reused["origin"] == original["id"]
        assert reused["task_id"] != original["task_id"]
        assert reused["artifacts"] == original["artifacts"]  # same keys: nothing copied
        assert reused["stdout"] == original["stdout"]
    weights_key = first.task("big")["artifacts"]["weights"]["key"]
    assert second.task("model")["artifacts"]["weights"]["key"] == weights_key
    assert second.task("model")["parents"] == [second.task("prep")["task_id"]]
    assert len(blob_files(datastore)) == blobs

    # Editing a middle step: a new run that reuses `big`, re-runs `prep`; `model` waits for its
    # cell, which then completes that same run.
    third_prep = live.run(PREP.replace("weights.max()", "weights.sum()"))
    assert summary_line(third_prep).endswith("run edits/3")
    third = read_flow(datastore, "edits").run(3)
    assert set(third.steps) == {"big", "prep"}
    assert len(blob_files(datastore)) == blobs + 1  # only the new `scaled`
    third_model = live.run(MODEL.format(factor=3))
    assert summary_line(third_model).endswith("run edits/3")
    third = read_flow(datastore, "edits").run(3)
    assert third.status == "done"
    assert third.statuses() == {"big": ["cached"], "prep": ["done"], "model": ["done"]}
    assert third.task("big")["origin"] == first.task("big")["id"]  # the task that really ran
    weights = third.task("big")["artifacts"]["weights"]
    assert weights["preview"]["shape"] == [128 * 1024]
    assert weights["size"] >= MIB


# -- (b) a kernel restart -------------------------------------------------------------------------

START = """%%step start
xs = list(range(n))"""
PREP_TIMES = """%%step prep --after start
doubled = [{k} * x for x in xs]"""
REPORT = """%%step report --after prep
total = sum(doubled)
print(f"total {total}")"""


def test_after_a_restart_a_step_takes_its_parents_from_the_latest_successful_run(
    workdir: Path, datastore: Path, kernel_name: str
) -> None:
    env = kernel_env(datastore)
    with LiveKernel(workdir, env, kernel_name) as before:
        before.run("%load_ext nbflow\n%flow name restart")
        before.run("%%params\nn = 4")
        before.run(START)
        before.run(PREP_TIMES.format(k=2))  # run 1
        before.run(PREP_TIMES.format(k=3))  # run 2: the latest successful run with `prep`
        before.fail('%%step prep --after start\nraise RuntimeError("broken")')  # run 3: failed

    # A new kernel, as after a restart: only the extension, the parameters and a later step.
    with LiveKernel(workdir, env, kernel_name) as after:
        after.run("%load_ext nbflow\n%flow name restart")
        after.run("%%params\nn = 4")
        report = after.run(REPORT)

    out = text(report)
    assert "total 18\n" in out  # 3 * (0 + 1 + 2 + 3): run 2's `prep`
    assert re.search(r"\bprep\b.*\brestart/2\b", out), f"does not say which run: {out!r}"
    flow = read_flow(datastore, "restart")
    assert [r.status for r in flow.runs] == ["done", "failed", "done", "done"]
    new = flow.latest
    assert summary_line(report).endswith(f"run {new.id}")
    assert new.statuses() == {"start": ["cached"], "prep": ["cached"], "report": ["done"]}
    assert new.task("prep")["origin"] == flow.run(2).task("prep")["id"]
    assert new.task("start")["origin"] == flow.run(1).task("start")["id"]
    assert new.task("report")["data"]["doubled"] == [0, 3, 6, 9]
    assert new.task("report")["stdout"] == "total 18\n"


# -- (c) Run All twice in one kernel --------------------------------------------------------------


def test_run_all_twice_in_one_kernel_gives_two_complete_runs(
    live: LiveKernel, datastore: Path
) -> None:
    nb = read_notebook("foreach")
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    steps = list(step_cells(nb))
    for _ in range(2):
        cells = [live.run(source) for source in sources]
    assert all(summary_line(c).endswith("run foreach/2") for c in cells if c.source[:6] == "%%step")
    flow = read_flow(datastore, "foreach")
    assert [r.id for r in flow.runs] == ["foreach/2", "foreach/1"]
    for run in flow.runs:
        assert run.status == "done"
        assert list(run.steps) == steps
        assert [len(run.tasks(s)) for s in steps] == [1, 4, 1, 1]
        assert all(s == "done" for ss in run.statuses().values() for s in ss), run
        assert run.task("collect")["data"]["order"] == ["Paris", "Oslo", "Lima", "Kyoto"]
    # Each run has its own tasks: the second Run All re-ran everything from the top.
    first_ids = {t["task_id"] for ts in flow.run(1).steps.values() for t in ts}
    second_ids = {t["task_id"] for ts in flow.run(2).steps.values() for t in ts}
    assert not first_ids & second_ids


# -- (d) a step that raises -----------------------------------------------------------------------

DIVIDE = """%%step divide --after start --foreach numbers
print(f"dividing by {item}")
ratio = 8 / item"""


@dataclass
class Failure:
    failed: NotebookNode  # the cell whose step raised
    child: NotebookNode  # then: a step after the failed one
    fixed: NotebookNode  # then: the failed step's cell, fixed
    other: NotebookNode  # then: a step after `side`, which ran before the failure
    before_fix: FlowState
    after_fix: FlowState


@pytest.fixture(scope="module")
def failure(tmp_path_factory: pytest.TempPathFactory, kernel_name: str) -> Failure:
    workdir = tmp_path_factory.mktemp("failure")
    datastore = workdir / "store"
    with LiveKernel(workdir, kernel_env(datastore), kernel_name) as live:
        live.run("%load_ext nbflow\n%flow name boom")
        live.run('%%step start\nnumbers = [4, 2, 0, 1]\nprint("start")')
        live.run("%%step side --after start\nside_value = len(numbers)")
        failed = live.execute(DIVIDE)
        child = live.execute("%%step after --after divide\nhalf = ratio / 2")
        before_fix = read_flow(datastore, "boom")
        fixed = live.execute(DIVIDE.replace("8 / item", '8 / item if item else float("inf")'))
        other = live.execute("%%step side_report --after side\nreport = side_value * 2")
    return Failure(failed, child, fixed, other, before_fix, read_flow(datastore, "boom"))


def run_of(cell: NotebookNode) -> int:
    """The run id a step cell's summary line names."""
    found = re.search(r" · run \w+/(\d+)$", summary_line(cell))
    assert found, f"no summary line in {text(cell)!r}"
    return int(found.group(1))


def test_a_failing_step_shows_one_traceback_naming_the_step(failure: Failure) -> None:
    cell = failure.failed
    error = the_error(cell)
    assert "divide" in error.evalue
    assert "ZeroDivisionError" in error.evalue and "division by zero" in error.evalue
    assert "cell line 3" in error.evalue  # `ratio = 8 / item`, under the %%step line
    run1 = failure.before_fix.run(1)
    failed_task = run1.tasks("divide")[2]
    assert failed_task["id"] in error.evalue  # boom/1/divide/<task id>
    shown = traceback_text(error)
    assert shown.count("Traceback (most recent call last)") == 1
    assert "ratio = 8 / item" in shown
    # One traceback of the user's code: no frame of nbflow's own machinery.
    internal = re.findall(r"\S*nbflow/\S+\.py", shown)
    assert not internal, f"the traceback shows nbflow's own frames {internal}:\n{shown}"
    assert text(cell) == "dividing by 4\ndividing by 2\ndividing by 0\n"  # no ✓ line


def test_a_failing_step_fails_its_task_and_run_and_keeps_earlier_tasks(failure: Failure) -> None:
    run1 = failure.before_fix.run(1)
    assert run1.status == "failed"
    start = run1.task("start")
    assert start["status"] == "done"
    assert start["data"] == {"numbers": [4, 2, 0, 1]}
    divide = run1.tasks("divide")
    assert [t["status"] for t in divide[:3]] == ["done", "done", "failed"]
    assert [t["data"].get("ratio") for t in divide[:2]] == [2.0, 4.0]  # readable
    assert divide[2]["stdout"] == "dividing by 0\n"
    assert divide[2]["error"]["ename"] == "ZeroDivisionError"
    assert "running" not in {t["status"] for t in divide}


def test_a_step_after_a_failed_step_says_so_and_leaves_no_run_running(failure: Failure) -> None:
    error = the_error(failure.child)
    assert "'after'" in error.evalue and "'divide'" in error.evalue
    assert_no_run_left_running(failure.before_fix)


def test_the_fixed_step_runs_in_a_new_run_on_the_same_start(failure: Failure) -> None:
    assert not error_outputs(failure.fixed)
    flow = failure.after_fix
    new = flow.run(run_of(failure.fixed))
    assert new.run_id > 1
    # The fixed cell run by hand: a run of the steps it needed, not of the whole flow (issue 12:
    # `done` only when every registered step ran), so `incomplete`, and Resume finishes it.
    assert new.status == "incomplete"
    assert new.statuses()["start"] == ["cached"]
    assert new.statuses()["divide"] == ["done"] * 4
    assert new.task("start")["origin"] == flow.run(1).task("start")["id"]
    assert [t["data"]["ratio"] for t in new.tasks("divide")] == [2.0, 4.0, float("inf"), 8.0]
    assert flow.run(1).status == "failed"  # the failed run stays as it was


def test_after_a_failure_the_steps_that_ran_before_it_stay_usable(failure: Failure) -> None:
    # `side` ran fine in this kernel before `divide` failed; a step after it must still run,
    # on that very task, after the failure and its fix.
    assert not error_outputs(failure.other), the_error(failure.other).evalue
    flow = failure.after_fix
    run = flow.run(run_of(failure.other))
    assert run.status == "incomplete"  # a cell run by hand: not every registered step ran
    assert run.task("side")["status"] == "cached"
    assert run.task("side")["origin"] == flow.run(1).task("side")["id"]
    assert run.task("side_report")["data"]["report"] == 8


# -- (e) bad input --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadInput:
    name: str
    source: str
    ename: str
    says: tuple[str, ...]  # fragments the message must contain: the step, the problem, the fix
    setup: tuple[str, ...] = ()


BAD_INPUTS = [
    BadInput(
        "unknown_parent",
        "%%step orphan --after nowhere\ny = 1",
        "GraphError",
        ("'orphan'", "'nowhere'", "--after"),
    ),
    BadInput(
        "cycle",
        "%%step up --after down\nu = 1",  # `up` exists with --after start; `down` is after it
        "GraphError",
        ("'up'", "cycle", "up -> down", "--after"),
        setup=("%%step up --after start\nu = 1", "%%step down --after up\nd = u + 1"),
    ),
    BadInput(
        "foreach_missing",
        "%%step each_missing --after start --foreach nothing\ny = item",
        "StepError",
        ("'each_missing'", "--foreach nothing", "'start'", "Bind it"),
    ),
    BadInput(
        "foreach_not_iterable",
        "%%step each_count --after start --foreach count\ny = item",
        "StepError",
        ("'each_count'", "'count'", "int", "iterable"),
    ),
    BadInput(
        "join_without_foreach",
        "%%step lonely --after start --join\ny = len(inputs)",
        "GraphError",
        ("'lonely'", "--join", "no foreach is open", "--foreach"),
    ),
    BadInput(
        "mixed_foreach_levels",
        "%%step mixed --after per_x start\ny = 1",
        "GraphError",
        ("'mixed'", "foreach levels", "'per_x'", "--join"),
        setup=("%%step per_x --after start --foreach xs\nsq = item * item",),
    ),
    BadInput(
        "name_not_identifier",
        "%%step my-step\ny = 1",
        "GraphError",
        ("'my-step'", "identifier", "'my_step'"),
    ),
    BadInput(
        "name_starts_with_digit",
        "%%step 2nd\ny = 1",
        "GraphError",
        ("'2nd'", "identifier", "'step_2nd'"),
    ),
    BadInput(
        "unpicklable_artifact",
        "%%step locked --after start\nimport threading\nguard = threading.Lock()\nvalue = 1",
        "ArtifactError",
        ("'locked'", "guard", "_thread.lock", "--transient guard"),
    ),
    BadInput(
        "merge_conflict",
        "%%step fan_in --after fan_a fan_b\nmerge(inputs)",
        "StepFailed",
        ("'fan_in'", "merge()", "'count'", "existed before the split", "exclude"),
        # `count` is bound by start: the branches change it differently.
        setup=("%%step fan_a --after start\ncount = 1", "%%step fan_b --after start\ncount = 2"),
    ),
    BadInput(
        "as_without_foreach",
        "%%step as_only --after start --as x\ny = 1",
        "StepError",
        ("'as_only'", "--as", "--foreach"),
    ),
]


@dataclass
class BadInputSession:
    cells: dict[str, tuple[NotebookNode, NotebookNode]]  # case -> (bad cell, good cell after)
    keyword_cell: NotebookNode
    fixed_lock: NotebookNode
    after_cycle: NotebookNode  # right after the refused cycle: a step after `down`
    late: NotebookNode  # after every case: a step after `down` again
    flow: FlowState


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory, kernel_name: str) -> BadInputSession:
    workdir = tmp_path_factory.mktemp("bad_inputs")
    datastore = workdir / "store"
    cells = {}
    with LiveKernel(workdir, kernel_env(datastore), kernel_name) as live:
        live.run("%load_ext nbflow\n%flow name bad")
        live.run('%%step start\nxs = [1, 2, 3]\ncount = 3\nprint("start")')
        for case in BAD_INPUTS:
            for source in case.setup:
                live.run(source)
            bad = live.execute(case.source)
            good = live.execute(f'%%step ok_{case.name} --after start\nok = "{case.name}"')
            cells[case.name] = (bad, good)
            if case.name == "cycle":
                after_cycle = live.execute("%%step below --after down\nb = d * 10\nprint(b)")
        keyword_cell = live.execute("%%step class\ny = 1")
        late = live.execute("%%step late --after down\nlast = d + 100")
        fixed_lock = live.execute(
            "%%step locked --after start --transient guard\n"
            "import threading\nguard = threading.Lock()\nvalue = 1"
        )
    flow = read_flow(datastore, "bad")
    return BadInputSession(cells, keyword_cell, fixed_lock, after_cycle, late, flow)


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda case: case.name)
def test_bad_input_gives_a_clear_error(bad_inputs: BadInputSession, case: BadInput) -> None:
    bad, good = bad_inputs.cells[case.name]
    error = the_error(bad)
    assert error.ename == case.ename
    missing = [fragment for fragment in case.says if fragment not in error.evalue]
    assert not missing, f"the error does not say {missing}: {error.evalue}"
    # The store stays usable: the next good step runs.
    assert not error_outputs(good), error_outputs(good)
    assert re.match(rf"✓ ok_{case.name} · 1 task · ", summary_line(good))


def test_a_step_name_that_is_a_keyword_gets_a_usable_suggestion(
    bad_inputs: BadInputSession,
) -> None:
    error = the_error(bad_inputs.keyword_cell)
    assert error.ename == "GraphError" and "'class'" in error.evalue
    suggested = re.search(r"such as '([^']*)'", error.evalue)
    assert suggested, error.evalue
    name = suggested.group(1)
    assert name.isidentifier() and not keyword.iskeyword(name), (
        f"suggests {name!r} for the keyword 'class': {error.evalue}"
    )


def test_a_rejected_cycle_leaves_the_graph_as_it_was(bad_inputs: BadInputSession) -> None:
    assert text(bad_inputs.after_cycle).startswith("20\n✓ below · 1 task")


def test_bad_input_loses_no_finished_task(bad_inputs: BadInputSession) -> None:
    # `down` ran fine in this kernel before the bad cells; a step after it still runs on it.
    late = bad_inputs.late
    assert not error_outputs(late), the_error(late).evalue
    assert summary_line(late).startswith("✓ late · 1 task")
    run = bad_inputs.flow.run(run_of(late))
    assert run.task("down")["origin"] == bad_inputs.flow.run(1).task("down")["id"]
    assert run.task("late")["data"]["last"] == 102


def test_transient_fixes_an_unpicklable_artifact(bad_inputs: BadInputSession) -> None:
    assert summary_line(bad_inputs.fixed_lock).startswith("✓ locked · 1 task")
    latest = bad_inputs.flow.latest
    assert latest.status == "incomplete"  # one cell run by hand: not every step of the flow
    locked = latest.task("locked")
    assert "guard" not in locked["artifacts"]
    assert locked["data"]["value"] == 1


def test_bad_input_leaves_the_store_consistent(bad_inputs: BadInputSession) -> None:
    flow = bad_inputs.flow
    assert_no_run_left_running(flow)
    assert flow.run(1).task("start")["data"] == {"xs": [1, 2, 3], "count": 3}
    # Every good step ran, once, and its value reads back from a fresh process.
    oks = {t["data"]["ok"] for run in flow.runs for s, ts in run.steps.items()
           if s.startswith("ok_") for t in ts if t["status"] == "done"}  # fmt: skip
    assert oks == {case.name for case in BAD_INPUTS}
    # Bad input made no task of its own: nothing of the rejected steps was stored.
    rejected = {"orphan", "each_missing", "each_count", "lonely", "mixed", "my-step", "2nd",
                "as_only", "class"}  # fmt: skip
    assert not rejected & {s for run in flow.runs for s in run.steps}


def test_a_datastore_that_is_not_writable(workdir: Path, kernel_name: str) -> None:
    blocker = workdir / "a_file"
    blocker.write_text("not a folder")
    unusable = blocker / "store"
    usable = workdir / "store"
    with LiveKernel(workdir, kernel_env(unusable), kernel_name) as live:
        live.run("%load_ext nbflow\n%flow name ro")
        bad = live.fail("%%step start\nx = 1")
        live.run(f"%flow config datastore={usable}")
        good = live.run("%%step start\nx = 1")
    error = the_error(bad)
    assert error.ename == "DatastoreError"
    assert str(unusable) in error.evalue
    assert "NBFLOW_DATASTORE" in error.evalue  # the fix
    assert summary_line(good).startswith("✓ start · 1 task")
    assert not blocker.is_dir() and blocker.read_text() == "not a folder"
    assert read_flow(usable, "ro").latest.task("start")["data"] == {"x": 1}
