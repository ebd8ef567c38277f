"""Opcode-level pickle scanning: hostile pickles are reported and never run; benign ones load."""

from __future__ import annotations

import collections
import io
import pickle
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mlsteward.errors import InvalidArgument, NotFound, UnsafeModelFile
from mlsteward.models._pickle_scan import (
    DEFAULT_ALLOW_LIST,
    AllowList,
    PickleScan,
    TrustDecision,
    load_pickle,
    scan_file,
    scan_pickle,
)

from .hostile_pickles import PROTOCOLS, RUNNER, Call, Hostile, corpus

CORPUS = corpus()


class Point:
    """A user's own class: unknown to the default allow-list."""

    def __init__(self, x: float, y: float) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


POINT = f"{Point.__module__}.{Point.__qualname__}"


def _canary(tmp_path: Path) -> Path:
    return tmp_path / "CANARY"


def _settle(canary: Path) -> bool:
    """Whether the canary exists, after giving a stray child process a moment."""
    for _ in range(10):
        if canary.exists():
            return True
        time.sleep(0.02)
    return False


# --- hostile corpus -------------------------------------------------------------------------


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_hostile_pickle_is_reported_refused_and_never_runs(case: Hostile, tmp_path: Path) -> None:
    canary = _canary(tmp_path)
    path = case.write(tmp_path, canary)

    scan = scan_file(path)
    assert set(scan.unsafe) == case.unsafe
    assert set(scan.unsafe) <= set(scan.globals)
    assert not scan.is_safe

    if not case.zipped:
        assert scan_pickle(path) == scan
        with pytest.raises(UnsafeModelFile) as raised:
            load_pickle(path)
        assert raised.value.details["globals"] == sorted(case.unsafe)
        assert raised.value.details["file"] == path.name
        assert "TrustDecision" in raised.value.message
        with pytest.raises(UnsafeModelFile):
            load_pickle(path.read_bytes())
    assert not _settle(canary)


