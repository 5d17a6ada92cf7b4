"""Announcements: each choice is a real 8 kHz prompt at the account's stable URL; custom upload;
bad choices refused by the config file and the form."""

from __future__ import annotations

import io
import shutil
import wave

import numpy as np
import pytest

from services.config.base import ConfigFileError
from services.config.document import apply_document
from tests.portal.portal_support import csrf_of, write_wav


def _choose(catalog, choice: str) -> None:
    apply_document(catalog, {"account": {"features": {"announcements": choice}}})


def _pcm(data: bytes) -> tuple[int, int, np.ndarray]:
    with wave.open(io.BytesIO(data)) as w:
        return (
            w.getframerate(),
            w.getnchannels(),
            np.frombuffer(w.readframes(w.getnframes()), "<i2"),
        )


def test_beep_and_none(app, admin_client, catalog):
    url = f"/announcements/{catalog.account().account_guid}.wav"
    assert admin_client.get(url).status_code == 404  # default: none
    _choose(catalog, "beep")
    r = admin_client.get(url)
    rate, channels, pcm = _pcm(r.content)
    assert (r.status_code, rate, channels) == (200, 8000, 1)
    assert len(pcm) == 3200 and np.abs(pcm).max() > 10000
    # the URL needs no login (the PBX fetches it) but only the account's own GUID works
    from fastapi.testclient import TestClient

    assert TestClient(app).get(url).status_code == 200
    assert TestClient(app).get("/announcements/nope.wav").status_code == 404


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_spoken_prompts_differ_by_voice(admin_client, catalog):
    url = f"/announcements/{catalog.account().account_guid}.wav"
    out = {}
    for choice in ("recorded-and-monitored-male", "recorded-and-monitored-female"):
        _choose(catalog, choice)
        rate, _, pcm = _pcm(admin_client.get(url).content)
        assert rate == 8000 and len(pcm) / rate > 1.0 and np.abs(pcm).max() > 10000
        out[choice] = pcm
    assert not np.array_equal(*out.values())


def test_bad_choice_is_refused(catalog):
    with pytest.raises(ConfigFileError) as e:
        _choose(catalog, "trumpets")
    assert "account.features.announcements" in str(e.value)
    _choose(catalog, "standard")  # the first release's value still applies
    assert catalog.account().features.announcements == "this-call-is-recorded-female"


def test_custom_upload_is_normalised_and_served(admin_client, catalog, tmp_path):
    page = admin_client.get("/account?tab=features")
    assert 'id="announcement-url"' in page.text
    wav = write_wav(tmp_path / "mine.wav", seconds=2.0, rate=16000)
    r = admin_client.post(
        "/account/announcement",
        data={"csrf": csrf_of(page.text)},
        files={"file": ("mine.wav", wav.read_bytes(), "audio/wav")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert catalog.account().features.announcements == "custom"
    rate, channels, pcm = _pcm(
        admin_client.get(f"/announcements/{catalog.account().account_guid}.wav").content
    )
    assert (rate, channels, len(pcm)) == (8000, 1, 16000)
    bad = admin_client.post(
        "/account/announcement",
        data={"csrf": csrf_of(page.text)},
        files={"file": ("x.wav", b"not a wav", "audio/wav")},
    )
    assert bad.status_code == 400 and "not a PCM WAV" in bad.text
