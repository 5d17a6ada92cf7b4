"""Hand-off to the catalog: a finished (or crash-recovered) call becomes a ``captured`` row.

Live calls are written to ``DATA_DIR/recorder/live/<recording id>.rec`` (a WAV file under
another suffix, so nobody mistakes a growing file for a finished recording) next to a JSON
sidecar holding the call's metadata. Capture hard-links the file into the recording store,
inserts the row, then removes the live files; every step is safe to repeat, so a crash at any
point is finished by the start-up repair, never duplicated and never lost.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from catalog.capture_policy import apply_capture_policy
from catalog.models import Direction, Participant, PauseSpan, Recording
from catalog.repository import Catalog
from catalog.store import LocalStore
from recorder import wav

log = logging.getLogger("recflow.recorder")

LIVE_SUFFIX = ".rec"


class CaptureSink(Protocol):
    def capture(
        self, description: dict[str, Any], audio: Path, frames: int, *, recovered: bool = False
    ) -> str:
        """Make the recording durable in the catalog; returns its id. Safe to repeat."""


def live_dir(data_dir: Path) -> Path:
    d = data_dir / "recorder" / "live"
    d.mkdir(parents=True, exist_ok=True)
    return d


def write_sidecar(path: Path, description: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(description, default=str))
    os.replace(tmp, path)


def _dt(value: Any) -> datetime | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def recording_from_description(desc: dict[str, Any], frames: int, rate: int = 8000) -> Recording:
    direction = desc.get("direction") or "unknown"
    if direction not in Direction.__members__:
        direction = "unknown"
    started = _dt(desc.get("started_at")) or datetime.now(UTC)
    return Recording(
        id=desc["recording_id"],
        call_id=desc.get("call_id", ""),
        from_number=desc.get("from_number", "")[:64],
        from_name=desc.get("from_name", "")[:255],
        to_number=desc.get("to_number", "")[:64],
        to_name=desc.get("to_name", "")[:255],
        direction=Direction(direction),
        started_at=started,
        answered_at=_dt(desc.get("answered_at")),
        ended_at=_dt(desc.get("ended_at")),
        duration_seconds=round(frames / rate, 3),
        channels=2,
        sample_rate=rate,
        codec=desc.get("codec", ""),
        private=bool(desc.get("private")),
        participants=[Participant(**p) for p in desc.get("participants", [])],
        pauses=[PauseSpan(**p) for p in desc.get("pauses", [])],
        metadata=desc.get("metadata", {}),
        file_key=f"{started:%Y/%m/%d}/{desc['recording_id']}.wav",
    )


class CatalogSink:
    """Captures into a :class:`catalog.repository.Catalog` (runs in a worker thread)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def capture(
        self, description: dict[str, Any], audio: Path, frames: int, *, recovered: bool = False
    ) -> str:
        rec = recording_from_description(description, frames)
        if recovered and self.catalog.get_recording(rec.id) is not None:
            return rec.id  # the crashed process got as far as the row
        apply_capture_policy(self.catalog, [rec])  # account switches: *1, announcement
        self.catalog.add_recording(rec, audio=self._place(rec, audio))
        return rec.id

    def capture_many(self, items: list[tuple[dict[str, Any], Path, int]]) -> list[str]:
        """Several finished calls in one database transaction (files first, as one by one).

        Under load calls end many per second; one commit for a batch instead of one each is
        most of the capture cost saved. If the batch insert fails, each is captured alone.
        """
        recs = []
        for description, audio, frames in items:
            rec = recording_from_description(description, frames)
            rec.file_size, rec.sha256 = self.catalog.store.put_file(
                rec.file_key, self._place(rec, audio)
            )
            recs.append(rec)
        apply_capture_policy(self.catalog, recs)  # account switches: *1, announcement
        try:
            self.catalog.add_recordings(recs)
        except Exception:
            log.warning("batch capture failed; capturing one by one", exc_info=True)
            return [self.capture(d, a, f, recovered=True) for d, a, f in items]
        from catalog.manifests import seal_quietly  # tamper evidence: one append per batch

        seal_quietly(self.catalog, recs)
        return [rec.id for rec in recs]

    def _place(self, rec: Recording, audio: Path) -> Path:
        """Hard-link the live file into a local store (no copy); the store's path or ours."""
        source = audio
        store = self.catalog.store
        if isinstance(store, LocalStore):
            dest = store.local_path(rec.file_key)
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                dest.unlink(missing_ok=True)
                os.link(audio, dest)  # no copy; the store sees its own file
                source = dest
            except OSError:
                source = audio  # another filesystem: the store copies
        return source


def finish_live(
    sink: CaptureSink,
    description: dict[str, Any],
    audio: Path,
    frames: int,
    *,
    recovered: bool = False,
) -> str:
    rid = sink.capture(description, audio, frames, recovered=recovered)
    audio.unlink(missing_ok=True)
    audio.with_suffix(".json").unlink(missing_ok=True)
    return rid


def repair_live(sink: CaptureSink, directory: Path) -> list[str]:
    """Capture what a crashed recorder left behind: trim, fix headers, mark as recovered."""
    done: list[str] = []
    for audio in sorted(directory.glob(f"*{LIVE_SUFFIX}")):
        side = audio.with_suffix(".json")
        try:
            _channels, _rate, frames = wav.repair(audio)
        except (OSError, ValueError) as e:
            log.error("cannot repair %s: %s", audio.name, e)
            continue
        try:
            desc = json.loads(side.read_text())
        except (OSError, ValueError):
            desc = {"recording_id": audio.stem}
        mtime = datetime.fromtimestamp(audio.stat().st_mtime, UTC)
        desc.setdefault("started_at", mtime.isoformat())
        desc["ended_at"] = desc.get("ended_at") or mtime.isoformat()
        meta = desc.setdefault("metadata", {})
        meta["recovered"] = True
        meta["end_reason"] = meta.get("end_reason") or "recorder-crash"
        try:
            done.append(finish_live(sink, desc, audio, frames, recovered=True))
        except Exception:
            log.exception("capture of recovered %s failed; will retry at next start", audio.name)
    for side in directory.glob("*.json"):
        if not side.with_suffix(LIVE_SUFFIX).exists():
            side.unlink(missing_ok=True)  # its audio was captured just before a crash
    return done
