"""A saved model: one folder with the flavor's files, ``mlsteward.yaml`` (type tag
``"mlsteward.model"``, ``schema_version`` 1: flavor config, signature, requirements, input
example and the predictions the model gave on it), ``input_example.json`` and
``example_predictions.json``. What ``log_model`` uploads, the registry versions and a package
carries.

Loading is safe by default: the files are scanned first (pickles at the opcode level, skops
types against the allow-list), and a model whose loading would run code (a Python model, an
unsafe pickle, an untrusted type) needs an explicit ``TrustDecision``, reported through
``on_trust`` before anything runs so the caller can audit it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .. import __version__
from ..errors import InvalidArgument, NotFound, UnsafeModelFile
from ._enforce import enforce_signature
from ._flavors import Flavor, FlavorConfig, Predictor, flavor_for, get_flavor
from ._input_example import InputExample
from ._pickle_scan import PickleScan, TrustDecision, scan_file
from ._signature import Signature, infer_signature

__all__ = [
    "METADATA_FILE",
    "LoadedModel",
    "ModelMetadata",
    "load_model_dir",
    "read_metadata",
    "save_model",
    "scan_model_dir",
]

METADATA_FILE = "mlsteward.yaml"
EXAMPLE_FILE = "input_example.json"
PREDICTIONS_FILE = "example_predictions.json"
MODEL_TYPE = "mlsteward.model"
SCHEMA_VERSION = 1
_MAX_METADATA_BYTES = 1 << 20
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".sav")


@dataclass(frozen=True)
class ModelMetadata:
    """What ``mlsteward.yaml`` says about a saved model."""

    flavor: str
    flavor_config: FlavorConfig
    signature: Signature | None
    requirements: tuple[str, ...]
    input_example: str | None
    example_predictions: str | None
    created_at: str
    mlsteward_version: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": MODEL_TYPE,
            "schema_version": SCHEMA_VERSION,
            "flavor": self.flavor,
            "flavor_config": self.flavor_config,
            "signature": None if self.signature is None else self.signature.to_dict(),
            "requirements": list(self.requirements),
            "input_example": self.input_example,
            "example_predictions": self.example_predictions,
            "created_at": self.created_at,
            "mlsteward_version": self.mlsteward_version,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Any) -> ModelMetadata:
        """Check and read a metadata mapping; ``InvalidArgument`` naming what is wrong."""
        if not isinstance(data, dict) or data.get("type") != MODEL_TYPE:
            raise InvalidArgument(f"{METADATA_FILE} is not an mlsteward model description")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise InvalidArgument(
                f"{METADATA_FILE} has schema_version {data.get('schema_version')!r}; this "
                f"release reads {SCHEMA_VERSION}: upgrade mlsteward"
            )
        try:
            requirements = tuple(str(r) for r in data.get("requirements") or [])
            signature = data.get("signature")
            return cls(
                flavor=str(data["flavor"]),
                flavor_config=dict(data["flavor_config"]),
                signature=None if signature is None else Signature.from_dict(signature),
                requirements=requirements,
                input_example=_optional_name(data.get("input_example")),
                example_predictions=_optional_name(data.get("example_predictions")),
                created_at=str(data.get("created_at", "")),
                mlsteward_version=str(data.get("mlsteward_version", "")),
                extra=dict(data.get("extra") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"{METADATA_FILE} is malformed: {exc}") from None


def _optional_name(value: Any) -> str | None:
    if value is None:
        return None
    if value not in (EXAMPLE_FILE, PREDICTIONS_FILE):
        raise InvalidArgument(f"unexpected file name {str(value)[:80]!r} in {METADATA_FILE}")
    return str(value)


def _to_jsonable(predictions: Any) -> Any:
    """Predictions as JSON (lists; NaN and infinities as strings), for the recorded example."""
    value = predictions.tolist() if hasattr(predictions, "tolist") else predictions

    def clean(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
        if isinstance(item, list | tuple):
            return [clean(i) for i in item]
        if isinstance(item, dict):
            return {str(k): clean(v) for k, v in item.items()}
        if hasattr(item, "item"):  # a numpy scalar
            return clean(item.item())
        return item

    return clean(value)


def save_model(
    model: object,
    path: str | os.PathLike[str],
    *,
    signature: Signature | Literal["infer"] | None = "infer",
    input_example: Any = None,
    flavor: str | None = None,
    extra: dict[str, Any] | None = None,
    training_data: Any = None,
    **options: Any,
) -> ModelMetadata:
    """Write ``model`` into the new or empty folder ``path``.

    The flavor is chosen from the model's type unless named. With an ``input_example``, the
    example and the model's predictions on it are stored, and ``signature="infer"`` infers
    the signature from them; pass a ``Signature`` to state it, or None for none. With
    ``training_data`` (the table the model was fit on, or its ``DatasetProfile``), its profile
    is saved too, and the inference server refuses inputs outside its value ranges. ``options``
    go to the flavor (``init_kwargs`` for PyTorch, ``artifacts``/``code_paths`` for Python
    models). Raises ``InvalidArgument`` (unsupported model, bad options, folder not empty)
    and ``MissingExtra``.
    """
    folder = Path(path)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidArgument(f"{folder} exists and is not an empty folder")
    profile = None
    if training_data is not None:  # checked before anything is written
        from ._training_profile import profile_training_data

        profile = profile_training_data(training_data)
    folder.mkdir(parents=True, exist_ok=True)
    chosen: Flavor = get_flavor(flavor) if flavor is not None else flavor_for(model)
    config = chosen.save(model, folder, **options)
    example_name = predictions_name = None
    inferred: Signature | None = None
    if input_example is not None:
        example = InputExample.from_data(input_example)
        (folder / EXAMPLE_FILE).write_bytes(example.to_json_bytes())
        example_name = EXAMPLE_FILE
        predictor = chosen.load(folder, config, trust=True)  # just written from a live object
        model_input = example.as_model_input()
        predictions = predictor.predict(model_input)
        (folder / PREDICTIONS_FILE).write_text(json.dumps(_to_jsonable(predictions)))
        predictions_name = PREDICTIONS_FILE
        if signature == "infer":
            inferred = infer_signature(model_input, predictions)
    metadata = ModelMetadata(
        flavor=chosen.name,
        flavor_config=config,
        signature=inferred if signature == "infer" else signature,
        requirements=tuple(chosen.requirements()),
        input_example=example_name,
        example_predictions=predictions_name,
        created_at=dt.datetime.now(dt.UTC).isoformat(),
        mlsteward_version=__version__,
        extra=dict(extra or {}),
    )
    if profile is not None:
        from ._training_profile import write_training_profile

        write_training_profile(folder, profile)
    _write_yaml(folder / METADATA_FILE, metadata.to_dict())
    return metadata


def _write_yaml(path: Path, data: dict[str, Any]) -> None:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=True, allow_unicode=True))


def read_metadata(path: str | os.PathLike[str]) -> ModelMetadata:
    """The ``mlsteward.yaml`` of a saved model folder (YAML read with ``safe_load`` only)."""
    import yaml

    file = Path(path) / METADATA_FILE
    if not file.is_file():
        raise NotFound(f"{Path(path)} is not a saved model: it has no {METADATA_FILE}")
    raw = file.read_bytes()
    if len(raw) > _MAX_METADATA_BYTES:
        raise InvalidArgument(f"{METADATA_FILE} is larger than {_MAX_METADATA_BYTES} bytes")
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{METADATA_FILE} is not valid YAML: {exc}") from None
    return ModelMetadata.from_dict(data)


def _pickle_scans(folder: Path) -> dict[str, PickleScan]:
    """Opcode scans of every file in the folder that holds or may hold a pickle."""
    scans: dict[str, PickleScan] = {}
    for file in sorted(folder.rglob("*")):
        if not file.is_file():
            continue
        with file.open("rb") as handle:
            head = handle.read(4)
        looks_pickled = head[:1] == b"\x80" or file.suffix.lower() in _PICKLE_SUFFIXES
        if looks_pickled:
            scans[file.relative_to(folder).as_posix()] = scan_file(file)
    return scans


def scan_model_dir(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The scan record the registry keeps: ``{"status": "clean" | "unsafe", "globals",
    "files", "executes_code"}`` — unsafe when a pickle imports globals outside the
    allow-list, a skops file holds untrusted types, or loading runs packaged code."""
    folder = Path(path)
    metadata = read_metadata(folder)
    return _scan(folder, metadata, get_flavor(metadata.flavor))[0]


