"""``mlsteward keys signing`` and ``mlsteward package``: build, verify, inspect, test and the
generated deployment files, with the failures a user meets."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import yaml

from mlsteward.registry import ModelFile, register_model_version, set_alias
from mlsteward.security import LOCAL_ADMIN

from .conftest import Cli

FLAVOR_CONFIG = {"schema_version": 1, "flavor": "python", "format": "x", "files": ["m.txt"]}


@pytest.fixture
def registered(cli: Cli) -> Cli:
    platform = cli.platform()
    try:
        files = []
        for path, data in {"m.txt": b"weights", "notes/readme.md": b"# fraud"}.items():
            blob = platform.blobs.put_bytes(data)
            files.append(ModelFile(path, blob.address, blob.size))
        register_model_version(
            platform,
            LOCAL_ADMIN,
            "default",
            "fraud",
            source_uri="runs:/r/model",
            flavor="python",
            files=files,
        )
        set_alias(platform, LOCAL_ADMIN, "default", "fraud", "production", 1)
    finally:
        platform.close()
    return cli


@pytest.fixture
def package(registered: Cli, tmp_path: Path) -> Path:
    registered.ok("keys", "signing", "generate", "release", "--trust")
    output = tmp_path / "fraud.mlsb"
    registered.ok(
        "package", "build", "models:/fraud@production", "-o", str(output), "--key", "release"
    )
    return output


# -- keys signing -----------------------------------------------------------------------------


def test_generate_list_export_trust_untrust(cli: Cli, tmp_path: Path) -> None:
    created = cli.json("keys", "signing", "generate", "ci")
    assert created["trusted"] is False
    assert (cli.home / "signing-keys" / "ci.pem").stat().st_mode & 0o777 == 0o600
    pem = cli.ok("keys", "signing", "export-public", "ci").stdout
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    public = tmp_path / "ci.pub.pem"
    public.write_text(pem)
    assert cli.json("keys", "signing", "list")["trusted"] == []
    before = cli.audit_count()
    trusted = cli.json("keys", "signing", "trust", str(public), "--name", "ci")
    assert trusted["key_id"] == created["key_id"]
    listing = cli.json("keys", "signing", "list")
    assert listing["local"][0]["trusted"] is True
    assert [k["name"] for k in listing["trusted"]] == ["ci"]
    cli.ok("keys", "signing", "untrust", created["key_id"])
    assert cli.json("keys", "signing", "list")["trusted"] == []
    assert cli.audit_count() == before + 2


def test_password_protected_key_from_the_environment(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSTEWARD_SIGNING_KEY_PASSWORD", "correct horse")
    assert cli.json("keys", "signing", "generate", "locked")["encrypted"] is True
    assert b"ENCRYPTED" in (cli.home / "signing-keys" / "locked.pem").read_bytes()
    monkeypatch.delenv("MLSTEWARD_SIGNING_KEY_PASSWORD")
    result = cli.fails("keys", "signing", "export-public", "locked")
    assert "password" in result.stderr


def test_key_command_failures(cli: Cli, tmp_path: Path) -> None:
    cli.ok("keys", "signing", "generate", "dup")
    assert "exists" in cli.fails("keys", "signing", "generate", "dup").stderr
    assert "not a key name" in cli.fails("keys", "signing", "generate", "../x").stderr
    assert (
        "does not exist"
        in cli.fails("keys", "signing", "trust", str(tmp_path / "no.pem"), "--name", "n").stderr
    )
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    assert (
        "cannot load the public key"
        in cli.fails("keys", "signing", "trust", str(junk), "--name", "j").stderr
    )
    assert "not a key id" in cli.fails("keys", "signing", "untrust", "xyz").stderr
    assert "not trusted" in cli.fails("keys", "signing", "untrust", "0" * 32).stderr
    assert (
        "keys signing generate nope" in cli.fails("keys", "signing", "export-public", "nope").stderr
    )


# -- build, verify, inspect -------------------------------------------------------------------


def test_build_verify_inspect(package: Path, registered: Cli) -> None:
    verified = registered.json("package", "verify", str(package))
    assert verified["ok"] is True
    assert verified["problems"] == []
    info = registered.json("package", "inspect", str(package))
    assert info["verified"] is False  # inspect never checks
    assert info["metadata"]["model"]["uri"] == "models:/fraud/1"
    assert {f["path"] for f in info["files"]} >= {"model/m.txt", "model/notes/readme.md"}
    assert "models:/fraud/1" in registered.ok("package", "inspect", str(package)).stdout


def test_verify_lists_every_problem_of_a_tampered_package(package: Path, registered: Cli) -> None:
    with tarfile.open(package) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(package, "w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in members:
            if member.name == "model/notes/readme.md":
                continue  # missing
            if member.name == "model/m.txt":
                data = b"tampered"
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
        extra = tarfile.TarInfo("model/backdoor.py")
        extra.size = 1
        tar.addfile(extra, io.BytesIO(b"x"))
    result = registered("package", "verify", str(package))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    for needle in (
        "changed: model/m.txt",
        "missing: model/notes/readme.md",
        "added: model/backdoor.py",
    ):
        assert needle in result.stderr
    report = json.loads(registered("package", "verify", str(package), "--json").stdout)
    assert sorted(p["kind"] for p in report["problems"]) == ["added", "changed", "missing"]


def test_untrusted_signer_fails_verification(package: Path, registered: Cli) -> None:
    key_id = registered.json("package", "inspect", str(package))["key_id"]
    registered.ok("keys", "signing", "untrust", key_id)
    result = registered("package", "verify", str(package))
    assert result.exit_code == 1
    assert "untrusted_key" in result.stderr


def test_verify_with_a_public_key_file_needs_no_database(
    package: Path, registered: Cli, tmp_path: Path
) -> None:
    public = tmp_path / "k.pem"
    public.write_text(registered.ok("keys", "signing", "export-public", "release").stdout)
    empty_home = Cli(tmp_path / "elsewhere")
    assert empty_home.json("package", "verify", str(package), "--trusted-key", str(public))["ok"]
    assert not (tmp_path / "elsewhere" / "mlsteward.db").exists()


def test_build_failures(registered: Cli, tmp_path: Path) -> None:
    out = tmp_path / "o.mlsb"
    assert (
        "keys signing generate"
        in registered.fails("package", "build", "models:/fraud/1", "-o", str(out)).stderr
    )
    registered.ok("keys", "signing", "generate", "default")
    assert "not a model URI" in registered.fails("package", "build", "fraud", "-o", str(out)).stderr
    assert (
        "no alias @staging"
        in registered.fails("package", "build", "models:/fraud@staging", "-o", str(out)).stderr
    )
    assert (
        "does not exist"
        in registered.fails(
            "package", "build", "models:/fraud/1", "-o", str(tmp_path / "no" / "o.mlsb")
        ).stderr
    )
    assert not out.exists()
    result = registered.ok("package", "build", "models:/fraud/1", "-o", str(out))
    assert "not trusted" in result.stderr
    assert (
        "exists" in registered.fails("package", "build", "models:/fraud/1", "-o", str(out)).stderr
    )


@pytest.mark.parametrize("command", ["verify", "inspect", "test"])
def test_missing_and_non_package_files(cli: Cli, tmp_path: Path, command: str) -> None:
    assert "does not exist" in cli.fails("package", command, str(tmp_path / "none.mlsb")).stderr
    junk = tmp_path / "junk.mlsb"
    junk.write_bytes(b"\0" * 10)
    result = cli(*("package", command, str(junk)))
    assert result.exit_code == 1
    assert "error: " in result.stderr


# -- deployment files -------------------------------------------------------------------------


def test_dockerfile_and_public_key(package: Path, registered: Cli) -> None:
    dockerfile = package.parent / "Dockerfile"
    registered.ok("package", "dockerfile", str(package), "-o", str(dockerfile))
    text = dockerfile.read_text()
    assert '["fraud.mlsb", "/models/model.mlsb"]' in text
    key = (package.parent / "signing-key.pub.pem").read_text()
    assert key == registered.ok("keys", "signing", "export-public", "release").stdout
    assert (
        "exists"
        in registered.fails("package", "dockerfile", str(package), "-o", str(dockerfile)).stderr
    )


def test_dockerfile_refuses_a_package_that_does_not_verify(package: Path, registered: Cli) -> None:
    key_id = registered.json("package", "inspect", str(package))["key_id"]
    registered.ok("keys", "signing", "untrust", key_id)
    dockerfile = package.parent / "Dockerfile"
    assert (
        "failed verification"
        in registered.fails("package", "dockerfile", str(package), "-o", str(dockerfile)).stderr
    )
    assert not dockerfile.exists()


def test_k8s_manifests(package: Path, registered: Cli) -> None:
    output = package.parent / "k8s.yaml"
    registered.ok(
        "package",
        "k8s",
        str(package),
        "-o",
        str(output),
        "--replicas",
        "3",
        "--cpu",
        "1",
        "--memory",
        "2Gi",
    )
    deployment, service = yaml.safe_load_all(output.read_text())
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "fraud:1"
    assert service["kind"] == "Service"
    bad = registered.fails(
        "package", "k8s", str(package), "-o", str(package.parent / "x.yaml"), "--image", "fraud"
    )
    assert "not pinned" in bad.stderr
    assert not (package.parent / "x.yaml").exists()


def test_ci_template(cli: Cli, tmp_path: Path) -> None:
    output = tmp_path / ".github" / "workflows" / "package.yml"
    cli.ok("package", "ci-template", "-o", str(output))
    assert "package build" in output.read_text()
    assert "exists" in cli.fails("package", "ci-template", "-o", str(output)).stderr


# -- package test -----------------------------------------------------------------------------


def test_package_test_installs_an_empty_lock_in_a_fresh_environment(
    package: Path, registered: Cli
) -> None:
    result = registered.json("package", "test", str(package))
    assert result["requirements"] == []
    assert result["status"] == "not_loaded"  # no flavor config in this version


def test_package_test_reports_pip_failures(package: Path, registered: Cli, tmp_path: Path) -> None:
    bad = registered.fails("package", "test", str(package), "--pip-args", "--no-index '")
    assert "--pip-args" in bad.stderr


def _real_model_package(cli: Cli, tmp_path: Path, *, predictions: list[int] | None = None) -> Path:
    """A real scikit-learn model registered and packaged (its recorded predictions replaced
    by ``predictions`` first)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from mlsteward.models._model_dir import save_model

    frame = load_iris(as_frame=True).frame
    x = frame.drop(columns="target")
    folder = tmp_path / "saved"
    model = LogisticRegression(max_iter=300).fit(x, frame["target"])
    save_model(model, folder, input_example=x.iloc[[0, 60, 120]])
    if predictions is not None:
        (folder / "example_predictions.json").write_text(json.dumps(predictions))
    platform = cli.platform()
    try:
        files = []
        for path in sorted(folder.iterdir()):
            blob = platform.blobs.put_bytes(path.read_bytes())
            files.append(ModelFile(path.name, blob.address, blob.size))
        register_model_version(
            platform,
            LOCAL_ADMIN,
            "default",
            "iris",
            source_uri="runs:/r/m",
            flavor="sklearn",
            files=files,
        )
    finally:
        platform.close()
    cli.ok("keys", "signing", "generate", "release", "--trust")
    output = tmp_path / "iris.mlsb"
    cli.ok("package", "build", "models:/iris/1", "-o", str(output), "--key", "release")
    return output


