"""Tamper evidence: a signed manifest per recording, chained per installation.

At capture each recording gets a manifest: the file's SHA-256 and size, the call's identifying
metadata, its position ``seq`` in the chain and ``prev``, the SHA-256 of the previous manifest.
The manifest's canonical JSON (sorted keys, no spaces, UTF-8) is signed with an Ed25519 key
derived from the installation's secret key (``RECFLOW_SECRET_KEY``); the public key is printed
by ``recflow recordings public-key``.

What it proves (see docs/quality.md): a file whose bytes changed no longer matches its signed
hash; a manifest whose fields were edited no longer matches its signature; a manifest removed
from the middle of the chain leaves a gap in ``seq`` and a ``prev`` that points at nothing; a
re-ordered chain breaks ``prev``. Rewriting the whole chain needs the private key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Integer, String, Text, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models import Recording, utcnow
from catalog.tables import Base

log = logging.getLogger(__name__)

GENESIS = "0" * 64
MANIFEST_VERSION = 1


class ManifestRow(Base):
    __tablename__ = "recording_manifests"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recording_id: Mapped[str] = mapped_column(String(36), unique=True)
    body: Mapped[str] = mapped_column(Text)  # the canonical JSON that was signed
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of body
    signature: Mapped[str] = mapped_column(String(128))  # base64 Ed25519 over body
    created_at: Mapped[datetime]


def signing_key(secret_key: str) -> Ed25519PrivateKey:
    seed = hashlib.sha256(b"recflow:manifest-signing:" + secret_key.encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_pem(secret_key: str) -> str:
    pub = signing_key(secret_key).public_key()
    return pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def canonical(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def manifest_of(rec: Recording, seq: int, prev: str) -> dict[str, Any]:
    return {
        "v": MANIFEST_VERSION,
        "seq": seq,
        "prev": prev,
        "recording_id": rec.id,
        "sha256": rec.sha256,
        "size": rec.file_size,
        "started_at": rec.started_at.astimezone(UTC).isoformat(),
        "from": rec.from_number,
        "to": rec.to_number,
        "direction": rec.direction.value,
        "duration_seconds": round(rec.duration_seconds, 3),
    }


@dataclass(frozen=True)
class Manifest:
    seq: int
    recording_id: str
    body: str
    digest: str
    signature: str

    @property
    def doc(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    def sidecar(self, public_pem: str = "") -> dict[str, Any]:
        """What travels next to an exported file: enough to verify it without recflow."""
        out = {
            "manifest": self.body,
            "sha256_of_manifest": self.digest,
            "signature": self.signature,
        }
        if public_pem:
            out["public_key_pem"] = public_pem
        return out


def _manifest(row: ManifestRow) -> Manifest:
    return Manifest(row.seq, row.recording_id, row.body, row.digest, row.signature)


def signature_ok(public: Ed25519PublicKey, m: Manifest) -> bool:
    try:
        public.verify(base64.b64decode(m.signature), m.body.encode())
    except (InvalidSignature, ValueError):
        return False
    return hashlib.sha256(m.body.encode()).hexdigest() == m.digest


def seal(catalog: Any, recs: Sequence[Recording], *, attempts: int = 20) -> list[Manifest]:
    """Append manifests for ``recs`` to the chain in one transaction (several recorders may seal
    at once: the primary key on ``seq`` makes one of two racing appends fail and retry)."""
    if not recs:
        return []
    key = signing_key(catalog.settings.resolved_secret_key())
    last_error: Exception | None = None
    for _ in range(attempts):
        try:
            with catalog.db.session() as s:
                head = s.execute(
                    select(ManifestRow.seq, ManifestRow.digest)
                    .order_by(ManifestRow.seq.desc())
                    .limit(1)
                ).first()
                seq, prev = (head[0], head[1]) if head else (0, GENESIS)
                out = []
                for rec in recs:
                    seq += 1
                    body = canonical(manifest_of(rec, seq, prev))
                    digest = hashlib.sha256(body.encode()).hexdigest()
                    sig = base64.b64encode(key.sign(body.encode())).decode()
                    s.add(
                        ManifestRow(
                            seq=seq,
                            recording_id=rec.id,
                            body=body,
                            digest=digest,
                            signature=sig,
                            created_at=utcnow(),
                        )
                    )
                    out.append(Manifest(seq, rec.id, body, digest, sig))
                    prev = digest
            return out
        except (IntegrityError, OperationalError) as e:
            last_error = e
            continue
    raise RuntimeError(f"could not append to the manifest chain: {last_error}")


def seal_quietly(catalog: Any, recs: Sequence[Recording]) -> None:
    """Capture must never fail because sealing did: the recording is durable already and
    ``recordings verify`` reports it as unsealed (missing manifest)."""
    try:
        seal(catalog, recs)
    except Exception:
        log.exception("sealing %d recording(s) failed; verify will report them missing", len(recs))


def manifest_for(catalog: Any, recording_id: str) -> Manifest | None:
    with catalog.db.session() as s:
        row = s.scalars(select(ManifestRow).where(ManifestRow.recording_id == recording_id)).first()
        return _manifest(row) if row else None


def manifest_at(catalog: Any, seq: int) -> Manifest | None:
    with catalog.db.session() as s:
        row = s.get(ManifestRow, seq)
        return _manifest(row) if row else None


def iter_chain(catalog: Any, batch: int = 1000) -> Iterator[Manifest]:
    """Every manifest in ``seq`` order, in batches (keyset)."""
    after = 0
    while True:
        with catalog.db.session() as s:
            rows = [
                _manifest(r)
                for r in s.scalars(
                    select(ManifestRow)
                    .where(ManifestRow.seq > after)
                    .order_by(ManifestRow.seq)
                    .limit(batch)
                )
            ]
        if not rows:
            return
        yield from rows
        after = rows[-1].seq


def delete_manifest(catalog: Any, recording_id: str) -> None:
    """For tests and the documented "what a removed manifest looks like" demonstration only;
    retention keeps manifests (the chain outlives the audio)."""
    from sqlalchemy import delete

    with catalog.db.session() as s:
        s.execute(delete(ManifestRow).where(ManifestRow.recording_id == recording_id))


def manifest_sidecar(catalog: Any, recording_id: str) -> dict[str, Any] | None:
    """The manifest as archive sidecars carry it (body, its SHA-256, signature, public key)."""
    m = manifest_for(catalog, recording_id)
    if m is None:
        return None
    return m.sidecar(public_key_pem(catalog.settings.resolved_secret_key()))
