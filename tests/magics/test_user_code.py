"""What a step's author sees of their own code: tracebacks without nbflow's frames (as IPython
hides its own), and `merge` the same whether it is the join's own or imported from nbflow."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magictools import fails, flow_shell, ok

import nbflow
from nbflow import Flow
from nbflow.exceptions import NbflowError, StepError
from nbflow.kernel.magics import register_cells

NBFLOW_DIR = str(Path(nbflow.__file__).parent)
FOREACH = "%%step start\nxs = [1, 2, 3]\nbase = 0"
SQUARES = "%%step sq --after start --foreach xs --as x\ny = x * x"


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    shell = flow_shell(tmp_path, monkeypatch, "usercode")
    ok(shell, FOREACH)
    ok(shell, SQUARES)
    yield shell


def shown_traceback(ip: InteractiveShell, code: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    fails(ip, code)
    return re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)  # without its colours


def test_an_error_raised_inside_nbflow_for_the_users_line_shows_only_the_users_frames(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = shown_traceback(
        ip, "%%step j --after sq --join\nprint([i.nope for i in inputs])", capsys
    )
    assert "has no artifact 'nope'" in shown
    assert "<step j>" in shown  # the user's line is shown...
    assert NBFLOW_DIR not in shown and "inputs.py" not in shown  # ...nbflow's frames are not
    stored = Flow("usercode").latest_run["j"].task.error["traceback"]
    assert "<step j>" in stored and NBFLOW_DIR not in stored  # the stored one alike


def test_an_error_in_the_users_own_function_keeps_every_user_frame(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(ip, "def inner(v):\n    return 1 / v\n\ndef outer(v):\n    return inner(v - 1)")
    shown = shown_traceback(ip, "%%step j --after sq --join\nouter(1)", capsys)
    assert "ZeroDivisionError" in shown
    assert "outer" in shown and "inner" in shown and "return 1 / v" in shown
    assert NBFLOW_DIR not in shown


def test_merge_imported_from_nbflow_is_the_joins_merge(ip: InteractiveShell) -> None:
    ok(ip, "%%step j --after sq --join\nfrom nbflow import merge\nmerge(inputs, include=['base'])")
    assert set(Flow("usercode").latest_run["j"].task.artifacts) == {"base"}
    ok(ip, "%%step j --after sq --join\nmerge(inputs, include=['base'])")  # the join's own
    assert set(Flow("usercode").latest_run["j"].task.artifacts) == {"base"}


def test_merge_outside_a_join_says_what_it_takes(ip: InteractiveShell) -> None:
    error = fails(ip, "from nbflow import merge\nmerge([1, 2])")
    assert isinstance(error, StepError)
    assert "merge() takes a join step's `inputs`" in str(error) and "not list" in str(error)


def test_a_whole_run_prints_each_tasks_output_under_its_own_line(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(ip, "%%step sq --after start --foreach xs --as x\nprint('square of', x)\ny = x * x")
    ok(ip, "%%step total --after sq --join\nprint('total', sum(i.y for i in inputs))")
    by_hand = capsys.readouterr().out
    assert "total 14" in by_hand and "──" not in by_hand  # a cell's output is its own already
    ok(ip, "%flow run")
    printed = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    shown = printed[printed.index("── sq[0] ──") :][:8]
    assert shown == [
        "── sq[0] ──", "square of 1", "── sq[1] ──", "square of 2",
        "── sq[2] ──", "square of 3", "── total ──", "total 14",
    ]  # fmt: skip
    assert "── start ──" not in printed  # a task that printed nothing gets no line
    stored = Flow("usercode").latest_run["sq"].tasks()[0].stdout
    assert stored == "square of 1\n"  # the line is the notebook's, not the task's output


def test_resume_after_a_fix_in_the_editor_runs_the_fixed_cell(ip: InteractiveShell) -> None:
    """JupyterLab's Resume: the step cells as the editor holds them are registered (not run),
    then `%flow resume` runs the failed step with its fixed code and takes over the rest."""
    broken = "%%step total --after sq --join\ntotal = sum(i.y for i in inputs) / base"
    assert "ZeroDivisionError" in str(fails(ip, broken))
    failed = Flow("usercode").latest_run
    assert failed.status == "failed"
    fixed = "%%step total --after sq --join\ntotal = sum(i.y for i in inputs) + base"
    cells = [
        {"id": "c1", "source": "%load_ext nbflow\n%flow name usercode"},
        {"id": "c2", "source": FOREACH},
        {"id": "c3", "source": "\n" + SQUARES},  # a blank line above the magic is no matter
        {"id": "c4", "source": "print('a plain cell is not run')"},
        {"id": "c5", "source": fixed},
    ]
    assert register_cells(ip, cells) == ["start", "sq", "total"]
    resumed = ok(ip, "%flow resume")
    assert resumed.status == "done" and resumed.data.total == 14
    assert {step.name: {t.status for t in step.tasks()} for step in resumed.steps()} == {
        "start": {"cached"},
        "sq": {"cached"},
        "total": {"done"},
    }


def test_a_bad_step_line_in_the_editor_names_its_cell(ip: InteractiveShell) -> None:
    cells = [{"id": "c1", "source": FOREACH}, {"id": "c2", "source": "%%step sq --after"}]
    with pytest.raises(NbflowError, match=r"code cell 2 \(%%step sq --after\): "):
        register_cells(ip, cells)
