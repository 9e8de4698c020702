"""The headless commands (`nbflow run`, `batch`, `resume`) as a user runs them from a shell.

Every test starts the real command in a subprocess on a small notebook written into its own
folder; the datastore lands beside the notebook (`.nbflow/`) unless a test names one. What a
run stored is read back in a fresh Python process through the public client, so the tests see
what any later process would. Independent commands run at once to keep the file quick.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
import pytest

NBFLOW = [sys.executable, "-m", "nbflow.cli"]
TIMEOUT = 180

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("kernel_name")]

Cell = str | tuple[str, list[str]]  # a code cell's source, or (source, tags)


# -- helpers --------------------------------------------------------------------------------------


PYTHON_METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}


def write_notebook(path: Path, *cells: Cell, metadata: dict[str, Any] | None = None) -> Path:
    """A notebook as JupyterLab saves one (kernel metadata included, unless `metadata`)."""
    notebook = nbformat.v4.new_notebook(metadata=PYTHON_METADATA if metadata is None else metadata)
    for cell in cells:
        source, tags = (cell, []) if isinstance(cell, str) else cell
        code = nbformat.v4.new_code_cell(source)
        if tags:
            code.metadata["tags"] = tags
        notebook.cells.append(code)
    nbformat.write(notebook, path)
    return path


def environment(store: Path | None = None) -> dict[str, str]:
    """The caller's environment without nbflow settings: the store lands beside the notebook."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBFLOW_")}
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    if store is not None:
        env["NBFLOW_DATASTORE"] = str(store)
    return env


def nbflow(
    *args: str, cwd: Path, store: Path | None = None, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NBFLOW, *args],
        cwd=cwd,
        env=environment(store),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def in_parallel(*commands: tuple[Sequence[str], Path]) -> list[subprocess.CompletedProcess[str]]:
    """Run `nbflow` commands (args, cwd) at once; their results in the same order."""
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        futures = [pool.submit(nbflow, *args, cwd=cwd) for args, cwd in commands]
        return [f.result() for f in futures]


READER = r"""
import json, sys
from nbflow import Flow

def plain(value):
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value

def task(t):
    return {
        "id": t.pathspec,
        "status": t.status,
        "origin": t.origin.pathspec if t.origin is not None else None,
        "data": {name: plain(getattr(t.data, name)) for name in t.artifacts},
    }

runs = []
for run in reversed(Flow(sys.argv[1]).runs()):
    runs.append({
        "id": run.pathspec,
        "run_id": run.run_id,
        "status": run.status,
        "params": run.params,
        "tags": run.as_dict()["tags"],  # the user tags, in order
        "notebook": run.notebook,
        "steps": {s.name: [task(t) for t in s.tasks()] for s in run.steps()},
    })
print(json.dumps(runs))
"""


