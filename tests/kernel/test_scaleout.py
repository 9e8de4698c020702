"""The example flows scaled out, end to end: headless `nbflow run` with tasks on a Dask
LocalCluster (worker processes), artifacts on an S3 server (moto) and metadata in PostgreSQL,
all started here on 127.0.0.1. The results equal a local run's, and this process (not the one
that ran them) reads them back through the client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgserver import PostgresServer, postgres_server  # noqa: F401 (a fixture)
from s3server import S3Server, bucket_server

from nbflow import Flow
from nbflow.config import Config
from nbflow.store.stores import open_store

REPO = Path(__file__).resolve().parents[2]
SMALL = ["-p", "n_decks", "600", "-p", "n_estimators", "[10, 30]"]
BUCKET = "team-runs"

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    yield from bucket_server(BUCKET)


@pytest.fixture(scope="module")
def remote(s3: S3Server, postgres_server: PostgresServer) -> Config:  # noqa: F811
    """The team's datastore: blobs on S3, metadata in PostgreSQL."""
    return Config(
        datastore=f"s3://{BUCKET}/nbflow",
        metadata=postgres_server.new_database(),
        storage_options=json.dumps(s3.storage_options()),
    )


def nbflow_run(notebook: str, *args: str, cwd: Path, config: Config | None = None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBFLOW_")}
    if config is not None:
        env.update(
            NBFLOW_DATASTORE=config.datastore,
            NBFLOW_METADATA=config.metadata,
            NBFLOW_STORAGE_OPTIONS=config.storage_options,
            NBFLOW_CACHE_DIR=str(cwd / "read-cache"),
        )
    done = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "run", notebook, *args], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{notebook} {args}:\n{done.stdout}\n{done.stderr}"


def test_hearthstone_on_dask_s3_and_postgres_equals_the_local_run(
    remote: Config, s3: S3Server, tmp_path: Path
) -> None:
    shutil.copy(REPO / "notebooks" / "hearthstone.ipynb", tmp_path)
    nbflow_run("hearthstone.ipynb", *SMALL, cwd=tmp_path)  # local: kernel, folder, SQLite
    nbflow_run(
        "hearthstone.ipynb", *SMALL, "--executor", "dask", "--workers", "2",
        cwd=tmp_path, config=remote,
    )  # fmt: skip
    local = Flow("hearthstone", store=open_store(Config(datastore=str(tmp_path / ".nbflow"))))
    scaled = Flow("hearthstone", store=open_store(remote))
    here, there = local.latest_run, scaled.latest_run
    assert there.status == "done"
    # The executed notebook (stored with the run) shows where the tasks went.
    assert "dashboard: http://127.0.0.1:" in json.dumps(there.notebook)
    for name in ("accuracy", "best_params", "label_counts", "summary"):
        assert getattr(there.end_step.task.data, name) == getattr(here.end_step.task.data, name)
    assert len(there["train"].tasks()) == 6
    # The blobs really are in the bucket, and no metadata file was written beside them.
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert any(key.startswith("nbflow/blobs/") for key in keys)
    assert not any(key.endswith(".sqlite") for key in keys)


def test_branches_on_dask_s3_and_postgres(remote: Config, tmp_path: Path) -> None:
    shutil.copy(REPO / "notebooks" / "branches.ipynb", tmp_path)
    nbflow_run("branches.ipynb", "--executor", "dask", "--workers", "2", cwd=tmp_path,
               config=remote)  # fmt: skip
    run = Flow("branches", store=open_store(remote)).latest_run
    assert run.status == "done"
    assert run["recap"].task.data.gifts["give_letter"] == "NNN"
    # Each branch ran in a Dask worker process, not in the notebook's kernel.
    assert {t.status for step in run.steps() for t in step.tasks()} == {"done"}


def test_gc_on_s3_removes_the_blobs_only_old_runs_held(
    remote: Config, s3: S3Server, tmp_path: Path
) -> None:
    from nbflow.store.gc import collect

    shutil.copy(REPO / "notebooks" / "branches.ipynb", tmp_path)
    for number in (1, 2):
        nbflow_run("branches.ipynb", "-p", "number", str(number), cwd=tmp_path, config=remote)
    store = open_store(remote)
    flow = Flow("branches", store=store)
    kept = flow.latest_run
    done = collect(store, keep_last=1, flow="branches", grace=0)
    assert kept.pathspec in {r.pathspec for r in flow.runs()} and len(flow.runs()) == 1
    assert done.runs and done.blobs > 0  # the older runs and what only they held
    # What the kept run holds still loads (checked against its hash).
    assert Flow("branches", store=store).latest_run["recap"].task.data.gifts["give_number"] == 12
