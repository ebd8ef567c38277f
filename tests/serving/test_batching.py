"""Adaptive batching: concurrent requests share model calls, fail alone, and are shed when the
queue is full."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlsteward.errors import InvalidArgument, SignatureViolation, Unavailable
from mlsteward.models._model_dir import load_model_dir
from mlsteward.serving import ServedModel
from mlsteward.serving._batching import Batcher

from ._support import iris_frame, save_iris_model


class _Counting:
    """Wraps a predictor: counts calls and rows, can hold calls until released, and raises
    on a poisoned row."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.poison: float | None = None

    def predict(self, frame: Any) -> Any:
        self.gate.wait(timeout=30)
        self.calls.append(len(frame))
        if self.poison is not None and (frame.iloc[:, 0] == self.poison).any():
            raise RuntimeError("poisoned row")
        return self.inner.predict(frame)


@pytest.fixture(scope="module")
def iris_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    folder = tmp_path_factory.mktemp("iris") / "model"
    return folder, save_iris_model(folder)


def _served(iris_dir: tuple[Path, Any]) -> tuple[ServedModel, _Counting]:
    loaded = load_model_dir(iris_dir[0])
    counting = _Counting(loaded.predictor)
    loaded.predictor = counting
    return ServedModel("iris", "1", loaded, "sklearn"), counting


def _rows() -> Any:
    x, _ = iris_frame()
    return x


def test_concurrent_requests_share_model_calls(iris_dir: tuple[Path, Any]) -> None:
    served, counting = _served(iris_dir)
    x = _rows()
    expected = iris_dir[1].predict(x)

    async def main() -> list[Any]:
        batcher = Batcher(served, threads=1)
        counting.gate.clear()  # the first call waits: the others queue behind it
        tasks = [asyncio.create_task(batcher.predict(x.iloc[[i]])) for i in range(100)]
        await asyncio.sleep(0.05)
        counting.gate.set()
        results = await asyncio.gather(*tasks)
        await batcher.close()
        return results

    results = asyncio.run(main())
    assert [r.tolist() for r in results] == [[v] for v in expected[:100].tolist()]
    assert sum(counting.calls) == 100
    assert len(counting.calls) < 10  # batched: far fewer calls than requests
    assert max(counting.calls) > 1


def test_a_request_that_does_not_fit_fails_alone(iris_dir: tuple[Path, Any]) -> None:
    served, counting = _served(iris_dir)
    x = _rows()

    async def main() -> list[Any]:
        batcher = Batcher(served, threads=1)
        counting.gate.clear()
        good = [asyncio.create_task(batcher.predict(x.iloc[[i]])) for i in range(5)]
        bad = asyncio.create_task(batcher.predict(x.iloc[[0]].drop(columns=x.columns[0])))
        text = x.iloc[[1]].astype(object)
        text.iloc[0, 0] = "not a number"
        worse = asyncio.create_task(batcher.predict(text))
        await asyncio.sleep(0.05)
        counting.gate.set()
        results = await asyncio.gather(*good, bad, worse, return_exceptions=True)
        await batcher.close()
        return results

    *good, bad, worse = asyncio.run(main())
    assert [r.tolist() for r in good] == [[v] for v in iris_dir[1].predict(x.head(5)).tolist()]
    assert isinstance(bad, SignatureViolation)
    assert isinstance(worse, SignatureViolation)


def test_a_request_that_makes_the_model_raise_fails_alone(iris_dir: tuple[Path, Any]) -> None:
    served, counting = _served(iris_dir)
    x = _rows()
    poisoned = x.iloc[[3]].copy()
    poisoned.iloc[0, 0] = 99.5
    counting.poison = 99.5

    async def main() -> list[Any]:
        batcher = Batcher(served, threads=1)
        counting.gate.clear()
        tasks = [asyncio.create_task(batcher.predict(x.iloc[[i]])) for i in range(4)]
        tasks.append(asyncio.create_task(batcher.predict(poisoned)))
        await asyncio.sleep(0.05)
        counting.gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await batcher.close()
        return results

    *good, failed = asyncio.run(main())
    assert [r.tolist() for r in good] == [[v] for v in iris_dir[1].predict(x.head(4)).tolist()]
    assert isinstance(failed, RuntimeError)


def test_a_full_queue_sheds_load_then_recovers(iris_dir: tuple[Path, Any]) -> None:
    served, counting = _served(iris_dir)
    x = _rows()

    async def main() -> tuple[list[Any], Any]:
        batcher = Batcher(served, threads=1, max_batch_rows=8, max_queue_rows=20)
        counting.gate.clear()
        first = asyncio.create_task(batcher.predict(x.iloc[[0]]))  # taken, held at the gate
        await asyncio.sleep(0.05)
        tasks = [asyncio.create_task(batcher.predict(x.iloc[[i]])) for i in range(40)]
        await asyncio.sleep(0.05)
        assert batcher.queued_rows == 20  # never more than the bound
        counting.gate.set()
        results = await asyncio.gather(first, *tasks, return_exceptions=True)
        after = await batcher.predict(x.iloc[[5]])
        await batcher.close()
        return results, after

    results, after = asyncio.run(main())
    shed = [r for r in results if isinstance(r, Unavailable)]
    served_ok = [r for r in results if isinstance(r, np.ndarray)]
    assert len(shed) == 20
    assert len(served_ok) == 21
    assert all(r.details["retry_after"] >= 1 for r in shed)
    assert after.tolist() == iris_dir[1].predict(x.iloc[[5]]).tolist()  # recovered


def test_a_lone_request_waits_for_nobody(iris_dir: tuple[Path, Any]) -> None:
    served, counting = _served(iris_dir)
    x = _rows()

    async def main() -> Any:
        batcher = Batcher(served)
        result = await batcher.predict(x.iloc[[7, 8]])
        await batcher.close()
        return result

    assert asyncio.run(main()).tolist() == iris_dir[1].predict(x.iloc[[7, 8]]).tolist()
    assert counting.calls == [2]
    with pytest.raises(InvalidArgument, match="at least 1"):
        Batcher(served, max_batch_rows=0)
