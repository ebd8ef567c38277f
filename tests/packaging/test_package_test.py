"""``package test`` on real packages built from the registry: a real scikit-learn model, a
real fresh virtual environment, real pip with ``--no-index`` (PyPI is never contacted)."""

from __future__ import annotations

import json
import os
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mlsteward.errors import IntegrityError, InvalidArgument, NotFound
from mlsteward.packaging._keystore import create_signing_key
from mlsteward.packaging._package_check import lock_mismatches
from mlsteward.packaging._package_test import provide_site_packages, run_package_test
from mlsteward.packaging._registry_build import build_version_package
from mlsteward.packaging._signing import public_key_id
from mlsteward.platform import Platform
from mlsteward.registry import ModelFile, register_model_version
from mlsteward.security import Actor

from ._support import listing

# The site-packages of the interpreter running the tests: it holds the pinned scikit-learn.
BASE = Path(sysconfig.get_path("purelib"))

Edit = Callable[[dict[str, bytes]], None]
Trusted = dict[str, Ed25519PublicKey]


@pytest.fixture(autouse=True)
def _never_download(monkeypatch: pytest.MonkeyPatch) -> None:
    # pip reads PIP_* from the environment the code passes on: no index whatever the code
    # does, and no machine-wide pip configuration (find-links, mirrors) to satisfy a pin.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)


