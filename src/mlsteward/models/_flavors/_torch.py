"""PyTorch modules: weights in safetensors, architecture as an import path plus JSON kwargs.

Nothing is unpickled: the weights file holds tensors only, and the architecture is rebuilt by
importing ``module:Class`` from the environment and calling it with the recorded keyword
arguments. So a model's class must be importable (defined at the top level of an installed or
importable module, not in ``__main__`` or inside a function) and built from JSON kwargs alone.
Loading checks that the named class is a ``torch.nn.Module`` subclass before calling it.
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
    import_path_of,
    json_kwargs,
    mro_roots,
    new_config,
    only_file,
    pinned_requirements,
    resolve_file,
    resolve_import_path,
    wrap_load_error,
)

__all__ = ["TorchFlavor"]

_WEIGHTS_FILE = "model.safetensors"


class _ModulePredictor:
    """A module in eval mode: NumPy in, NumPy out, no gradients."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def predict(self, data: Any) -> Any:
        import numpy
        import torch

        array = numpy.asarray(data)
        if array.dtype.kind == "f":
            param = next(iter(self.module.parameters()), None)
            dtype = param.dtype if param is not None else torch.float32
            tensor = torch.tensor(array).to(dtype)
        else:
            tensor = torch.tensor(array)
        with torch.no_grad():
            output = self.module(tensor)
        if not isinstance(output, torch.Tensor):
            raise InvalidArgument(
                f"{type(self.module).__name__} returned {type(output).__name__}; the torch "
                "flavor predicts with modules whose forward returns one tensor",
            )
        return output.detach().cpu().numpy()


class TorchFlavor:
    """``torch.nn.Module`` subclasses as ``model.safetensors`` plus their import path."""

    name = "torch"
    extra = "torch"
    executes_code = False

    def handles(self, model: object) -> bool:
        return ("torch", "Module") in mro_roots(model)

    def save(self, model: object, directory: Path, **options: Any) -> FlavorConfig:
        """Options: ``init_kwargs``, the JSON keyword arguments that rebuild the module."""
        check_options(self.name, directory, options, ["init_kwargs"])
        if not self.handles(model):
            raise InvalidArgument(f"the torch flavor saves torch.nn.Module, not {type(model)}")
        init_kwargs = json_kwargs(options.get("init_kwargs"), "torch init_kwargs")
        class_path = import_path_of(type(model))
        if resolve_import_path(class_path) is not type(model):
            raise InvalidArgument(f"{class_path} does not import as the model's own class")
        torch = import_extra("torch", self.extra)
        st = import_extra("safetensors.torch", self.extra)
        path = directory / _WEIGHTS_FILE
        # save_model (not save_file) drops the duplicates of tied weights, which save_file
        # refuses, and load_model restores them.
        try:
            st.save_model(model, str(path))
        except Exception as exc:
            path.unlink(missing_ok=True)
            raise InvalidArgument(f"safetensors cannot store this module's state: {exc}") from exc
        config = new_config(self.name, "safetensors", [_WEIGHTS_FILE], str(torch.__version__))
        config["class_path"] = class_path
        config["init_kwargs"] = init_kwargs
        return config

    def load(self, directory: Path, config: FlavorConfig, *, trust: bool = False) -> Predictor:
        check_config(config, self.name, ["safetensors"])
        init_kwargs = config.get("init_kwargs", {})
        if not isinstance(init_kwargs, Mapping):
            raise InvalidArgument("init_kwargs in the torch flavor config must be an object")
        path = resolve_file(directory, only_file(config))
        torch = import_extra("torch", self.extra)
        st = import_extra("safetensors.torch", self.extra)
        cls = resolve_import_path(config.get("class_path"))
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
            raise InvalidArgument(
                f"{config.get('class_path')} is not a torch.nn.Module subclass; refusing to "
                "call it",
            )
        try:
            module = cls(**init_kwargs)
        except Exception as exc:
            raise InvalidArgument(
                f"{config['class_path']}(**init_kwargs) failed: {exc}",
            ) from exc
        try:
            st.load_model(module, str(path), strict=True, device="cpu")
        except Exception as exc:
            raise wrap_load_error(exc, path, self.name) from exc
        module.eval()
        return _ModulePredictor(module)

    def requirements(self) -> list[str]:
        return pinned_requirements(["torch", "safetensors"], self.extra)
