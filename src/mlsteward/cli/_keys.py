"""``mlsteward keys``: the master keyring that encrypts blobs at rest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigurationError
from ._blobs import JsonOption, steward_errors
from ._output import emit_json, stdout_console

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Master keys for encryption at rest: generate, rotate, status.", no_args_is_help=True
)


@keys_app.command("generate")
def generate(
    path: Annotated[Path, typer.Argument(help="Keyring file to create (never overwritten).")],
    json_output: JsonOption = False,
) -> None:
    """Create a new keyring file (mode 0600)."""
    from ..blobs import Keyring

    with steward_errors():
        keyring = Keyring.generate(path)
    if json_output:
        emit_json({"path": str(path), "active": keyring.active_key_id})
    else:
        stdout_console().print(
            f"created keyring {path} (active key {keyring.active_key_id}); "
            f"set MLSTEWARD_MASTER_KEY_FILE={path} to encrypt blobs, and back the file up: "
            "without it encrypted blobs cannot be read"
        )


@keys_app.command("rotate")
def rotate(
    rewrap_only: Annotated[
        bool,
        typer.Option(
            "--rewrap-only", help="Add no new key; finish re-wrapping under the active key."
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Add a new active master key and re-wrap every blob's data key under it."""
    from ..blobs import BlobStore
    from ..settings import load_settings

    with steward_errors():
        store = BlobStore.from_settings(load_settings())
        keyring = store.keyring
        if keyring is None:
            raise ConfigurationError(
                "encryption at rest is off: set MLSTEWARD_MASTER_KEY_FILE to the keyring file"
            )
        previous = keyring.active_key_id
        if not rewrap_only:
            keyring.rotate()
        rewrapped = store.rotate_keys()
    result = {"previous": previous, "active": keyring.active_key_id, "rewrapped": rewrapped}
    if json_output:
        emit_json(result)
    else:
        stdout_console().print(
            f"active key {keyring.active_key_id} (was {previous}); "
            f"re-wrapped {rewrapped} data keys, no blob data rewritten"
        )


@keys_app.command("status")
def status(json_output: JsonOption = False) -> None:
    """Show the keyring and how many blobs each master key protects."""
    from ..blobs import BlobStore
    from ..settings import load_settings

    with steward_errors():
        settings = load_settings()
        store = BlobStore.from_settings(settings)
        keyring = store.keyring
        usage = store.key_usage() if keyring is not None else {}
    if keyring is None:
        if json_output:
            emit_json({"encrypted": False})
        else:
            stdout_console().print(
                "encryption at rest is off (MLSTEWARD_MASTER_KEY_FILE is not set)"
            )
        return
    result = {
        "encrypted": True,
        "path": str(settings.master_key_file),
        "active": keyring.active_key_id,
        "keys": {key_id: usage.get(key_id, 0) for key_id in keyring.key_ids},
        "unknown_keys": {k: n for k, n in usage.items() if k not in keyring.key_ids},
    }
    if json_output:
        emit_json(result)
        return
    out = stdout_console()
    out.print(f"keyring {settings.master_key_file}")
    for key_id in keyring.key_ids:
        mark = " (active)" if key_id == keyring.active_key_id else ""
        out.print(f"  {key_id}{mark}: wraps {usage.get(key_id, 0)} data keys")
    for key_id, count in result["unknown_keys"].items():  # type: ignore[attr-defined]
        out.print(f"  [red]{key_id}: {count} data keys under a key this keyring lacks[/red]")
