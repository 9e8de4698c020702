"""One duration per step everywhere: the cell's last line, the client, the views that the badge
and the graphs draw, and the SVG show the same figure, the step's wall time in the run (from
its first task's start to its last task's end, retries included)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magictools import flow_shell, ok

from nbflow import Flow
from nbflow.query.views import run_view
from nbflow.render.svg import render_svg
from nbflow.render.text import format_duration

SLOW = "import time"
TRAIN = "%%step train --after start --foreach xs\ntime.sleep(0.03)\ny = item * 2"


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    yield flow_shell(tmp_path, monkeypatch, "demo")


def footer_duration(printed: str, step: str) -> str:
    """The duration in a step cell's last line: `✓ train · 3 tasks · 93 ms · run demo/1`."""
    (line,) = [line for line in printed.splitlines() if line.startswith(f"✓ {step} ·")]
    return line.split(" · ")[-2]


def test_the_cell_footer_the_client_and_the_graph_agree_on_a_steps_duration(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(ip, SLOW)
    ok(ip, "%%step start\nxs = [1, 2, 3]")
    # The cell does more than its tasks (registering, binding outputs for inspection): a
    # slow display of its outputs must not count, as it does not in the run's records.
    ok(ip, "from nbflow.kernel import magics\n_bind = magics.FlowMagics._bind_outputs")
    ok(
        ip,
        "def _slow_bind(self, runner, step):\n"
        "    time.sleep(0.2)\n"
        "    _bind(self, runner, step)\n"
        "magics.FlowMagics._bind_outputs = _slow_bind",
    )
    try:
        capsys.readouterr()
        ok(ip, TRAIN)
        printed = capsys.readouterr().out
    finally:
        ok(ip, "magics.FlowMagics._bind_outputs = _bind")
    run = Flow("demo").latest_run
    step = run["train"]
    assert step.duration is not None and 0.09 <= step.duration < 0.2
    (viewed,) = [s for s in run_view(run)["steps"] if s["name"] == "train"]
    assert viewed["duration"] == step.duration
    shown = format_duration(step.duration)
    assert footer_duration(printed, "train") == shown
    assert f">{shown}<" in render_svg(run_view(run))


def test_a_retried_steps_duration_spans_its_attempts(
    ip: InteractiveShell, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "failed-once"
    ok(ip, SLOW)
    capsys.readouterr()
    ok(
        ip,
        "%%step flaky --retry 1\n"
        "time.sleep(0.05)\n"
        f"if not __import__('os').path.exists({str(flag)!r}):\n"
        f"    open({str(flag)!r}, 'w').close()\n"
        "    raise RuntimeError('first attempt fails')\n"
        "x = 1",
    )
    printed = capsys.readouterr().out
    step = Flow("demo").latest_run["flaky"]
    assert step.duration is not None and step.duration >= 0.1  # both attempts
    assert footer_duration(printed, "flaky") == format_duration(step.duration)


def test_a_fast_steps_footer_is_its_tasks_time_not_the_cells(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    started = time.perf_counter()
    ok(ip, "%%step quick\nx = 1")
    cell_time = time.perf_counter() - started
    step = Flow("demo").latest_run["quick"]
    assert step.duration is not None and step.duration < cell_time
    shown = footer_duration(capsys.readouterr().out, "quick")
    assert re.fullmatch(r"(<1|\d+) ms", shown)
    assert shown == format_duration(step.duration)
