"""Recording announcements (Focus): the account's choice becomes a real audio prompt that the
PBX/SBC plays to the parties, served at a stable URL per account
(``/announcements/<account guid>.wav``; see docs/quality.md for FreeSWITCH, Asterisk and KAZOO).

Prompts are 8 kHz 16-bit mono WAV (what every PBX plays without transcoding). Spoken prompts are
synthesised once with espeak-ng (male: ``en-us``, female: ``en-us+f3``) and cached under
``DATA_DIR/announcements/``; the beep is a 1 kHz tone; ``custom`` is an uploaded WAV, normalised
to the same format. ``none`` serves nothing (404), so a PBX plays nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from catalog.audio import Audio, AudioError, read_wav, resample, write_wav

RATE = 8000
PHRASES = {
    "this-call-is-recorded": "This call is recorded.",
    "recording": "Recording.",
    "recorded-and-monitored": "This call is recorded and monitored.",
}
VOICES = {"male": "en-us", "female": "en-us+f3"}
CHOICES = [
    "none",
    "beep",
    *(f"{p}-{v}" for p in PHRASES for v in VOICES),
    "custom",
]
ALIASES = {"standard": "this-call-is-recorded-female"}  # the first release's only choice
MAX_CUSTOM_SECONDS = 30.0


class AnnouncementError(ValueError):
    pass


def canonical(choice: str) -> str:
    choice = ALIASES.get(choice, choice)
    if choice not in CHOICES:
        raise AnnouncementError(f"unknown announcement {choice!r} (choices: {', '.join(CHOICES)})")
    return choice


def label(choice: str) -> str:
    choice = ALIASES.get(choice, choice)
    if choice in ("none", "beep", "custom"):
        return {"none": "None", "beep": "Beep", "custom": "Custom upload"}[choice]
    phrase, _, voice = choice.rpartition("-")
    return f"“{PHRASES[phrase].rstrip('.')}” ({voice})"


def _dir(data_dir: Path) -> Path:
    d = data_dir / "announcements"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _to_8k_mono(audio: Audio) -> Audio:
    x = audio.samples.astype(np.float32).mean(axis=1) / 32768.0
    y = resample(x, audio.sample_rate, RATE)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0:
        y = y * (0.7 / peak)  # -3 dBFS: audible, never clipping
    pcm = np.clip(y * 32767.0, -32768, 32767).astype(np.int16).reshape(-1, 1)
    return Audio(pcm, RATE)


def _beep() -> Audio:
    t = np.arange(int(0.4 * RATE)) / RATE
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms fades: no clicks
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t) * ramp
    return Audio((tone * 32767).astype(np.int16).reshape(-1, 1), RATE)


def _speak(text: str, voice: str) -> Audio:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise AnnouncementError("espeak-ng is not installed (scripts/setup installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tts.wav"
        subprocess.run(
            [exe, "-v", voice, "-s", "150", "-w", str(out), text],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return _to_8k_mono(read_wav(out))


def prompt_path(data_dir: Path, choice: str) -> Path | None:
    """The prompt's WAV file for ``choice`` (made on first use), or None for ``none`` and for a
    ``custom`` choice without an upload."""
    choice = canonical(choice)
    if choice == "none":
        return None
    path = _dir(data_dir) / f"{choice}.wav"
    if choice == "custom":
        return path if path.is_file() else None
    if not path.is_file():
        if choice == "beep":
            audio = _beep()
        else:
            phrase, _, voice = choice.rpartition("-")
            audio = _speak(PHRASES[phrase], VOICES[voice])
        tmp = path.with_suffix(".part")
        write_wav(tmp, audio)
        tmp.replace(path)
    return path


def save_custom(data_dir: Path, upload: Path) -> float:
    """Normalise an uploaded WAV into the custom prompt; returns its length in seconds."""
    try:
        audio = read_wav(upload)
    except AudioError as e:
        raise AnnouncementError(str(e).replace(str(upload), "upload")) from None
    if audio.duration > MAX_CUSTOM_SECONDS:
        raise AnnouncementError(f"an announcement is at most {MAX_CUSTOM_SECONDS:.0f} s long")
    prompt = _to_8k_mono(audio)
    path = _dir(data_dir) / "custom.wav"
    tmp = path.with_suffix(".part")
    write_wav(tmp, prompt)
    tmp.replace(path)
    return prompt.duration