def _scan(
    folder: Path, metadata: ModelMetadata, flavor: Flavor
) -> tuple[dict[str, Any], Predictor | None]:
    """The scan record, and the model when the scan had to load it and found it clean."""
    predictor: Predictor | None = None
    offending: dict[str, list[str]] = {}
    for name, scan in _pickle_scans(folder).items():
        if not scan.is_safe:
            offending[name] = list(scan.unsafe)
    if flavor.executes_code:
        offending["code/"] = ["<packaged Python code runs when the model loads>"]
    else:
        try:  # safe formats check their own types while loading, and run no code
            predictor = flavor.load(folder, metadata.flavor_config, trust=False)
        except UnsafeModelFile as exc:
            offending[str(exc.details.get("file", "model"))] = list(exc.details.get("globals", []))
    found = sorted({g for names in offending.values() for g in names})
    record = {
        "status": "unsafe" if offending else "clean",
        "globals": found,
        "files": sorted(offending),
        "executes_code": flavor.executes_code,
    }
    return record, (None if offending else predictor)


class LoadedModel:
    """A loaded model: ``predict`` (and ``predict_proba`` where the model has it) checks the
    input against the signature first, naming the offending column on a mismatch."""

    def __init__(self, metadata: ModelMetadata, predictor: Predictor, folder: Path) -> None:
        self.metadata = metadata
        self.predictor = predictor
        self.folder = folder
        if hasattr(predictor, "predict_proba"):
            self.predict_proba = self._predict_proba

    @property
    def signature(self) -> Signature | None:
        return self.metadata.signature

    def _checked(self, data: Any) -> Any:
        signature = self.metadata.signature
        return data if signature is None else enforce_signature(signature, data)

    def predict(self, data: Any) -> Any:
        return self.predictor.predict(self._checked(data))

    def _predict_proba(self, data: Any) -> Any:
        return self.predictor.predict_proba(self._checked(data))  # type: ignore[attr-defined]

    def input_example(self) -> Any:
        """The stored input example as model input, or None."""
        if self.metadata.input_example is None:
            return None
        raw = (self.folder / self.metadata.input_example).read_bytes()
        return InputExample.from_json_bytes(raw).as_model_input(self.metadata.signature)

    def example_predictions(self) -> Any:
        """The predictions recorded on the input example when the model was saved, or None."""
        if self.metadata.example_predictions is None:
            return None
        return json.loads((self.folder / self.metadata.example_predictions).read_text())


