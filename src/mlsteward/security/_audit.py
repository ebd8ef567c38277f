"""The audit trail: append-only, hash-chained events with Ed25519-signed checkpoints.

Each event stores SHA-256 over its canonical JSON, which includes the previous event's hash and
its own sequence number, so changing, deleting, inserting or reordering any row breaks the chain
at that position. Every ``checkpoint_interval`` events (and on demand) the head of the chain is
signed with an Ed25519 key kept outside the database, so dropping the newest events is detected
against the last checkpoint.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, text

from .._wire import canonical_json
from ..errors import ConfigurationError, InvalidArgument
from ..store import Database, utcnow
from ..store._tables import audit_checkpoints, audit_events
from ._actors import Actor

GENESIS_HASH = "0" * 64
_PG_AUDIT_LOCK = 0x6D6C7374  # "mlst": serialises appends across PostgreSQL writers
_MAX_DETAILS_BYTES = 64 * 1024


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    ts: dt.datetime
    actor_id: str
    actor_name: str
    actor_kind: str
    action: str
    project_id: str | None
    target_type: str
    target_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ts"] = _format_ts(self.ts)
        return data


@dataclass(frozen=True)
class AuditCheckpoint:
    seq: int
    event_hash: str
    created_at: dt.datetime
    key_id: str
    signature: str


@dataclass(frozen=True)
class AuditVerifyReport:
    """Result of ``audit verify``: ``first_bad_seq`` names the first broken position."""

    ok: bool
    events: int
    checkpoints: int
    last_checkpoint_seq: int | None
    first_bad_seq: int | None = None
    problem: str | None = None


def _format_ts(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def compute_event_hash(
    *,
    seq: int,
    ts: dt.datetime,
    actor_id: str,
    actor_name: str,
    actor_kind: str,
    action: str,
    project_id: str | None,
    target_type: str,
    target_id: str,
    details: dict[str, Any],
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "ts": _format_ts(ts),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "actor_kind": actor_kind,
        "action": action,
        "project_id": project_id,
        "target_type": target_type,
        "target_id": target_id,
        "details": details,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


def _event_from_row(row: Row[Any]) -> AuditEvent:
    m = row._mapping
    return AuditEvent(
        seq=int(m["seq"]),
        ts=m["ts"],
        actor_id=m["actor_id"],
        actor_name=m["actor_name"],
        actor_kind=m["actor_kind"],
        action=m["action"],
        project_id=m["project_id"],
        target_type=m["target_type"],
        target_id=m["target_id"],
        details=m["details"],
        prev_hash=m["prev_hash"],
        hash=m["hash"],
    )


class CheckpointSigner:
    """Ed25519 key for checkpoints, kept in a file (created 0600 on first use)."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self._key: Any = None

    def _load(self, *, create: bool = True) -> Any:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        if self._key is not None:
            return self._key
        if not self.key_file.exists() and not create:
            raise ConfigurationError(
                f"the audit signing key {self.key_file} is missing, so signed checkpoints "
                "cannot be checked: restore it, or point MLSTEWARD_AUDIT_KEY_FILE at the key "
                "the other replicas use"
            )
        if not self.key_file.exists():
            self.key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            # Another process may create it first (FileExistsError): then load theirs.
            with contextlib.suppress(FileExistsError):
                fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(pem)
        try:
            key = serialization.load_pem_private_key(self.key_file.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot read the audit signing key {self.key_file}: {exc}"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigurationError(f"{self.key_file} is not an Ed25519 private key")
        self._key = key
        return key

    @property
    def key_id(self) -> str:
        from cryptography.hazmat.primitives import serialization

        raw = (
            self._load()
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        return hashlib.sha256(raw).hexdigest()[:16]

    def sign(self, message: bytes) -> str:
        return str(self._load().sign(message).hex())

    def verify(self, message: bytes, signature_hex: str) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            self._load(create=False).public_key().verify(bytes.fromhex(signature_hex), message)
        except (InvalidSignature, ValueError):
            return False
        return True


def _checkpoint_message(seq: int, event_hash: str, created_at: dt.datetime) -> bytes:
    return canonical_json(
        {
            "type": "mlsteward.audit_checkpoint",
            "schema_version": 1,
            "seq": seq,
            "event_hash": event_hash,
            "created_at": _format_ts(created_at),
        }
    )


class AuditLog:
    """Appends events inside the caller's transaction and verifies the chain."""

    def __init__(self, signer: CheckpointSigner, checkpoint_interval: int = 100) -> None:
        self.signer = signer
        self.checkpoint_interval = checkpoint_interval

    def record(
        self,
        conn: Connection,
        actor: Actor,
        action: str,
        *,
        target_type: str,
        target_id: str,
        project_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Append one event in the caller's transaction (so it commits or rolls back with it)."""
        details = dict(details or {})
        if len(canonical_json(details)) > _MAX_DETAILS_BYTES:
            raise InvalidArgument("audit details are too large")
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
        last = conn.execute(
            select(audit_events.c.seq, audit_events.c.hash)
            .order_by(audit_events.c.seq.desc())
            .limit(1)
        ).first()
        seq = 1 if last is None else int(last.seq) + 1
        prev_hash = GENESIS_HASH if last is None else str(last.hash)
        fields: dict[str, Any] = {
            "seq": seq,
            "ts": utcnow(),
            "actor_id": actor.id,
            "actor_name": actor.name,
            "actor_kind": actor.kind,
            "action": action,
            "project_id": project_id,
            "target_type": target_type,
            "target_id": str(target_id)[:200],
            "details": details,
            "prev_hash": prev_hash,
        }
        event_hash = compute_event_hash(**fields)
        conn.execute(insert(audit_events).values(**fields, hash=event_hash))
        if seq % self.checkpoint_interval == 0:
            self._insert_checkpoint(conn, seq, event_hash)
        return AuditEvent(**fields, hash=event_hash)

    def _insert_checkpoint(self, conn: Connection, seq: int, event_hash: str) -> AuditCheckpoint:
        created_at = utcnow()
        signature = self.signer.sign(_checkpoint_message(seq, event_hash, created_at))
        cp = AuditCheckpoint(seq, event_hash, created_at, self.signer.key_id, signature)
        conn.execute(insert(audit_checkpoints).values(**asdict(cp)))
        return cp

    def checkpoint(self, db: Database) -> AuditCheckpoint | None:
        """Sign the current head of the chain (no-op when it is already signed or empty)."""
        with db.write() as conn:
            head = conn.execute(
                select(audit_events.c.seq, audit_events.c.hash)
                .order_by(audit_events.c.seq.desc())
                .limit(1)
            ).first()
            if head is None:
                return None
            exists = conn.execute(
                select(audit_checkpoints.c.seq).where(audit_checkpoints.c.seq == head.seq)
            ).first()
            if exists is not None:
                return None
            return self._insert_checkpoint(conn, int(head.seq), str(head.hash))

    def iter_events(self, db: Database, *, batch_size: int = 1000) -> Iterator[AuditEvent]:
        """Every event in chain order, read in batches (bounded memory)."""
        after = 0
        while True:
            with db.read() as conn:
                rows = conn.execute(
                    select(audit_events)
                    .where(audit_events.c.seq > after)
                    .order_by(audit_events.c.seq)
                    .limit(batch_size)
                ).all()
            if not rows:
                return
            for row in rows:
                yield _event_from_row(row)
            after = int(rows[-1].seq)

    def verify(
        self, db: Database, *, progress: Callable[[int], None] | None = None
    ) -> AuditVerifyReport:
        """Recompute the whole chain and check every checkpoint signature."""
        expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
        hashes_at_checkpoints: dict[int, str] = {}
        with db.read() as conn:
            checkpoints = [
                AuditCheckpoint(**dict(r._mapping))
                for r in conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq))
            ]
        wanted = {cp.seq for cp in checkpoints}

        def report(bad: int | None, problem: str | None) -> AuditVerifyReport:
            return AuditVerifyReport(
                ok=bad is None,
                events=count,
                checkpoints=len(checkpoints),
                last_checkpoint_seq=checkpoints[-1].seq if checkpoints else None,
                first_bad_seq=bad,
                problem=problem,
            )

        for event in self.iter_events(db):
            if event.seq != expected_seq:
                return report(
                    expected_seq,
                    f"expected event #{expected_seq} but found #{event.seq}: "
                    "events were deleted, inserted or renumbered",
                )
            if event.prev_hash != prev_hash:
                return report(event.seq, "previous-hash link does not match the prior event")
            recomputed = compute_event_hash(
                seq=event.seq,
                ts=event.ts,
                actor_id=event.actor_id,
                actor_name=event.actor_name,
                actor_kind=event.actor_kind,
                action=event.action,
                project_id=event.project_id,
                target_type=event.target_type,
                target_id=event.target_id,
                details=event.details,
                prev_hash=event.prev_hash,
            )
            if recomputed != event.hash:
                return report(event.seq, "event content does not match its stored hash")
            if event.seq in wanted:
                hashes_at_checkpoints[event.seq] = event.hash
            prev_hash = event.hash
            count += 1
            expected_seq += 1
            if progress is not None:
                progress(1)

        for cp in checkpoints:
            message = _checkpoint_message(cp.seq, cp.event_hash, cp.created_at)
            if not self.signer.verify(message, cp.signature):
                return report(cp.seq, f"checkpoint at #{cp.seq} has an invalid signature")
            if cp.seq > count:
                return report(
                    count + 1,
                    f"chain ends at #{count} but a signed checkpoint covers #{cp.seq}: "
                    "the newest events were removed",
                )
            if hashes_at_checkpoints.get(cp.seq) != cp.event_hash:
                return report(cp.seq, f"event #{cp.seq} differs from its signed checkpoint")
        return report(None, None)

    def count(self, db: Database) -> int:
        with db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_events)).scalar_one())
