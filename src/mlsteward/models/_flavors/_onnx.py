"""ONNX graphs, run with onnxruntime on the CPU provider.

``predict`` returns the graph's first output (the label output of a converted classifier);
``predict_proba`` exists when the graph also has a probability output, either a tensor
(skl2onnx with ``options={"zipmap": False}``) or a ZipMap list of ``{label: probability}``
dicts, which is turned into an array with one column per class in the map's order. A
``(n, 1)`` first output, as converted regressors give, is flattened to ``(n,)`` like
scikit-learn's ``predict``. Graphs over 2 GB with external data files are not supported.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlsteward.errors import InvalidArgument

from ._base import (
    FlavorConfig,
    Predictor,
    check_config,
    check_options,
    import_extra,
    mro_roots,
    new_config,
    only_file,
    pinned_requirements,
    resolve_file,
    wrap_load_error,
)

__all__ = ["OnnxFlavor"]

_MODEL_FILE = "model.onnx"
# ONNX tensor element types (as onnxruntime names them) and the NumPy dtypes fed to them.
_NUMPY_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


def _probability_output(outputs: list[Any]) -> str | None:
    """The name of the output holding class probabilities, if the graph has one."""
    for out in outputs[1:]:
        if "prob" in out.name.lower() or out.type.startswith("seq(map("):
            return str(out.name)
    return None


class _SessionPredictor:
    """An onnxruntime session that predicts from arrays, DataFrames or dicts of arrays."""

    def __init__(self, session: Any, path: Path) -> None:
        self.session = session
        self.path = path
        self._inputs = list(session.get_inputs())
        self._outputs = list(session.get_outputs())

    def _feed(self, data: Any) -> dict[str, Any]:
        import numpy

        names = [i.name for i in self._inputs]
        if isinstance(data, Mapping) or (hasattr(data, "columns") and len(names) > 1):
            # Named inputs: a dict of arrays, or one DataFrame column per graph input.
            columns = list(data.keys()) if isinstance(data, Mapping) else list(data.columns)
            missing = [n for n in names if n not in columns]
            if missing:
                raise InvalidArgument(
                    f"the ONNX model needs inputs {names}; missing {missing}",
                    details={"missing": missing},
                )
            feed = {}
            for spec in self._inputs:
                value = numpy.asarray(data[spec.name])
                if value.ndim == 1 and len(spec.shape) == 2:
                    value = value.reshape(-1, 1)
                feed[spec.name] = self._cast(value, spec)
            return feed
        spec = self._inputs[0]
        return {spec.name: self._cast(numpy.asarray(data), spec)}

    @staticmethod
    def _cast(value: Any, spec: Any) -> Any:
        dtype = _NUMPY_DTYPES.get(spec.type)
        if dtype is None:
            raise InvalidArgument(f"ONNX input {spec.name!r} has unsupported type {spec.type}")
        return value.astype(dtype, copy=False)

    def _run(self, output: str, data: Any) -> Any:
        try:
            return self.session.run([output], self._feed(data))[0]
        except InvalidArgument:
            raise
        except Exception as exc:
            # Shape or type mismatches: the input is wrong, the model is fine.
            raise InvalidArgument(
                f"ONNX model {self.path.name} rejected the input: {str(exc)[:300]}",
            ) from exc

    def predict(self, data: Any) -> Any:
        import numpy

        result = self._run(self._outputs[0].name, data)
        if isinstance(result, list):
            result = numpy.asarray(result)
        if result.ndim == 2 and result.shape[1] == 1:
            result = result.ravel()
        return result


class _ClassifierSessionPredictor(_SessionPredictor):
    def __init__(self, session: Any, path: Path, probability_output: str) -> None:
        super().__init__(session, path)
        self.probability_output = probability_output

    def predict_proba(self, data: Any) -> Any:
        import numpy

        result = self._run(self.probability_output, data)
        if isinstance(result, list):  # ZipMap: one {label: probability} per row
            if not result:
                return numpy.empty((0, 0), dtype=numpy.float32)
            labels = list(result[0])
            return numpy.asarray([[row[label] for label in labels] for row in result])
        return result


class OnnxFlavor:
    """``onnx.ModelProto`` graphs (or their serialised bytes, via ``get_flavor("onnx")``)
    as ``model.onnx``."""

    name = "onnx"
    extra = "onnx"
    executes_code = False

    def handles(self, model: object) -> bool:
        return ("onnx", "ModelProto") in mro_roots(model)

    def save(self, model: object, directory: Path, **options: Any) -> FlavorConfig:
        check_options(self.name, directory, options, ())
        onnx = import_extra("onnx", self.extra)
        if isinstance(model, bytes | bytearray):
            try:
                model = onnx.load_from_string(bytes(model))
            except Exception as exc:
                raise InvalidArgument(f"these bytes are not an ONNX model: {exc}") from exc
        if not self.handles(model):
            raise InvalidArgument(
                f"the onnx flavor saves onnx.ModelProto or its bytes, not {type(model).__name__}",
            )
        try:
            onnx.checker.check_model(model)
        except Exception as exc:
            raise InvalidArgument(f"the ONNX model is not valid: {exc}") from exc
        (directory / _MODEL_FILE).write_bytes(model.SerializeToString())  # type: ignore[attr-defined]
        graph = model.graph  # type: ignore[attr-defined]
        config = new_config(self.name, "onnx", [_MODEL_FILE], str(onnx.__version__))
        config["opsets"] = {
            (o.domain or "ai.onnx"): int(o.version)
            for o in model.opset_import  # type: ignore[attr-defined]
        }
        initialisers = {i.name for i in graph.initializer}
        config["inputs"] = [i.name for i in graph.input if i.name not in initialisers]
        config["outputs"] = [o.name for o in graph.output]
        return config

    def load(self, directory: Path, config: FlavorConfig, *, trust: bool = False) -> Predictor:
        check_config(config, self.name, ["onnx"])
        path = resolve_file(directory, only_file(config))
        onnxruntime = import_extra("onnxruntime", self.extra)
        try:
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise wrap_load_error(exc, path, self.name) from exc
        probability = _probability_output(list(session.get_outputs()))
        if probability is None:
            return _SessionPredictor(session, path)
        return _ClassifierSessionPredictor(session, path, probability)

    def requirements(self) -> list[str]:
        return pinned_requirements(["onnxruntime"], self.extra)
