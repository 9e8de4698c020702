"""The views' TypedDicts (nbflow/query/views.py) are what is sent: labextension/src/views.ts is
what labextension/scripts/viewtypes.py generates from them now, and views built from real runs
(made in IPython's in-process shell, in a temporary store) have exactly the keys, and values of
the types, that their TypedDicts declare, through every door that sends them (the views, the
REST API's replies, the widgets' answers)."""

from __future__ import annotations

import importlib.util
import json
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, is_typeddict

import pytest
from IPython.core.interactiveshell import InteractiveShell

from nbflow import Flow, Run
from nbflow.config import Config
from nbflow.kernel.magics import load_ipython_extension
from nbflow.query import views
from nbflow.server import check, replies
from nbflow.server.validation import Cell, RunRef
from nbflow.store.stores import Store, open_store
from nbflow.widgets.tasks import bounded_task_view, step_tasks

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "labextension" / "scripts" / "viewtypes.py"

START = """%%step start
from pathlib import Path
from IPython.display import display, HTML
words = Path("words.txt").read_text().split()
display(HTML("<b>words</b>"))
print("read", len(words))
"""
COUNT = "%%step count --after start --foreach words --as word\nletters = len(word)"
TOTAL = "%%step total --after count --join\ntotal = sum(i.letters for i in inputs) * scale"
BROKEN = "%%step broken --after total\nraise ValueError('no good')"