def load_model_dir(
    path: str | os.PathLike[str],
    *,
    trust: TrustDecision | None = None,
    on_trust: Callable[[dict[str, Any]], None] | None = None,
) -> LoadedModel:
    """Load a saved model folder.

    Without ``trust``, a model whose loading would run code — an unsafe pickle, an untrusted
    skops type, a Python model's packaged code — is refused with ``UnsafeModelFile`` listing
    what it would import or run. With ``trust``, ``on_trust`` receives the scan record before
    the model loads (audit it there; if it raises, nothing loads).
    """
    folder = Path(path)
    metadata = read_metadata(folder)
    flavor = get_flavor(metadata.flavor)
    scan, predictor = _scan(folder, metadata, flavor)
    if predictor is not None:
        return LoadedModel(metadata, predictor, folder)
    if scan["status"] != "clean":
        if trust is None:
            raise UnsafeModelFile(
                f"loading this model would run code it carries ({', '.join(scan['globals'][:8])}"
                f"{'...' if len(scan['globals']) > 8 else ''}): review it, then load it with an "
                "explicit trust decision",
                details={"globals": scan["globals"], "files": scan["files"]},
            )
        if on_trust is not None:
            on_trust({**scan, "reason": trust.reason, "actor": trust.actor_name})
    predictor = flavor.load(folder, metadata.flavor_config, trust=trust is not None)
    return LoadedModel(metadata, predictor, folder)
