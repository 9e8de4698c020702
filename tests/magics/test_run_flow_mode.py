"""JupyterLab's Run flow: its Run All runs the step cells with `run_flow_mode` on, so a second
top-to-bottom pass reuses every unchanged task as `%flow run` does, and runs a changed one.
Off again, a step cell run by hand always runs. In IPython's in-process shell, cache on (as in
a notebook)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magictools import ok

from nbflow import Flow, Run
from nbflow.kernel.magics import FlowMagics, load_ipython_extension, run_flow_mode
from nbflow.query.views import run_view

CELLS = [
    "%%params\nalphas = [1, 2, 3]",
    "%%step load\nimport random\nbase = random.random()\nprint('loaded')",
    "%%step train --after load --foreach alphas --as alpha\n"
    "score = base * alpha\nprint('alpha', alpha)",
    "%%step pick --after train --join\nbest = max(i.score for i in inputs)",
    "%%step report --after pick\nsummary = f'best {best:.3f}'",
]
STEPS = ["load", "train", "pick", "report"]


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("NBFLOW_DATASTORE", str(tmp_path / "store"))
    monkeypatch.setenv("NBFLOW_CACHE", "on")
    for name in ("NBFLOW_EXECUTOR", "NBFLOW_WORKERS", "NBFLOW_METADATA", "NBFLOW_FULL_RUN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    ok(shell, "%flow name runflow")
    yield shell
    run_flow_mode(shell, False)


def session_of(ip: InteractiveShell) -> object:
    magics = ip.magics_manager.registry["FlowMagics"]
    assert isinstance(magics, FlowMagics)
    return magics.session


def run_flow(ip: InteractiveShell, cells: list[str]) -> None:
    """What the toolbar's Run flow does: the switch on, Run All, the switch off."""
    run_flow_mode(ip, True)
    try:
        for cell in cells:
            ok(ip, cell)
    finally:
        run_flow_mode(ip, False)


def statuses(run: Run) -> dict[str, list[str]]:
    return {step: [t.status for t in run[step].tasks()] for step in STEPS}


def summary(out: str, step: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith(f"✓ {step} ")]
    return line


def test_a_second_pass_reuses_every_unchanged_task_and_runs_a_changed_one(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    run_flow(ip, CELLS)
    first = Flow("runflow").latest_run
    assert statuses(first) == {"load": ["done"], "train": ["done"] * 3, "pick": ["done"],
                               "report": ["done"]}  # fmt: skip
    assert "cached" not in capsys.readouterr().out

    changed = [*CELLS[:-1], "%%step report --after pick\nsummary = f'best {best:.4f}'"]
    run_flow(ip, changed)
    second = Flow("runflow").latest_run
    assert second.pathspec != first.pathspec and second.status == "done"
    assert statuses(second) == {"load": ["cached"], "train": ["cached"] * 3,
                                "pick": ["cached"], "report": ["done"]}  # fmt: skip
    assert second.data.best == first.data.best  # the same result, not a new random draw
    assert second.data.summary == f"best {first.data.best:.4f}"
    origins = {t.origin.pathspec.rsplit("/", 2)[0] for t in second["train"].tasks()}
    assert origins == {first.pathspec}
    # Each cell says its tasks were reused, and from where; what they printed is shown again.
    out = capsys.readouterr().out
    expected = rf"✓ train · 3 tasks · cached from {first.pathspec} · .+ · run {second.pathspec}"
    assert re.fullmatch(expected, summary(out, "train")), summary(out, "train")
    assert f"· cached from {first.pathspec} · " in summary(out, "pick")
    assert "cached" not in summary(out, "report")
    assert "reused from" in out and "alpha 2" in out and "loaded" in out

    # Off again: a step cell run by hand always runs.
    assert not session_of(ip).cells_full_run  # type: ignore[attr-defined]
    ok(ip, CELLS[2])
    by_hand = Flow("runflow").latest_run
    assert [t.status for t in by_hand["train"].tasks()] == ["done"] * 3
    assert "cached" not in summary(capsys.readouterr().out, "train")


def test_some_tasks_reused_are_counted(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    run_flow(ip, CELLS[:3])
    first = Flow("runflow").latest_run
    capsys.readouterr()
    run_flow(ip, ["%%params\nalphas = [1, 2, 4]", *CELLS[1:3]])
    second = Flow("runflow").latest_run
    assert [t.status for t in second["train"].tasks()] == ["cached", "cached", "done"]
    assert f"✓ train · 3 tasks · 2 of 3 cached from {first.pathspec} · " in capsys.readouterr().out


def test_off_even_when_a_cell_fails_and_on_before_the_extension_is_loaded(
    ip: InteractiveShell,
) -> None:
    run_flow_mode(ip, True)
    assert session_of(ip).cells_full_run  # type: ignore[attr-defined]
    assert ip.run_cell("%%step load\nraise ValueError('no')").error_in_exec is not None
    run_flow_mode(ip, False)  # Run flow switches it off in a `finally`
    assert not session_of(ip).cells_full_run  # type: ignore[attr-defined]

    # Switched on first (the front end does not load the extension, so the notebook's own
    # `%load_ext nbflow` prints nothing unusual): the magics made then start in the mode.
    ip.reset(new_session=True)
    ip.magics_manager.registry.pop("FlowMagics")
    run_flow_mode(ip, True)
    load_ipython_extension(ip)
    assert session_of(ip).cells_full_run  # type: ignore[attr-defined]
    run_flow_mode(ip, False)
    assert not session_of(ip).cells_full_run  # type: ignore[attr-defined]


def test_run_flow_given_the_notebook_shows_every_step_from_its_first_cell(
    ip: InteractiveShell,
) -> None:
    """Run flow hands the kernel the notebook's cells with the switch: the run knows all the
    flow's steps from its first step cell on (the sidebar's "k/n steps" counts the badges' n),
    and when a cell fails, the steps below it are in the failed run's graph as `not_run`."""
    cells = [{"id": f"c{i}", "source": source} for i, source in enumerate(CELLS)]
    broken = CELLS[3].replace("best = ", "best = 1 / 0 + ")
    cells[3]["source"] = broken
    run_flow_mode(ip, True, cells)
    try:
        ok(ip, CELLS[0])
        ok(ip, CELLS[1])
        first = Flow("runflow").latest_run
        assert [step["name"] for step in run_view(first)["steps"]] == STEPS
        assert first.status == "incomplete"  # between two cells of Run All
        ok(ip, CELLS[2])
        assert ip.run_cell(broken).error_in_exec is not None  # Run All stops here
    finally:
        run_flow_mode(ip, False)
    failed = Flow("runflow").latest_run
    assert failed.run_id == first.run_id
    assert failed.status == "failed"
    shown = {step["name"]: step["status"] for step in run_view(failed)["steps"]}
    assert shown == {"load": "done", "train": "done", "pick": "failed", "report": "not_run"}


def test_cells_handed_to_run_flow_that_do_not_register_are_left_to_their_own_run(
    ip: InteractiveShell,
) -> None:
    cells = [
        {"id": "a", "source": CELLS[1]},
        {"id": "b", "source": "%%step orphan --after nowhere\nx = 1"},
        {"id": "c", "source": "%%step --bad-option\nx = 1"},
    ]
    run_flow_mode(ip, True, cells)
    try:
        ok(ip, CELLS[1])  # the bad cells are not this cell's error: they fail when they run
    finally:
        run_flow_mode(ip, False)
    assert [step["name"] for step in run_view(Flow("runflow").latest_run)["steps"]] == ["load"]
