"""An artifact of a run's last step logged as an MLflow model (`--log-model NAME`).

A scikit-learn estimator (or pipeline) becomes an `mlflow.sklearn` model, anything else a
`mlflow.pyfunc` model whose `predict` calls the value's `predict` (or the value itself).
Both are cloudpickled: the value came out of nbflow's own pickles, so this trusts nothing
new, and it skips skops' slow import (3-4 s). Requirements are given, not inferred (MLflow
would load the model in a subprocess to find them).
"""

from __future__ import annotations

import sys
from typing import Any

import cloudpickle

from nbflow.exceptions import NbflowError
from nbflow.query.client import Run


def log_model(run: Run, name: str, uri: str, mlflow_run_id: str) -> str:
    """Log the end artifact `name` of `run` as a model of MLflow run `mlflow_run_id` at
    tracking URI `uri`, under the same name; the model's URI."""
    import mlflow  # noqa: PLC0415 - optional dependency, slow

    value = _end_artifact(run, name)
    previous = mlflow.get_tracking_uri()
    # The fluent API logs models; point it at our URI for this call only, so the user's own
    # mlflow use in the kernel keeps its tracking URI.
    mlflow.set_tracking_uri(uri)
    try:
        info = _log_sklearn(value, name, mlflow_run_id) if _is_sklearn(value) else None
        if info is None:
            info = _log_pyfunc(value, name, mlflow_run_id)
    finally:
        mlflow.set_tracking_uri(previous)
    return str(info.model_uri)


def _end_artifact(run: Run, name: str) -> Any:
    end = run.end_step
    artifacts = end.task.artifacts
    if name not in artifacts:
        have = ", ".join(sorted(artifacts)) or "none"
        raise NbflowError(
            f"no model logged: the run's last step '{end.name}' has no artifact '{name}' "
            f"(it has: {have}). Name one of those in --log-model / mlflow_log_model."
        )
    return getattr(end.task.data, name)


def _is_sklearn(value: Any) -> bool:
    base = sys.modules.get("sklearn.base")  # loaded whenever the value is an estimator
    return base is not None and isinstance(value, base.BaseEstimator)


def _log_sklearn(value: Any, name: str, mlflow_run_id: str) -> Any:
    import mlflow.sklearn  # noqa: PLC0415 - optional dependency

    sklearn_version = sys.modules["sklearn"].__version__  # loaded: the value is an estimator
    return mlflow.sklearn.log_model(
        value,
        name=name,
        run_id=mlflow_run_id,
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        pip_requirements=[f"scikit-learn=={sklearn_version}", _cloudpickle()],
    )


def _log_pyfunc(value: Any, name: str, mlflow_run_id: str) -> Any:
    import mlflow.pyfunc  # noqa: PLC0415 - optional dependency

    return mlflow.pyfunc.log_model(
        name=name,
        run_id=mlflow_run_id,
        python_model=_predicting(mlflow.pyfunc.PythonModel, value),
        pip_requirements=[_cloudpickle()],
    )


def _predicting(base: type, value: Any) -> Any:
    """A PythonModel around `value` (its class made here: MLflow is imported lazily)."""

    class ArtifactModel(base):  # type: ignore[misc]
        def __init__(self, model: Any) -> None:
            self.model = model

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            predict = getattr(self.model, "predict", None)
            return predict(model_input) if predict is not None else self.model(model_input)

    return ArtifactModel(value)


def _cloudpickle() -> str:
    return f"cloudpickle=={cloudpickle.__version__}"
