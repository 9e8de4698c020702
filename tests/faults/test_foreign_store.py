"""A datastore written by someone else: browsing it never unpickles, loading from it warns.

The store is made by real runs whose artifacts (a value, the elements of a foreach) are
"bombs": objects whose pickle, once loaded, creates a marker file, as a hostile pickle would
run any code. The folder is then given to another user (`nobody`, when the tests run as root;
otherwise this process is told it is another uid). Everything that browses runs (the CLI, the
client's listings and reprs, the views, SVG pictures, the HTML report, the widgets and the
magics) is used on it and the marker never appears; with warnings as errors (pyproject), a load
would also have raised. Then `task.data` loads a bomb on purpose: one UntrustedStoreWarning
naming the store and its owner, and the marker appears: a datastore is code you run.
The REST API over such a store is checked in tests/server/test_api_security.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from nbflow.exceptions import UntrustedStoreWarning
from nbflow.kernel.magics import load_ipython_extension
from nbflow.query.client import Flow, Run, compare
from nbflow.store.stores import open_store
from nbflow.store.trust import foreign_owner

NOBODY = 65534  # the conventional uid of `nobody`: surely not the user running the tests
BOMB = """
class Bomb:
    '''Pickles as "run this code": what unpickling it does is what a hostile pickle does.
    Padded past the inline limit, so the writer's kernel hands it to the foreach as it is.'''

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        code = f"import pathlib; pathlib.Path({self.marker!r}).touch()"
        return (exec, (code + "  # " + "x" * 5000,))

    def __repr__(self):
        return "Bomb()"
"""


@dataclass(frozen=True)
class Foreign:
    """A store of two runs of flow `foreign`, owned by another user, and the bombs' marker."""

    path: Path
    marker: Path


def cells(marker: Path) -> list[str]:
    return [
        "%flow name foreign",
        BOMB,
        "%%params\nn = 2",
        f"%%step start\nbomb = Bomb({str(marker)!r})\nbombs = [Bomb({str(marker)!r})] * n\n"
        "print('<b>started</b>')",
        "%%step each --after start --foreach bombs --as piece\nsize = 1",
        "%%step end --after each --join\ntotal = sum(i.size for i in inputs)",
    ]


def make_foreign(root: Path) -> Foreign:
    """Real runs (interactive, then `%flow run -p n=3`) made in IPython's in-process shell."""
    path, marker = root / "store", root / "unpickled"
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    for cell in [f"%flow config datastore={path}", *cells(marker), "%flow run -p n=3"]:
        shell.run_cell(cell).raise_error()
    shell.reset(new_session=True)
    marker.unlink(missing_ok=True)  # had the writer unpickled: only readers are watched
    return Foreign(path, marker)


