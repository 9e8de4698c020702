"""Log nbflow runs to an MLflow tracking server, as MLflow runs (the `mlflow` setting).

One nbflow run is one MLflow run, found again by its `nbflow.run` tag: a run that grows cell
by cell is logged each time it ends (`incomplete`, then `done`) and its MLflow run updated,
never duplicated. nbflow's store stays the truth: whatever MLflow raises becomes one
`MlflowLoggingWarning` naming the tracking URI and the cause, and the run is unaffected.
MLflow is imported only here, and only when the setting is on (it takes 2-3 s to import; a
kernel starts the import in the background as soon as the setting is made).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from nbflow.config import Config, temporary_environment
from nbflow.exceptions import MlflowLoggingWarning, NbflowError
from nbflow.integrations.mlflow_model import log_model
from nbflow.integrations.mlflow_record import (
    DATASTORE_TAG,
    MODEL_TAG,
    RUN_TAG,
    MlflowRecord,
    mlflow_record,
)
from nbflow.query.client import Run
from nbflow.store.metadata.postgres import masked_url

if TYPE_CHECKING:
    from mlflow.entities import Run as MlflowRun
    from mlflow.tracking import MlflowClient

    from nbflow.store.stores import Store

INSTALL_HINT = "MLflow logging needs the mlflow package: pip install 'nbflow[mlflow]'"
# MLflow retries an unreachable server for minutes by default; a run's end should not wait
# that long for a side record. Used unless the user set them (MLflow reads them per request).
_QUICK_HTTP = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
BATCH_LIMIT = 100  # params and tags per log_batch call (MLflow's limit)


def require_mlflow(config: Config) -> None:
    """Raise the install command when the `mlflow` setting is on and MLflow is missing."""
    if config.mlflow_log_model and not config.mlflow:
        raise NbflowError(
            f"mlflow_log_model={config.mlflow_log_model} logs a model to MLflow, but no "
            "tracking URI is set: add `%flow config mlflow=URI` (or NBFLOW_MLFLOW_TRACKING_URI),"
            " for example mlflow=sqlite:///mlflow.db."
        )
    if config.mlflow and importlib.util.find_spec("mlflow") is None:
        raise NbflowError(
            f"{INSTALL_HINT} (the setting mlflow={masked_url(config.mlflow)} comes from "
            "%flow config or NBFLOW_MLFLOW_TRACKING_URI; unset it to run without MLflow)."
        )


def import_in_background(config: Config) -> None:
    """Start importing MLflow on a thread, so the first run's end does not wait for it."""
    if config.mlflow and "mlflow" not in sys.modules:
        threading.Thread(target=_import_quietly, name="nbflow-mlflow-import", daemon=True).start()


def _import_quietly() -> None:
    with contextlib.suppress(Exception):
        import mlflow.tracking  # noqa: F401, PLC0415 - optional dependency, loaded ahead


def log_run_end(
    store: Store, flow: str, run_id: int, config: Config, *, model: str | None = None
) -> None:
    """Log the run that just ended to MLflow, when the `mlflow` setting is on; a failure is a
    warning, never an error: the run is recorded in nbflow either way."""
    if not config.mlflow:
        return
    uri = config.mlflow
    try:
        record = store.meta.run(flow, run_id)
        run = Run(record, store=store)
        with _quiet_mlflow():
            log_run(run, uri, store.root, notebook=record.notebook,
                    model=model or config.mlflow_log_model or None)  # fmt: skip
    except Exception as error:  # MLflow's, the network's, the model's: all only reported
        warnings.warn(
            MlflowLoggingWarning(
                f"nbflow: run {flow}/{run_id} was not logged to MLflow at {masked_url(uri)}: "
                f"{type(error).__name__}: {_first_line(error)}. The run itself is stored in "
                f"nbflow ({store.root}); check the tracking URI (%flow config mlflow=... or "
                "NBFLOW_MLFLOW_TRACKING_URI), or unset it to stop logging."
            ),
            stacklevel=2,
        )


def log_run(
    run: Run, uri: str, datastore: str, *, notebook: str | None = None, model: str | None = None
) -> str:
    """Create or update the MLflow run of `run` at tracking URI `uri`; its MLflow run id.
    `model`: an end artifact to log as an MLflow model once the run is done."""
    from mlflow.tracking import MlflowClient  # noqa: PLC0415 - optional dependency, slow

    client = MlflowClient(tracking_uri=uri)
    record = mlflow_record(run, datastore, notebook)
    experiment_id = _experiment_id(client, record.experiment)
    existing = _existing_run(client, experiment_id, record)
    if existing is None:
        created = client.create_run(experiment_id, start_time=record.start_ms, tags=record.tags,
                                    run_name=record.run_key)  # fmt: skip
        mlflow_run_id: str = created.info.run_id
        _log_changes(client, mlflow_run_id, record, None)
    else:
        mlflow_run_id = existing.info.run_id
        _log_changes(client, mlflow_run_id, record, existing)
    if record.status == "RUNNING":
        client.update_run(mlflow_run_id, status="RUNNING")
    else:
        client.set_terminated(mlflow_run_id, record.status, end_time=record.end_ms)
    # Last: the run's status is right in MLflow even when the model cannot be logged.
    logged_model = existing is not None and MODEL_TAG in existing.data.tags
    if model and run.status == "done" and not logged_model:
        client.set_tag(mlflow_run_id, MODEL_TAG, log_model(run, model, uri, mlflow_run_id))
    return mlflow_run_id


def _experiment_id(client: MlflowClient, name: str) -> str:
    """The experiment named after the flow, created the first time."""
    from mlflow.exceptions import MlflowException  # noqa: PLC0415 - optional dependency

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:  # another process created it meanwhile
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def _existing_run(
    client: MlflowClient, experiment_id: str, record: MlflowRecord
) -> MlflowRun | None:
    """The MLflow run already logged for this nbflow run (same run, same datastore)."""
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{record.run_key}'", max_results=50
    )
    datastore = record.tags[DATASTORE_TAG]
    ours = [r for r in found if r.data.tags.get(DATASTORE_TAG) == datastore]
    return ours[0] if ours else None


def _log_changes(
    client: MlflowClient, run_id: str, record: MlflowRecord, existing: MlflowRun | None
) -> None:
    """Log what the MLflow run does not have yet: a parameter once (MLflow never changes
    one), a metric when its value changed (each value is a point of its history), tags."""
    from mlflow.entities import Metric, Param, RunTag  # noqa: PLC0415 - optional dependency

    has_params = existing.data.params if existing else {}
    has_metrics = existing.data.metrics if existing else {}
    has_tags = existing.data.tags if existing else record.tags  # create_run set them
    stamp = record.end_ms or record.start_ms
    params = [Param(k, v) for k, v in record.params.items() if k not in has_params]
    metrics = [Metric(k, v, stamp, 0) for k, v in record.metrics.items() if has_metrics.get(k) != v]
    tags = [RunTag(k, v) for k, v in record.tags.items() if has_tags.get(k) != v]
    for chunk in _chunks(params):
        client.log_batch(run_id, params=chunk)
    for chunk in _chunks(tags):
        client.log_batch(run_id, tags=chunk)
    if metrics:
        client.log_batch(run_id, metrics=metrics[:1000])


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), BATCH_LIMIT):
        yield items[start : start + BATCH_LIMIT]


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow's own chatter (alembic's migrations, model warnings) is not the notebook's."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    env = {k: v for k, v in _QUICK_HTTP.items() if k not in os.environ}
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings(), temporary_environment(env):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "(no message)"