@pytest.mark.parametrize(
    "case", [c for c in CORPUS if c.live], ids=[c.id for c in CORPUS if c.live]
)
def test_hostile_payload_is_live_when_unpickled_naively(case: Hostile, tmp_path: Path) -> None:
    """The corpus is real: plain ``pickle.load`` in a child process creates the canary."""
    canary = _canary(tmp_path)
    path = case.write(tmp_path, canary)
    subprocess.run(
        [sys.executable, "-c", RUNNER, str(path), "1" if case.zipped else "0"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert _settle(canary)


def test_scanning_never_imports_the_named_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importing a module runs its code; a refused pickle must not even import it."""
    canary = _canary(tmp_path)
    module = "mls_import_canary"
    (tmp_path / f"{module}.py").write_text(
        f"open({str(canary)!r}, 'w').close()\nclass Thing:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    data = b"c" + f"{module}\nThing\n".encode() + b")\x81."  # GLOBAL, EMPTY_TUPLE, NEWOBJ
    assert scan_pickle(data).unsafe == (f"{module}.Thing",)
    with pytest.raises(UnsafeModelFile):
        load_pickle(data)
    assert module not in sys.modules
    assert not canary.exists()


# --- benign pickles -------------------------------------------------------------------------


def _benign_objects() -> dict[str, Any]:
    import numpy as np
    import scipy.sparse

    return {
        "dict": {"a": [1, 2.5, "x"], "b": (None, True, b"raw")},
        "collections": collections.OrderedDict(
            a={1, 2}, b=frozenset({3}), c=1j, d=bytearray(b"xy"), e=range(3), f=slice(1, 2)
        ),
        "float-array": np.arange(12, dtype=np.float64).reshape(3, 4),
        "int-array-noncontiguous": np.arange(20, dtype=np.int32).reshape(4, 5)[:, ::2],
        "numpy-scalar": np.float32(2.5),
        "csr-matrix": scipy.sparse.csr_matrix(np.eye(3)),
        "random-state": np.random.RandomState(7),
    }


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=[f"p{p}" for p in PROTOCOLS])
@pytest.mark.parametrize("kind", list(_benign_objects()))
def test_benign_pickle_scans_safe_and_loads(kind: str, protocol: int) -> None:
    obj = _benign_objects()[kind]
    data = pickle.dumps(obj, protocol=protocol)
    scan = scan_pickle(data)
    assert scan.is_safe, scan.unsafe
    assert scan.protocol == protocol
    loaded = load_pickle(data)
    assert pickle.dumps(loaded) == pickle.dumps(pickle.loads(data))  # the same as a plain load


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=[f"p{p}" for p in PROTOCOLS])
def test_fitted_sklearn_models_scan_safe_and_predict_the_same(
    protocol: int, tmp_path: Path
) -> None:
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 4))
    labels = (features[:, 0] + features[:, 1] > 0).astype(int)
    models = [
        LogisticRegression().fit(features, labels),
        make_pipeline(StandardScaler(), LogisticRegression()).fit(features, labels),
        RandomForestClassifier(n_estimators=3, random_state=0).fit(features, labels),
    ]
    for index, model in enumerate(models):
        path = tmp_path / f"model{index}.pkl"
        path.write_bytes(pickle.dumps(model, protocol=protocol))
        scan = scan_file(path)
        assert scan.is_safe, scan.unsafe
        assert any(name.startswith("sklearn.") for name in scan.globals)
        loaded = load_pickle(path)
        assert (loaded.predict(features) == model.predict(features)).all()


def test_users_own_class_needs_an_allow_list_entry() -> None:
    data = pickle.dumps([Point(1, 2)], protocol=4)
    assert scan_pickle(data).unsafe == (POINT,)
    with pytest.raises(UnsafeModelFile) as raised:
        load_pickle(data)
    assert raised.value.details["globals"] == [POINT]
    assert "file" not in raised.value.details

    mine = DEFAULT_ALLOW_LIST.extend(names=[POINT])
    assert scan_pickle(data, allowed=mine).is_safe
    assert load_pickle(data, allowed=mine) == [Point(1, 2)]
    by_prefix = DEFAULT_ALLOW_LIST.extend(prefixes=[Point.__module__ + "."])
    assert load_pickle(data, allowed=by_prefix) == [Point(1, 2)]


# --- trust ----------------------------------------------------------------------------------


def _harmless_unsafe(canary: Path, tmp_path: Path) -> Path:
    path = tmp_path / "trusted.pkl"
    expression = f"open({str(canary)!r}, 'w').close()"
    path.write_bytes(pickle.dumps(Call(eval, expression), protocol=4))
    return path


def test_trust_decision_loads_unsafe_file_after_the_audit_hook(tmp_path: Path) -> None:
    canary = _canary(tmp_path)
    path = _harmless_unsafe(canary, tmp_path)
    seen: list[tuple[PickleScan, bool]] = []

    def audit(scan: PickleScan) -> None:
        seen.append((scan, canary.exists()))

    decision = TrustDecision(reason="built by our CI job", actor_name="alice")
    load_pickle(path, trust=decision, on_trust=audit)

    assert canary.exists()  # the trusted payload really ran
    assert len(seen) == 1
    scan, canary_existed_during_hook = seen[0]
    assert scan.unsafe == ("builtins.eval",)
    assert not canary_existed_during_hook


def test_trust_hook_that_raises_stops_the_load(tmp_path: Path) -> None:
    canary = _canary(tmp_path)
    path = _harmless_unsafe(canary, tmp_path)

    def failing_audit(scan: PickleScan) -> None:
        raise RuntimeError("audit store unavailable")

    with pytest.raises(RuntimeError, match="audit store unavailable"):
        load_pickle(path, trust=TrustDecision(reason="test"), on_trust=failing_audit)
    assert not _settle(canary)


def test_trust_hook_is_not_called_for_a_safe_file() -> None:
    calls: list[PickleScan] = []
    loaded = load_pickle(
        pickle.dumps({"a": 1}), trust=TrustDecision(reason="test"), on_trust=calls.append
    )
    assert loaded == {"a": 1}
    assert calls == []


def test_trust_decision_needs_a_reason() -> None:
    with pytest.raises(InvalidArgument, match="reason"):
        TrustDecision(reason="  ")


# --- malformed input ------------------------------------------------------------------------


def _truncated() -> bytes:
    return pickle.dumps({"weights": list(range(100))}, protocol=4)[:-7]


MALFORMED = {
    "empty": b"",
    "truncated": _truncated(),
    "garbage": b"\xff\xfe not a pickle",
    "benign-then-garbage": pickle.dumps([1, 2], protocol=2) + b"#!/bin/sh\n",
    "huge-declared-length": pickle.PROTO + b"\x04" + pickle.BINUNICODE8 + struct.pack("<Q", 2**62),
    "stack-underflow": pickle.PROTO + b"\x04" + pickle.STACK_GLOBAL + pickle.STOP,
    "get-before-put": pickle.PROTO + b"\x02" + pickle.BINGET + b"\x05" + pickle.STOP,
    "pop-mark-without-mark": pickle.PROTO + b"\x02" + pickle.POP_MARK + pickle.STOP,
    "global-without-newline": pickle.GLOBAL + b"os system",
}


@pytest.mark.parametrize("data", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_pickle_is_refused_even_with_trust(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafeModelFile, match="not a well-formed pickle") as raised:
        scan_file(path)
    assert raised.value.details["file"] == "model.pkl"
    assert raised.value.details["reason"]
    with pytest.raises(UnsafeModelFile, match="not a well-formed pickle") as raised:
        load_pickle(path, trust=TrustDecision(reason="test"))
    assert raised.value.details["file"] == "model.pkl"


def test_malformed_error_keeps_the_globals_seen_before_the_damage() -> None:
    data = pickle.dumps(Call(eval, "1"), protocol=2)[:-2]
    with pytest.raises(UnsafeModelFile) as raised:
        scan_pickle(data)
    assert raised.value.details["globals"] == ["builtins.eval"]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04" + b"\0" * 40,
        _zip({"archive/data.pkl": _truncated()}),
    ],
    ids=["corrupt-zip", "zip-with-truncated-member"],
)
def test_malformed_zip_is_refused(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(data)
    with pytest.raises(UnsafeModelFile, match="not a well-formed pickle"):
        scan_file(path)


# --- scan details ---------------------------------------------------------------------------


def test_zip_scans_every_pkl_member_and_ignores_raw_data(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(
        _zip(
            {
                "archive/data.pkl": pickle.dumps({"a": 1}, protocol=2),
                "archive/constants.pkl": pickle.dumps(Call(exec, "pass"), protocol=2),
                "archive/data/0": b"\x80\x04garbage that is not a pickle",
            }
        )
    )
    scan = scan_file(path)
    assert scan.unsafe == ("builtins.exec",)
    assert scan.protocol == 2


def test_zip_without_pickles_is_safe(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    path.write_bytes(_zip({"archive/data/0": b"\0" * 8}))
    assert scan_file(path) == PickleScan(globals=(), unsafe=(), protocol=None, opcodes=0)


def test_scan_reads_a_stream_from_its_position() -> None:
    stream = io.BytesIO(b"header" + pickle.dumps(Call(exec, "pass"), protocol=5))
    stream.seek(6)
    scan = scan_pickle(stream)
    assert scan.globals == ("builtins.exec",)
    assert scan.protocol == 5
    assert scan.opcodes > 0


def test_all_concatenated_pickles_are_scanned() -> None:
    data = b"".join(pickle.dumps(Call(f, "1"), protocol=p) for p, f in ((0, eval), (4, exec)))
    assert scan_pickle(data).unsafe == ("builtins.eval", "builtins.exec")


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        scan_file(tmp_path / "absent.pkl")
    with pytest.raises(NotFound):
        load_pickle(tmp_path / "absent.pkl")


def test_scanned_safe_pickle_that_cannot_load_is_invalid_argument() -> None:
    data = pickle.dumps(Point(1, 2), protocol=4).replace(b"Point", b"Pxint")
    allowed = DEFAULT_ALLOW_LIST.extend(names=[POINT.replace("Point", "Pxint")])
    with pytest.raises(InvalidArgument, match="could not be unpickled"):
        load_pickle(data, allowed=allowed)


def test_importing_the_scanner_imports_no_model_framework() -> None:
    code = (
        "import sys, mlsteward.models._pickle_scan\n"
        "loaded = {'numpy', 'sklearn', 'scipy', 'torch'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- allow-list -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("collections", "OrderedDict"),
        ("builtins", "frozenset"),
        ("copyreg", "_reconstructor"),
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        ("sklearn.tree._tree", "Tree"),
        ("scipy.sparse._csr", "csr_matrix"),
    ],
    ids=lambda value: value,
)
def test_default_allow_list_allows_model_data(module: str, name: str) -> None:
    assert DEFAULT_ALLOW_LIST.allows(module, name)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("builtins", "getattr"),
        ("builtins", "__import__"),
        ("builtins", "compile"),
        ("builtins", "open"),
        ("builtins", "globals"),
        ("builtins", "setattr"),
        ("builtins", "vars"),
        ("builtins", "input"),
        ("sklearn.utils._joblib", "load"),
        ("sklearn.utils", "_joblib"),
        ("sklearn.datasets", "fetch_openml"),
        ("sklearn.datasets", "dump_svmlight_file"),
        ("sklearn.base", "os"),
        ("sklearn", "base.np.save"),
        ("sklearn.linear_model", "__builtins__"),
        ("sklearn.evil", "Popen"),
        ("sklearn.evil", "check_output"),
        ("sklearn.evil", "_run"),
        ("scipy.sparse.linalg", "system"),
        ("sklearnx", "Estimator"),
        ("scipy", "integrate"),
    ],
    ids=lambda value: value,
)
def test_default_allow_list_refuses_dangerous_names(module: str, name: str) -> None:
    assert not DEFAULT_ALLOW_LIST.allows(module, name)


def test_deny_wins_over_an_explicit_entry() -> None:
    allowed = DEFAULT_ALLOW_LIST.extend(names=["builtins.eval", "posix.system"])
    assert not allowed.allows("builtins", "eval")
    assert not allowed.allows("posix", "system")


@pytest.mark.parametrize(
    "kwargs",
    [{"prefixes": ["sklearn"]}, {"prefixes": ["."]}, {"names": ["eval"]}],
    ids=["prefix-without-dot", "bare-dot", "name-without-module"],
)
def test_allow_list_rejects_malformed_entries(kwargs: dict[str, list[str]]) -> None:
    with pytest.raises(InvalidArgument):
        AllowList().extend(**kwargs)
