"""Every run logged to MLflow (`%flow config mlflow=URI`, NBFLOW_MLFLOW_TRACKING_URI), in real
kernels and through `nbflow run`, against real tracking stores: a `sqlite:///` file and a
`mlflow server` this module starts. What was logged is read back with MLflow's own client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from kerneltools import LiveKernel, execute, kernel_env, new_notebook, text
from needs import missing

pytestmark = [
    pytest.mark.kernel,
    # MLflow's own SQL layer, reading the sqlite:/// store back in this process, uses what
    # SQLAlchemy 2.1 deprecates; not nbflow's to fix.
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]

REPO = Path(__file__).resolve().parents[2]
INSTALL = "MLflow logging needs the mlflow package: pip install 'nbflow[mlflow]'"
# MLflow's usage reports go nowhere from a test machine.
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}

TRAIN = """\
%%step train --after start
from sklearn.linear_model import LogisticRegression
model = LogisticRegression(C=C).fit(X, y)
accuracy = float(model.score(X, y))
label = "logistic"
"""
START = """\
%%step start
X = [[0.0], [1.0], [2.0], [3.0]]
y = [0, 0, 1, 1]
"""


@pytest.fixture(scope="module")
def mlflow_client() -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        missing("mlflow is not installed: pip install 'nbflow[mlflow]'")
    return MlflowClient


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, mlflow_client: Any) -> Iterator[str]:
    """A `mlflow server` on a free port: runs in SQLite, artifacts in a folder, both here."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination", str(folder / "artifacts"), "--workers", "1",
    ]  # fmt: skip
    log = (folder / "server.log").open("w")
    # Its job runner (online scoring, trace archival) is not what these tests use, and its
    # start holds the first requests for half a minute on a busy machine.
    env = {**os.environ, **QUIET, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, child, folder / "server.log")
        mlflow_client(tracking_uri=url).search_experiments()  # its API answers too
        yield url
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
        log.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_healthy(url: str, child: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.poll() is not None:
            pytest.fail(f"mlflow server exited ({child.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"mlflow server did not answer /health within 60 s:\n{log.read_text()}")


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    return {**kernel_env(tmp_path / "store"), **QUIET, **settings}


def _runs(client: Any, experiment: str) -> list[Any]:
    """Every MLflow run of an experiment, oldest first."""
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment '{experiment}'"
    runs = client.search_runs([found.experiment_id], order_by=["attributes.start_time ASC"])
    return list(runs)


def _load_model(model_uri: str, tracking_uri: str) -> Any:
    """A logged scikit-learn model, read back from the tracking server that holds it."""
    import mlflow.sklearn

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)  # a models:/ URI is resolved through it
    try:
        return mlflow.sklearn.load_model(model_uri)
    finally:
        mlflow.set_tracking_uri(previous)


def _by_nbflow_run(client: Any, experiment: str) -> dict[str, Any]:
    return {run.data.tags["nbflow.run"]: run for run in _runs(client, experiment)}


def test_a_run_grown_cell_by_cell_is_one_mlflow_run_in_sqlite(
    tmp_path: Path, mlflow_client: Any
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    nb = new_notebook(
        [
            "%load_ext nbflow\n%flow name cells",
            "%%params\nC = 0.5\nsizes = [1, 2]",
            START,
            TRAIN,
        ]
    )
    nb.cells.append(nbformat.v4.new_code_cell("ran = True"))  # a plain cell after the steps
    execute(nb, tmp_path, _env(tmp_path, NBFLOW_MLFLOW_TRACKING_URI=uri))
    client = mlflow_client(tracking_uri=uri)
    # Logged at the end of each step cell (incomplete, then done): one MLflow run, updated.
    [run] = _runs(client, "cells")
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "cells/1"
    assert run.data.params == {"C": "0.5", "sizes": "[1, 2]"}
    assert run.data.metrics == {"accuracy": 1.0}
    tags = run.data.tags
    assert tags["nbflow.run"] == "cells/1"
    assert tags["nbflow.status"] == "done"
    assert tags["nbflow.result.label"] == "logistic"  # a string result: a tag, not a metric
    assert tags["nbflow.datastore"] == str(tmp_path / "store")
    assert (
        f"NBFLOW_DATASTORE={tmp_path / 'store'} nbflow show cells/1 --html" in tags["nbflow.report"]
    )
    assert {"nbflow.user", "nbflow.host", "nbflow.version"} <= set(tags)
    assert tags["nbflow.executor"] == "kernel"
    assert tags["mlflow.user"] == tags["nbflow.user"]
    assert "nbflow.model" not in tags  # only on request
    history = client.get_metric_history(run.info.run_id, "accuracy")
    assert [m.value for m in history] == [1.0]  # logged once, not once per cell


def test_a_failed_run_is_failed_in_mlflow_and_an_unreachable_server_only_warns(
    tmp_path: Path, mlflow_client: Any
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with LiveKernel(tmp_path, _env(tmp_path)) as kernel:
        kernel.run("%load_ext nbflow\n%flow name broken")
        kernel.run(f"%flow config mlflow={uri}")
        kernel.run(START)
        kernel.fail("%%step divide --after start\nz = 1 / 0")
        # A tracking server nobody listens on: the run is done all the same, with a warning
        # naming the URI and the cause, and without waiting long.
        dead = f"http://127.0.0.1:{_free_port()}"
        kernel.run(f"%flow config mlflow={dead}")
        started = time.monotonic()
        cell = kernel.run(START.replace("start", "again"))
        took = time.monotonic() - started
        warning = text(cell, "stderr")
        assert "MlflowLoggingWarning" in warning, warning
        assert f"was not logged to MLflow at {dead}" in warning, warning
        assert "Connection refused" in warning, warning  # the cause
        assert "✓ again" in text(cell)
        assert took < 15, f"an unreachable tracking server held the cell {took:.1f} s"
    runs = _by_nbflow_run(mlflow_client(tracking_uri=uri), "broken")
    assert runs["broken/1"].info.status == "FAILED"
    assert runs["broken/1"].data.tags["nbflow.status"] == "failed"
    assert "broken/2" not in runs


def test_flow_run_logs_the_model_it_is_asked_for_to_a_server(
    tmp_path: Path, mlflow_client: Any, server: str
) -> None:
    with LiveKernel(tmp_path, _env(tmp_path, NBFLOW_MLFLOW_TRACKING_URI=server)) as kernel:
        kernel.run("%load_ext nbflow\n%flow name served")
        kernel.run("%%params\nC = 1.0")
        kernel.run(START)
        kernel.run(TRAIN)
        kernel.run("%flow run --log-model model -p C=2.0")
        missing_cell = kernel.run("%flow run --log-model nonesuch")
    runs = _by_nbflow_run(mlflow_client(tracking_uri=server), "served")
    assert set(runs) == {"served/1", "served/2", "served/3"}
    assert "nbflow.model" not in runs["served/1"].data.tags  # the cells' run asked for none
    logged = runs["served/2"]
    assert logged.info.status == "FINISHED"
    assert logged.data.params == {"C": "2.0"}
    model_uri = logged.data.tags["nbflow.model"]
    restored = _load_model(model_uri, server)
    assert list(restored.predict([[0.0], [3.0]])) == [0, 1]
    assert restored.C == 2.0
    # An artifact the last step does not have: the run is logged, the warning says why.
    assert runs["served/3"].info.status == "FINISHED"
    assert "nbflow.model" not in runs["served/3"].data.tags
    warning = text(missing_cell, "stderr")
    assert "has no artifact 'nonesuch'" in warning, warning
    assert "accuracy" in warning  # what it has


def test_nbflow_run_logs_headless_runs_and_marks_a_stopped_notebook_failed(
    tmp_path: Path, mlflow_client: Any, server: str
) -> None:
    nb = new_notebook(["%load_ext nbflow\n%flow name headless", "%%params\nC = 1.0", START, TRAIN])
    nbformat.write(nb, tmp_path / "headless.ipynb")
    env = {**_env(tmp_path), "NBFLOW_MLFLOW_TRACKING_URI": server}
    cli = [sys.executable, "-m", "nbflow.cli", "run", "headless.ipynb"]
    done = subprocess.run([*cli, "--log-model", "model", "-p", "C", "3"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    # The same notebook, stopped by a plain cell after its steps: the kernel logged the run
    # as finished, `nbflow run` marks it failed, in MLflow too.
    nb.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('stop here')"))
    nbformat.write(nb, tmp_path / "headless.ipynb")
    stopped = subprocess.run(cli, cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=300, check=False)  # fmt: skip
    assert stopped.returncode == 1, stopped.stderr
    runs = _by_nbflow_run(mlflow_client(tracking_uri=server), "headless")
    first, second = runs["headless/1"], runs["headless/2"]
    assert first.info.status == "FINISHED"
    assert first.data.params == {"C": "3"}
    assert first.data.metrics == {"accuracy": 1.0}
    assert first.data.tags["nbflow.notebook"] == "headless.ipynb"
    assert first.data.tags["mlflow.source.name"] == str((tmp_path / "headless.ipynb").resolve())
    assert _load_model(first.data.tags["nbflow.model"], server).C == 3
    assert second.info.status == "FAILED"
    assert "stop here" in second.data.tags["nbflow.error"]


def test_without_mlflow_the_setting_says_what_to_install(tmp_path: Path) -> None:
    # MLflow made unimportable in a child process (as if not installed): no mock of nbflow.
    blocked = "import sys; sys.modules['mlflow'] = None\n"
    in_kernel = blocked + (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "from nbflow.kernel.magics import load_ipython_extension\n"
        "shell = InteractiveShell.instance(); load_ipython_extension(shell)\n"
        "result = shell.run_cell('%flow config mlflow=sqlite:///mlflow.db')\n"
        "print(type(result.error_in_exec).__name__, result.error_in_exec)\n"
        "print(shell.run_cell('%flow config').result.mlflow or 'unset')\n"
    )
    env = {**_env(tmp_path), "PYTHONPATH": str(REPO)}
    shown = subprocess.run([sys.executable, "-c", in_kernel], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert f"NbflowError {INSTALL}" in shown.stdout, shown.stdout + shown.stderr
    assert shown.stdout.rstrip().endswith("unset")  # the refused setting was not kept
    nbformat.write(new_notebook(["%load_ext nbflow", START]), tmp_path / "nb.ipynb")
    cli = blocked + "from nbflow.cli import main; sys.exit(main(['run', 'nb.ipynb']))"
    env["NBFLOW_MLFLOW_TRACKING_URI"] = "sqlite:///mlflow.db"
    refused = subprocess.run([sys.executable, "-c", cli], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert refused.returncode != 0
    assert INSTALL in refused.stderr, refused.stderr
    assert not (tmp_path / ".nbflow").exists()  # refused before anything ran
