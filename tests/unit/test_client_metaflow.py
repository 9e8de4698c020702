"""The client a Metaflow user already knows (issue 13): the calls of Metaflow's client API page
(docs.metaflow.org/api/client and /metaflow/client), one by one, on real runs made in IPython's
in-process shell; then what nbflow adds (filters, compare of a filter, lineage)."""

from __future__ import annotations

import datetime
import getpass
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

import nbflow
from nbflow import Flow, Run, Step, Task, flows, namespace
from nbflow.cli import main as nbflow_main
from nbflow.exceptions import NotFound
from nbflow.kernel.magics import load_ipython_extension
from nbflow.query.namespace import default_namespace, get_namespace
from nbflow.store.metadata import MetadataStore
from nbflow.store.metadata import schema as metadata_schema
from nbflow.store.metadata.databases import open_database
from nbflow.store.metadata.tags import TagError
from nbflow.store.stores import open_store

ME = getpass.getuser()


@pytest.fixture(autouse=True)
def default_ns(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("NBFLOW_USER", raising=False)
    default_namespace()
    yield
    default_namespace()


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    for name in ("NBFLOW_EXECUTOR", "NBFLOW_WORKERS", "NBFLOW_METADATA", "NBFLOW_TAGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NBFLOW_DATASTORE", str(tmp_path / "store"))
    monkeypatch.setenv("NBFLOW_CACHE", "off")  # every task really runs: lineage ends there
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    shell.run_cell("%flow name HelloFlow")
    yield shell


def ok(ip: InteractiveShell, code: str) -> Any:
    result = ip.run_cell(code)
    result.raise_error()
    return result.result


START = """%%step start
name = 'hello'
depths = [1, 2, 3]
with open('data.txt') as f:
    base = int(f.read())"""


@pytest.fixture
def run(ip: InteractiveShell) -> Run:
    Path("data.txt").write_text("7")
    ok(ip, "%%params\nn_estimators = 100\nalpha = 0.5")
    ok(ip, START)
    ok(ip, "%%step train --after start --foreach depths\nscore = item * alpha + base")
    ok(ip, "%%step join --after train --join\nbest = max(i.score for i in inputs)")
    ok(ip, "%%step end --after join\nmessage = f'{name}: {best}'")
    made: Run = ok(ip, "%flow run")
    return made


# -- the errors, as they were seen --------------------------------------------------------


def test_there_is_a_list_of_flows(run: Run) -> None:
    listed = flows()
    assert [f.name for f in listed] == ["HelloFlow"]
    assert listed.latest["HelloFlow"].pathspec == run.pathspec
    assert "HelloFlow" in repr(listed) and f"latest {run.id}" in repr(listed)
    assert nbflow.flows is flows


def test_step_and_task_are_made_from_their_paths(run: Run) -> None:
    step = Step(f"HelloFlow/{run.id}/train")  # was: TypeError, 3 positional arguments missing
    assert (step.id, step.pathspec, len(list(step))) == ("train", f"{run.pathspec}/train", 3)
    task = step.tasks()[0]
    again = Task(f"HelloFlow/{run.id}/train/{task.id}")
    assert (again.pathspec, again.data.score) == (task.pathspec, task.data.score)


def test_run_id_is_without_the_flow_so_paths_can_be_built(run: Run) -> None:
    assert run.id == str(run.run_id) and run.pathspec == f"HelloFlow/{run.id}"
    assert Run(f"{run.flow}/{run.id}").pathspec == run.pathspec  # was: not of the form FLOW/RUN
    assert run.path_components == ["HelloFlow", run.id]


def test_steps_have_times_and_times_are_datetimes(run: Run) -> None:
    step = run["train"]
    for obj in (run, step, step.tasks()[0]):
        assert isinstance(obj.created_at, datetime.datetime)
        assert obj.created_at.tzinfo is not None and obj.finished_at.tzinfo is not None
        assert obj.finished_at >= obj.created_at
    assert step.duration == pytest.approx(
        (step.finished_at - step.created_at).total_seconds(), abs=1e-3
    )
    assert run.duration == pytest.approx(
        (run.finished_at - run.created_at).total_seconds(), abs=1e-3
    )
    assert abs(run.created_at - datetime.datetime.now(datetime.timezone.utc)).total_seconds() < 600


def test_runs_filtered_by_tag_and_runs_have_system_tags(run: Run, ip: InteractiveShell) -> None:
    assert Flow("HelloFlow").runs(tag="nope") == []  # was: TypeError
    assert {f"user:{ME}", f"host:{socket.gethostname()}", "executor:kernel"} <= run.system_tags
    assert f"nbflow:{nbflow.__version__}" in run.tags and run.user_tags == frozenset()
    assert Flow("HelloFlow").runs(tag=f"user:{ME}")[0].pathspec == run.pathspec


def test_end_task_and_parameters_as_task_data(run: Run) -> None:
    assert run.end_task.pathspec == run["end"].task.pathspec  # was: AttributeError
    assert run.end_task.data.message == "hello: 8.5"
    assert run["train"].tasks()[0].data.n_estimators == 100  # was: AttributeError
    assert "alpha" in run.end_task.data and "n_estimators" in dir(run.end_task.data)


# -- Metaflow's client API page, call by call ------------------------------------------------------


def test_listing_children_by_iterating(run: Run) -> None:
    flow = Flow("HelloFlow")
    assert [r.pathspec for r in list(flow)] == [run.pathspec, f"HelloFlow/{int(run.id) - 1}"]
    assert [s.id for s in list(run)] == ["start", "train", "join", "end"]
    assert len(list(run["train"])) == 3
    assert sorted(run["end"].task) == sorted(run["end"].task.artifacts)


def test_accessing_children_with_brackets_and_in(run: Run) -> None:
    task = run["start"].task
    assert Flow("HelloFlow")[run.id]["start"][task.id].pathspec == task.pathspec
    assert run.id in Flow("HelloFlow") and "99" not in Flow("HelloFlow")
    assert "train" in run and "nope" not in run
    with pytest.raises(LookupError):  # NotFound; Metaflow raises KeyError, a LookupError too
        run["nope"]


def test_common_attributes(run: Run) -> None:
    task = run["train"].tasks()[1]
    for obj in (run, run["train"], task):
        assert obj.tags == run.user_tags | run.system_tags
        assert isinstance(obj.pathspec, str) and obj.pathspec.split("/") == obj.path_components
    assert task.parent.pathspec == run["train"].pathspec and task.parent.parent.id == run.id
    assert run.parent.id == "HelloFlow"


def test_flow_latest_run_and_latest_successful_run(run: Run) -> None:
    flow = Flow("HelloFlow")
    assert flow.id == flow.pathspec == "HelloFlow"
    assert flow.latest_run.pathspec == flow.latest_successful_run.pathspec == run.pathspec


def test_run_attributes(run: Run) -> None:
    assert run.successful and run.finished
    assert run.data.message == "hello: 8.5"  # run.data: the end step's data
    assert run["end"].task.data.best == 8.5


def test_task_attributes(run: Run) -> None:
    tasks = run["train"].tasks()
    assert [t.index for t in tasks] == [0, 1, 2]
    assert all(t.successful and t.finished and t.current_attempt == 1 for t in tasks)
    assert run["start"].task.index is None
    assert run["start"].task.stdout == "" and run["start"].task.stderr == ""


def test_tags_are_added_removed_and_replaced(run: Run) -> None:
    run.add_tag("best")
    run.add_tags(["paper", "v2"])
    assert {"best", "paper", "v2"} <= Run(run.pathspec).user_tags
    run.remove_tag("paper")
    run.replace_tag("v2", "v3")
    assert Run(run.pathspec).user_tags == {"best", "v3"}
    run.remove_tag("never-there")  # no error, as Metaflow
    run.add_tag(f"user:{ME}")  # already a system tag: not added again, no error (Metaflow)
    assert f"user:{ME}" not in Run(run.pathspec).user_tags
    assert [r.pathspec for r in Flow("HelloFlow").runs("best", "v3")] == [run.pathspec]
    assert Flow("HelloFlow").runs("best", "paper") == []


def test_system_tags_cannot_be_given_or_removed(run: Run) -> None:
    with pytest.raises(TagError, match="system tags use"):
        run.add_tag("host:elsewhere")
    with pytest.raises(TagError, match="is a system tag"):
        run.remove_tag(f"user:{ME}")
    with pytest.raises(TagError, match="non-empty"):
        run.add_tag("  ")


def test_namespaces_as_in_metaflow(run: Run, ip: InteractiveShell, monkeypatch: Any) -> None:
    assert get_namespace() == f"user:{ME}"
    monkeypatch.setenv("NBFLOW_USER", "anne")
    anne: Run = ok(ip, "%flow run")  # a run Anne made
    assert "user:anne" in anne.system_tags
    monkeypatch.delenv("NBFLOW_USER")
    flow = Flow("HelloFlow")
    assert anne.pathspec not in [r.pathspec for r in flow.runs()]
    assert flow.latest_run.pathspec == run.pathspec  # mine, not Anne's newer one
    assert namespace("user:anne") == "user:anne"
    assert [r.pathspec for r in Flow("HelloFlow")] == [anne.pathspec]
    assert namespace("anne") == "user:anne"  # a bare name is a user's namespace
    assert namespace(None) is None
    assert len(Flow("HelloFlow").runs()) == 3
    namespace("user:nobody")
    assert flows() == [] and "namespace(None)" in repr(flows())
    with pytest.raises(NotFound, match="namespace"):
        _ = Flow("HelloFlow").latest_run
    assert Run(run.pathspec).id == run.id  # a path opens its run in any namespace
    assert default_namespace() == f"user:{ME}"


def test_runs_made_before_nbflow_kept_who_made_them_are_in_every_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBFLOW_DATASTORE", str(tmp_path / "store"))
    old = open_store().meta.create_run("old", {}, tags=["x"])  # no system tags
    namespace("user:somebody")
    assert [r.id for r in Flow("old").runs()] == [str(old.run_id)]
    assert [r.id for r in Flow("old").runs(tag="x")] == [str(old.run_id)]
    assert Run(f"old/{old.run_id}").user is None


def test_the_doors_browse_every_namespace(run: Run, capsys: Any) -> None:
    namespace("user:nobody")
    assert nbflow_main(["runs", "HelloFlow", "--json"]) == 0
    assert f'"{run.pathspec}"' in capsys.readouterr().out


# -- filters, compare, lineage: beyond Metaflow's client -------------------------------------------


def test_runs_by_status_and_since(run: Run, ip: InteractiveShell) -> None:
    flow = Flow("HelloFlow")
    assert flow.runs(status="done")[0].pathspec == run.pathspec
    assert flow.runs(status="failed") == []
    assert len(flow.runs(status=["done", "failed"])) == 2
    assert flow.runs(since=datetime.timedelta(hours=1))[0].pathspec == run.pathspec
    assert flow.runs(since=run.created_at)[0].pathspec == run.pathspec
    assert flow.runs(since=datetime.date.today() + datetime.timedelta(days=2)) == []
    assert len(flow.runs(limit=1)) == 1
    with pytest.raises(ValueError, match="a run is one of running, done, incomplete, failed"):
        flow.runs(status="ok")
    with pytest.raises(TypeError, match="since="):
        flow.runs(since="yesterday")  # type: ignore[arg-type]


def test_compare_takes_a_filter_of_runs(run: Run, ip: InteractiveShell) -> None:
    run.add_tag("best")
    table = nbflow.compare("HelloFlow", tag="best")
    assert list(table.index) == [run.pathspec]
    assert table.loc[run.pathspec, "param.n_estimators"] == 100
    assert (
        table.loc[run.pathspec, "best"] == 8.5
        and table.loc[run.pathspec, "message"] == "hello: 8.5"
    )
    assert nbflow.compare(Flow("HelloFlow"), limit=2).index[0] == run.pathspec
    assert list(nbflow.compare([run.pathspec]).index) == [run.pathspec]
    with pytest.raises(TypeError, match="filters"):
        nbflow.compare([run], tag="best")


def test_lineage_names_the_task_the_files_and_the_inputs(run: Run) -> None:
    found = run.lineage("message")
    assert found.task.pathspec == run["end"].task.pathspec
    assert {i.name for i in found.inputs} == {"name", "best"}
    best = next(i for i in found.inputs if i.name == "best")
    assert best.task.pathspec == run["join"].task.pathspec  # not the end task that inherited it
    base = run.lineage("base")
    assert base.task.step == "start" and [Path(f["path"]).name for f in base.files] == ["data.txt"]
    score = run["train"].tasks()[0].lineage("score")
    assert score.params == {"alpha": 0.5}
    assert "data.txt" in {Path(f["path"]).name for f in best.all_files}  # through the inputs
    assert found.as_dict()["task"] == run["end"].task.pathspec
    assert "made by" in repr(found)
    with pytest.raises(NotFound, match="has no artifact 'nope'"):
        run.lineage("nope")


def test_a_path_of_the_wrong_shape_or_step_is_not_found(run: Run) -> None:
    task = run["start"].task
    with pytest.raises(NotFound, match="FLOW/RUN_ID/STEP"):
        Step("HelloFlow/1")
    with pytest.raises(NotFound, match="not of HelloFlow"):
        Task(f"HelloFlow/{run.id}/train/{task.id}")  # the task is start's
    with pytest.raises(TypeError):
        Run(3)  # type: ignore[arg-type]


# -- the command line: nbflow tag ----------------------------------------------------------------


def test_nbflow_tag_adds_and_removes(run: Run, capsys: Any) -> None:
    assert nbflow_main(["tag", run.pathspec, "+best", "+paper"]) == 0
    assert nbflow_main(["tag", run.pathspec, "-paper"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-2] == f"{run.pathspec}: best"
    assert f"user:{ME}" in out.splitlines()[-1]
    assert Run(run.pathspec).user_tags == {"best"}
    assert nbflow_main(["tag", run.pathspec, "+host:x"]) == 1
    assert "system tags use" in capsys.readouterr().err


def test_nbflow_tag_has_help(capsys: Any) -> None:
    with pytest.raises(SystemExit):
        nbflow_main(["tag", "--help"])
    assert "+TAG" in capsys.readouterr().out


# -- an older store ------------------------------------------------------------------------------


def test_a_store_made_before_tags_had_a_table_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "metadata.sqlite"
    db = open_database(path)
    metadata_schema.migrate(db, metadata_schema.MIGRATIONS[:4])  # as nbflow wrote it before
    with db.write():
        db.execute(
            "INSERT INTO runs (flow, run_id, status, started_at, finished_at, params, tags) "
            "VALUES ('old', 1, 'done', 1.5, 2.5, '{}', '[\"keep\", \"best\"]')"
        )
    db.close()
    with closing(MetadataStore(path)) as meta:
        (found,) = meta.runs("old", tags=["best"])
        assert (found.tags, found.system_tags) == (("keep", "best"), ())
        assert meta.runs("old", namespace="user:anyone") == [found]
        meta.add_tags("old", 1, ["new"])
        assert meta.runs("old", tags=["new", "keep"])[0].tags == ("keep", "best", "new")
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone() == ("5",)


def test_a_tasks_artifact_by_name_as_metaflow_writes_it(run: Run) -> None:
    task = run["join"].task
    best = task["best"]  # Metaflow's `task["best"].data`
    assert (best.id, best.pathspec, best.data) == ("best", f"{task.pathspec}/best", 8.5)
    assert best.sha == task.artifacts["best"].key and best.size > 0
    assert best.type_name == "builtins.float" and "DataArtifact" in repr(best)
    with pytest.raises(NotFound, match=r"has no artifact 'nope' \(it has: .*best"):
        task["nope"]


def test_a_failed_tasks_exception_as_metaflow_reads_it(ip: InteractiveShell) -> None:
    ok(ip, "%%step start\nsize = 3")
    ok(ip, "%%step fails --after start --catch err\nratio = size / 0")
    ip.run_cell("%%step crash --after fails\nraise ValueError(f'bad size {size}')")  # fails
    made = Flow("HelloFlow").latest_run
    assert made["start"].task.exception is None
    caught = made["fails"].task.exception  # --catch: the run goes on, the exception is kept
    assert caught is not None and caught.type == "ZeroDivisionError"
    assert caught.exception == caught.message == "division by zero" and caught.line == 2
    assert made["fails"].task.data.err.ename == "ZeroDivisionError"  # and in VAR, as before
    crash = made["crash"].task.exception
    assert crash is not None and (crash.type, crash.message) == ("ValueError", "bad size 3")
    assert "raise ValueError" in crash.stacktrace and str(crash).rstrip().endswith("bad size 3")
    assert "nbflow/run" not in crash.stacktrace  # the user's frames only
    assert repr(crash) == f"TaskException('{made['crash'].task.pathspec}') ValueError: bad size 3"
