"""PyTorch modules as safetensors plus an import path and JSON kwargs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.datasets import load_iris

from mlsteward.errors import IntegrityError, InvalidArgument
from mlsteward.models._flavors import TorchFlavor, flavor_for
from tests.models._flavor_support import fresh_predictions, save_case
from tests.models.flavor_models import TiedNet, TinyNet

X, Y = load_iris(return_X_y=True)


def _trained_net() -> TinyNet:
    torch.manual_seed(0)
    net = TinyNet(n_in=4, hidden=[8, 8], n_out=3)
    optimiser = torch.optim.SGD(net.parameters(), lr=0.1)
    inputs, targets = torch.tensor(X, dtype=torch.float32), torch.tensor(Y)
    for _ in range(20):  # train a little so batch-norm buffers hold real statistics
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(inputs), targets)
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    return net.eval()


def _reference(net: torch.nn.Module, data: numpy.ndarray) -> numpy.ndarray:
    with torch.no_grad():
        out: numpy.ndarray = net(torch.tensor(data, dtype=torch.float32)).numpy()
    return out


def test_modules_round_trip_in_a_fresh_process(tmp_path: Path) -> None:
    net, tied = _trained_net(), TiedNet(width=4).eval()
    assert flavor_for(net).name == "torch"
    saved = save_case(
        "torch", net, tmp_path / "net", X, init_kwargs={"n_in": 4, "hidden": [8, 8], "n_out": 3}
    )
    assert saved.config["class_path"] == "tests.models.flavor_models:TinyNet"
    assert saved.config["format"] == "safetensors"
    save_case("torch", tied, tmp_path / "tied", X, init_kwargs={"width": 4})
    found_net, found_tied = fresh_predictions(tmp_path / "net", tmp_path / "tied")
    assert_allclose(found_net["predict"], _reference(net, X), rtol=1e-6)
    assert found_net["predict_proba"] is None
    assert_allclose(found_tied["predict"], _reference(tied, X), rtol=1e-6)


def test_weights_file_is_not_a_pickle(tmp_path: Path) -> None:
    TorchFlavor().save(TiedNet(), tmp_path, init_kwargs={"width": 4})
    raw = (tmp_path / "model.safetensors").read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    assert set(header) - {"__metadata__"} <= {"encode.weight", "decode.weight"}
    assert not raw.startswith(b"\x80")  # no pickle protocol marker


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": numpy.int64(4)}, "must be JSON"),
        ({"width": (4,)}, "lists, not tuples"),
        ({"width": float("nan")}, "must be JSON"),
        ({1: 4}, "string keys"),
    ],
)
def test_non_json_init_kwargs_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidArgument, match=message):
        TorchFlavor().save(TiedNet(), tmp_path, init_kwargs=kwargs)
    assert list(tmp_path.iterdir()) == []


def test_class_defined_in_a_function_is_refused(tmp_path: Path) -> None:
    class Local(torch.nn.Module):
        pass

    with pytest.raises(InvalidArgument, match="must be importable"):
        TorchFlavor().save(Local(), tmp_path)


def test_a_class_path_that_is_not_a_module_is_never_called(tmp_path: Path) -> None:
    config = TorchFlavor().save(TiedNet(), tmp_path, init_kwargs={"width": 4})
    hostile = {**config, "class_path": "subprocess:run", "init_kwargs": {"args": ["true"]}}
    with pytest.raises(InvalidArgument, match=r"not a torch\.nn\.Module subclass"):
        TorchFlavor().load(tmp_path, hostile)
    with pytest.raises(InvalidArgument, match="not of the form"):
        TorchFlavor().load(tmp_path, {**config, "class_path": "os; rm -rf /"})


def test_mismatched_or_corrupt_weights_raise_integrity_error(tmp_path: Path) -> None:
    config = TorchFlavor().save(TiedNet(), tmp_path, init_kwargs={"width": 4})
    with pytest.raises(IntegrityError, match=r"model\.safetensors"):
        TorchFlavor().load(tmp_path, {**config, "init_kwargs": {"width": 5}})
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    with pytest.raises(IntegrityError, match=r"'model\.safetensors'.*corrupt"):
        TorchFlavor().load(tmp_path, config)
