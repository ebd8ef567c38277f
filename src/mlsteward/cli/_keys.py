"""``mlsteward keys``: the master keyring that encrypts blobs at rest, and the Ed25519 keys
that sign packages (``keys signing``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import ConfigurationError
from ._blobs import JsonOption, steward_errors
from ._output import (
    emit_json,
    format_time,
    print_message,
    print_success,
    print_table,
    stdout_console,
)

if TYPE_CHECKING:
    from ..packaging._trust import TrustedKey

__all__ = ["KeyPasswordOption", "key_password_bytes", "keys_app"]

keys_app = typer.Typer(
    help="Master keys for encryption at rest: generate, rotate, status; package signing keys.",
    no_args_is_help=True,
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


signing_app = typer.Typer(
    help="Package signing keys: private keys in the home folder, trusted public keys.",
    no_args_is_help=True,
)
keys_app.add_typer(signing_app, name="signing")

KeyPasswordOption = Annotated[
    str | None,
    typer.Option(
        "--key-password",
        envvar="MLSTEWARD_SIGNING_KEY_PASSWORD",
        show_envvar=True,
        help="Password of the private key file; prefer the environment variable over the "
        "command line, which other users can see.",
    ),
]


def key_password_bytes(password: str | None) -> bytes | None:
    """The password as bytes; an empty value means no password."""
    return password.encode("utf-8") if password else None


def _trusted_json(key: TrustedKey) -> dict[str, object]:
    return {
        "key_id": key.key_id,
        "name": key.name,
        "added_by": key.added_by,
        "added_at": key.added_at.isoformat(),
        "public_key": key.public_key_pem,
    }


@signing_app.command("generate")
def signing_generate(
    name: Annotated[str, typer.Argument(help="Key name: the file <home>/signing-keys/NAME.pem.")],
    trust: Annotated[
        bool, typer.Option("--trust", help="Also trust its public key on this platform.")
    ] = False,
    key_password: KeyPasswordOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create an Ed25519 signing key (mode 0600, encrypted when a password is given)."""
    from ..packaging._keystore import create_signing_key
    from ..packaging._signing import public_key_to_pem
    from ..packaging._trust import trust_signing_key
    from ._local import cli_settings, local_platform, operator

    with steward_errors():
        settings = cli_settings()
        local, key = create_signing_key(
            settings.home, name, password=key_password_bytes(key_password)
        )
        if trust:
            with local_platform(settings) as platform:
                trust_signing_key(
                    platform, operator(), public_key_to_pem(key.public_key()), name=name
                )
    result = {
        "name": name,
        "key_id": local.key_id,
        "path": str(local.path),
        "encrypted": local.encrypted,
        "trusted": trust,
    }
    if json_output:
        emit_json(result)
        return
    print_success(f"created signing key {name} (id {local.key_id}) in {local.path}")
    if not trust:
        print_message(
            f"packages it signs verify only where its public key is trusted: "
            f"`mlsteward keys signing export-public {name}`, then `mlsteward keys signing trust`"
        )


@signing_app.command("list")
def signing_list(key_password: KeyPasswordOption = None, json_output: JsonOption = False) -> None:
    """List the private keys of this home and the public keys the platform trusts."""
    from ..packaging._keystore import list_signing_keys
    from ..packaging._trust import list_trusted_keys
    from ._local import cli_settings, local_platform, operator

    with steward_errors():
        settings = cli_settings()
        local = list_signing_keys(settings.home, password=key_password_bytes(key_password))
        with local_platform(settings) as platform:
            trusted = list_trusted_keys(platform, operator())
    trusted_ids = {key.key_id for key in trusted}
    if json_output:
        emit_json(
            {
                "local": [
                    {
                        "name": key.name,
                        "key_id": key.key_id,
                        "path": str(key.path),
                        "encrypted": key.encrypted,
                        "trusted": key.key_id in trusted_ids,
                    }
                    for key in local
                ],
                "trusted": [_trusted_json(key) for key in trusted],
            }
        )
        return
    print_table(
        ["name", "key id", "encrypted", "trusted", "path"],
        [
            [
                key.name,
                key.key_id or "(encrypted: pass --key-password)",
                "yes" if key.encrypted else "no",
                "yes" if key.key_id in trusted_ids else "no",
                key.path,
            ]
            for key in local
        ],
        title="private keys in this home",
        empty="no private signing keys in this home",
    )
    print_table(
        ["key id", "name", "added by", "added (UTC)"],
        [[key.key_id, key.name, key.added_by, format_time(key.added_at)] for key in trusted],
        title="trusted public keys",
        empty="no trusted signing keys",
    )


@signing_app.command("trust")
def signing_trust(
    public_key_file: Annotated[Path, typer.Argument(help="Public key file (PEM).")],
    name: Annotated[str, typer.Option("--name", help="Name to trust the key under.")],
    json_output: JsonOption = False,
) -> None:
    """Trust a public key: packages it signs pass `package verify` (administrators)."""
    from ..errors import InvalidArgument, NotFound
    from ..packaging._trust import MAX_PUBLIC_KEY_BYTES, trust_signing_key
    from ._local import local_platform, operator

    with steward_errors():
        try:
            with public_key_file.open("rb") as handle:
                data = handle.read(MAX_PUBLIC_KEY_BYTES + 1)
        except FileNotFoundError:
            raise NotFound(f"public key file {public_key_file} does not exist") from None
        except IsADirectoryError:
            raise InvalidArgument(f"{public_key_file} is a folder, not a key file") from None
        with local_platform() as platform:
            key = trust_signing_key(platform, operator(), data, name=name)
    if json_output:
        emit_json(_trusted_json(key))
    else:
        print_success(f"trusted key {key.key_id} as {key.name}")


@signing_app.command("untrust")
def signing_untrust(
    key_id: Annotated[str, typer.Argument(help="Key id (32 hex characters).")],
    json_output: JsonOption = False,
) -> None:
    """Stop trusting a key: packages it signed fail `package verify` (administrators)."""
    from ..packaging._trust import untrust_signing_key
    from ._local import local_platform, operator

    with steward_errors(), local_platform() as platform:
        key = untrust_signing_key(platform, operator(), key_id)
    if json_output:
        emit_json(_trusted_json(key))
    else:
        print_success(f"key {key.key_id} ({key.name}) is no longer trusted")


@signing_app.command("export-public")
def signing_export_public(
    name: Annotated[str, typer.Argument(help="Name of a private key of this home.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the PEM here (default stdout).")
    ] = None,
    key_password: KeyPasswordOption = None,
) -> None:
    """Print the public key (PEM) of a private signing key, to share and trust it."""
    import sys

    from ..errors import AlreadyExists
    from ..packaging._keystore import public_key_pem
    from ._local import cli_settings

    with steward_errors():
        pem = public_key_pem(cli_settings().home, name, password=key_password_bytes(key_password))
        if output is None:
            sys.stdout.write(pem.decode("ascii"))
            sys.stdout.flush()
            return
        try:
            with output.open("xb") as handle:
                handle.write(pem)
        except FileExistsError:
            raise AlreadyExists(f"{output} exists: choose another file") from None
    print_success(f"wrote the public key of {name} to {output}")
