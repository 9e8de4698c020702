"""Reading what a store holds runs no code unless a value is loaded, and then it warns.

- The executed notebook of a headless run is stored as its .ipynb JSON, and read back
  without unpickling: a pickle planted in its place is refused and never runs.
- A step whose inputs a worker process unpickles, over another user's store, warns in the
  kernel first (the worker's own warning would reach no one).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from faulttools import fault_env, nbflow_cli, write_notebook
from IPython.core.interactiveshell import InteractiveShell
from magics.magictools import ok

from nbflow import Flow, Run
from nbflow.config import Config
from nbflow.exceptions import IntegrityError, UntrustedStoreWarning
from nbflow.kernel.magics import load_ipython_extension
from nbflow.store.stores import open_store

NOBODY = 65534


class Bomb:
    """Pickles as "run this code", as a hostile pickle would."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (exec, (f"import pathlib; pathlib.Path({self.marker!r}).touch()",))


@pytest.mark.kernel
def test_the_executed_notebook_is_json_and_a_planted_pickle_never_runs(tmp_path: Path) -> None:
    write_notebook(tmp_path / "nb.ipynb", ["%load_ext nbflow\n%flow name nb", "%%step s\nx = 1"])
    root = tmp_path / ".nbflow"
    done = nbflow_cli(["run", "nb.ipynb"], fault_env(root), tmp_path)
    assert done.returncode == 0, done.stderr
    store = open_store(Config(datastore=str(root)))
    run = Flow("nb", store=store).latest_run
    key = store.meta.run("nb", run.run_id).notebook_key
    assert key is not None
    assert bytes(store.load_bytes(key)).lstrip().startswith(b"{")  # JSON, not a pickle
    assert run.notebook is not None
    assert "".join(run.notebook["cells"][1]["source"]).startswith("%%step")

    marker = tmp_path / "exploded"
    planted = store.save(Bomb(str(marker)))
    store.meta.set_run_notebook("nb", run.run_id, planted)
    with pytest.raises(IntegrityError, match="not plain text"):
        _ = Run(f"nb/{run.run_id}", store=store).notebook
    assert not marker.exists()

    legacy = store.save(json.dumps(run.notebook))  # how earlier versions stored it: a str pickle
    store.meta.set_run_notebook("nb", run.run_id, legacy)
    assert Run(f"nb/{run.run_id}", store=store).notebook == run.notebook


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_worker_loading_from_another_users_store_warns_in_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    root.mkdir()
    os.chown(root, NOBODY, NOBODY)  # another user's store (root may still write to it)
    monkeypatch.setenv("NBFLOW_DATASTORE", str(root))
    monkeypatch.setenv("NBFLOW_CACHE", "off")
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    ok(shell, "%flow name foreign")
    ok(shell, "%%step start --in-kernel\nxs = list(range(3))")  # run here: nothing loaded yet
    ok(shell, "%%step each --after start --foreach xs\ny = item * 2")
    with pytest.warns(UntrustedStoreWarning, match="nobody"):
        ok(shell, "%flow run --executor processes --workers 1")
    assert [t.data.y for t in Flow("foreign").latest_run["each"].tasks()] == [0, 2, 4]