def _generator() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("viewtypes", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


viewtypes = _generator()


def conforms(value: Any, hint: Any, where: str = "view") -> None:
    """`value` is what `hint` declares: a TypedDict has every required key, no key it does not
    declare, and each value of its type; lists, dicts of str, unions and literals likewise."""
    origin, args = get_origin(hint), get_args(hint)
    if is_typeddict(hint):
        _conforms_typeddict(value, hint, where)
    elif origin in (Union, types.UnionType):
        _conforms_union(value, hint, where)
    elif origin is Literal:
        assert value in args, f"{where}: {value!r} is not one of {args}"
    elif origin is list:
        assert isinstance(value, list), f"{where}: {value!r} is not a list"
        for index, item in enumerate(value):
            conforms(item, args[0], f"{where}[{index}]")
    elif origin is dict:
        assert isinstance(value, dict), f"{where}: {value!r} is not an object"
        for key, item in value.items():
            assert isinstance(key, str), f"{where}: key {key!r} is not a string"
            conforms(item, args[1], f"{where}[{key!r}]")
    elif hint is float:  # JSON has one number type: an int is a float too
        assert isinstance(value, (int, float)) and not isinstance(value, bool), where
    elif hint not in (Any, object):
        assert type(value) is hint, f"{where}: {value!r} is not a {hint.__name__}"


def _conforms_typeddict(value: Any, hint: Any, where: str) -> None:
    assert isinstance(value, dict), f"{where}: {value!r} is not an object"
    keys = set(value)
    missing = viewtypes.required_keys(hint) - keys
    extra = keys - viewtypes.all_keys(hint)
    assert not missing and not extra, f"{where} ({hint.__name__}): {missing=}, {extra=}"
    for key, field, _ in viewtypes.fields(hint):
        if key in value:
            conforms(value[key], field, f"{where}.{key}")


def _conforms_union(value: Any, hint: Any, where: str) -> None:
    errors = []
    for arm in get_args(hint):
        try:
            conforms(value, arm, where)
        except AssertionError as error:
            errors.append(str(error))
        else:
            return
    raise AssertionError(f"{where}: {value!r} is none of {hint}: {errors}")


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("NBFLOW_DATASTORE", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "words.txt").write_text("Paris Rome Oslo")
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    shell.run_cell("%flow name shapes")
    yield shell


def ok(ip: InteractiveShell, code: str) -> Any:
    result = ip.run_cell(code)
    result.raise_error()
    return result.result


@pytest.fixture
def made(ip: InteractiveShell, tmp_path: Path) -> tuple[Store, list[Run]]:
    """Two runs of start -> foreach count -> join total (scale 1 and 2), then a failing step
    run cell by cell (the flow's latest run, failed)."""
    ok(ip, "%%params\nscale = 1")
    for cell in (START, COUNT, TOTAL):
        ok(ip, cell)
    done = [ok(ip, "%flow run -p scale=1"), ok(ip, "%flow run -p scale=2")]
    assert not ip.run_cell(BROKEN).success
    store = open_store(Config(datastore=str(tmp_path / "store")))
    return store, [Run(run.pathspec, store=store) for run in done]


def test_the_checked_in_views_ts_is_what_the_script_writes_now() -> None:
    checked_in = (REPO / "labextension" / "src" / "views.ts").read_text()
    assert checked_in == viewtypes.render(), (
        "labextension/src/views.ts differs from the TypedDicts of nbflow/query/views.py: run "
        "`make views` (or `.venv/bin/python labextension/scripts/viewtypes.py`), then "
        "`cd labextension && jlpm build`."
    )


def test_the_script_maps_each_kind_of_type_as_json_carries_it() -> None:
    aliases = viewtypes.literal_aliases(views)
    ts = viewtypes.ts_type
    assert ts(str, aliases) == "string" and ts(int, aliases) == ts(float, aliases) == "number"
    assert ts(bool, aliases) == "boolean" and ts(type(None), aliases) == "null"
    assert ts(Any, aliases) == "unknown"
    assert ts(list[str], aliases) == "string[]"
    assert ts(list[int | None], aliases) == "(number | null)[]"
    assert ts(dict[str, list[float]], aliases) == "Record<string, number[]>"
    assert ts(Literal["a", "b"], aliases) == "'a' | 'b'"
    assert ts(views.TaskStatus, aliases) == "TaskStatus"
    assert ts(views.StepView | None, aliases) == "StepView | null"
    with pytest.raises(TypeError, match="does not know"):
        ts(set[str], aliases)
    assert "traceback?: string;" in viewtypes.interface(views.TaskError, aliases)
    assert "export interface RunView extends RunSummary {" in viewtypes.render()


def test_views_of_real_runs_have_the_keys_their_typeddicts_declare(
    made: tuple[Store, list[Run]],
) -> None:
    _, (first, _) = made
    view = views.run_view(first)
    conforms(view, views.RunView, "run_view")
    assert [step["name"] for step in view["steps"]] == ["start", "count", "total"]
    tasks = [task for step in first.steps() for task in step.tasks()]
    assert len(tasks) == 5  # start, 3 x count, total
    for task in tasks:
        conforms(views.task_view(task), views.TaskView, f"task_view({task.pathspec})")
        conforms(bounded_task_view(task), views.TaskDetails, f"bounded_task_view({task.pathspec})")
    start = views.task_view(first["start"].tasks()[0])
    assert [read["path"].endswith("words.txt") for read in start["reads"]] == [True]
    assert start["displays"] and start["artifacts"]
    counted = views.task_view(first["count"].tasks()[1])
    assert [frame["index"] for frame in counted["foreach"]] == [1]
    conforms(step_tasks(first, "count"), views.StepTasks, "step_tasks")
    conforms(step_tasks(first, "nowhere"), views.StepTasks, "step_tasks (no such step)")


def test_a_failed_task_carries_a_task_error(made: tuple[Store, list[Run]]) -> None:
    store, _ = made
    failed = Flow("shapes", store=store).latest_run
    assert failed.status == "failed"
    [task] = failed["broken"].tasks()
    view = views.task_view(task)
    conforms(view, views.TaskView, "task_view(broken)")
    assert view["error"] is not None and view["error"]["ename"] == "ValueError"
    conforms(views.run_view(failed), views.RunView, "run_view(failed)")


def test_the_rest_replies_have_the_keys_their_typeddicts_declare(
    made: tuple[Store, list[Run]],
) -> None:
    store, (first, second) = made
    reply_types = [
        (replies.flows_reply(store, "the store"), views.FlowsReply),
        (replies.flows_reply(None, "no store yet"), views.FlowsReply),
        (replies.runs_reply(store, "shapes", 10, 0), views.RunsPage),
        (replies.run_reply(store, RunRef("shapes", first.run_id)), views.RunReply),
        (replies.step_reply(store, RunRef("shapes", first.run_id), "count"), views.StepTasks),
        (replies.compare_reply(store, [RunRef("shapes", r.run_id) for r in (first, second)]),
         views.CompareReply),
    ]  # fmt: skip
    task = first["count"].tasks()[0]
    ref = RunRef("shapes", first.run_id)
    reply_types.append((replies.task_reply(store, ref, "count", task.task_id), views.TaskDetails))
    for reply, declared in reply_types:
        json.dumps(reply)  # what the handlers send is plain JSON
        conforms(reply, declared, declared.__name__)
    comparison = reply_types[5][0]
    assert [row["name"] for row in comparison["params"]] == ["scale"]
    assert comparison["params"][0]["differs"] is True and comparison["artifacts"]


def test_the_check_reply_has_the_keys_its_typeddict_declares(
    made: tuple[Store, list[Run]],
) -> None:
    store, _ = made
    cells = [
        Cell("a", "%load_ext nbflow\n%flow name shapes"),
        Cell("b", START),
        Cell("c", COUNT),
        Cell("d", "%%step lost --after nowhere\nx = 1"),
    ]
    reply = check.check_reply(store, "shapes", cells)
    conforms(reply, views.CheckResult, "check_reply")
    assert [step["changed"] for step in reply["steps"][:2]] == [False, False]
    assert [error["cell_id"] for error in reply["errors"]] == ["d"]


def test_conforms_finds_a_missing_key_an_extra_key_and_a_wrong_type() -> None:
    read = {"path": "/data/a.csv", "size": 10, "hash": "ab"}
    conforms(read, views.FileRead)
    with pytest.raises(AssertionError, match="missing=\\{'hash'\\}"):
        conforms({"path": "/data/a.csv", "size": 10}, views.FileRead)
    with pytest.raises(AssertionError, match="extra=\\{'steps'\\}"):
        conforms({**read, "steps": []}, views.FileRead)
    with pytest.raises(AssertionError, match="is not a int"):
        conforms({**read, "size": "10"}, views.FileRead)
    conforms({"ename": "TaskLost", "evalue": "gone"}, views.TaskError)  # NotRequired keys
