"""Task ids follow element order: a step's tasks take their ids when the step is planned, so
`train/4` is element 3 of train (after `train/3`), whatever order the tasks start or finish in,
with steps running beside them or a retry between them. A retry's attempt comes after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magictools import flow_shell, ok

from nbflow import Flow, Step

START = "%%step start\nxs = [0, 1, 2, 3, 4, 5]"
# Element 1 fails on its first attempt (a file marks the first), then succeeds.
FLAKY = (
    "%%step a --after start --foreach xs --retry 1\n"
    "import pathlib, time\n"
    "time.sleep(0.02 * (6 - item))  # later elements finish first\n"
    "mark = pathlib.Path(f'tried-{item}')\n"
    "if item == 1 and not mark.exists():\n"
    "    mark.touch()\n"
    "    raise RuntimeError('once')\n"
    "y = item"
)
BESIDE = "%%step b --after start --foreach xs\nz = -item"
JOINS = (
    "%%step ja --after a --join\nna = len(inputs)",
    "%%step jb --after b --join\nnb = len(inputs)",
    "%%step end --after ja jb\ntotal = inputs.ja.na + inputs.jb.nb",
)


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    yield flow_shell(tmp_path, monkeypatch, "ids")


def ids_by_element(step: Step) -> list[int]:
    """The first attempt's id of each of the step's tasks, by element index."""
    tasks = sorted(step, key=lambda t: t.index or 0)
    return [int(t.attempts[0].id) for t in tasks]


@pytest.mark.parametrize("executor", ["kernel", "processes"])
def test_task_ids_follow_element_order_beside_other_steps_and_retries(
    ip: InteractiveShell, tmp_path: Path, executor: str
) -> None:
    for cell in (START, FLAKY, BESIDE, *JOINS):
        ok(ip, cell)
    for mark in tmp_path.glob("tried-*"):
        mark.unlink()
    ok(ip, f"%flow run --executor {executor} --workers 2")
    run = Flow("ids").latest_run
    assert run.successful and run["end"].task.data.total == 12
    a, b = ids_by_element(run["a"]), ids_by_element(run["b"])
    # Each step's ids increase with the element, a's before b's (planned first), start's
    # before both. a retries once, so each of its elements has two ids, one per attempt.
    assert b == list(range(b[0], b[0] + 6)), b
    assert a == list(range(a[0], a[0] + 12, 2)), a
    assert int(run["start"].task.id) < a[0] and a[-1] < b[0]
    # Element 1's failed first attempt kept its id; its retry took the one after it.
    (flaky,) = [t for t in run["a"] if t.index == 1]
    assert [(int(t.id), t.attempt) for t in flaky.attempts] == [(a[1], 1), (a[1] + 1, 2)]