def give_away(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `folder` another user's: really (chown to nobody) when running as root, else by
    telling this process it runs as another uid."""
    if os.geteuid() == 0:
        for place, _, files in os.walk(folder):
            for name in [place, *(os.path.join(place, f) for f in files)]:
                os.chown(name, NOBODY, NOBODY)
    else:
        monkeypatch.setattr(os, "getuid", lambda: os.stat(folder).st_uid + 1)


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Foreign]:
    made = make_foreign(tmp_path_factory.mktemp("foreign"))
    with pytest.MonkeyPatch.context() as patch:
        give_away(made.path, patch)
        yield made


@pytest.fixture
def in_store(foreign: Foreign, monkeypatch: pytest.MonkeyPatch) -> Foreign:
    monkeypatch.setenv("NBFLOW_DATASTORE", str(foreign.path))
    return foreign


def nbflow_cli(store: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", *args],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "NBFLOW_DATASTORE": str(store)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "UntrustedStoreWarning" not in done.stderr
    return done.stdout


# -- browsing --------------------------------------------------------------------------------


def test_the_store_is_another_users(foreign: Foreign) -> None:
    owner = foreign_owner(str(foreign.path))
    assert owner is not None
    assert str(os.stat(foreign.path).st_uid) in owner


@pytest.mark.parametrize(
    "args",
    [
        ["runs"],
        ["runs", "foreign", "--json"],
        ["show", "foreign/1"],
        ["show", "foreign/2", "--json"],
        ["show", "--html", "foreign/2"],
        ["compare", "foreign/1", "foreign/2"],
        ["compare", "foreign/1", "foreign/2", "--json"],
    ],
)
def test_the_cli_browses_without_unpickling(in_store: Foreign, args: list[str]) -> None:
    shown = nbflow_cli(in_store.path, *args)
    assert "foreign" in shown or "Bomb()" in shown
    assert not in_store.marker.exists()


def test_the_client_lists_and_shows_everything_without_unpickling(in_store: Foreign) -> None:
    runs = Flow("foreign").runs()
    assert [run.pathspec for run in runs] == ["foreign/2", "foreign/1"]
    for run in runs:
        shown = [run.as_dict(), repr(run), run._repr_svg_(), run._repr_mimebundle_()]
        for step in run.steps():
            shown += [step.as_dict(), repr(step)]
            for task in step.tasks():
                shown += [task.as_dict(), repr(task), repr(task.data), task.stdout]
                shown += [a.preview for a in task.artifacts.values()]
        assert "Bomb()" in str(shown)
    table = compare(runs)
    assert list(table.index) == ["foreign/2", "foreign/1"]
    assert not in_store.marker.exists()


def test_views_pictures_and_the_report_never_unpickle(in_store: Foreign) -> None:
    from nbflow.query.views import run_view
    from nbflow.render.svg import render_svg, render_timeline_svg
    from nbflow.widgets.compare import compare_view
    from nbflow.widgets.tasks import bounded_task_view, step_tasks

    run = Run("foreign/2")
    view = run_view(run)
    assert render_svg(view).startswith("<svg")
    assert render_timeline_svg([run.as_dict()]).startswith("<svg")
    assert compare_view([run, Run("foreign/1")])
    for step in ("start", "each", "end"):
        assert step_tasks(run, step)["tasks"]
    pieces = [bounded_task_view(task, "piece") for task in run["each"].tasks()]
    for piece in pieces:  # each foreach element is a bomb too, shown by its stored preview
        (item,) = [a for a in piece["artifacts"] if a["name"] == "piece"]
        assert item["preview"]["repr"] == "Bomb()"
    page = run.report().html
    assert "Bomb()" in page and "&lt;b&gt;started&lt;/b&gt;" in page
    assert not in_store.marker.exists()


def test_the_widgets_and_magics_browse_without_unpickling(in_store: Foreign) -> None:
    from nbflow.widgets import CompareWidget, GraphWidget, RunBrowser

    graph = GraphWidget("foreign/2")
    for step in ("start", "each", "end"):
        assert graph.step_tasks(step)["tasks"]
    browser = RunBrowser("foreign")
    assert browser.results(["foreign/1", "foreign/2"])
    browser.compare(["foreign/1", "foreign/2"])
    assert browser.comparison
    shown = [
        w._repr_mimebundle_() for w in (graph, browser, CompareWidget(["foreign/1", "foreign/2"]))
    ]
    assert all("image/svg+xml" in bundle[0] for bundle in shown)
    shell = _shell(in_store.path)
    for line in ("%flow show foreign/1", "%flow runs", "%flow compare foreign/1 foreign/2"):
        shell.run_cell(line).raise_error()
    assert not in_store.marker.exists()


# -- loading ---------------------------------------------------------------------------------


def test_loading_an_artifact_runs_its_pickle_and_warns_once(in_store: Foreign) -> None:
    task = Run("foreign/1")["start"].task
    with pytest.warns(UntrustedStoreWarning) as caught:
        task.data.bomb  # noqa: B018 (the load is the point)
    (warning,) = caught
    message = str(warning.message)
    assert str(in_store.path) in message
    assert str(foreign_owner(str(in_store.path))) in message
    assert "runs code" in message and "pickle" in message
    assert warning.filename == __file__  # pointed at the line that loaded it
    assert in_store.marker.exists(), "loading is unpickling: the bomb went off"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would raise
        Run("foreign/2")["each"].tasks()[0].data.piece  # noqa: B018


def test_a_store_of_ones_own_loads_without_a_warning(tmp_path: Path) -> None:
    shell = _shell(tmp_path / "mine")
    shell.run_cell("%flow name mine").raise_error()
    shell.run_cell("%%step start\nvalue = [1, 2]").raise_error()
    store = open_store_at(tmp_path / "mine")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Flow("mine", store=store).latest_run["start"].task.data.value == [1, 2]
    assert foreign_owner(str(tmp_path / "mine")) is None


def test_object_stores_are_not_checked() -> None:
    # Who may write a bucket is in its policies, not in anything a client can cheaply read.
    assert foreign_owner("s3://bucket/nbflow") is None


def _shell(store: Path) -> InteractiveShell:
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    shell.run_cell(f"%flow config datastore={store}").raise_error()
    return shell


def open_store_at(path: Path) -> Any:
    from nbflow.config import Config

    return open_store(Config(datastore=str(path)))
