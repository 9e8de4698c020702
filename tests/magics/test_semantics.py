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
