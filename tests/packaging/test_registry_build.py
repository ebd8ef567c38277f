"""Signing keys in the home folder, trusted keys in the database, and packages built from
registered model versions."""

from __future__ import annotations

import stat
import tarfile
from pathlib import Path

import pytest
import yaml

from mlsteward.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from mlsteward.packaging import ProblemKind
from mlsteward.packaging._keystore import (
    create_signing_key,
    list_signing_keys,
    load_signing_key,
    public_key_pem,
    signing_key_path,
)
from mlsteward.packaging._registry_build import build_version_package
from mlsteward.packaging._trust import (
    list_trusted_keys,
    trust_signing_key,
    untrust_signing_key,
    verify_package_file,
)
from mlsteward.platform import Platform
from mlsteward.registry import (
    ModelFile,
    ModelVersion,
    get_model_version,
    register_model_version,
    set_alias,
)
from mlsteward.security import Actor, Role, add_member, authenticate_password, create_user

from ._support import regular, rewrite


def _register(
    platform: Platform, actor: Actor, files: dict[str, bytes], flavor: str = "python"
) -> ModelVersion:
    model_files = []
    for path, data in files.items():
        blob = platform.blobs.put_bytes(data)
        model_files.append(ModelFile(path, blob.address, blob.size))
    return register_model_version(
        platform,
        actor,
        "default",
        "fraud",
        source_uri="runs:/abc/model",
        flavor=flavor,
        files=model_files,
        signature={"inputs": [{"name": "amount", "type": "double"}]},
    )


