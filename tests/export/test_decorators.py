"""Step options exported as Metaflow's decorators: `--retry` (@retry), `--timeout` (@timeout),
`--catch` (@catch), `--resources` (@resources) run under Metaflow's local runtime and compared
with `nbflow run`; `--env`/`%flow env` (@pypi/@pypi_base) only as text (see the last test)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from mftools import assert_same_artifacts, export, notebook, round_trip

from nbflow import Run

# A step that fails its first attempt and passes its second: the marker is made by the first
# and removed by the second, so that each run (nbflow's, then Metaflow's) starts without it.
FLAKY = """\
%%step flaky --after start --retry 1 --timeout 60
import os
if not os.path.exists('flaky.marker'):
    open('flaky.marker', 'w').close()
    raise RuntimeError('the first attempt fails')
os.remove('flaky.marker')
steady = sum(xs)"""
FRAGILE = """\
%%step fragile --after flaky --catch error --resources cpu=1,memory=500MB
before = steady + 1
raise ValueError('fragile fails')
after = 2"""


@pytest.mark.kernel
@pytest.mark.metaflow
@pytest.mark.usefixtures("kernel_name", "metaflow_installed")
def test_retry_timeout_catch_resources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = notebook(
        tmp_path / "decorated.ipynb",
        "%load_ext nbflow\n%flow name decorated",
        "%%step start\nxs = [1, 2]",
        FLAKY,
        FRAGILE,
        "%%step end --after fragile\nfailed = error is not None\nafter_error = before * 10",
    )
    run, ours, theirs = round_trip(tmp_path, monkeypatch, path)
    text = (tmp_path / "decorated_flow.py").read_text()
    for decorator in ("@retry(times=1, minutes_between_retries=0)", "@timeout(seconds=60)",
                      '@catch(var="error")', "@resources(cpu=1, memory=477)"):  # fmt: skip
        assert decorator in text
    # The two runs' exceptions are each tool's own object (nbflow's CaughtError, Metaflow's
    # MetaflowExceptionWrapper): compared by what they say, every other artifact by value.
    assert_same_artifacts(ours, theirs, random={"error"})
    assert [a.status for a in run["flaky"].task.attempts] == ["failed", "done"]
    ours_error, theirs_error = run["end"].task.data.error, theirs["end"][0]["error"]
    assert theirs_error["metaflow"] == "MetaflowExceptionWrapper"
    assert (ours_error.ename, theirs_error["type"]) == ("ValueError", "builtins.ValueError")
    assert "fragile fails" in ours_error.evalue and "fragile fails" in theirs_error["text"]
    # What the caught step bound before its error is kept by both; what it never reached is not.
    assert theirs["fragile"][0]["before"] == Run(run.pathspec)["fragile"].task.data.before == 4
    assert "after" not in theirs["fragile"][0] and "after" not in ours["fragile"][0]
    assert theirs["end"][0]["after_error"] == 40 and theirs["end"][0]["failed"] is True


def test_environments_as_text(tmp_path: Path) -> None:
    # @pypi_base/@pypi run only with `--environment=pypi`, which needs micromamba and the
    # network (neither is here): the export's text is checked, and that the file compiles.
    path = notebook(
        tmp_path / "envs.ipynb",
        '%load_ext nbflow\n%flow name envs\n%flow env "pandas==2.2.3" "scikit-learn>=1.5"',
        "%%step start\nx = 1",
        '%%step end --after start --env "numpy==2.1.0" pyarrow\ny = x + 1',
    )
    output = tmp_path / "envs_flow.py"
    written = export(tmp_path, path, "metaflow", output)
    assert written.returncode == 0, written.stderr
    text = output.read_text()
    assert '@pypi_base(packages={"pandas": "2.2.3", "scikit-learn": ">=1.5"})\nclass envs(' in text
    assert '    @pypi(packages={"numpy": "2.1.0", "pyarrow": ""})\n    @step\n    def end(' in text
    assert "from metaflow import FlowSpec, pypi, pypi_base, step" in text
    compile(text, str(output), "exec")
    ast.parse(text)
