"""Model classes the flavor tests save: they live in an importable module because a saved
model's class must be importable where it is loaded."""

from __future__ import annotations

import itertools
from typing import Any

import numpy
import torch
from sklearn.base import BaseEstimator, TransformerMixin


class ClipTransformer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """A custom scikit-learn step: skops does not trust it unless told to."""

    def __init__(self, limit: float = 3.0) -> None:
        self.limit = limit

    def fit(self, X: Any, y: Any = None) -> ClipTransformer:
        self.n_features_in_ = numpy.asarray(X).shape[1]
        return self

    def transform(self, X: Any) -> Any:
        return numpy.clip(numpy.asarray(X), -self.limit, self.limit)


class TinyNet(torch.nn.Module):
    """A small classifier network built from JSON keyword arguments."""

    def __init__(self, n_in: int, hidden: list[int], n_out: int) -> None:
        super().__init__()
        sizes = [n_in, *hidden]
        layers: list[torch.nn.Module] = []
        for a, b in itertools.pairwise(sizes):
            layers += [torch.nn.Linear(a, b), torch.nn.BatchNorm1d(b), torch.nn.ReLU()]
        layers.append(torch.nn.Linear(sizes[-1], n_out))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


class TiedNet(torch.nn.Module):
    """An encoder and decoder sharing one weight matrix (tied weights)."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.encode = torch.nn.Linear(width, width, bias=False)
        self.decode = torch.nn.Linear(width, width, bias=False)
        self.decode.weight = self.encode.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.decode(torch.tanh(self.encode(x)))
        return out
