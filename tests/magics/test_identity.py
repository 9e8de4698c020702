"""A flow is its name and its notebook; a step is one cell. In IPython's in-process shell, with
the notebook given as Jupyter gives it (JPY_SESSION_NAME) and cells named by id as JupyterLab
names them; `nbflow run` for real. Also: where a `file://` datastore URL points."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from faulttools import nbflow_cli, write_notebook
from IPython.core.interactiveshell import InteractiveShell
from kerneltools import kernel_env
from magictools import fails, ok

from nbflow.config import Config
from nbflow.exceptions import NbflowError, NotFound, StepError
from nbflow.kernel.magics import load_ipython_extension
from nbflow.kernel.session import flow_name_for
from nbflow.store.stores import open_store


def notebook_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notebook: str
) -> InteractiveShell:
    """IPython with nbflow loaded, as a kernel of the notebook `tmp_path/notebook`."""
    monkeypatch.setenv("NBFLOW_DATASTORE", str(tmp_path / "store"))
    monkeypatch.setenv("NBFLOW_CACHE", "off")
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / notebook))
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    return shell


@pytest.mark.parametrize(
    ("notebook", "flow"),
    [
        ("/w/train-model.ipynb", "train_model"),
        ("/w/eval model (v2).ipynb", "eval_model_v2"),
        ("/w/01-prep.ipynb", "flow_01_prep"),
        ("/w/analysis.ipynb", "analysis"),
        ("/w/---.ipynb", "flow"),
        (None, "flow"),
    ],
)
def test_the_default_flow_name_is_the_file_stem_made_an_identifier(
    notebook: str | None, flow: str
) -> None:
    assert flow_name_for(notebook) == flow
    assert flow.isidentifier()


def test_notebooks_whose_names_are_not_identifiers_are_flows_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for notebook in ("train-model.ipynb", "eval-model.ipynb"):
        ip = notebook_shell(tmp_path, monkeypatch, notebook)
        ok(ip, "%%step start\nx = 1")
    meta = open_store(Config(datastore=str(tmp_path / "store"))).meta
    assert meta.flows() == ["eval_model", "train_model"]


def test_a_flow_name_taken_by_another_notebook_is_an_error_that_says_how_to_name_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = notebook_shell(tmp_path, monkeypatch, "train.ipynb")
    ok(first, "%flow name shared")
    ok(first, "%%step start\nx = 1")
    second = notebook_shell(tmp_path, monkeypatch, "eval-v2.ipynb")
    ok(second, "%flow name shared")
    error = fails(second, "%%step start\nx = 2")
    assert isinstance(error, StepError)
    message = str(error)
    assert "flow 'shared' belongs to another notebook" in message
    assert str(tmp_path / "train.ipynb") in message and str(tmp_path / "eval-v2.ipynb") in message
    assert "`%flow name eval_v2`" in message
    meta = open_store(Config(datastore=str(tmp_path / "store"))).meta
    assert [r.notebook for r in meta.runs("shared")] == [str(tmp_path / "train.ipynb")]
    ok(second, "%flow name eval_v2")  # the fix the message gives works
    ok(second, "%%step start\nx = 2")


def test_resume_takes_only_runs_of_its_own_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A datastore from before flows had notebooks: notebook a's failed run of flow `f`.
    ip = notebook_shell(tmp_path, monkeypatch, "b.ipynb")
    meta = open_store(Config(datastore=str(tmp_path / "store"))).meta
    theirs = meta.create_run("b", {}, notebook=str(tmp_path / "a.ipynb"))
    meta.finish_run("b", theirs.run_id, "failed")
    mine = meta.create_run("b", {}, notebook=None)  # made before notebooks were recorded
    meta.finish_run("b", mine.run_id, "done")
    error = fails(ip, "%flow resume")
    assert isinstance(error, NotFound)
    assert f"flow 'b' has no failed run from {tmp_path / 'b.ipynb'} to resume" in str(error)
    error = fails(ip, f"%flow resume {theirs.run_id}")
    assert isinstance(error, StepError)
    assert f"run b/{theirs.run_id} was made by another notebook" in str(error)


def run_cell(ip: InteractiveShell, code: str, cell_id: str) -> BaseException | None:
    result = ip.run_cell(code, store_history=True, cell_id=cell_id)  # as a kernel runs it
    return result.error_in_exec or result.error_before_exec


def test_two_cells_defining_one_step_is_an_error_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ip = notebook_shell(tmp_path, monkeypatch, "nb.ipynb")
    assert run_cell(ip, "%%step a\nx = 1", "cell-1") is None
    assert run_cell(ip, "%%step a\nx = 10  # edited", "cell-1") is None  # a new version: fine
    first = ip.execution_count - 1  # In [N] of cell-1's last run
    error = run_cell(ip, "%%step a\nx = 2", "cell-2")
    assert isinstance(error, StepError)
    assert (
        f"step 'a': another cell (In [{first}]) already defines this step; this cell "
        f"(In [{first + 1}]) defines it too" in str(error)
    ), error
    assert "rename one of them" in str(error)
    assert ip.user_ns["x"] == 10  # the refused cell ran nothing
    assert run_cell(ip, "%%step b --after a\ny = x + 1", "cell-2") is None  # renamed: fine
    assert ip.user_ns["y"] == 11


def test_nbflow_run_refuses_two_cells_of_one_step_before_anything_runs(tmp_path: Path) -> None:
    notebook = write_notebook(
        tmp_path / "nb.ipynb",
        ["%load_ext nbflow", "%%step a\nx = 1", "%%step b --after a\ny = x", "%%step a\nx = 2"],
    )
    done = nbflow_cli(["run", str(notebook)], kernel_env(tmp_path / "store"), tmp_path)
    assert done.returncode == 1
    assert (
        f"{notebook}: step 'a' is defined by two cells, cell 2 and cell 4. Each step is "
        "defined by one cell: rename one of them." in done.stderr
    ), done.stderr
    assert not (tmp_path / "store").exists()  # refused before a kernel started


@pytest.mark.parametrize(
    ("url", "folder"),
    [
        ("file:///data%20store", "/data store"),
        ("file://localhost/a%2Fb/c%25d", "/a/b/c%d"),
        ("/plain path/no%20decoding", "/plain path/no%20decoding"),
    ],
)
def test_a_file_url_datastore_is_percent_decoded(
    url: str, folder: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Config(datastore=url).datastore_path == Path(folder)
    with pytest.raises(NbflowError, match=r"names host 'server'.*file:///path"):
        _ = Config(datastore="file://server/share").datastore_path
    # For real: the store is made in the folder the URL names, not in a literal `data%20store`.
    monkeypatch.chdir(tmp_path)
    store = open_store(Config(datastore=f"file://{quote(str(tmp_path))}/data%20store"))
    store.meta.create_run("f", {})
    assert (tmp_path / "data store" / "metadata.sqlite").is_file()
    assert not (tmp_path / "data%20store").exists()
