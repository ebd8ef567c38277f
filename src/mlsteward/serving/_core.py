"""What every protocol of the inference server shares: the served models and how to call them.

A protocol module (Open Inference Protocol, MLflow's ``/invocations``, the plain ``/v1``
API) turns a request into model input, calls ``Predict`` (which runs the model off the event
loop), and turns the output into its response. It knows nothing of packages, the platform or
batching: it gets a ``ModelRepository`` and a ``Predict``.

Errors: a protocol raises ``mlsteward.errors`` exceptions (``InvalidArgument`` and
``SignatureViolation`` for bad input: 400; ``NotFound``: 404; ``PayloadTooLarge``: 413;
``Unavailable``: 503) and renders them in its own error shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import NotFound

if TYPE_CHECKING:
    from ..models import Signature
    from ..models._model_dir import LoadedModel
    from ._input_ranges import InputRanges


@dataclass(frozen=True)
class ServedModel:
    """One model version the server answers for.

    ``name`` and ``version`` are what clients put in URLs (``version`` is a string: "3" for a
    registry version). ``platform`` names the framework for OIP metadata (e.g.
    ``sklearn``). ``loaded.predict(data)`` checks ``data`` against the signature, then predicts;
    call it only through ``Predict`` (it blocks). ``load_seconds``: how long loading took
    (verification included), for the metrics. ``input_ranges``: the training data's value
    ranges table inputs are checked against after the signature (None: not checked).
    """

    name: str
    version: str
    loaded: LoadedModel
    platform: str
    load_seconds: float | None = None
    input_ranges: InputRanges | None = None

    @property
    def signature(self) -> Signature | None:
        return self.loaded.signature

    def predict(self, data: Any) -> Any:
        """The model's predictions for ``data``, checked against the signature first. Takes
        every input the protocols build (a ``RowBlock`` too). Blocks: call it off the loop."""
        from ._row_blocks import as_table

        return self.loaded.predict(as_table(data))


class ModelRepository:
    """The models of one server, by name; each name has one current version."""

    def __init__(self, models: list[ServedModel] | None = None) -> None:
        self._models: dict[str, ServedModel] = {}
        self.ready = False
        for model in models or []:
            self.add(model)

    def add(self, model: ServedModel) -> None:
        """Serve ``model`` (replaces the version served under its name)."""
        self._models[model.name] = model

    def names(self) -> list[str]:
        return sorted(self._models)

    def get(self, name: str, version: str | None = None) -> ServedModel:
        """The model served as ``name`` (and ``version``, when given); ``NotFound`` otherwise,
        naming what is served."""
        model = self._models.get(name)
        if model is None:
            served = ", ".join(self.names()) or "none"
            raise NotFound(f"no model named {name!r} is served here (served: {served})")
        if version is not None and version != model.version:
            raise NotFound(
                f"model {name!r} is served at version {model.version}, not {version!r}",
                details={"model": name, "version": version},
            )
        return model

    def only(self) -> ServedModel:
        """The single served model (``/invocations`` has no model name in its URL)."""
        if len(self._models) != 1:
            raise NotFound(
                "this server serves several models: name one (/v2/models/{name}/infer)"
                if self._models
                else "no model is served"
            )
        return next(iter(self._models.values()))


Predict = Callable[[ServedModel, Any], Awaitable[Any]]
"""``await predict(model, data)``: the model's predictions for ``data`` (a pandas DataFrame,
a ``RowBlock`` of numbers, a NumPy array or a dict of named arrays, as the signature takes),
computed off the event loop. Raises ``SignatureViolation`` when ``data`` does not fit the
signature."""
