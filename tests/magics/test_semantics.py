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


# -- `with ... as` targets are handles -----------------------------------------------------------


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
