"""Transient storage errors at the real boundary: a proxy between nbflow's S3 client and a moto
S3 server answers `503 SlowDown`, drops the connection, or loses the answer of a request it did
forward, for a seeded 10%, 50% or 90% of requests. A flow (a large value, a foreach, a join) run
cell by cell and then with `%flow run` completes, and stores exactly what a run without faults
stores: the same keys for every artifact, the same values, every blob sound (`nbflow.store.fsck`).
At 100% the run fails cleanly: the error names the step, the artifact, how many tries were made
and what to check; the task is recorded failed and no record points at a missing blob.

Metadata is a SQLite file here: the faults are the object store's. The retry policy is set with
$NBFLOW_STORAGE_RETRIES so that 90% needs no minutes of backoff; the store is opened (a quick
check that fails fast by design) before the faults begin.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flakyproxy import FlakyProxy
from IPython.core.interactiveshell import InteractiveShell
from magics.magictools import fails, ok
from s3server import S3Server, bucket_server

from nbflow import Flow, Run
from nbflow.config import Config
from nbflow.exceptions import ArtifactWriteError, DatastoreError
from nbflow.kernel.magics import load_ipython_extension
from nbflow.store.blobs.remote import retry_policy_from_env
from nbflow.store.fsck import check
from nbflow.store.stores import open_store

BUCKET = "flaky"
STEPS = (
    "%%step start\nimport numpy as np\ndata = np.arange(30_000)\nparts = [0, 1, 2]",
    "%%step each --after start --foreach parts\nchunk = data[item::3] * 2",
    "%%step joined --after each --join\n"
    "import numpy as np\nwhole = np.sort(np.concatenate([i.chunk for i in inputs]))\n"
    "total = int(whole.sum())",
)
PATIENT = {"tries": 200, "first_delay": 0.002, "max_delay": 0.01}
IMPATIENT = {"tries": 3, "first_delay": 0.002, "max_delay": 0.01}


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    yield from bucket_server(BUCKET)


@pytest.fixture(scope="module")
def baseline(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the flow stores with no faults at all."""
    with FlakyProxy(s3.port) as proxy:
        run = run_flow(s3, proxy, tmp_path_factory.mktemp("baseline"), "baseline", rate=0.0)
    return stored(run)


def shell_on(
    s3: S3Server,
    proxy: FlakyProxy,
    folder: Path,
    *,
    prefix: str,
    retries: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> InteractiveShell:
    """IPython with nbflow on s3://BUCKET/prefix through the proxy (SQLite metadata in
    `folder`), the store already opened."""
    env = {
        "NBFLOW_DATASTORE": f"s3://{BUCKET}/{prefix}",
        "NBFLOW_METADATA": str(folder / "metadata.sqlite"),
        "NBFLOW_STORAGE_OPTIONS": json.dumps(s3.storage_options(proxy.endpoint)),
        "NBFLOW_STORAGE_RETRIES": json.dumps(retries),
        "NBFLOW_CACHE_DIR": str(folder / "read-cache"),
        "NBFLOW_CACHE": "off",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(folder)
    open_store()  # the store is opened (and checked) before the faults begin
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    ok(shell, "%flow name flaky")
    return shell


def run_flow(s3: S3Server, proxy: FlakyProxy, folder: Path, prefix: str, rate: float) -> Run:
    with pytest.MonkeyPatch.context() as patch:
        shell = shell_on(s3, proxy, folder, prefix=prefix, retries=PATIENT, monkeypatch=patch)
        proxy.rate = rate
        for step in STEPS:
            ok(shell, step)  # run 1, cell by cell
        run: Run = ok(shell, "%flow run")  # run 2, scheduled
        proxy.rate = 0.0
        assert run.status == "done"
        report = check(open_store())
        assert report.ok, [p.message for p in report.problems]
        assert report.blobs >= 5  # data, three chunks, whole: every one read back and hashed
        return run


def stored(run: Run) -> dict[str, Any]:
    """Every artifact of every task: its key and its value."""
    found = {}
    for step in run.steps():
        for task in step.tasks():
            for name, artifact in task.artifacts.items():
                value = getattr(task.data, name)
                found[f"{step.name}{list(task.path)}.{name}"] = (artifact.key, _plain(value))
    return found


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_the_run_completes_with_identical_artifacts(
    s3: S3Server, baseline: dict[str, Any], tmp_path: Path, rate: float
) -> None:
    with FlakyProxy(s3.port, seed=int(rate * 100)) as proxy:
        started = time.monotonic()
        run = run_flow(s3, proxy, tmp_path, f"rate-{int(rate * 100)}", rate)
        took = time.monotonic() - started
        spoiled = sum(n for outcome, n in proxy.counts.items() if outcome != "ok")
        assert spoiled >= 1, proxy.counts
        if rate >= 0.5:  # enough faults that each kind shows up
            assert all(proxy.counts[fault] for fault in ("slowdown", "drop", "lost"))
        print(f"rate {rate}: {dict(proxy.counts)} in {took:.1f} s")
    assert stored(run) == baseline


def test_every_request_failing_fails_the_run_cleanly(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FlakyProxy(s3.port, seed=7) as proxy:
        shell = shell_on(
            s3, proxy, tmp_path, prefix="rate-100", retries=IMPATIENT, monkeypatch=monkeypatch
        )
        proxy.rate = 1.0
        error = fails(shell, STEPS[0])
        assert isinstance(error, ArtifactWriteError), repr(error)
        message = str(error)
        assert message.startswith("step 'start': cannot store 'data': cannot "), message
        assert f"s3://{BUCKET}/rate-100" in message and "gave up after 3 tries" in message
        assert "Check that the storage endpoint is reachable" in message
        proxy.rate = 0.0

        store = open_store(Config.from_env())
        run = Flow("flaky", store=store).latest_run
        assert run.status == "failed"
        assert [t.status for t in run["start"].tasks()] == ["failed"]
        assert run["start"].task.artifacts == {}  # no record of what was never stored
        report = check(store)
        assert report.ok, [p.message for p in report.problems]

        # The kernel stays usable, and with the store back the same cell works.
        assert ok(shell, "6 * 7") == 42
        ok(shell, STEPS[0])
        again = Flow("flaky", store=store).latest_run
        assert [t.status for t in again["start"].tasks()] == ["done"]
        assert int(again["start"].task.data.data.sum()) == int(np.arange(30_000).sum())


@pytest.mark.parametrize("text", ['{"tries": 0}', '{"retries": 3}', "[1, 2]", "lots"])
def test_a_bad_retry_setting_says_what_is_expected(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("NBFLOW_STORAGE_RETRIES", text)
    with pytest.raises(DatastoreError) as caught:
        retry_policy_from_env()
    message = str(caught.value)
    assert message.startswith("NBFLOW_STORAGE_RETRIES must be a JSON object such as")
    assert repr(text) in message