def _saved_model_files(folder: Path) -> dict[str, bytes]:
    """The files of a real saved scikit-learn model with an input example."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from mlsteward.models._model_dir import save_model

    frame = load_iris(as_frame=True).frame
    x = frame.drop(columns="target")
    model = LogisticRegression(max_iter=300).fit(x, frame["target"])
    save_model(model, folder, input_example=x.iloc[[0, 60, 120]])
    return {f.relative_to(folder).as_posix(): f.read_bytes() for f in folder.rglob("*")}


@pytest.fixture
def build(platform: Platform, admin: Actor, tmp_path: Path) -> Callable[[Edit | None], Path]:
    """Register a real saved model (its files changed by ``edit`` first) and package it."""
    create_signing_key(platform.settings.home, "release")

    def build(edit: Edit | None = None) -> Path:
        files = _saved_model_files(tmp_path / "saved")
        if edit is not None:
            edit(files)
        model_files = []
        for name, data in files.items():
            blob = platform.blobs.put_bytes(data)
            model_files.append(ModelFile(name, blob.address, blob.size))
        version = register_model_version(
            platform,
            admin,
            "default",
            "iris",
            source_uri="runs:/r/model",
            flavor="sklearn",
            files=model_files,
        )
        output = tmp_path / "iris.mlsb"
        build_version_package(
            platform,
            admin,
            "default",
            f"models:/iris/{version.version}",
            output,
            key_name="release",
        )
        return output

    return build


@pytest.fixture
def trusted(platform: Platform) -> Trusted:
    from mlsteward.packaging._keystore import load_signing_key

    public = load_signing_key(platform.settings.home, "release").public_key()
    return {public_key_id(public): public}


def _edit_predictions(files: dict[str, bytes]) -> None:
    recorded = json.loads(files["example_predictions.json"])
    assert recorded == [0, 1, 2]  # one iris of each class: a real, checkable prediction
    files["example_predictions.json"] = json.dumps([2, 1, 0]).encode()


def _pin(pins: dict[str, str]) -> Edit:
    def edit(files: dict[str, bytes]) -> None:
        saved = yaml.safe_load(files["mlsteward.yaml"])
        saved["requirements"] = [
            f"{r.split('==')[0]}=={pins.get(r.split('==')[0], r.split('==')[1])}"
            for r in saved["requirements"]
        ] + [f"{n}=={v}" for n, v in pins.items() if n not in str(saved["requirements"])]
        files["mlsteward.yaml"] = yaml.safe_dump(saved).encode()

    return edit


@pytest.mark.slow
def test_a_real_model_predicts_as_recorded_in_a_fresh_environment(
    build: Callable[[Edit | None], Path], trusted: Trusted, tmp_path: Path
) -> None:
    package = build(None)
    started = time.monotonic()
    result = run_package_test(
        package,
        trusted_keys=trusted,
        base_site_packages=BASE,
        work_dir=tmp_path,
    )
    print(f"package test: {time.monotonic() - started:.1f} s")
    assert result.status == "predictions_match"
    assert any(r.startswith("scikit-learn==") for r in result.requirements)
    assert listing(tmp_path) >= {"iris.mlsb"}
    assert not any(p.startswith("mlsteward-package-test-") for p in listing(tmp_path))


@pytest.mark.slow
def test_predictions_edited_after_training_are_a_mismatch(
    build: Callable[[Edit | None], Path], trusted: Trusted
) -> None:
    package = build(_edit_predictions)
    with pytest.raises(IntegrityError, match="differ from the recorded ones") as raised:
        run_package_test(package, trusted_keys=trusted, base_site_packages=BASE)
    assert raised.value.details["status"] == "mismatch"


@pytest.mark.slow
def test_pins_the_environment_does_not_hold_are_all_listed(
    build: Callable[[Edit | None], Path], trusted: Trusted
) -> None:
    import numpy

    package = build(_pin({"scikit-learn": "0.0.1", "numpy": "0.0.2"}))
    with pytest.raises(IntegrityError, match="does not hold 2 pinned") as raised:
        run_package_test(package, trusted_keys=trusted, base_site_packages=BASE)
    import sklearn

    assert raised.value.details["status"] == "lock_mismatch"
    assert raised.value.details["mismatches"] == [
        f"scikit-learn==0.0.1: the environment has scikit-learn {sklearn.__version__}",
        f"numpy==0.0.2: the environment has numpy {numpy.__version__}",
    ]


@pytest.mark.slow
def test_pip_offline_without_the_wheels_names_the_missing_pin(
    build: Callable[[Edit | None], Path], trusted: Trusted, tmp_path: Path
) -> None:
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    package = build(None)
    with pytest.raises(IntegrityError, match="installing the requirements lock failed") as raised:
        run_package_test(
            package,
            trusted_keys=trusted,
            pip_args=["--no-index", "--find-links", str(wheelhouse)],
        )
    assert "No matching distribution found for" in str(raised.value)


def test_a_missing_base_folder_fails_before_anything_is_made(
    build: Callable[[Edit | None], Path], trusted: Trusted, tmp_path: Path
) -> None:
    package = build(None)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(NotFound, match="does not exist"):
        run_package_test(
            package,
            trusted_keys=trusted,
            base_site_packages=tmp_path / "nowhere",
            work_dir=work,
        )
    assert listing(work) == set()


def test_a_base_path_with_a_line_break_is_refused(tmp_path: Path) -> None:
    hostile = tmp_path / "a\nimport os"
    hostile.mkdir()
    with pytest.raises(InvalidArgument, match="line breaks"):
        provide_site_packages(Path(sys.executable), hostile)


@pytest.mark.parametrize("args", [["-r", "other.txt"], ["--requirement", "x"], [1]])
def test_pip_arguments_that_name_another_lock_are_refused(
    args: list[object], tmp_path: Path
) -> None:
    with pytest.raises(InvalidArgument, match="must not name another lock"):
        run_package_test(tmp_path / "x.mlsb", trusted_keys={}, pip_args=args)  # type: ignore[arg-type]


# -- the lock check alone ---------------------------------------------------------------------

INSTALLED = {"scikit-learn": "1.5.0", "numpy": "2.1.0"}


def _installed(name: str) -> str | None:
    return INSTALLED.get(name.lower().replace("_", "-"))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("scikit-learn==1.5.0", None),
        ("scikit-learn==1.5", None),  # PEP 440: 1.5 == 1.5.0
        ("scikit_learn[extra]===1.5.0 --hash=sha256:" + "0" * 64, None),
        ("numpy==2.1.0 ; python_version < '3'", None),  # marker false here: not checked
        ("numpy==2.0.0 ; python_version >= '3'", "the environment has numpy 2.1.0"),
        ("scikit-learn==0.0.1", "the environment has scikit-learn 1.5.0"),
        ("skops==0.10.0", "not installed"),
        ("numpy>=2", "not an exact pin"),
        ("", "not an exact pin"),
    ],
)
def test_lock_lines_against_the_installed_versions(line: str, problem: str | None) -> None:
    found = lock_mismatches([line], _installed)
    assert found == ([] if problem is None else [f"{line}: {problem}"])
