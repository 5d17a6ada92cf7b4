"""Verify recordings against their signed, chained manifests (see catalog/manifests.py).

Per recording: ``intact`` (file bytes, catalog row and manifest agree and the signature holds),
``altered`` (one of them changed) or ``missing`` (no file, no row, or no manifest). Over the whole
chain: every ``seq`` from 1 to the head is present, each manifest's ``prev`` is the previous
manifest's SHA-256 and every signature holds; otherwise the chain is ``broken`` at that point
(a manifest was removed, reordered or rewritten). A recording deleted by retention keeps its
manifest, so the chain stays whole and the deletion is reported as such, not as tampering.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from catalog.manifests import (
    GENESIS,
    Manifest,
    iter_chain,
    manifest_for,
    signature_ok,
    signing_key,
)
from catalog.models import Recording
from catalog.quality import iter_recordings, retention_deleted
from catalog.repository import Catalog

INTACT, ALTERED, MISSING, BROKEN, DELETED = "intact", "altered", "missing", "broken", "deleted"


@dataclass(frozen=True)
class Verdict:
    subject: str  # a recording id, or "chain"
    status: str  # intact | altered | missing | broken | deleted
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (INTACT, DELETED)

    def line(self) -> str:
        return f"{self.subject}: {self.status}" + (f" ({self.reason})" if self.reason else "")


def _file_digest(catalog: Catalog, rec: Recording) -> tuple[int, str] | None:
    if not rec.file_key or not catalog.store.exists(rec.file_key):
        return None
    h = hashlib.sha256()
    size = 0
    with catalog.store.open(rec.file_key) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def check_recording(catalog: Catalog, rec: Recording, manifest: Manifest | None) -> Verdict:
    if manifest is None:
        return Verdict(rec.id, MISSING, "no manifest: never sealed, or its manifest was removed")
    public = signing_key(catalog.settings.resolved_secret_key()).public_key()
    if not signature_ok(public, manifest):
        return Verdict(rec.id, ALTERED, "manifest does not match its signature")
    doc = manifest.doc
    if doc.get("recording_id") != rec.id:
        return Verdict(rec.id, ALTERED, "manifest names another recording")
    if not rec.file_key:
        return Verdict(rec.id, MISSING, "the recording has no audio in the store (archived?)")
    actual = _file_digest(catalog, rec)
    if actual is None:
        return Verdict(rec.id, MISSING, f"audio file {rec.file_key} is not in the store")
    size, digest = actual
    if digest != doc.get("sha256"):
        return Verdict(
            rec.id,
            ALTERED,
            f"file sha256 {digest[:16]}… differs from the signed {str(doc.get('sha256'))[:16]}…"
            f" (size {size}, signed {doc.get('size')})",
        )
    if rec.sha256 != doc.get("sha256"):
        return Verdict(rec.id, ALTERED, "catalog row's sha256 differs from the signed one")
    for field, value in (("from", rec.from_number), ("to", rec.to_number)):
        if doc.get(field) != value:
            return Verdict(
                rec.id, ALTERED, f"catalog row's {field} number differs from the signed one"
            )
    return Verdict(rec.id, INTACT)


def verify_one(catalog: Catalog, recording_id: str) -> Verdict:
    rec = catalog.get_recording(recording_id)
    if rec is None:
        m = manifest_for(catalog, recording_id)
        if m is not None and retention_deleted(catalog, recording_id):
            return Verdict(recording_id, DELETED, "deleted under retention; manifest kept")
        return Verdict(recording_id, MISSING, "no such recording in the catalog")
    return check_recording(catalog, rec, manifest_for(catalog, rec.id))


def verify_chain(catalog: Catalog) -> Iterator[Verdict]:
    """Walk the chain once: a verdict per break, then per manifest whose recording is gone."""
    public = signing_key(catalog.settings.resolved_secret_key()).public_key()
    expected_seq, prev = 1, GENESIS
    for m in iter_chain(catalog):
        if m.seq != expected_seq:
            yield Verdict(
                "chain",
                BROKEN,
                f"manifests {expected_seq}..{m.seq - 1} are missing "
                "(recordings removed from the chain)",
            )
        elif m.doc.get("prev") != prev:
            yield Verdict("chain", BROKEN, f"manifest {m.seq} does not follow manifest {m.seq - 1}")
        if not signature_ok(public, m) or m.doc.get("seq") != m.seq:
            yield Verdict("chain", BROKEN, f"manifest {m.seq} does not match its signature")
        expected_seq, prev = m.seq + 1, m.digest


def verify_all(catalog: Catalog, batch: int = 500) -> Iterator[Verdict]:
    """Every recording (intact / altered / missing), then the chain's breaks."""
    seen: set[str] = set()
    for m in iter_chain(catalog):
        seen.add(m.recording_id)
        rec = catalog.get_recording(m.recording_id)
        if rec is None:
            yield verify_one(catalog, m.recording_id)
        else:
            yield check_recording(catalog, rec, m)
    for rec in iter_recordings(catalog, batch):
        if rec.id not in seen:
            yield check_recording(catalog, rec, None)
    yield from verify_chain(catalog)


def seal_unsealed(catalog: Catalog, batch: int = 500) -> int:
    """Seal every recording that has no manifest (captured before this feature, or whose
    sealing failed), hashing the file as it is now; returns how many were sealed."""
    from catalog.manifests import seal
    from catalog.store import sha256_file

    todo: list[Recording] = []
    sealed = 0
    sealed_ids = {m.recording_id for m in iter_chain(catalog)}
    for rec in iter_recordings(catalog, batch):
        if rec.id in sealed_ids or not rec.file_key or not catalog.store.exists(rec.file_key):
            continue
        size, digest = sha256_file(catalog.store.local_path(rec.file_key))
        if digest != rec.sha256:
            continue  # already differs from what capture recorded: left for verify to report
        rec.file_size = size
        todo.append(rec)
        if len(todo) >= batch:
            sealed += len(seal(catalog, todo))
            todo = []
    if todo:
        sealed += len(seal(catalog, todo))
    return sealed
