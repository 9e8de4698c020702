"""The magics in IPython's in-process shell: fast checks of what a notebook user sees."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magictools import fails, ok

from nbflow import Flow
from nbflow.exceptions import ArtifactError, GraphError, StepError, StepFailed
from nbflow.kernel.magics import load_ipython_extension


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("NBFLOW_DATASTORE", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)  # a fresh nbflow session for every test
    shell.run_cell("%flow name demo")
    yield shell


def blob_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "store" / "blobs").rglob("*") if p.is_file()]


def test_step_runs_at_once_prints_and_binds(ip: InteractiveShell, capsys: Any) -> None:
    ok(ip, "%%step start\nxs = [1, 2, 3]\nprint('made', len(xs))")
    out = capsys.readouterr().out
    assert "made 3" in out
    assert "✓ start · 1 task" in out
    assert "run demo/1" in out
    assert ip.user_ns["xs"] == [1, 2, 3]
    run = Flow("demo").latest_run
    assert run.status == "done"
    assert run["start"].task.stdout == "made 3\n"
    assert run["start"].task.data.xs == [1, 2, 3]


def test_last_expression_is_displayed(ip: InteractiveShell, capsys: Any) -> None:
    ok(ip, "%%step start\nx = 41\nx + 1")
    assert "42" in capsys.readouterr().out


def test_magics_and_shell_lines_work_inside_a_step(ip: InteractiveShell, capsys: Any) -> None:
    ok(ip, "%%step start\n!echo from-the-shell\n%time y = 3")
    assert "from-the-shell" in capsys.readouterr().out
    assert Flow("demo").latest_run.data.y == 3


def test_steps_in_order_make_one_complete_run(ip: InteractiveShell) -> None:
    ok(ip, "%%params\nfactor = 3")
    ok(ip, "%%step start\nx = 2")
    ok(ip, "%%step double --after start\ny = x * factor")
    ok(ip, "%%step end --after double\nz = y + 1")
    (run,) = Flow("demo").runs()
    assert run.status == "done"
    assert run.params == {"factor": 3}
    assert [s.name for s in run.steps()] == ["start", "double", "end"]
    # Everything upstream is visible at the end, by reference.
    assert (run.data.x, run.data.y, run.data.z) == (2, 6, 7)
    assert run["end"].task.artifacts["x"].kind == "inherited"
    assert run["end"].task.artifacts["z"].kind == "output"


def test_rerunning_an_edited_step_makes_a_new_run_sharing_upstream(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    ok(ip, "import numpy as np")
    ok(ip, "%%step start\nbig = np.arange(100_000, dtype='float64')")
    ok(ip, "%%step total --after start\nt = float(big.sum())")
    ok(ip, "%%step after --after total\nu = t * 2")
    files = len(blob_files(tmp_path))
    ok(ip, "%%step total --after start\nt = float(big.sum()) + 1")
    assert len(blob_files(tmp_path)) == files  # the big array was not written again
    first, second = Flow("demo").runs()[::-1]
    start = second["start"].task
    assert start.status == "cached"
    assert start.origin is not None and start.origin.pathspec == first["start"].task.pathspec
    assert start.artifacts["big"].key == first["start"].task.artifacts["big"].key
    assert second["total"].task.data.t == first["total"].task.data.t + 1
    # The step below the edited one is stale: it is not part of the new run yet.
    assert [s.name for s in second.steps()] == ["start", "total"]


def test_flow_run_runs_everything_registered_as_a_new_run(ip: InteractiveShell) -> None:
    ok(ip, "%%params\nn = 3")
    ok(ip, "%%step start\nxs = list(range(n))")
    ok(ip, "%%step sq --after start --foreach xs\ny = item * item")
    ok(ip, "%%step total --after sq --join\ns = sum(i.y for i in inputs)")
    run = ok(ip, "%flow run -p n=5")
    assert run.pathspec == "demo/2"
    assert run.status == "done"
    assert run.params == {"n": 5}
    assert run.data.s == sum(i * i for i in range(5))
    assert [t.item for t in run["sq"].tasks()] == [0, 1, 2, 3, 4]
    assert all(t.status == "done" for s in run for t in s.tasks())


def test_flow_run_with_nothing_registered_says_what_to_do(ip: InteractiveShell) -> None:
    error = fails(ip, "%flow run")
    assert isinstance(error, StepError)
    assert "no steps are registered" in str(error)


def test_unknown_parameter_override_is_refused(ip: InteractiveShell) -> None:
    ok(ip, "%%params\nn = 3")
    ok(ip, "%%step start\nx = n")
    error = fails(ip, "%flow run -p m=1")
    assert "known parameter (n)" in str(error)


def test_plain_data_read_by_a_step_is_recorded_as_context(ip: InteractiveShell) -> None:
    ok(ip, "threshold = 0.5\ndef helper(v):\n    return v > threshold")
    ok(ip, "%%step start\nflag = helper(0.7)\nlimit = threshold")
    task = Flow("demo").latest_run["start"].task
    assert task.data.flag is True
    context = Flow("demo").latest_run["start"].task
    store = context._store
    rows = store.meta.artifacts(context._record, kinds=("context",))
    assert [r.name for r in rows] == ["threshold"]  # the helper is code, not context


def test_in_place_change_of_an_input_keeps_the_parent_intact(
    ip: InteractiveShell, capsys: Any
) -> None:
    ok(ip, "%%step start\nitems = [1, 2]")
    ok(ip, "%%step grow --after start\nitems.append(3)")
    assert "changes 'items' in place" in capsys.readouterr().err
    run = Flow("demo").latest_run
    assert run["start"].task.data.items == [1, 2]
    assert run["grow"].task.data.items == [1, 2, 3]


def test_reading_a_non_parent_result_names_the_missing_parent(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\na = 1")
    ok(ip, "%%step left --after start\nb = 2")
    error = fails(ip, "%%step right --after start\nc = b + 1")
    assert isinstance(error, StepFailed)
    assert "'b' is bound by step 'left'" in str(error)
    assert "--after left" in str(error)


def test_a_failing_step_fails_its_task_and_keeps_the_rest(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nx = 1")
    error = fails(ip, "%%step boom --after start\ny = 2\nraise ValueError('bad value')")
    assert isinstance(error, StepFailed)
    assert error.step == "boom"
    assert error.line == 3  # the `%%step` line is line 1 of the cell
    rendered = "\n".join(error._render_traceback_())
    assert "bad value" in rendered
    assert rendered.count("ValueError") >= 1
    run = Flow("demo").latest_run
    assert run.status == "failed"
    assert run["boom"].task.status == "failed"
    assert run["boom"].task.error["ename"] == "ValueError"
    assert run["start"].task.status == "done"
    assert run["start"].task.data.x == 1
    # Fixing the cell makes a new run that reuses start.
    ok(ip, "%%step boom --after start\ny = 2")
    assert Flow("demo").latest_run.status == "done"
    assert Flow("demo").latest_run["start"].task.status == "cached"


def test_unstorable_value_names_variable_type_and_fix(ip: InteractiveShell) -> None:
    error = fails(ip, "%%step start\nimport threading\nlock = threading.Lock()\nx = 1")
    assert isinstance(error, ArtifactError)
    message = str(error)
    assert "lock: _thread.lock" in message
    assert "--transient lock" in message
    assert Flow("demo").latest_run["start"].task.status == "failed"
    ok(ip, "%%step start --transient lock\nimport threading\nlock = threading.Lock()\nx = 1")
    artifacts = Flow("demo").latest_run["start"].task.artifacts
    assert set(artifacts) == {"x"}


def test_out_keeps_exactly_the_named_values(ip: InteractiveShell) -> None:
    ok(ip, "%%step start --out model\nscratch = [0] * 10\nmodel = {'w': 1}")
    assert set(Flow("demo").latest_run["start"].task.artifacts) == {"model"}
    error = fails(ip, "%%step start --out nothing_here\nx = 1")
    assert "--out names nothing_here" in str(error)


@pytest.mark.parametrize(
    ("cells", "expected_error", "message"),
    [
        (["%%step start\nx = 1", "%%step b --after nope\ny = 1"], GraphError,
         "names parent 'nope'"),
        (["%%step 2fast\nx = 1"], GraphError, "not a valid step name"),
        (["%%step start\nx = 1", "%%step j --after start --join\ny = 1"], GraphError,
         "no foreach is open"),
        (["%%step start\nx = 1", "%%step f --after start --foreach xs\ny = 1"], StepError,
         "does not bind 'xs'"),
        (["%%step start\nxs = 5", "%%step f --after start --foreach xs\ny = 1"], StepError,
         "'xs' is of type int, which cannot be iterated"),
        (["%%step start\nx = 1", "%%step a --after start\ny = 1", "%%step start --after a\nx = 1"],
         GraphError, "cycle"),
        (["%%step start\nxs=[1]", "%%step f --after start --foreach xs\ny = 1",
          "%%step j --after f start\nz = 1"], GraphError, "different foreach levels"),
        (["%%step start --bogus\nx = 1"], StepError,
         "the %%step line: unrecognized arguments: --bogus. Usage: %%step ["),
        (["%%step start\nx = (1"], StepError, "syntax error"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_error_and_the_store_stays_usable(
    ip: InteractiveShell, cells: list[str], expected_error: type, message: str
) -> None:
    *setup, bad = cells
    for cell in setup:
        ok(ip, cell)
    error = fails(ip, bad)
    assert isinstance(error, expected_error)
    assert message in str(error)
    assert error._render_traceback_() == [f"{type(error).__name__}: {error}"]
    ok(ip, "%%step fresh_start\nfine = True")
    assert Flow("demo").latest_run["fresh_start"].task.data.fine is True


def test_a_module_imported_in_another_step_is_named_in_the_error(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nimport math\nx = 1")
    error = fails(ip, "%%step next --after start\ny = math.pi")
    assert isinstance(error, StepFailed)
    assert "'math' is imported by step 'start', and a step's imports stay in that step" in str(
        error
    )


def test_join_inputs_by_index_name_iteration_and_merge(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nshared = 'same'\nbase = 1")
    ok(ip, "%%step a --after start\nscore = 1\nonly_a = 'a'")
    ok(ip, "%%step b --after start\nscore = 2")
    ok(
        ip,
        "%%step both --after a b\n"
        "first = inputs[0].score\n"
        "by_name = inputs.b.score\n"
        "n = len(inputs)\n"
        "scores = [i.score for i in inputs]\n"
        "seen = (shared, only_a, base)\n"
        "score = max(scores)\n"
        "merge(inputs)",
    )
    data = Flow("demo").latest_run["both"].task.data
    assert (data.first, data.by_name, data.n, data.scores) == (1, 2, 2, [1, 2])
    assert data.seen == ("same", "a", 1)
    assert data.score == 2


def test_conflicting_artifact_is_only_reachable_through_inputs(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nx = 0\nscore = 0")
    ok(ip, "%%step a --after start\nscore = 1")
    ok(ip, "%%step b --after start\nscore = 2")
    error = fails(ip, "%%step both --after a b\ny = score")
    assert isinstance(error, StepFailed)
    assert error.ename == "NameError"
    error = fails(ip, "%%step both --after a b\nmerge(inputs)")
    assert "disagree on 'score', which existed before the split (in step 'start')" in str(error)
    ok(ip, "%%step both --after a b\nmerge(inputs, exclude=['score'])\ny = x")
    assert "score" not in Flow("demo").latest_run["both"].task.artifacts


def test_after_restart_a_step_finds_its_parents_in_history(
    ip: InteractiveShell, capsys: Any
) -> None:
    ok(ip, "%%params\nk = 2")
    ok(ip, "%%step start\nx = 10")
    ok(ip, "%%step mid --after start\ny = x * k")
    # A new session stands for a restarted kernel.
    ip.reset(new_session=True)
    load_ipython_extension(ip)
    ok(ip, "%flow name demo")
    ok(ip, "%%params\nk = 2")
    capsys.readouterr()
    ok(ip, "%%step last --after mid\nz = y + 1")
    assert "mid from run demo/1" in capsys.readouterr().out
    run = Flow("demo").latest_run
    assert run.pathspec == "demo/2"
    assert run.data.z == 21
    assert run["mid"].task.status == "cached"
    assert run["start"].task.status == "cached"


def test_after_restart_with_other_params_the_parent_must_run_again(ip: InteractiveShell) -> None:
    ok(ip, "%%params\nk = 2")
    ok(ip, "%%step start\nx = 10")
    ip.reset(new_session=True)
    load_ipython_extension(ip)
    ok(ip, "%flow name demo")
    ok(ip, "%%params\nk = 3")
    error = fails(ip, "%%step mid --after start\ny = x")
    assert "with these parameters" in str(error)
    assert "Run the cell of 'start' first" in str(error)


def test_flow_config_moves_the_datastore(ip: InteractiveShell, tmp_path: Path) -> None:
    ok(ip, f"%flow config datastore={tmp_path / 'elsewhere'}")
    ok(ip, "%%step start\nx = 1")
    assert (tmp_path / "elsewhere" / "metadata.sqlite").exists()
    error = fails(ip, "%flow config colour=blue")
    assert "unknown setting 'colour'" in str(error)


def test_unknown_flow_command_lists_commands(ip: InteractiveShell) -> None:
    error = fails(ip, "%flow fly")
    assert "Commands: name, run" in str(error)


def test_rerun_branch_takes_the_sibling_from_the_run_it_agrees_with(
    ip: InteractiveShell, capsys: Any
) -> None:
    ok(ip, "%%step start\nx = 1")
    ok(ip, "%%step a --after start\ny = x + 1")
    ok(ip, "%%step b --after start\nz = x + 2")
    ok(ip, "%%step a --after start\ny = x + 10")  # edit a: a new run with start reused
    capsys.readouterr()
    ok(ip, "%%step both --after a b\ntotal = y + z")
    assert "b from run demo/1" in capsys.readouterr().out
    run = Flow("demo").latest_run
    assert run.pathspec == "demo/2"
    assert run.data.total == 11 + 3


def test_a_stale_parent_is_never_mixed_with_a_changed_upstream(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nx = 1")
    ok(ip, "%%step a --after start\ny = x + 1")
    ok(ip, "%%step start\nx = 100")  # a's result is now stale
    error = fails(ip, "%%step after_a --after a\nz = y")
    assert isinstance(error, StepError)
    assert "has not run since the steps above it changed" in str(error)
    ok(ip, "%%step a --after start\ny = x + 1")
    ok(ip, "%%step after_a --after a\nz = y")
    assert Flow("demo").latest_run.data.z == 101


def test_run_all_twice_in_one_kernel_makes_two_complete_runs(ip: InteractiveShell) -> None:
    cells = ["%%step one\na = 1", "%%step two\nb = 2", "%%step both --after one two\nc = a + b"]
    for _ in range(2):
        for cell in cells:
            ok(ip, cell)
    runs = Flow("demo").runs()
    assert [r.pathspec for r in runs] == ["demo/2", "demo/1"]
    for run in runs:
        assert run.status == "done"
        assert {s.name for s in run.steps()} == {"one", "two", "both"}
        assert all(t.status == "done" for s in run for t in s.tasks())


def test_a_datastore_that_is_not_writable_is_named_with_the_fix(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    ok(ip, f"%flow config datastore={tmp_path / 'a_file' / 'store'}")
    error = fails(ip, "%%step start\nx = 1")
    assert "a_file" in str(error)
    assert "NBFLOW_DATASTORE" in str(error)
    assert error._render_traceback_()[0].startswith("DatastoreError")
    ok(ip, f"%flow config datastore={tmp_path / 'good'}")
    ok(ip, "%%step start\nx = 1")


def test_rich_outputs_of_a_step_are_kept_with_its_task(ip: InteractiveShell) -> None:
    ok(ip, "from IPython.display import display, HTML")
    ok(ip, "%%step start\ndisplay(HTML('<b>bold</b>'))\nx = 1")
    (shown,) = Flow("demo").latest_run["start"].task.displays
    assert shown["data"]["text/html"] == "<b>bold</b>"


def test_show_runs_and_compare_give_widgets_with_pictures(ip: InteractiveShell) -> None:
    ok(ip, "%%params\nk = 1")
    ok(ip, "%%step start\nx = k")
    ok(ip, "%flow run -p k=2")
    graph = ok(ip, "%flow show")
    assert [s["name"] for s in graph.view["steps"]] == ["start"]
    assert graph.view["id"] == "demo/2"
    browser = ok(ip, "%flow runs")
    assert [r["id"] for r in browser.runs] == ["demo/2", "demo/1"]
    compared = ok(ip, "%flow compare 1 2")
    assert compared.comparison["params"]
    error = fails(ip, "%flow compare 1")
    assert "usage: %flow compare RUN RUN" in str(error)


def test_another_flow_name_starts_a_flow_of_its_own(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nx = 1")
    ok(ip, "%flow name other")
    ok(ip, "%%step begin\ny = 2")
    run = ok(ip, "%flow run")
    assert [s.name for s in run.steps()] == ["begin"]
