"""`nbflow run` on a real kernel: a fresh run is fresh, `--reuse` reuses only what provably
is the same (an edited module or data file runs again), and a notebook that stops early never
leaves a `done` run behind."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from test_headless import LOAD, nbflow, read_runs, write_notebook

pytestmark = pytest.mark.kernel

NESTED = [
    LOAD.format("draws"),
    "%%step start\nouter = ['a', 'b']",
    "%%step mid --after start --foreach outer\ninner = [0, 1]",
    "%%step draw --after mid --foreach inner\nimport random\nv = random.random()",
    "%%step inner_join --after draw --join\nvs = [i.v for i in inputs]",
    "%%step outer_join --after inner_join --join\ndraws = [v for i in inputs for v in i.vs]",
]


def test_every_run_of_a_notebook_draws_anew(tmp_path: Path) -> None:
    # The Hearthstone author runs one notebook several times for several random splits.
    write_notebook(tmp_path / "draws.ipynb", *NESTED)
    for _ in range(2):
        done = nbflow("run", "draws.ipynb", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    one, two = read_runs("draws", tmp_path / ".nbflow")
    for run in (one, two):
        assert {t["status"] for tasks in run["steps"].values() for t in tasks} == {"done"}
        assert len(set(run["steps"]["outer_join"][0]["data"]["draws"])) == 4
    assert one["steps"]["outer_join"][0]["data"]["draws"] != two["steps"]["outer_join"][0][
        "data"
    ]["draws"]


def test_reuse_runs_again_what_an_edited_module_or_file_changes(tmp_path: Path) -> None:
    helper = tmp_path / "helper.py"
    helper.write_text("def double(x):\n    return 2 * x\n")
    data = tmp_path / "movies.csv"
    data.write_text("title,genre\nAlien,Sci-Fi\nHeat,Crime\n")
    write_notebook(
        tmp_path / "lineage.ipynb",
        LOAD.format("lineage"),
        "import helper\nimport pandas as pd",
        "%%step start\nvalue = helper.double(21)",
        "%%step films --after start\nmovies = pd.read_csv('movies.csv')\n"
        "scifi = sorted(movies[movies.genre == 'Sci-Fi'].title)",
    )

    def run() -> dict[str, list[str]]:
        done = nbflow("run", "lineage.ipynb", "--reuse", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        last = read_runs("lineage", tmp_path / ".nbflow")[-1]
        return {step: [t["status"] for t in tasks] for step, tasks in last["steps"].items()}

    assert run() == {"start": ["done"], "films": ["done"]}
    assert run() == {"start": ["cached"], "films": ["cached"]}  # nothing changed
    _rewrite(helper, "def double(x):\n    return 3 * x\n")
    assert run() == {"start": ["done"], "films": ["cached"]}  # films reads no `value`
    _rewrite(data, "title,genre\nHeat,Crime\n")
    assert run() == {"start": ["cached"], "films": ["done"]}
    last = read_runs("lineage", tmp_path / ".nbflow")[-1]
    assert last["steps"]["start"][0]["data"]["value"] == 63
    assert last["steps"]["films"][0]["data"]["scifi"] == []
    # The lineage, in `nbflow show` and its JSON.
    shown = nbflow("show", f"lineage/{len(read_runs('lineage', tmp_path / '.nbflow'))}",
                   cwd=tmp_path, store=tmp_path / ".nbflow")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    [line] = [line for line in shown.stdout.splitlines() if line.startswith("read")]
    assert str(data.resolve()) in line and "by films" in line
    as_json = nbflow("show", "lineage/4", "--json", cwd=tmp_path, store=tmp_path / ".nbflow")
    [films] = [s for s in json.loads(as_json.stdout)["steps"] if s["name"] == "films"]
    [read] = films["tasks"][0]["reads"]
    assert (read["path"], read["size"]) == (str(data.resolve()), data.stat().st_size)


def test_a_notebook_stopped_by_a_bad_step_line_leaves_its_run_failed(tmp_path: Path) -> None:
    write_notebook(
        tmp_path / "partial.ipynb",
        LOAD.format("partial"),
        "%%step start\nx = 1",
        "%%step next --after start --retyr 2\ny = x + 1",  # a typo: the notebook stops here
        "%%step end --after next\nz = y + 1",
    )
    stopped = nbflow("run", "partial.ipynb", cwd=tmp_path)
    assert stopped.returncode == 1
    [run] = read_runs("partial", tmp_path / ".nbflow")
    assert run["status"] == "failed"
    assert list(run["steps"]) == ["start"]
    shown = nbflow("show", "partial/1", cwd=tmp_path, store=tmp_path / ".nbflow")
    assert "the notebook stopped before its end" in shown.stdout
    assert "--retyr" in shown.stdout
    latest_ok = nbflow("runs", "partial", "--json", cwd=tmp_path, store=tmp_path / ".nbflow")
    assert [r["status"] for r in json.loads(latest_ok.stdout)] == ["failed"]


def _rewrite(path: Path, text: str) -> None:
    path.write_text(text)
    later = time.time() + 2  # a new mtime for sure, as an editor's save gives
    os.utime(path, (later, later))


def test_the_run_summary_describes_arrays_and_frames(tmp_path: Path) -> None:
    write_notebook(
        tmp_path / "shapes.ipynb",
        LOAD.format("shapes"),
        "%%step start\nimport numpy as np\nimport pandas as pd\narr = np.arange(3)\n"
        "frame = pd.DataFrame({'a': [1, 2]})\nn = 4",
    )
    done = nbflow("run", "shapes.ipynb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # The scalar results, as every door shows them, then the rest of what the end step holds.
    assert [line for line in lines if line.startswith("results ")] == ["results  n=4"]
    [made] = [line for line in lines if line.startswith("made ")]
    assert made == "made     arr=ndarray 3 int64, frame=DataFrame 2×1"