def _saved_model_files(tmp_path: Path) -> dict[str, bytes]:
    """The files of a real saved model (scikit-learn, with an input example)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from mlsteward.models._model_dir import save_model

    frame = load_iris(as_frame=True).frame
    x = frame.drop(columns="target")
    model = LogisticRegression(max_iter=300).fit(x, frame["target"])
    folder = tmp_path / "saved"
    save_model(model, folder, input_example=x.head(3))
    return {
        f.relative_to(folder).as_posix(): f.read_bytes()
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


@pytest.fixture
def version(platform: Platform, admin: Actor, tmp_path: Path) -> ModelVersion:
    registered = _register(platform, admin, _saved_model_files(tmp_path), flavor="sklearn")
    set_alias(platform, admin, "default", "fraud", "production", registered.version)
    return registered


def _pem(platform: Platform, name: str) -> bytes:
    return public_key_pem(platform.settings.home, name)


# -- local keys -------------------------------------------------------------------------------


def test_generated_key_is_private_and_loadable(home: Path) -> None:
    local, key = create_signing_key(home, "release")
    assert local.path == home / "signing-keys" / "release.pem"
    assert stat.S_IMODE(local.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(local.path.parent.stat().st_mode) == 0o700
    assert load_signing_key(home, "release").public_key() == key.public_key()
    assert [k.name for k in list_signing_keys(home)] == ["release"]


def test_existing_key_is_never_replaced(home: Path) -> None:
    create_signing_key(home, "release")
    before = signing_key_path(home, "release").read_bytes()
    with pytest.raises(AlreadyExists, match="release"):
        create_signing_key(home, "release")
    assert signing_key_path(home, "release").read_bytes() == before


def test_password_protected_key(home: Path) -> None:
    local, _ = create_signing_key(home, "secret", password=b"hunter22")
    assert local.encrypted
    assert b"ENCRYPTED" in local.path.read_bytes()
    with pytest.raises(InvalidArgument, match="password"):
        load_signing_key(home, "secret")
    with pytest.raises(InvalidArgument):
        load_signing_key(home, "secret", password=b"wrong")
    assert load_signing_key(home, "secret", password=b"hunter22") is not None
    [listed] = list_signing_keys(home)
    assert listed.key_id is None
    assert listed.encrypted


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", "x" * 65, "a..b", "é"])
def test_hostile_key_names_are_refused(home: Path, name: str) -> None:
    with pytest.raises(InvalidArgument, match="not a key name"):
        create_signing_key(home, name)
    assert not (home / "signing-keys").exists() or not any((home / "signing-keys").iterdir())


def test_missing_key_names_the_command(home: Path) -> None:
    with pytest.raises(NotFound, match="keys signing generate nope"):
        load_signing_key(home, "nope")


def test_key_readable_by_others_is_refused(home: Path) -> None:
    local, _ = create_signing_key(home, "loose")
    local.path.chmod(0o644)
    with pytest.raises(InvalidArgument, match="chmod 600"):
        load_signing_key(home, "loose")


# -- trusted keys -----------------------------------------------------------------------------


def test_trust_and_untrust_are_audited(platform: Platform, admin: Actor) -> None:
    create_signing_key(platform.settings.home, "release")
    before = platform.audit.count(platform.db)
    trusted = trust_signing_key(platform, admin, _pem(platform, "release"), name="release")
    assert [k.key_id for k in list_trusted_keys(platform, admin)] == [trusted.key_id]
    untrust_signing_key(platform, admin, trusted.key_id)
    assert list_trusted_keys(platform, admin) == []
    assert platform.audit.count(platform.db) == before + 2


def test_trusting_twice_or_under_a_taken_name_fails(platform: Platform, admin: Actor) -> None:
    home = platform.settings.home
    create_signing_key(home, "a")
    create_signing_key(home, "b")
    trust_signing_key(platform, admin, _pem(platform, "a"), name="a")
    with pytest.raises(AlreadyExists, match="trusted already"):
        trust_signing_key(platform, admin, _pem(platform, "a"), name="other")
    with pytest.raises(AlreadyExists, match="'a'"):
        trust_signing_key(platform, admin, _pem(platform, "b"), name="a")
    assert len(list_trusted_keys(platform, admin)) == 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a key",
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        b"x" * 5000,
    ],
)
def test_malformed_public_keys_are_refused(platform: Platform, admin: Actor, data: bytes) -> None:
    with pytest.raises(InvalidArgument):
        trust_signing_key(platform, admin, data, name="bad")
    assert list_trusted_keys(platform, admin) == []


def test_only_administrators_manage_trust(platform: Platform, admin: Actor) -> None:
    create_user(platform, admin, "eve", "eve-password-123")
    eve = authenticate_password(platform, "eve", "eve-password-123")
    create_signing_key(platform.settings.home, "eve")
    with pytest.raises(PermissionDenied, match="administrator"):
        trust_signing_key(platform, eve, _pem(platform, "eve"), name="eve")
    assert list_trusted_keys(platform, admin) == []


@pytest.mark.parametrize("key_id", ["", "zz", "A" * 32, "0" * 31])
def test_untrust_needs_a_valid_known_id(platform: Platform, admin: Actor, key_id: str) -> None:
    with pytest.raises(InvalidArgument, match="not a key id"):
        untrust_signing_key(platform, admin, key_id)
    with pytest.raises(NotFound, match="not trusted"):
        untrust_signing_key(platform, admin, "0" * 32)


# -- building from the registry ---------------------------------------------------------------


def test_build_from_alias_records_a_verified_package(
    platform: Platform, admin: Actor, version: object, tmp_path: Path
) -> None:
    create_signing_key(platform.settings.home, "release")
    trust_signing_key(platform, admin, _pem(platform, "release"), name="release")
    output = tmp_path / "fraud.mlsb"
    info = build_version_package(
        platform, admin, "default", "models:/fraud@production", output, key_name="release"
    )
    assert sorted(f.path for f in info.files) == [
        "mlsteward.yaml",
        "model/example_predictions.json",
        "model/input_example.json",
        "model/mlsteward.yaml",
        "model/model.skops",
        "requirements.lock",
    ]
    assert any(r.startswith("scikit-learn==") for r in info.requirements)
    metadata = info.metadata
    assert metadata["flavor"] == "sklearn"
    assert metadata["flavor_config"]["format"] == "skops"
    assert metadata["model"]["uri"] == "models:/fraud/1"
    assert metadata["model"]["requested_uri"] == "models:/fraud@production"
    assert metadata["input_example"] == "model/input_example.json"
    assert metadata["predictions"] == "model/example_predictions.json"
    assert metadata["source"] == {"run_id": None, "uri": "runs:/abc/model"}
    assert metadata["signature"] == {"inputs": [{"name": "amount", "type": "double"}]}
    with tarfile.open(output) as tar:
        document = yaml.safe_load(tar.extractfile("mlsteward.yaml").read())  # type: ignore[union-attr]
    assert document["type"] == "mlsteward.package"
    assert document["schema_version"] == 1
    recorded = get_model_version(platform, admin, "default", "fraud", 1).package
    assert recorded is not None
    assert recorded["verified"] is True
    assert recorded["key_id"] == info.key_id
    assert platform.blobs.get_bytes(recorded["address"]) == output.read_bytes()
    assert verify_package_file(platform, output).ok


def test_untrusted_key_builds_an_unverified_package(
    platform: Platform, admin: Actor, version: object, tmp_path: Path
) -> None:
    create_signing_key(platform.settings.home, "mine")
    output = tmp_path / "fraud.mlsb"
    build_version_package(platform, admin, "default", "models:/fraud/1", output, key_name="mine")
    recorded = get_model_version(platform, admin, "default", "fraud", 1).package
    assert recorded is not None
    assert recorded["verified"] is False
    report = verify_package_file(platform, output)
    assert [p.kind for p in report.problems] == ["untrusted_key"]


def test_verify_finds_changed_added_and_missing_files(
    platform: Platform, admin: Actor, version: object, tmp_path: Path
) -> None:
    create_signing_key(platform.settings.home, "release")
    trust_signing_key(platform, admin, _pem(platform, "release"), name="release")
    output = tmp_path / "fraud.mlsb"
    build_version_package(platform, admin, "default", "models:/fraud/1", output, key_name="release")

    def tamper(members):  # type: ignore[no-untyped-def]
        kept = [m for m in members if m[0].name != "model/input_example.json"]
        changed = [
            regular(info.name, b"evil") if info.name == "model/model.skops" else (info, data)
            for info, data in kept
        ]
        return [*changed, regular("model/extra.bin", b"x")]

    rewrite(output, tamper)
    report = verify_package_file(platform, output)
    assert report.paths(ProblemKind.CHANGED) == ["model/model.skops"]
    assert report.paths(ProblemKind.MISSING) == ["model/input_example.json"]
    assert report.paths(ProblemKind.ADDED) == ["model/extra.bin"]


@pytest.mark.parametrize(
    ("uri", "error", "message"),
    [
        ("fraud", InvalidArgument, "not a model URI"),
        ("models:/fraud@staging", NotFound, "no alias @staging"),
        ("models:/fraud/9", NotFound, "no version 9"),
        ("models:/ghost/1", NotFound, "ghost"),
    ],
)
def test_bad_uris_write_nothing(
    platform: Platform,
    admin: Actor,
    version: object,
    tmp_path: Path,
    uri: str,
    error: type[Exception],
    message: str,
) -> None:
    create_signing_key(platform.settings.home, "release")
    output = tmp_path / "out.mlsb"
    with pytest.raises(error, match=message):
        build_version_package(platform, admin, "default", uri, output, key_name="release")
    assert not output.exists()


def test_unknown_key_and_unknown_flavor_write_nothing(
    platform: Platform, admin: Actor, version: object, tmp_path: Path
) -> None:
    output = tmp_path / "out.mlsb"
    with pytest.raises(NotFound, match="keys signing generate nope"):
        build_version_package(
            platform, admin, "default", "models:/fraud/1", output, key_name="nope"
        )
    _register(platform, admin, {"m.bin": b"m"}, flavor="caffe")
    create_signing_key(platform.settings.home, "release")
    with pytest.raises(InvalidArgument, match="unknown model flavor 'caffe'"):
        build_version_package(
            platform, admin, "default", "models:/fraud/2", output, key_name="release"
        )
    assert not output.exists()
    assert get_model_version(platform, admin, "default", "fraud", 2).package is None


def test_a_flavor_config_of_another_flavor_is_refused(
    platform: Platform, admin: Actor, tmp_path: Path
) -> None:
    _register(platform, admin, _saved_model_files(tmp_path), flavor="python")
    create_signing_key(platform.settings.home, "release")
    with pytest.raises(InvalidArgument, match="describes a 'sklearn' model, not 'python'"):
        build_version_package(
            platform, admin, "default", "models:/fraud/1", tmp_path / "o.mlsb", key_name="release"
        )


def test_editors_cannot_record_packages(
    platform: Platform, admin: Actor, version: object, tmp_path: Path
) -> None:
    create_user(platform, admin, "ed", "ed-password-1234")
    add_member(platform, admin, "default", "ed", Role.EDITOR)
    editor = authenticate_password(platform, "ed", "ed-password-1234")
    create_signing_key(platform.settings.home, "release")
    output = tmp_path / "out.mlsb"
    with pytest.raises(PermissionDenied, match="maintainer"):
        build_version_package(
            platform, editor, "default", "models:/fraud/1", output, key_name="release"
        )
    assert not output.exists()
