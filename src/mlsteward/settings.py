"""One typed settings tree, read from ``MLSTEWARD_*`` environment variables.

Build it once (``Settings()``) and pass it down; library code never reads ``os.environ``.
This module is the only place that does, but for ``_embedded_home``, which tells the
pydantic-free fast path of an unchanged ``data add`` whether the settings are the default.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._embedded_home import default_home, expand_home
from .errors import ConfigurationError

__all__ = [
    "AuthMode",
    "SettingSource",
    "Settings",
    "describe_settings",
    "load_settings",
    "redact_database_url",
    "redact_storage_options",
]

AuthMode = Literal["auto", "required", "none"]

ENV_PREFIX = "MLSTEWARD_"


class Settings(BaseSettings):
    """Every setting of mlsteward. Paths left unset are derived from ``home``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", validate_default=True, frozen=True
    )

    home: Path = Field(
        default_factory=default_home,
        description="Folder for the embedded database, blobs and keys.",
    )
    database_url: str = Field(
        default="", description="SQLAlchemy URL; default a SQLite file in the home folder."
    )
    blob_url: str = Field(
        default="", description="Blob store root: a folder or any fsspec URL (s3://bucket/prefix)."
    )
    blob_storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra fsspec options for the blob store (JSON), e.g. an S3 endpoint_url.",
    )
    master_key_file: Path | None = Field(
        default=None,
        description="Keyring file; when set, every blob is encrypted at rest (AES-256-GCM).",
    )
    audit_key_file: Path | None = Field(
        default=None,
        description="Ed25519 key that signs audit checkpoints; default keys/ in the home folder.",
    )
    audit_checkpoint_interval: int = Field(
        default=100, ge=1, description="Sign an audit checkpoint every N events."
    )
    host: str = Field(default="127.0.0.1", description="Address the server binds to.")
    port: int = Field(default=8470, ge=1, le=65535, description="Port the server listens on.")
    workers: int = Field(default=1, ge=1, le=64, description="Server worker processes.")
    auth_mode: AuthMode = Field(
        default="auto",
        description="auto: no login on loopback, required elsewhere; "
        "required; none (loopback only).",
    )
    tls_certfile: Path | None = Field(default=None, description="TLS certificate (PEM).")
    tls_keyfile: Path | None = Field(default=None, description="TLS private key (PEM).")
    max_request_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Largest JSON request body accepted."
    )
    max_upload_bytes: int = Field(
        default=50 * 1024**3, ge=1024, description="Largest blob upload accepted."
    )
    session_ttl_seconds: int = Field(default=8 * 3600, ge=60, description="Browser session life.")
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins per user within the window before lockout."
    )
    login_window_seconds: int = Field(default=900, ge=1, description="Login rate-limit window.")
    run_heartbeat_timeout_seconds: int = Field(
        default=300,
        ge=5,
        description="A running run without a heartbeat for this long is marked KILLED.",
    )
    monitor_interval_seconds: int = Field(
        default=30,
        ge=0,
        description="The server evaluates due monitor windows every N seconds (0: never).",
    )
    server_url: str | None = Field(
        default=None, description="Remote platform URL; when set, Client() talks HTTP to it."
    )
    token: SecretStr | None = Field(default=None, description="API token for the remote server.")
    log_level: str = Field(default="INFO", description="Logging level.")
    smtp_host: str = Field(
        default="", description="SMTP server for alert e-mails; empty: e-mail notifiers refused."
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP server port.")
    smtp_from: str = Field(default="", description="Sender address of alert e-mails.")
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS before sending."
    )
    smtp_user: str | None = Field(default=None, description="SMTP login user name.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP login password.")
    smtp_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Timeout of one SMTP connection attempt."
    )

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return expand_home(value)

    @field_validator("log_level", mode="after")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @model_validator(mode="after")
    def _check_tls_pair(self) -> Settings:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile must be set together")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<home>/mlsteward.db``."""
        return self.database_url or f"sqlite:///{self.home / 'mlsteward.db'}"

    @property
    def resolved_blob_url(self) -> str:
        """The blob store root, defaulting to ``<home>/blobs``."""
        return self.blob_url or str(self.home / "blobs")

    @property
    def resolved_audit_key_file(self) -> Path:
        return self.audit_key_file or self.home / "keys" / "audit-ed25519.pem"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


def load_settings(**overrides: Any) -> Settings:
    """Build the settings tree, turning validation errors into a ``ConfigurationError``."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(
            f"invalid settings: {problems}", details={"errors": exc.errors(include_url=False)}
        ) from None


@dataclass(frozen=True)
class SettingSource:
    """One setting as ``config show`` prints it."""

    name: str
    value: Any
    source: str
    description: str


MASK = "********"
# Keys of fsspec storage options that carry credentials (s3fs: key, secret, token; others alike).
_SECRET_OPTION = re.compile(r"secret|passw|token|credential|(^|_)key($|_)", re.IGNORECASE)


def redact_database_url(url: str) -> str:
    """A database URL fit to print: the password is masked; an unparsable URL is not echoed."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # unparsable: never echo it, it may hold a password
        return "<unparsable database URL>"


def redact_storage_options(value: Any) -> Any:
    """Storage options with credential-like keys masked, recursively."""
    if isinstance(value, dict):
        return {
            k: MASK if _SECRET_OPTION.search(str(k)) and v else redact_storage_options(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_storage_options(v) for v in value]
    return value


_DERIVED = {
    "database_url": "resolved_database_url",
    "blob_url": "resolved_blob_url",
    "audit_key_file": "resolved_audit_key_file",
}


def describe_settings(settings: Settings) -> list[SettingSource]:
    """Every setting with its effective value and where it came from.

    Sources: ``env`` (an ``MLSTEWARD_*`` variable), ``argument`` (passed in code),
    ``derived`` (computed from ``home``) or ``default``. Secrets and credentials (the API
    token, a password in the database URL, keys in the storage options) are masked.
    """
    explicit = settings.model_fields_set
    rows: list[SettingSource] = []
    for name, field in Settings.model_fields.items():
        value: Any = getattr(settings, name)
        env_name = f"{ENV_PREFIX}{name.upper()}"
        if env_name in os.environ:
            source = f"env {env_name}"
        elif name in explicit:
            source = "argument"
        elif name in _DERIVED and not value:
            source = "derived from home"
        else:
            source = "default"
        if name in _DERIVED and not value:
            value = getattr(settings, _DERIVED[name])
        if isinstance(value, SecretStr):
            value = MASK
        elif name == "database_url":
            value = redact_database_url(value)
        elif name == "blob_storage_options":
            value = redact_storage_options(value)
        elif isinstance(value, Path):
            value = str(value)
        rows.append(SettingSource(name, value, source, field.description or ""))
    return rows
