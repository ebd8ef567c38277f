"""verify, inspect and extract: every changed byte, added or missing file, foreign key and
hostile archive is caught, and nothing is ever written outside the destination."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mlsteward._wire import canonical_json
from mlsteward.errors import AlreadyExists, IntegrityError, InvalidArgument, NotFound
from mlsteward.packaging._archive import (
    ProblemKind,
    extract_package,
    inspect_package,
    verify_package,
)
from mlsteward.packaging._signing import generate_signing_key, public_key_id

from ._support import (
    METADATA,
    REQUIREMENTS,
    WEIGHTS_SIZE,
    Member,
    listing,
    regular,
    rewrite,
)

WEIGHTS = "model/weights.bin"


def trusted(key: Ed25519PrivateKey) -> dict[str, object]:
    return {"ci": key.public_key()}


def kinds(report: object) -> list[ProblemKind]:
    return [p.kind for p in report.problems]  # type: ignore[attr-defined]


def test_a_built_package_verifies(package: Path, key: Ed25519PrivateKey) -> None:
    report = verify_package(package, trusted_keys={"ci": key.public_key()})
    assert report.ok, report.problems
    assert report.key_id == public_key_id(key.public_key())
    assert report.files_checked == 5  # yaml, lock and three model files
    assert report.bytes_checked > WEIGHTS_SIZE
    report.raise_for_problems()


def test_one_changed_byte_is_reported_as_that_file(package: Path, key: Ed25519PrivateKey) -> None:
    with tarfile.open(package) as tar:
        offset = tar.getmember(WEIGHTS).offset_data + WEIGHTS_SIZE // 2
    with open(package, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 1]))
    report = verify_package(package, trusted_keys={"ci": key.public_key()})
    assert not report.ok
    assert kinds(report) == [ProblemKind.CHANGED]
    assert report.paths(ProblemKind.CHANGED) == [WEIGHTS]
    with pytest.raises(IntegrityError, match=r"model/weights\.bin changed") as caught:
        report.raise_for_problems()
    assert caught.value.details["problems"][0]["kind"] == "changed"


def test_an_added_file_is_reported(package: Path, key: Ed25519PrivateKey) -> None:
    rewrite(package, lambda members: [*members, regular("model/extra.py", b"import os\n")])
    report = verify_package(package, trusted_keys={"ci": key.public_key()})
    assert kinds(report) == [ProblemKind.ADDED]
    assert report.paths(ProblemKind.ADDED) == ["model/extra.py"]


def test_a_removed_file_is_reported(package: Path, key: Ed25519PrivateKey) -> None:
    rewrite(package, lambda ms: [m for m in ms if m[0].name != "model/sub/config.json"])
    report = verify_package(package, trusted_keys={"ci": key.public_key()})
    assert kinds(report) == [ProblemKind.MISSING]
    assert report.paths(ProblemKind.MISSING) == ["model/sub/config.json"]


def test_every_problem_is_listed_not_only_the_first(package: Path, key: Ed25519PrivateKey) -> None:
    def change(members: list[Member]) -> list[Member]:
        kept = [m for m in members if m[0].name != "model/empty.txt"]
        kept = [(i, b"tampered" if i.name == "model/sub/config.json" else d) for i, d in kept]
        return [*kept, regular("model/added.bin", b"x")]

    rewrite(package, change)
    report = verify_package(package, trusted_keys={"ci": key.public_key()})
    assert report.paths(ProblemKind.CHANGED) == ["model/sub/config.json"]
    assert report.paths(ProblemKind.MISSING) == ["model/empty.txt"]
    assert report.paths(ProblemKind.ADDED) == ["model/added.bin"]


def test_a_foreign_key_is_named_and_refused(package: Path) -> None:
    other = generate_signing_key()
    report = verify_package(package, trusted_keys={"other": other.public_key()})
    assert kinds(report) == [ProblemKind.UNTRUSTED_KEY]
    assert report.key_id is not None
    assert report.key_id in report.problems[0].message
    assert verify_package(package, trusted_keys={}).problems[0].kind is ProblemKind.UNTRUSTED_KEY


def test_a_package_signed_by_a_foreign_key_is_refused(
    tmp_path: Path, model_dir: Path, key: Ed25519PrivateKey
) -> None:
    from mlsteward.packaging._build import build_package

    foreign = generate_signing_key()
    output = tmp_path / "foreign.mlsb"
    build_package(
        model_dir, metadata=METADATA, requirements=REQUIREMENTS, signing_key=foreign, output=output
    )
    report = verify_package(output, trusted_keys={"ci": key.public_key()})
    assert kinds(report) == [ProblemKind.UNTRUSTED_KEY]
    assert report.key_id == public_key_id(foreign.public_key())


def test_an_edited_manifest_breaks_the_signature(package: Path, key: Ed25519PrivateKey) -> None:
    def change(members: list[Member]) -> list[Member]:
        result = []
        for info, data in members:
            if info.name == "MANIFEST.json":
                manifest = json.loads(data)
                for entry in manifest["files"]:
                    if entry["path"] == WEIGHTS:
                        entry["blake3"] = "0" * 64
                data = canonical_json(manifest)
            result.append((info, data))
        return result

    rewrite(package, change)
    report = verify_package(package, trusted_keys={"ci": key.public_key()})
    assert kinds(report)[0] is ProblemKind.BAD_SIGNATURE
    assert report.paths(ProblemKind.CHANGED) == [WEIGHTS]


def test_unsafe_metadata_yaml_is_not_loaded(package: Path, key: Ed25519PrivateKey) -> None:
    hostile = (
        b"type: mlsteward.package\nschema_version: 1\nx: !!python/object/apply:os.system ['true']\n"
    )
    rewrite(package, lambda ms: [(i, hostile if i.name == "mlsteward.yaml" else d) for i, d in ms])
    report = verify_package(package, trusted_keys={"ci": key.public_key()})
    assert ProblemKind.INVALID_DOCUMENT in kinds(report)
    assert report.paths(ProblemKind.CHANGED) == ["mlsteward.yaml"]


def _symlink(target: str) -> Member:
    info = tarfile.TarInfo("model/link")
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info, b""


def _hardlink() -> Member:
    info = tarfile.TarInfo("model/hard")
    info.type, info.linkname = tarfile.LNKTYPE, "model/weights.bin"
    return info, b""


def _device() -> Member:
    info = tarfile.TarInfo("model/dev")
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return info, b""


HOSTILE = {
    "parent": ([regular("../evil", b"pwned")], ProblemKind.UNSAFE_MEMBER),
    "nested-parent": ([regular("model/../../evil", b"pwned")], ProblemKind.UNSAFE_MEMBER),
    "absolute": ([regular("/tmp/evil-mlsteward-test", b"pwned")], ProblemKind.UNSAFE_MEMBER),
    "backslash": ([regular("model\\..\\..\\evil", b"pwned")], ProblemKind.UNSAFE_MEMBER),
    "symlink": ([_symlink("/etc/passwd")], ProblemKind.UNSAFE_MEMBER),
    "hardlink": ([_hardlink()], ProblemKind.UNSAFE_MEMBER),
    "device": ([_device()], ProblemKind.UNSAFE_MEMBER),
    "duplicate": ([regular(WEIGHTS, b"second copy")], ProblemKind.DUPLICATE),
    "case-collision": ([regular("model/WEIGHTS.bin", b"x")], ProblemKind.DUPLICATE),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_refused_and_write_nothing(
    case: str, package: Path, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    added, kind = HOSTILE[case]
    rewrite(package, lambda members: [*members, *added])
    report = verify_package(package, trusted_keys={"ci": key.public_key()})
    assert kind in kinds(report)
    before = listing(tmp_path)
    dest = tmp_path / "out" / "deploy" / "here"
    dest.parent.mkdir()
    with pytest.raises(IntegrityError, match="failed verification"):
        extract_package(package, dest, trusted_keys={"ci": key.public_key()})
    assert listing(tmp_path) == before | {"out/deploy"}
    assert not Path("/tmp/evil-mlsteward-test").exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"not a tar at all" * 100, b"\0" * 511],
    ids=["empty", "garbage", "short"],
)
def test_malformed_archives_are_reported(
    content: bytes, tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    path = tmp_path / "bad.mlsb"
    path.write_bytes(content)
    report = verify_package(path, trusted_keys={"ci": key.public_key()})
    assert not report.ok
    assert kinds(report)[0] in (ProblemKind.MALFORMED, ProblemKind.INVALID_DOCUMENT)
    with pytest.raises(InvalidArgument):
        inspect_package(path)


def test_a_truncated_archive_is_malformed(package: Path, key: Ed25519PrivateKey) -> None:
    data = package.read_bytes()
    package.write_bytes(data[: len(data) // 2])
    report = verify_package(package, trusted_keys={"ci": key.public_key()})
    assert kinds(report) == [ProblemKind.MALFORMED]
    assert "runs past the end" in report.problems[0].message


def test_missing_and_non_file_paths(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        verify_package(tmp_path / "nope.mlsb", trusted_keys={})
    with pytest.raises(InvalidArgument, match="folder"):
        verify_package(tmp_path, trusted_keys={})


def _rchar() -> int:
    with open("/proc/self/io") as handle:
        for line in handle:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar line")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_inspect_shows_the_files_without_reading_model_bytes(
    package: Path, key: Ed25519PrivateKey
) -> None:
    before = _rchar()
    info = inspect_package(package)
    read = _rchar() - before
    assert read < 64 * 1024, f"inspect read {read} bytes"
    assert not info.verified
    assert info.metadata == METADATA
    assert info.requirements == REQUIREMENTS
    assert info.key_id == public_key_id(key.public_key())
    sizes = {f.path: f.size for f in info.files}
    assert sizes[WEIGHTS] == WEIGHTS_SIZE
    assert sizes["model/sub/config.json"] == len('{"layers": 3}')
    assert set(sizes) == {
        "mlsteward.yaml",
        "requirements.lock",
        "model/empty.txt",
        "model/sub/config.json",
        WEIGHTS,
    }


def test_extract_round_trip(
    package: Path, model_dir: Path, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    dest = tmp_path / "deployed"
    info = extract_package(package, dest, trusted_keys={"ci": key.public_key()})
    assert info.verified
    assert info.metadata == METADATA
    for source in model_dir.rglob("*"):
        if source.is_file():
            copy = dest / "model" / source.relative_to(model_dir)
            assert copy.read_bytes() == source.read_bytes()
    assert {p.name for p in dest.iterdir()} == {
        "mlsteward.yaml",
        "requirements.lock",
        "model",
        "MANIFEST.json",
        "SIGNATURE.json",
    }
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_extract_into_an_empty_folder_but_never_over_files(
    package: Path, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    extract_package(package, empty, trusted_keys={"ci": key.public_key()})
    assert (empty / "model" / "weights.bin").stat().st_size == WEIGHTS_SIZE
    with pytest.raises(AlreadyExists, match="new or empty folder"):
        extract_package(package, empty, trusted_keys={"ci": key.public_key()})


def test_extract_refuses_an_untrusted_package_and_leaves_nothing(
    package: Path, tmp_path: Path
) -> None:
    before = listing(tmp_path)
    with pytest.raises(IntegrityError, match="not trusted"):
        extract_package(package, tmp_path / "dest", trusted_keys={})
    assert listing(tmp_path) == before


def test_report_paths_stay_in_order_of_the_manifest(package: Path, key: Ed25519PrivateKey) -> None:
    rewrite(
        package, lambda ms: [(i, d + b"!" if i.name.startswith("model/") else d) for i, d in ms]
    )
    report = verify_package(package, trusted_keys={"ci": key.public_key()})
    assert report.paths(ProblemKind.CHANGED) == [
        "model/empty.txt",
        "model/sub/config.json",
        WEIGHTS,
    ]
    assert os.path.getsize(package) > WEIGHTS_SIZE
