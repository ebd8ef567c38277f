"""build_package: refuses what cannot be packaged safely and never leaves half a file."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mlsteward.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from mlsteward.packaging import _build as build_module
from mlsteward.packaging._archive import verify_package
from mlsteward.packaging._build import build_package
from mlsteward.packaging._tar import member_header

from ._support import METADATA, REQUIREMENTS, listing


def _build(source: Path, output: Path, key: Ed25519PrivateKey, **kwargs: object) -> None:
    build_package(
        source,
        metadata=kwargs.pop("metadata", METADATA),  # type: ignore[arg-type]
        requirements=kwargs.pop("requirements", REQUIREMENTS),  # type: ignore[arg-type]
        signing_key=key,
        output=output,
        **kwargs,  # type: ignore[arg-type]
    )


def test_layout_and_documents(model_dir: Path, key: Ed25519PrivateKey, tmp_path: Path) -> None:
    output = tmp_path / "p.mlsb"
    _build(model_dir, output, key)
    with tarfile.open(output) as tar:
        names = tar.getnames()
        document = yaml.safe_load(tar.extractfile("mlsteward.yaml").read())  # type: ignore[union-attr]
        lock = tar.extractfile("requirements.lock").read().decode()  # type: ignore[union-attr]
    assert names == [
        "mlsteward.yaml",
        "requirements.lock",
        "model/empty.txt",
        "model/sub/config.json",
        "model/weights.bin",
        "MANIFEST.json",
        "SIGNATURE.json",
    ]
    assert document["type"] == "mlsteward.package"
    assert document["schema_version"] == 1
    assert document["flavor"] == "sklearn"
    assert lock.splitlines()[1:] == REQUIREMENTS


def test_the_same_inputs_give_the_same_bytes(
    model_dir: Path, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    _build(model_dir, tmp_path / "a.mlsb", key)
    _build(model_dir, tmp_path / "b.mlsb", key)
    assert (tmp_path / "a.mlsb").read_bytes() == (tmp_path / "b.mlsb").read_bytes()


def test_long_and_unicode_names_survive(key: Ed25519PrivateKey, tmp_path: Path) -> None:
    source = tmp_path / "src"
    deep = source.joinpath(*["level-" + "x" * 40] * 4)
    deep.mkdir(parents=True)
    (deep / "modèle-权重.bin").write_bytes(b"weights")
    output = tmp_path / "p.mlsb"
    _build(source, output, key)
    assert verify_package(output, trusted_keys={"k": key.public_key()}).ok


@pytest.mark.parametrize("kind", ["file-link", "dir-link", "escaping-link", "fifo"])
def test_links_and_special_files_are_refused(
    kind: str, model_dir: Path, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    if kind == "file-link":
        (model_dir / "link.bin").symlink_to(model_dir / "weights.bin")
    elif kind == "dir-link":
        (model_dir / "linked").symlink_to(model_dir / "sub", target_is_directory=True)
    elif kind == "escaping-link":
        (model_dir / "sub" / "secret.txt").symlink_to(outside)
    else:
        os.mkfifo(model_dir / "pipe")
    output = tmp_path / "p.mlsb"
    message = "not a regular file" if kind == "fifo" else "symbolic link"
    with pytest.raises(InvalidArgument, match=message):
        _build(model_dir, output, key)
    assert not output.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("back\\slash.bin", "not portable"),
        ("control\x07char.bin", "control characters"),
        ("colon:name.bin", "not portable"),
        ("bad-utf8-\udcff.bin", "not valid UTF-8"),
    ],
)
def test_non_portable_names_are_refused(
    name: str, message: str, model_dir: Path, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    (model_dir / name).write_bytes(b"x")
    with pytest.raises(InvalidArgument, match=message):
        _build(model_dir, tmp_path / "p.mlsb", key)
    assert not (tmp_path / "p.mlsb").exists()


def test_names_that_collide_on_other_systems_are_refused(
    model_dir: Path, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    (model_dir / "Weights.bin").write_bytes(b"x")
    with pytest.raises(InvalidArgument, match="case-insensitive"):
        _build(model_dir, tmp_path / "p.mlsb", key)


def test_bad_inputs(model_dir: Path, key: Ed25519PrivateKey, tmp_path: Path) -> None:
    out = tmp_path / "p.mlsb"
    with pytest.raises(NotFound, match="does not exist"):
        _build(tmp_path / "missing", out, key)
    with pytest.raises(NotFound, match="output folder"):
        _build(model_dir, tmp_path / "no" / "p.mlsb", key)
    with pytest.raises(InvalidArgument, match="must not be inside"):
        _build(model_dir, model_dir / "p.mlsb", key)
    with pytest.raises(InvalidArgument, match="must not set type"):
        _build(model_dir, out, key, metadata={"type": "x"})
    with pytest.raises(InvalidArgument, match="plain data"):
        _build(model_dir, out, key, metadata={"model": object()})
    with pytest.raises(InvalidArgument, match="not pinned"):
        _build(model_dir, out, key, requirements=["numpy>=2"])
    with pytest.raises(InvalidArgument, match="listed twice"):
        _build(model_dir, out, key, requirements=["numpy==2.1.0", "numpy==2.1.0"])
    with pytest.raises(InvalidArgument, match="Ed25519"):
        build_package(
            model_dir,
            metadata={},
            requirements=[],
            signing_key="k",  # type: ignore[arg-type]
            output=out,
        )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidArgument, match="no files"):
        _build(empty, out, key)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_an_existing_output_is_kept_unless_overwrite(
    model_dir: Path, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    out = tmp_path / "p.mlsb"
    out.write_bytes(b"previous")
    with pytest.raises(AlreadyExists, match="overwrite=True"):
        _build(model_dir, out, key)
    assert out.read_bytes() == b"previous"
    _build(model_dir, out, key, overwrite=True, durable=True)
    assert verify_package(out, trusted_keys={"k": key.public_key()}).ok


def test_a_file_vanishing_mid_build_leaves_nothing(
    model_dir: Path, key: Ed25519PrivateKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = build_module._open_beneath

    def vanish(root_fd: int, parts: tuple[str, ...]) -> int:
        if parts == ("weights.bin",):
            (model_dir / "weights.bin").unlink()
        return real_open(root_fd, parts)

    monkeypatch.setattr(build_module, "_open_beneath", vanish)
    before = listing(tmp_path)
    with pytest.raises(Conflict, match="disappeared"):
        _build(model_dir, tmp_path / "p.mlsb", key)
    assert listing(tmp_path) == before - {"model-src/weights.bin"}


def test_an_interrupt_mid_build_leaves_nothing(
    model_dir: Path, key: Ed25519PrivateKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_add = build_module._ArchiveWriter.add_file

    def interrupted(self: build_module._ArchiveWriter, path: str, fd: int, shown: Path) -> None:
        if path == "model/weights.bin":
            raise KeyboardInterrupt
        real_add(self, path, fd, shown)

    monkeypatch.setattr(build_module._ArchiveWriter, "add_file", interrupted)
    before = listing(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        _build(model_dir, tmp_path / "p.mlsb", key)
    assert listing(tmp_path) == before


@pytest.mark.parametrize("size", [1000, build_module.KERNEL_COPY_MIN + 5], ids=["small", "large"])
def test_a_file_growing_while_read_is_refused(
    size: int, key: Ed25519PrivateKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    grower = source / "growing.bin"
    grower.write_bytes(os.urandom(size))
    real_header = member_header

    def grow_after_stat(path: str, length: int, **kwargs: int) -> bytes:
        if path == "model/growing.bin":
            with open(grower, "ab") as handle:
                handle.write(b"more")
        return real_header(path, length, **kwargs)

    monkeypatch.setattr(build_module, "member_header", grow_after_stat)
    with pytest.raises(Conflict, match="changed size"):
        _build(source, tmp_path / "p.mlsb", key)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
