"""``mlsteward blobs`` and ``mlsteward keys`` through Typer's test runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from mlsteward.blobs import BlobStore, Keyring
from mlsteward.cli._blobs import blobs_app
from mlsteward.cli._keys import keys_app

app = typer.Typer()
app.add_typer(blobs_app, name="blobs")
app.add_typer(keys_app, name="keys")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {"MLSTEWARD_HOME": str(home)}


@pytest.fixture
def encrypted_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "keyring.json"
    result = _invoke(env, "keys", "generate", str(path), "--json")
    assert json.loads(result.stdout)["active"] == Keyring.load(path).active_key_id
    return {**env, "MLSTEWARD_MASTER_KEY_FILE": str(path)}


def _invoke(env: dict[str, str], *args: str, code: int = 0) -> Result:
    # None unsets a variable the developer's shell may have set.
    full: dict[str, str | None] = {"MLSTEWARD_MASTER_KEY_FILE": None, **env}
    result = CliRunner().invoke(app, list(args), env=full)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def _run(env: dict[str, str], *args: str, code: int = 0) -> str:
    """Stdout of a successful command, stderr of a failing one."""
    result = _invoke(env, *args, code=code)
    return result.stdout if code == 0 else result.stderr


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_put_ls_get_verify(request: pytest.FixtureRequest, tmp_path: Path, encrypted: bool) -> None:
    env = request.getfixturevalue("encrypted_env" if encrypted else "env")
    source = tmp_path / "weights.bin"
    source.write_bytes(b"weights " * 1000)

    put = json.loads(_run(env, "blobs", "put", str(source), "--json"))
    assert put["size"] == 8000
    assert put["created"] is True
    again = json.loads(_run(env, "blobs", "put", str(source), "--json"))
    assert again == {**put, "created": False}
    assert "already stored" in _run(env, "blobs", "put", str(source))

    listing = json.loads(_run(env, "blobs", "ls", "--json"))
    assert listing == [{"address": put["address"], "size": 8000}]
    assert _run(env, "blobs", "ls").split()[-2:] == [put["address"], "8000"]

    dest = tmp_path / "restored.bin"
    got = json.loads(_run(env, "blobs", "get", put["address"], str(dest), "--json"))
    assert got == {"address": put["address"], "path": str(dest), "size": 8000}
    assert dest.read_bytes() == source.read_bytes()

    report = json.loads(_run(env, "blobs", "verify", "--json"))
    assert report["ok"] is True
    assert report["objects"] == 1
    assert report["bytes"] == 8000
    assert "ok" in _run(env, "blobs", "verify")


def test_verify_failure_exits_1(env: dict[str, str]) -> None:
    store = BlobStore(str(Path(env["MLSTEWARD_HOME"]) / "blobs"))
    address = store.put_bytes(b"soon corrupt").address
    path = Path(env["MLSTEWARD_HOME"]) / "blobs" / "objects" / address[:2] / address[2:]
    path.write_bytes(b"tampered")
    result = _invoke(env, "blobs", "verify", "--json", code=1)
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["corrupt"] == [address]
    assert "content does not match its address" in report["problems"][address]
    text = _invoke(env, "blobs", "verify", code=1).stdout
    assert f"{address}: blob {address} is corrupt" in text
    assert "problems found" in text


def test_errors_are_one_red_line_and_exit_1(env: dict[str, str], tmp_path: Path) -> None:
    err = _run(env, "blobs", "get", "../../etc/passwd", str(tmp_path / "x"), code=1)
    assert err.startswith("error: invalid blob address '../../etc/passwd'")
    assert not (tmp_path / "x").exists()
    err = _run(env, "blobs", "get", "0" * 64, str(tmp_path / "x"), code=1)
    assert err.strip() == f"error: no blob with address {'0' * 64}"
    err = _run(env, "blobs", "put", str(tmp_path / "absent"), code=1)
    assert "error: no such file" in err


def test_missing_keyring_file_is_a_clear_error(env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, "MLSTEWARD_MASTER_KEY_FILE": str(tmp_path / "nope.json")}
    err = _run(env, "blobs", "ls", code=1)
    assert "error: keyring file" in err
    assert "does not exist" in err


def test_keys_generate_refuses_overwrite(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    assert "created keyring" in _run(env, "keys", "generate", str(path))
    err = _run(env, "keys", "generate", str(path), code=1)
    assert "refusing to overwrite" in err


def test_keys_rotate_and_status(encrypted_env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    source.write_bytes(b"a" * 100)
    address = json.loads(_run(encrypted_env, "blobs", "put", str(source), "--json"))["address"]
    before = json.loads(_run(encrypted_env, "keys", "status", "--json"))
    (old_id,) = before["keys"]
    assert before == {
        "encrypted": True,
        "path": encrypted_env["MLSTEWARD_MASTER_KEY_FILE"],
        "active": old_id,
        "keys": {old_id: 1},
        "unknown_keys": {},
    }
    rotated = json.loads(_run(encrypted_env, "keys", "rotate", "--json"))
    assert rotated["previous"] == old_id
    assert rotated["rewrapped"] == 1
    new_id = rotated["active"]
    after = json.loads(_run(encrypted_env, "keys", "status", "--json"))
    assert after["keys"] == {old_id: 0, new_id: 1}
    assert after["active"] == new_id
    assert f"{new_id} (active): wraps 1 data keys" in _run(encrypted_env, "keys", "status")
    resumed = json.loads(_run(encrypted_env, "keys", "rotate", "--rewrap-only", "--json"))
    assert resumed == {"previous": new_id, "active": new_id, "rewrapped": 0}
    dest = tmp_path / "back.bin"
    _run(encrypted_env, "blobs", "get", address, str(dest))
    assert dest.read_bytes() == b"a" * 100


def test_keys_without_keyring(env: dict[str, str]) -> None:
    assert json.loads(_run(env, "keys", "status", "--json")) == {"encrypted": False}
    err = _run(env, "keys", "rotate", code=1)
    assert "MLSTEWARD_MASTER_KEY_FILE" in err


def test_gc_uses_the_metadata_store(env: dict[str, str], tmp_path: Path) -> None:
    """The real platform on a fresh SQLite home references nothing, so gc may delete all."""
    store = BlobStore(str(Path(env["MLSTEWARD_HOME"]) / "blobs"))
    address = store.put_bytes(b"unreferenced").address
    dry = json.loads(_run(env, "blobs", "gc", "--grace-seconds", "0", "--dry-run", "--json"))
    assert dry["dry_run"] is True
    assert dry["deleted"] == 1
    assert store.exists(address)
    young = _run(env, "blobs", "gc")
    assert "kept 0 referenced and 1 recent blobs" in young
    done = json.loads(_run(env, "blobs", "gc", "--grace-seconds", "0", "--json"))
    assert done["deleted"] == 1
    assert not store.exists(address)
