"""What an nbflow run says to MLflow, as plain data: its experiment (the flow), status, times,
parameters, the scalar results of its last step (metrics) and tags, among them the link back.

Built from the client's `Run` and `query.results` (what every door shows), so MLflow shows
the same results as `nbflow show`; nothing is unpickled. No MLflow import here:
`mlflow_log.py` sends it.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from nbflow.query.client import Run
from nbflow.query.results import run_results

# MLflow's limits (2.10 and later): a parameter value, a tag value.
PARAM_LIMIT = 6000
TAG_LIMIT = 5000
# nbflow's run status -> MLflow's. An `incomplete` run ended without a failure (a step cell
# run by hand, the steps below it not yet run): FINISHED there, `nbflow.status` tells.
STATUSES = {"running": "RUNNING", "done": "FINISHED", "incomplete": "FINISHED",
            "failed": "FAILED"}  # fmt: skip
RUN_TAG = "nbflow.run"  # "flow/3": how nbflow finds the MLflow run of one of its runs
DATASTORE_TAG = "nbflow.datastore"
MODEL_TAG = "nbflow.model"  # the model URI, once `--log-model` logged one


@dataclass(frozen=True)
class MlflowRecord:
    experiment: str  # the flow's name
    run_key: str  # "flow/3"
    status: str  # MLflow's: RUNNING, FINISHED, FAILED
    start_ms: int
    end_ms: int | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


def mlflow_record(run: Run, datastore: str, notebook: str | None = None) -> MlflowRecord:
    """The MLflow view of `run`, stored in `datastore` (a folder or an object store's URL),
    made by `notebook` (its path, where known)."""
    results = run_results(run)
    finished = run.finished_at
    return MlflowRecord(
        experiment=run.flow,
        run_key=run.pathspec,
        status=STATUSES.get(run.status, "FAILED"),
        start_ms=_ms(run.created_at.timestamp()),
        end_ms=_ms(finished.timestamp()) if finished is not None else None,
        params={name: _text(value, PARAM_LIMIT) for name, value in run.params.items()},
        metrics={name: float(v) for name, v in results.items() if _is_number(v)},
        tags=run_tags(run, datastore, results, notebook),
    )


def run_tags(
    run: Run, datastore: str, results: dict[str, Any], notebook: str | None = None
) -> dict[str, str]:
    """MLflow's own system tags (name, user, source), nbflow's system tags as `nbflow.*`, the
    user tags, string results, and the way back to the run in nbflow."""
    system = dict(tag.partition(":")[::2] for tag in run.system_tags)
    tags = {
        "mlflow.runName": run.pathspec,
        "mlflow.source.type": "NOTEBOOK",
        RUN_TAG: run.pathspec,
        "nbflow.status": run.status,
        DATASTORE_TAG: datastore,
        "nbflow.report": report_command(run, datastore),
        "mlflow.note.content": _note(run, datastore),
    }
    if system.get("user"):
        tags["mlflow.user"] = system["user"]
    if notebook:
        tags["mlflow.source.name"] = notebook
    for prefix, value in system.items():  # user:, host:, notebook:, executor:, nbflow:
        tags["nbflow.version" if prefix == "nbflow" else f"nbflow.{prefix}"] = value
    if run.user_tags:
        tags["nbflow.tags"] = ",".join(sorted(run.user_tags))
    if run.error:
        tags["nbflow.error"] = run.error
    for name, value in results.items():
        if isinstance(value, str):  # a metric is a number: short strings go along as tags
            tags[f"nbflow.result.{name}"] = value
    return {key: value[:TAG_LIMIT] for key, value in tags.items()}


def report_command(run: Run, datastore: str) -> str:
    """The shell command that writes the run's HTML report, from any folder."""
    return (
        f"NBFLOW_DATASTORE={shlex.quote(datastore)} nbflow show {run.pathspec} --html "
        f"> {run.flow}-{run.id}.html"
    )


def _note(run: Run, datastore: str) -> str:
    # The run's description in MLflow's UI (markdown): where the full run lives.
    return (
        f"nbflow run **{run.pathspec}** ({run.status}), stored in `{datastore}`.\n\n"
        f"In Python: `Run('{run.pathspec}')` (with `NBFLOW_DATASTORE` set to that store); "
        f"its HTML report: `{report_command(run, datastore)}`"
    )


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=repr)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, complex)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
