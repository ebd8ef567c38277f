"""Autologging for scikit-learn: ``mlsteward.autolog()`` wraps ``fit`` of every estimator so
a fit records its parameters, training metrics, the fitted model with its signature and an
input example, and a reference to the training data.

A fit logs into the active fluent run, or starts a run of its own (ended when ``fit``
returns, ``FAILED`` when it raises). Fits inside a fit (a pipeline's steps, a search's
candidates) are not logged separately: only the outermost estimator is. The training data
is referenced, not copied: shape, columns and a BLAKE3 fingerprint of its bytes.
"""

from __future__ import annotations

import contextvars
import functools
import json
import threading
from collections.abc import Callable
from typing import Any

from ..errors import MissingExtra

__all__ = ["autolog", "data_reference"]

_inside_fit: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "mlsteward_inside_fit", default=False
)
_lock = threading.Lock()
_patched: dict[type, Callable[..., Any]] = {}
_settings: dict[str, Any] = {}
MAX_PARAM_LENGTH = 6000
EXAMPLE_ROWS = 5


def data_reference(data: Any, name: str = "training") -> dict[str, Any]:
    """A reference to a dataset: kind, shape, columns and a BLAKE3 fingerprint of its values
    (NumPy/pandas data; other objects get their type only)."""
    import blake3
    import numpy

    reference: dict[str, Any] = {"name": name, "type": type(data).__name__}
    columns = getattr(data, "columns", None)
    if columns is not None:
        reference["columns"] = [str(c) for c in list(columns)[:1000]]
        values = data.to_numpy() if hasattr(data, "to_numpy") else numpy.asarray(data)
    else:
        try:
            values = numpy.asarray(data)
        except (TypeError, ValueError):
            return reference
    reference["shape"] = list(values.shape)
    hasher = blake3.blake3()
    if values.dtype == object:
        hasher.update(json.dumps(values.tolist(), default=str).encode())
    else:
        hasher.update(numpy.ascontiguousarray(values).tobytes())
    hasher.update(str(values.dtype).encode())
    reference["fingerprint"] = "blake3:" + hasher.hexdigest()
    return reference


def _params(estimator: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in estimator.get_params(deep=False).items():
        text = repr(value) if hasattr(value, "get_params") else str(value)
        found[key] = text[:MAX_PARAM_LENGTH]
    return found


def _training_metrics(estimator: Any, x: Any, y: Any) -> dict[str, float]:
    from sklearn.base import is_classifier, is_regressor

    metrics: dict[str, float] = {}
    if y is None:
        return metrics
    predicted = estimator.predict(x)
    if is_classifier(estimator):
        from sklearn import metrics as m

        metrics["training_accuracy"] = float(m.accuracy_score(y, predicted))
        metrics["training_f1_weighted"] = float(
            m.f1_score(y, predicted, average="weighted", zero_division=0)
        )
    elif is_regressor(estimator):
        from sklearn import metrics as m

        metrics["training_r2"] = float(m.r2_score(y, predicted))
        metrics["training_mae"] = float(m.mean_absolute_error(y, predicted))
    return metrics


def _head(x: Any) -> Any:
    return x.head(EXAMPLE_ROWS) if hasattr(x, "head") else x[:EXAMPLE_ROWS]


def _record(run: Any, estimator: Any, x: Any, y: Any) -> None:
    run.log_params(_params(estimator))
    run.log_metrics(_training_metrics(estimator, x, y))
    run.set_tag("mlsteward.training_data", json.dumps(data_reference(x), sort_keys=True))
    run.set_tag("mlsteward.estimator", f"{type(estimator).__module__}.{type(estimator).__name__}")
    if _settings.get("log_models", True):
        run.log_model(
            estimator,
            "model",
            input_example=_head(x),
            registered_model_name=_settings.get("registered_model_name"),
        )


def _wrap(fit: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fit)
    def logged_fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _inside_fit.get() or not _settings.get("enabled", False):
            return fit(self, *args, **kwargs)
        x = args[0] if args else kwargs.get("X")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        from ..tracking import _fluent

        token = _inside_fit.set(True)
        try:
            active = _fluent.active_run()
            own = active is None
            run = (
                active
                if active is not None
                else _fluent.start_run(
                    _settings.get("project", "default"),
                    _settings.get("experiment", "Default"),
                    name=type(self).__name__,
                )
            )
            try:
                result = fit(self, *args, **kwargs)
                _record(run, self, x, y)
            except BaseException:
                if own:
                    run.end("FAILED")
                raise
            if own:
                run.end()
            return result
        finally:
            _inside_fit.reset(token)

    logged_fit.__mlsteward_autolog__ = True  # type: ignore[attr-defined]
    return logged_fit


def autolog(
    *,
    disable: bool = False,
    log_models: bool = True,
    project: str = "default",
    experiment: str = "Default",
    registered_model_name: str | None = None,
) -> None:
    """Record every scikit-learn ``fit`` from now on (``disable=True`` stops it and restores
    the original methods). ``MissingExtra`` without scikit-learn."""
    try:
        from sklearn.utils import all_estimators
    except ImportError:
        raise MissingExtra("autolog needs scikit-learn: pip install 'mlsteward[sklearn]'") from None
    with _lock:
        if disable:
            for cls, original in _patched.items():
                cls.fit = original  # type: ignore[attr-defined]
            _patched.clear()
            _settings.clear()
            return
        _settings.update(
            enabled=True,
            log_models=log_models,
            project=project,
            experiment=experiment,
            registered_model_name=registered_model_name,
        )
        from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
        from sklearn.pipeline import Pipeline

        kinds = ["classifier", "regressor", "cluster"]
        classes = [cls for _, cls in all_estimators(type_filter=kinds)]
        for cls in [*classes, Pipeline, GridSearchCV, RandomizedSearchCV]:
            fit = cls.__dict__.get("fit")
            if fit is None or cls in _patched or getattr(fit, "__mlsteward_autolog__", False):
                continue
            _patched[cls] = fit
            cls.fit = _wrap(fit)