def read_runs(flow: str, store: Path) -> list[dict[str, Any]]:
    """Every run of `flow` in `store`, oldest first, as a fresh process reads it."""
    read = subprocess.run(
        [sys.executable, "-c", READER, flow],
        env=environment(store),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert read.returncode == 0, read.stderr
    runs: list[dict[str, Any]] = json.loads(read.stdout)
    return runs


def outputs_text(notebook: dict[str, Any]) -> str:
    """Everything the code cells of an executed notebook printed or displayed."""
    texts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            texts.append("".join(text) if isinstance(text, list) else text)
            texts += output.get("traceback", [])
    return "\n".join(texts)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie nobody reaped is dead too
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


LOAD = "%load_ext nbflow\n%flow name {}"
KERNEL_PID = "import os, pathlib\npathlib.Path('kernel.pid').write_text(str(os.getpid()))"


def demo_notebook(folder: Path) -> Path:
    """Params, a root step that prints, a foreach recording its process, a join with results."""
    return write_notebook(
        folder / "demo.ipynb",
        LOAD.format("demo"),
        KERNEL_PID,
        "%%params\nn = 3\nitems = [1, 2, 3, 4]",
        "%%step start\nvals = [n * i for i in items]\nprint('hello from start')",
        "%%step fan --after start --foreach vals --as v\nimport os\npid = os.getpid()\nw = v * 2",
        "%%step end --after fan --join\npids = sorted({i.pid for i in inputs})\n"
        "total = sum(i.w for i in inputs)",
    )


# -- nbflow run -----------------------------------------------------------------------------------


def test_run_prints_the_run_and_stores_it_with_tags_progress_and_the_notebook(
    tmp_path: Path,
) -> None:
    notebook = demo_notebook(tmp_path)
    before = notebook.read_bytes()
    done = nbflow("run", "demo.ipynb", "--tag", "nightly", "--tag", "v2",
                  "--output", "out/executed.ipynb", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "run demo/1: done" in done.stdout
    for row in (r"^start +done +1 ", r"^fan +done +4 ", r"^end +done +1 ", r"^results .*total=60"):
        assert re.search(row, done.stdout, re.MULTILINE), (row, done.stdout)
    # Progress: one plain line per cell on a pipe, never a redrawn bar.
    assert [f"[{k}/6]" in done.stderr for k in range(1, 7)] == [True] * 6
    assert "\r" not in done.stderr and "█" not in done.stderr

    [run] = read_runs("demo", tmp_path / ".nbflow")
    assert run["id"] == "demo/1" and run["status"] == "done"
    assert run["tags"] == ["nightly", "v2"]
    assert run["params"] == {"n": 3, "items": [1, 2, 3, 4]}
    assert run["steps"]["end"][0]["data"]["total"] == 60
    # The executed notebook, with the steps' outputs, is stored with the run and at --output.
    stored = run["notebook"]
    assert stored is not None and "hello from start" in outputs_text(stored)
    written = json.loads((tmp_path / "out" / "executed.ipynb").read_text())
    assert "hello from start" in outputs_text(written)
    assert written["cells"][3]["source"] == stored["cells"][3]["source"]
    assert notebook.read_bytes() == before  # the input is never written


def test_output_never_overwrites_the_input_and_refuses_before_running(tmp_path: Path) -> None:
    notebook = demo_notebook(tmp_path)
    before = notebook.read_bytes()
    refused = nbflow("run", "demo.ipynb", "--output", "./demo.ipynb", cwd=tmp_path)
    assert refused.returncode == 1
    assert "--output" in refused.stderr and "input notebook" in refused.stderr
    assert notebook.read_bytes() == before
    # Refusing means not running the whole notebook first (and then exiting 1 anyway).
    assert "[1/6]" not in refused.stderr, "the notebook ran before --output was refused"
    assert not (tmp_path / "kernel.pid").exists()


PARAMS = "n = 3\nx = 0.5\nflag = False\nitems = [1, 2]\nlabel = 'a'\nother = 7"
SEE_PARAMS = (
    "%%step start\nseen = {'n': n, 'x': x, 'flag': flag, 'items': items, 'label': label}\n"
    "types = {k: type(v).__name__ for k, v in seen.items()}"
)
OVERRIDES = ["-p", "n", "4", "-p", "x", "1.5", "-p", "flag", "True",
             "-p", "items", "[1, 2, 3]", "-p", "label", "hello world"]  # fmt: skip
SEEN = {"n": 4, "x": 1.5, "flag": True, "items": [1, 2, 3], "label": "hello world"}
TYPES = {"n": "int", "x": "float", "flag": "bool", "items": "list", "label": "str"}
PARAMS_CELLS: dict[str, Cell] = {
    "params": "%%params\n" + PARAMS,
    "params_tagged": ("%%params\n" + PARAMS, ["parameters"]),
    "plain_tagged": (PARAMS, ["parameters"]),
}


@pytest.mark.parametrize("cell", list(PARAMS_CELLS))
def test_parameters_override_the_defaults_with_or_without_the_papermill_tag(
    tmp_path: Path, cell: str
) -> None:
    write_notebook(tmp_path / "p.ipynb", LOAD.format("p"), PARAMS_CELLS[cell], SEE_PARAMS)
    done = nbflow("run", "p.ipynb", *OVERRIDES, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr  # every name is declared
    [run] = read_runs("p", tmp_path / ".nbflow")
    data = run["steps"]["start"][0]["data"]
    assert data["seen"] == SEEN
    assert data["types"] == TYPES
    assert run["params"].items() >= SEEN.items()
    if cell != "plain_tagged":
        assert run["params"]["other"] == 7  # a default nobody overrode


def test_a_tagged_notebook_without_kernel_metadata_runs(tmp_path: Path) -> None:
    """As nbformat, jupytext or a script writes one: nbflow runs it on python3 anyway."""
    write_notebook(tmp_path / "p.ipynb", LOAD.format("p"), PARAMS_CELLS["plain_tagged"],
                   SEE_PARAMS, metadata={})  # fmt: skip
    done = nbflow("run", "p.ipynb", "-p", "n", "4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [run] = read_runs("p", tmp_path / ".nbflow")
    assert run["steps"]["start"][0]["data"]["seen"]["n"] == 4


def test_values_are_read_as_papermill_reads_them(tmp_path: Path) -> None:
    """papermill's `-p` reads int(), then float(): `1_000` and `inf` are numbers there."""
    write_notebook(tmp_path / "p.ipynb", LOAD.format("p"), "%%params\n" + PARAMS, SEE_PARAMS)
    done = nbflow("run", "p.ipynb", "-p", "flag", "False", "-p", "label", "None",
                  "-p", "n", "1_000", "-p", "x", "inf", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    [run] = read_runs("p", tmp_path / ".nbflow")
    seen = run["steps"]["start"][0]["data"]["seen"]
    assert (seen["flag"], seen["label"]) == (False, None)
    assert (seen["n"], seen["x"]) == (1000, float("inf"))


def test_an_undeclared_parameter_warns_and_is_recorded(tmp_path: Path) -> None:
    write_notebook(tmp_path / "p.ipynb", LOAD.format("p"), "%%params\n" + PARAMS, SEE_PARAMS)
    done = nbflow("run", "p.ipynb", "-p", "n", "5", "-p", "bogus", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "warning" in done.stderr and "'bogus'" in done.stderr
    assert "'n'" not in done.stderr
    [run] = read_runs("p", tmp_path / ".nbflow")
    assert run["params"]["bogus"] == 3 and run["params"]["n"] == 5


def test_processes_executor_runs_one_flow_with_foreach_tasks_in_workers(tmp_path: Path) -> None:
    demo_notebook(tmp_path)
    done = nbflow("run", "demo.ipynb", "--executor", "processes", "--workers", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    runs = read_runs("demo", tmp_path / ".nbflow")
    assert [r["status"] for r in runs] == ["done"]  # one complete run, not one per cell
    [run] = runs
    assert [len(run["steps"][s]) for s in ("start", "fan", "end")] == [1, 4, 1]
    assert {t["status"] for tasks in run["steps"].values() for t in tasks} == {"done"}
    assert run["steps"]["end"][0]["data"]["total"] == 60
    kernel = int((tmp_path / "kernel.pid").read_text())
    pids = {t["data"]["pid"] for t in run["steps"]["fan"]}
    assert kernel not in pids and 1 <= len(pids) <= 2
    assert run["notebook"] is not None


def test_a_headless_run_is_fresh_unless_asked_to_reuse(tmp_path: Path) -> None:
    write_notebook(
        tmp_path / "cache.ipynb",
        LOAD.format("cache"),
        "%%params\nn = 3",
        "%%step count\nwith open('counter.txt', 'a') as _log:\n    _log.write('x')\nvalue = n * 2",
        "%%step double --after count\nresult = value * 2",
    )
    first = nbflow("run", "cache.ipynb", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    # Running a notebook again is asking for a new result (new random draws, say): no reuse.
    second = nbflow("run", "cache.ipynb", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "counter.txt").read_text() == "xx"
    third = nbflow("run", "cache.ipynb", "--reuse", cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert "run cache/3: done" in third.stdout
    _, two, three = read_runs("cache", tmp_path / ".nbflow")
    assert [t["status"] for s in two["steps"].values() for t in s] == ["done", "done"]
    assert [t["status"] for s in three["steps"].values() for t in s] == ["cached", "cached"]
    assert [t["origin"] for s in three["steps"].values() for t in s] == [
        t["id"] for s in two["steps"].values() for t in s
    ]
    assert three["steps"]["double"][0]["data"]["result"] == 12
    assert (tmp_path / "counter.txt").read_text() == "xx"  # --reuse ran no body


# -- failures -------------------------------------------------------------------------------------


def resumable_notebook(folder: Path) -> Path:
    """`check` fails until a file `ready.txt` exists; each step counts its executions."""
    return write_notebook(
        folder / "resumable.ipynb",
        LOAD.format("resumable"),
        "%%step prepare\nwith open('prepare.count', 'a') as _log:\n    _log.write('x')\nbase = 10",
        "%%step check --after prepare\nimport os\nwith open('check.count', 'a') as _log:\n"
        "    _log.write('x')\nif not os.path.exists('ready.txt'):\n"
        "    raise RuntimeError('ready.txt is missing')\nchecked = base + 1",
        "%%step finish --after check\nresult = checked * 2",
    )


def test_a_failing_step_names_itself_and_resume_takes_over_what_finished(tmp_path: Path) -> None:
    resumable_notebook(tmp_path)
    failed = nbflow("run", "resumable.ipynb", cwd=tmp_path)
    assert failed.returncode != 0
    assert "'check'" in failed.stderr
    assert "RuntimeError" in failed.stderr and "ready.txt is missing" in failed.stderr
    assert "nbflow resume resumable.ipynb --run 1" in failed.stderr

    (tmp_path / "ready.txt").write_text("ok")
    resumed = nbflow("resume", "resumable.ipynb", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    again = nbflow("resume", "resumable.ipynb", "--run", "2", "--from", "check", cwd=tmp_path)
    assert again.returncode == 0, again.stderr

    one, two, three = read_runs("resumable", tmp_path / ".nbflow")
    assert (one["status"], two["status"], three["status"]) == ("failed", "done", "done")
    assert "ready.txt is missing" in outputs_text(one["notebook"])  # kept with a failed run too
    assert two["notebook"] is not None and three["notebook"] is not None
    prepare = one["steps"]["prepare"][0]
    assert prepare["status"] == "done"
    assert two["steps"]["prepare"][0]["status"] == "cached"
    assert two["steps"]["prepare"][0]["origin"] == prepare["id"]
    assert [two["steps"][s][0]["status"] for s in ("check", "finish")] == ["done", "done"]
    assert two["steps"]["finish"][0]["data"]["result"] == 22
    # --from check: prepare taken over, check and what follows run again.
    assert three["steps"]["prepare"][0]["status"] == "cached"
    assert three["steps"]["prepare"][0]["origin"] == prepare["id"]
    assert [three["steps"][s][0]["status"] for s in ("check", "finish")] == ["done", "done"]
    assert (tmp_path / "prepare.count").read_text() == "x"
    assert (tmp_path / "check.count").read_text() == "xxx"


def test_a_missing_or_broken_notebook_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "text.ipynb").write_text("hello, not json")
    (tmp_path / "nocells.ipynb").write_text('{"metadata": {}}')
    (tmp_path / "folder.ipynb").mkdir()
    cases = {
        ("run", "nowhere.ipynb"): "no notebook at nowhere.ipynb",
        ("resume", "nowhere.ipynb"): "no notebook at nowhere.ipynb",
        ("batch", "nowhere.ipynb", "--grid", "n=1,2"): "no notebook at nowhere.ipynb",
        ("run", "folder.ipynb"): "no notebook at folder.ipynb",
        ("run", "text.ipynb"): "text.ipynb is not a Jupyter notebook",
        ("run", "nocells.ipynb"): "nocells.ipynb is not a Jupyter notebook",
        ("resume", "text.ipynb"): "text.ipynb is not a Jupyter notebook",
    }
    results = in_parallel(*[(args, tmp_path) for args in cases])
    unclear = [
        (" ".join(args), result.returncode, result.stderr)
        for (args, message), result in zip(cases.items(), results, strict=True)
        if result.returncode != 1 or message not in result.stderr or "Traceback" in result.stderr
    ]
    assert not unclear


def test_a_kernel_that_dies_fails_the_run_and_keeps_finished_tasks(tmp_path: Path) -> None:
    write_notebook(
        tmp_path / "dies.ipynb",
        LOAD.format("dies"),
        "%%step first\nx = 1",
        "%%step boom --after first\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        "%%step after --after boom\ny = x + 1",
    )
    died = nbflow("run", "dies.ipynb", cwd=tmp_path)
    assert died.returncode != 0
    assert "nbflow resume dies.ipynb --run 1" in died.stderr
    [run] = read_runs("dies", tmp_path / ".nbflow")
    assert run["status"] == "failed"
    first = run["steps"]["first"][0]
    assert (first["status"], first["data"]) == ("done", {"x": 1})
    # The task the kernel died in is not left `running`, and the message names its step.
    assert (run["steps"]["boom"][0]["status"], "'boom'" in died.stderr) == ("failed", True), (
        run["steps"]["boom"][0]["status"], died.stderr
    )  # fmt: skip


def test_a_run_whose_kernel_died_can_be_resumed(tmp_path: Path) -> None:
    cells = [LOAD.format("dies"), "%%step first\nx = 1",
             "%%step boom --after first\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
             "%%step after --after boom\ny = x + 1"]  # fmt: skip
    write_notebook(tmp_path / "dies.ipynb", *cells)
    assert nbflow("run", "dies.ipynb", cwd=tmp_path).returncode != 0
    cells[2] = "%%step boom --after first\nz = x + 5"  # the fix
    write_notebook(tmp_path / "dies.ipynb", *cells)
    resumed = nbflow("resume", "dies.ipynb", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    one, two = read_runs("dies", tmp_path / ".nbflow")
    assert (one["status"], two["status"]) == ("failed", "done")
    assert two["steps"]["first"][0]["status"] == "cached"
    assert two["steps"]["first"][0]["origin"] == one["steps"]["first"][0]["id"]
    assert two["steps"]["after"][0]["data"]["y"] == 2


def _ctrl_c_as_in_a_terminal() -> None:
    # A command run from a terminal gets SIGINT at its default. One started by tests that were
    # themselves started in the background of a non-interactive shell inherits it ignored
    # (bash ignores SIGINT for `&` jobs), and a Ctrl-C would then reach nobody.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_the_kernel_and_fails_the_run(tmp_path: Path) -> None:
    write_notebook(
        tmp_path / "sleepy.ipynb",
        LOAD.format("sleepy"),
        KERNEL_PID,
        "%%step first\nx = 1",
        "%%step nap --after first\nimport pathlib, time\npathlib.Path('napping').touch()\n"
        "time.sleep(120)\ny = x",
    )
    cli = subprocess.Popen(
        [*NBFLOW, "run", "sleepy.ipynb"],
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # SIGINT goes to the CLI alone, as the test sends it
        preexec_fn=_ctrl_c_as_in_a_terminal,  # noqa: PLW1509 (one signal call, no lock)
    )
    try:
        assert wait_for((tmp_path / "napping").exists, 60), "the step never started"
        interrupted_at = time.monotonic()
        cli.send_signal(signal.SIGINT)
        _, stderr = cli.communicate(timeout=20)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert time.monotonic() - interrupted_at < 20
    assert cli.returncode != 0
    assert "interrupted" in stderr
    kernel = int((tmp_path / "kernel.pid").read_text())
    assert wait_for(lambda: not alive(kernel), 5), "the kernel outlived Ctrl-C"
    [run] = read_runs("sleepy", tmp_path / ".nbflow")
    assert run["status"] in ("failed", "interrupted")
    assert run["steps"]["first"][0]["status"] == "done"
    assert run["steps"]["nap"][0]["status"] != "running"


def test_ctrl_c_stops_a_batch_its_runs_and_their_kernels(tmp_path: Path) -> None:
    write_notebook(
        tmp_path / "sleepy.ipynb",
        LOAD.format("sleepy"),
        "%%params\nq = 0",
        "import os, pathlib\npathlib.Path(f'kernel-{q}.pid').write_text(str(os.getpid()))",
        "%%step nap\nimport pathlib, time\npathlib.Path(f'napping-{q}').touch()\n"
        "time.sleep(60)\ny = q",
    )
    cli = subprocess.Popen(
        [*NBFLOW, "batch", "sleepy.ipynb", "--grid", "q=1,2", "--jobs", "2"],
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_ctrl_c_as_in_a_terminal,  # noqa: PLW1509 (one signal call, no lock)
    )
    kernels: list[int] = []
    stopped_in = None
    try:
        napping = [tmp_path / "napping-1", tmp_path / "napping-2"]
        assert wait_for(lambda: all(p.exists() for p in napping), 60), "the steps never started"
        kernels = [int((tmp_path / f"kernel-{q}.pid").read_text()) for q in (1, 2)]
        interrupted_at = time.monotonic()
        cli.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            cli.communicate(timeout=20)
            stopped_in = time.monotonic() - interrupted_at
    finally:
        if cli.poll() is None:  # it did not stop: end what this test started
            os.killpg(cli.pid, signal.SIGKILL)
            cli.communicate()
        kernels_stopped = wait_for(lambda: not any(alive(pid) for pid in kernels), 5)
        for pid in kernels:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert stopped_in is not None, "batch was still running 20 s after Ctrl-C"
    assert cli.returncode != 0
    assert kernels_stopped, "kernels outlived Ctrl-C"
    runs = read_runs("sleepy", tmp_path / ".nbflow")
    assert len(runs) == 2
    assert {r["status"] for r in runs} <= {"failed", "interrupted"}


# -- nbflow batch ---------------------------------------------------------------------------------


def grid_notebook(folder: Path) -> Path:
    return write_notebook(
        folder / "grid.ipynb",
        LOAD.format("grid"),
        "%%params\na = 1\nb = 'x'",
        "%%step start\nif b == 'boom':\n    raise ValueError(f'no good: {a} {b}')\n"
        "score = a * 10\nlabel = f'{a}-{b}'",
    )


def test_batch_runs_every_combination_and_goes_on_after_failures(tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    for folder in (good, bad):
        folder.mkdir()
        grid_notebook(folder)
    table, rows = in_parallel(
        (["batch", "grid.ipynb", "--grid", "a=1,2", "--grid", "b=x,y", "--jobs", "2"], good),
        (["batch", "grid.ipynb", "--grid", "a=1,2", "--grid", "b=x,boom", "--jobs", "2",
          "--json"], bad),
    )  # fmt: skip

    assert table.returncode == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["run", "status", "seconds", "params"]
    assert "score" in lines[0].split()  # a number the last step made
    body = [line.split() for line in lines[1:]]
    assert len(body) == 4
    assert sorted(row[0] for row in body) == [f"grid/{i}" for i in range(1, 5)]
    assert {row[1] for row in body} == {"done"}
    assert {(row[3], row[4]) for row in body} == {("a=1", "b=x"), ("a=1", "b=y"),
                                                  ("a=2", "b=x"), ("a=2", "b=y")}  # fmt: skip
    assert all(float(row[2]) > 0 for row in body)
    # Every result of the last step has a column; a row's params ("a=1 b=x") split in two.
    score = lines[0].split().index("score") + 1
    assert sorted(row[score] for row in body) == ["10", "10", "20", "20"]
    assert "[4/4]" in table.stderr
    runs = read_runs("grid", good / ".nbflow")
    assert sorted((r["params"]["a"], r["params"]["b"]) for r in runs) == [
        (1, "x"), (1, "y"), (2, "x"), (2, "y")
    ]  # fmt: skip
    assert {r["status"] for r in runs} == {"done"}

    assert rows.returncode != 0  # not every combination succeeded
    assert "2 of 4 runs failed" in rows.stderr
    parsed = json.loads(rows.stdout)
    assert {(r["params"]["a"], r["params"]["b"], r["status"]) for r in parsed} == {
        (1, "x", "done"), (2, "x", "done"), (1, "boom", "failed"), (2, "boom", "failed")
    }  # fmt: skip
    for row in parsed:
        assert set(row) >= {"run", "params", "status", "duration", "results"}
        if row["status"] == "done":
            assert row["results"]["score"] == row["params"]["a"] * 10
        else:
            assert "no good" in row["error"] and row["run"] is not None
    stored = {r["id"]: r["status"] for r in read_runs("grid", bad / ".nbflow")}
    assert stored == {r["run"]: r["status"] for r in parsed}


@pytest.mark.parametrize(
    "grid",
    [["a"], ["a="], ["=1,2"], ["a=,"], ["a= , "], ["a=1,2", "a=3"]],
    ids=["no-equals", "no-values", "no-name", "only-commas", "blank-values", "twice"],
)
def test_an_unparsable_grid_is_a_clear_error(tmp_path: Path, grid: list[str]) -> None:
    grid_notebook(tmp_path)
    options = [part for spec in grid for part in ("--grid", spec)]
    refused = nbflow("batch", "grid.ipynb", *options, cwd=tmp_path, timeout=60)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "--grid" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / ".nbflow").exists()  # nothing ran


# -- concurrency ----------------------------------------------------------------------------------


def test_concurrent_runs_and_a_batch_share_one_store(tmp_path: Path) -> None:
    store = tmp_path / "shared-store"
    demo_notebook(tmp_path)
    commands = [[*NBFLOW, "run", "demo.ipynb"] for _ in range(3)]
    commands.append([*NBFLOW, "batch", "demo.ipynb", "--grid", "n=1,2,3,4", "--jobs", "2"])
    started = [subprocess.Popen(command, cwd=tmp_path, env=environment(store), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for command in commands]  # fmt: skip
    finished = [(p.communicate(timeout=TIMEOUT), p.returncode) for p in started]
    for (_, stderr), code in finished:
        assert code == 0, stderr
        assert "database is locked" not in stderr
    runs = read_runs("demo", store)
    assert len(runs) == 7
    assert sorted(r["run_id"] for r in runs) == list(range(1, 8))
    assert {r["status"] for r in runs} == {"done"}
    assert sorted(r["params"]["n"] for r in runs) == [1, 2, 3, 3, 3, 3, 4]
    for run in runs:  # nothing mixed up: each run's result follows from its own parameter
        assert run["steps"]["end"][0]["data"]["total"] == 2 * run["params"]["n"] * 10
    assert not (tmp_path / ".nbflow").exists()


# -- help -----------------------------------------------------------------------------------------


def test_help_shows_an_example_for_every_command(tmp_path: Path) -> None:
    helps = in_parallel(
        (["--help"], tmp_path),
        (["run", "--help"], tmp_path),
        (["batch", "--help"], tmp_path),
        (["resume", "--help"], tmp_path),
    )
    examples = ["nbflow run ", "nbflow run train.ipynb -p", "nbflow batch train.ipynb --grid",
                "nbflow resume train.ipynb"]  # fmt: skip
    for shown, example in zip(helps, examples, strict=True):
        assert shown.returncode == 0, shown.stderr
        assert "example" in shown.stdout
        assert example in shown.stdout
    for command in ("run", "batch", "resume", "runs", "show"):
        assert command in helps[0].stdout


def test_a_parameter_both_fixed_and_in_the_grid_is_refused(tmp_path: Path) -> None:
    grid_notebook(tmp_path)
    refused = nbflow(
        "batch", "grid.ipynb", "--grid", "a=1,2", "-p", "a", "3", cwd=tmp_path, timeout=60
    )
    assert refused.returncode == 1
    assert "a given both with -p and --grid" in refused.stderr
    assert not (tmp_path / ".nbflow").exists()  # nothing ran