@pytest.fixture
def offline_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip may use no index and no machine-wide configuration, whatever the command passes."""
    import os

    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)


@pytest.mark.slow
@pytest.mark.usefixtures("offline_pip")
def test_package_test_of_a_real_model_offline(cli: Cli, tmp_path: Path) -> None:
    import sysconfig

    package = _real_model_package(cli, tmp_path)
    base = sysconfig.get_path("purelib")
    result = cli.json("package", "test", str(package), "--base-site-packages", base)
    assert result["status"] == "predictions_match"
    assert any(r.startswith("scikit-learn==") for r in result["requirements"])


@pytest.mark.slow
@pytest.mark.usefixtures("offline_pip")
def test_package_test_fails_when_predictions_differ(cli: Cli, tmp_path: Path) -> None:
    import sysconfig

    package = _real_model_package(cli, tmp_path, predictions=[2, 1, 0])
    base = sysconfig.get_path("purelib")
    failed = cli.fails("package", "test", str(package), "--base-site-packages", base)
    assert "failed its test" in failed.stderr
    assert "differ from the recorded ones" in failed.stderr
    assert failed.stdout == ""


def test_package_test_with_a_missing_base_folder(
    package: Path, registered: Cli, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere"
    failed = registered.fails("package", "test", str(package), "--base-site-packages", str(missing))
    assert f"the site-packages folder {missing} does not exist" in failed.stderr
