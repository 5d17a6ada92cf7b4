"""Helpers for portal tests: recordings with real WAV files, and the real login flow."""

from __future__ import annotations

import math
import re
import struct
import wave
from datetime import datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from catalog.models import Recording, Speaker, Transcript, TranscriptSegment, Word
from catalog.repository import Catalog

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def write_wav(path: Path, seconds: float = 1.0, rate: int = 8000) -> Path:
    frames = b"".join(
        struct.pack("<hh", int(8000 * math.sin(i / 8)), int(4000 * math.sin(i / 5)))
        for i in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return path


def add_calls(catalog: Catalog, tmp: Path, start: datetime, specs: list[dict]) -> list[Recording]:
    wav = write_wav(tmp / "call.wav")
    out = []
    for i, spec in enumerate(specs):
        rec = Recording(started_at=start + timedelta(minutes=i), duration_seconds=1.0, **spec)
        out.append(catalog.add_recording(rec, audio=wav))
    return out


def add_transcript(
    catalog: Catalog, rec: Recording, word_probabilities: tuple[float, float] | None = None
) -> Transcript:
    """Two segments, caller then callee; with ``word_probabilities`` each segment's words carry
    that recogniser probability (as the engine stores them)."""
    lines = [
        (Speaker.caller, 0, 0.0, 0.4, "I want to cancel my subscription"),
        (Speaker.callee, 1, 0.5, 0.9, "Sorry to hear that"),
    ]
    segments = []
    for i, (speaker, channel, start, end, text) in enumerate(lines):
        words = []
        if word_probabilities is not None:
            step = (end - start) / len(text.split())
            words = [
                Word(
                    word=w,
                    start=start + k * step,
                    end=start + (k + 1) * step,
                    probability=word_probabilities[i],
                )
                for k, w in enumerate(text.split())
            ]
        segments.append(
            TranscriptSegment(
                speaker=speaker, channel=channel, start=start, end=end, text=text, words=words
            )
        )
    t = Transcript(recording_id=rec.id, engine="test", segments=segments)
    catalog.save_transcript(t)
    return t


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "page has no CSRF field"
    return m.group(1)


def login(client: TestClient, person, clock, *, next_: str = "/recordings") -> None:
    """The real flow: password form, then the TOTP form. Each login uses a fresh 30 s step
    (codes are single-use)."""
    clock.advance(seconds=31)
    page = client.get(f"/login?next={next_}")
    r = client.post(
        "/login",
        data={
            "email": person.email,
            "password": person.new.password,
            "next": next_,
            "csrf": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"])
    assert page.status_code == 200
    r = client.post(
        "/login/2fa",
        data={"code": person.code(clock), "next": next_, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code in (200, 303), r.text


def logged_in(app, person, clock, **kw: object) -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(app, client=("127.0.0.1", 50000), **kw)  # type: ignore[arg-type]
    login(client, person, clock)
    return client
