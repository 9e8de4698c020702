"""`nbflow gc` beside a live kernel: it never removes the run the kernel is working in, and a
kernel whose working run was removed anyway (by hand, by an older nbflow) starts a new one with
a note instead of failing every later step cell.

A real kernel grows its working run cell by cell (`done` between two cells); `nbflow gc` runs as
its own process, as a user would start it from a terminal.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faulttools import fault_env, nbflow_cli, needs_kernel_fixture, rows
from kerneltools import LiveKernel, text

from nbflow.store.metadata import MetadataStore

pytestmark = pytest.mark.kernel
kernel_name = needs_kernel_fixture()

SETUP = ["%load_ext nbflow", "%flow name live"]


def runs(datastore: Path) -> list[tuple[int, str]]:
    return rows(datastore, "SELECT run_id, status FROM runs WHERE flow = 'live' ORDER BY run_id")


def test_gc_keeps_a_live_kernels_working_run(tmp_path: Path, kernel_name: str) -> None:
    datastore = tmp_path / "store"
    env = fault_env(datastore)
    with LiveKernel(tmp_path, env, kernel_name) as live:
        for cell in SETUP:
            live.run(cell)
        live.run("%%step a\nx = 1")
        live.run("%%step a\nx = 2  # edited: a new run, the kernel's working run")
        assert runs(datastore) == [(1, "done"), (2, "done")]

        gc = nbflow_cli(["gc", "--keep-last", "0"], env, tmp_path)
        assert gc.returncode == 0, gc.stderr
        assert "live/1" in gc.stdout and "kept live/2: a live kernel" in gc.stdout, gc.stdout
        assert runs(datastore) == [(2, "done")]

        cell = live.run("%%step b --after a\ny = x + 1\nprint('y =', y)")
        assert "y = 3" in text(cell) and "run live/2" in text(cell)  # it grew the same run

        # Removed anyway (as an older gc did): the next step cell starts a new run, saying so.
        meta = MetadataStore(datastore / "metadata.sqlite")
        with meta.exclusive():
            tasks = [t.task_id for t in meta.tasks("live", 2)]
            meta.remove_runs([("live", 2)], tasks)
        meta.close()
        cell = live.run("%%step c\nz = 3")
        assert "this kernel's working run live/2 was removed from the datastore" in text(cell)
        assert "step 'c' starts a new run" in text(cell) and "run live/3" in text(cell)
        cell = live.run("%%step d --after c\nw = z * 2\nprint('w =', w)")
        assert "w = 6" in text(cell)

    gc = nbflow_cli(["gc", "--keep-last", "0"], env, tmp_path)  # the kernel is gone now
    assert gc.returncode == 0 and "kept" not in gc.stdout, gc.stdout
    assert runs(datastore) == []
