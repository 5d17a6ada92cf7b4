"""Shared test helpers: speech audio, word error rate, free ports, a running `recflow up`.

Everything here talks to 127.0.0.1 only and cleans up after itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
AUDIO_CACHE = Path(tempfile.gettempdir()) / "recflow-test-audio"
VENV_BIN = Path(sys.executable).parent
RECFLOW = str(VENV_BIN / "recflow")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def have(cmd: str) -> bool:
    return shutil.which(cmd) is not None


# ---------------------------------------------------------------- speech


@dataclass(frozen=True)
class CallAudio:
    stereo: Path  # 8 kHz 16-bit stereo WAV: caller on channel 0, callee on channel 1
    caller_ulaw: Path  # headerless G.711 mu-law of the caller channel (for SIPp rtp_stream)
    ref_caller: str
    ref_callee: str
    seconds: float


def ulaw_encode(pcm: np.ndarray) -> np.ndarray:
    x = np.clip(pcm.astype(np.int32), -32635, 32635)
    sign = (x < 0).astype(np.int32) << 7
    x = np.abs(x) + 0x84
    exp = np.clip(np.floor(np.log2(x)).astype(np.int32) - 7, 0, 7)
    man = (x >> (exp + 3)) & 0x0F
    return (~(sign | (exp << 4) | man) & 0xFF).astype(np.uint8)


def ulaw_decode(b: bytes) -> np.ndarray:
    u = ~np.frombuffer(b, dtype=np.uint8)
    exp = (u >> 4) & 7
    man = u & 15
    mag = (((man.astype(np.int32) << 3) + 0x84) << exp) - 0x84
    return np.where(u & 0x80, -mag, mag).astype(np.int16)


def phone_band(text: str, voice: str, out: Path, wpm: int = 150) -> np.ndarray:
    """espeak-ng → phone band (300-3400 Hz, 8 kHz, peak -3 dBFS), 16-bit samples."""
    raw, band = out.with_suffix(".raw.wav"), out.with_suffix(".8k.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(raw), text], check=True)
    subprocess.run(
        [
            "sox",
            "-R",  # repeatable: sox dithers, and unseeded dither made each rendering differ
            str(raw),
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            str(band),
            "sinc",
            "300-3400",
            "norm",
            "-3",
        ],
        check=True,
    )
    with wave.open(str(band)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def speak(text: str, voice: str, out: Path) -> np.ndarray:
    """espeak-ng → phone band → through G.711 and back, as a call sounds."""
    return ulaw_decode(ulaw_encode(phone_band(text, voice, out)).tobytes())


def make_call(lines: list[tuple[str, str]], *, gap_seconds: float = 0.4) -> CallAudio:
    """A two-voice call: each line is (\"caller\"|\"callee\", text); the other channel is silent
    while one speaks. Cached by content, so a test session renders each call once."""
    key = hashlib.sha256(json.dumps([lines, gap_seconds]).encode()).hexdigest()[:16]
    out = AUDIO_CACHE / key
    index = out / "index.json"
    if index.exists():
        data = json.loads(index.read_text())
        return CallAudio(
            Path(data["stereo"]),
            Path(data["caller_ulaw"]),
            data["ref_caller"],
            data["ref_callee"],
            data["seconds"],
        )
    out.mkdir(parents=True, exist_ok=True)
    gap = np.zeros(int(8000 * gap_seconds), dtype=np.int16)
    chans: dict[str, list[np.ndarray]] = {"caller": [], "callee": []}
    refs: dict[str, list[str]] = {"caller": [], "callee": []}
    for i, (who, text) in enumerate(lines):
        pcm = speak(text, "en-us" if who == "caller" else "en-us+f3", out / f"part{i}.wav")
        other = "callee" if who == "caller" else "caller"
        chans[who] += [pcm, gap]
        chans[other] += [np.zeros(len(pcm), dtype=np.int16), gap]
        refs[who].append(text)
    a, b = np.concatenate(chans["caller"]), np.concatenate(chans["callee"])
    stereo = out / "stereo.wav"
    with wave.open(str(stereo), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.stack([a, b], axis=1).astype("<i2").tobytes())
    (out / "caller.ul").write_bytes(ulaw_encode(a).tobytes())
    data = {
        "stereo": str(stereo),
        "caller_ulaw": str(out / "caller.ul"),
        "ref_caller": " ".join(refs["caller"]),
        "ref_callee": " ".join(refs["callee"]),
        "seconds": len(a) / 8000,
    }
    index.write_text(json.dumps(data))
    return make_call(lines, gap_seconds=gap_seconds)


CANCEL_CALL = [
    ("caller", "Hello, I would like to cancel my subscription please."),
    ("callee", "I am sorry to hear that. Can I ask why you want to leave?"),
    ("caller", "Your competitor offers the same service for less money."),
    ("callee", "Let me see what discount I can offer you today."),
]
HOURS_CALL = [
    ("caller", "Hi, what time does the store open on Saturday?"),
    ("callee", "We open at nine in the morning and close at five."),
]

_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


# Contractions are spelled out on both sides, as Whisper's own English normaliser does for WER:
# "I'm sorry" for "I am sorry" is the same words, not two errors.
_CONTRACTIONS = [
    (r"\bwon't\b", "will not"),
    (r"\bcan't\b", "can not"),
    (r"\blet's\b", "let us"),
    (r"n't\b", " not"),
    (r"'re\b", " are"),
    (r"'ve\b", " have"),
    (r"'ll\b", " will"),
    (r"\bi'm\b", "i am"),
]


def words(text: str) -> list[str]:
    text = re.sub(r"\d", lambda m: f" {_DIGITS[int(m.group())]} ", text.lower())
    text = text.replace("\u2019", "'")
    for pattern, full in _CONTRACTIONS:
        text = re.sub(pattern, full, text)
    return re.findall(r"[a-z']+", text)


def wer(ref: str, hyp: str) -> float:
    """Word error rate (Levenshtein over words / reference length)."""
    r, h = words(ref), words(hyp)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(h)] / max(1, len(r))


# ---------------------------------------------------------------- processes


def child_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "RECFLOW_"))}
    env.update(
        {
            "RECFLOW_DATA_DIR": str(data_dir),
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "RECFLOW_PREFECT_NO_UI": "1",
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
            # a test's `recflow up` registers here, not beside systems running on this machine;
            # its commands stay quiet about data dirs (test_data_dir_notice turns that back on)
            "RECFLOW_RUN_DIR": str(data_dir.parent / f"recflow-run-{data_dir.name}"),
            "RECFLOW_DATA_DIR_NOTICE": "0",
        }
    )
    env.update(extra)
    return env


def wait_until(predicate, timeout: float, interval: float = 0.5, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout:.0f}s")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


class PrefectServer:
    """A Prefect API server (SQLite unless ``database_url``) in its own process group."""

    def __init__(self, home: Path, database_url: str | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.database_url = database_url
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> PrefectServer:
        self.home.mkdir(parents=True, exist_ok=True)
        env = child_env(
            self.home, PREFECT_HOME=str(self.home), PREFECT_API_LOG_RETRYABLE_ERRORS="true"
        )
        if self.database_url:
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = self.database_url
        log = open(self.home / "server.log", "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "recflow.prefect_server",  # what `recflow up` runs: prefect server start + …
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-ui",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: http_ok(f"{self.api_url}/health"), 180, what="Prefect server health")
        return self

    def stop(self) -> None:
        stop_group(self.proc)


@contextlib.contextmanager
def serve_in_thread(app: Any, port: int) -> Iterator[str]:
    """An ASGI app served by uvicorn on 127.0.0.1:``port`` in a daemon thread of this process
    (so a test can reach the app's catalog directly); yields the base URL."""
    import threading

    import uvicorn

    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A `recflow worker` in its own process group (stop it with :func:`stop_group`), its output
    appended to ``log``."""
    return subprocess.Popen(
        [RECFLOW, "worker"],
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_group(proc: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def cli(
    env: dict[str, str], *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([RECFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"recflow {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


class Stack:
    """`recflow up` on free ports in a temp data dir, in its own process group."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data = data_dir
        self.data.mkdir(parents=True, exist_ok=True)
        self.sip = free_port(socket.SOCK_DGRAM)
        self.portal = free_port()
        self.prefect = free_port()
        base = 40000 + (os.getpid() % 40) * 100
        self.rtp = f"{base}-{base + 99}"
        self.env = child_env(data_dir, **env)
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return cli(self.env, *args, check=check, timeout=timeout)

    def up(self, timeout: float = 240) -> Stack:
        log = open(self.data / "up.log", "ab")
        self.proc = subprocess.Popen(
            [
                RECFLOW,
                "up",
                "--data-dir",
                str(self.data),
                "--sip-port",
                str(self.sip),
                "--rtp-ports",
                self.rtp,
                "--portal-port",
                str(self.portal),
                "--prefect-port",
                str(self.prefect),
                "--bind",
                "127.0.0.1",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"recflow up exited: {self.log_tail()}")
            return (self.data / "runtime.json").exists()

        wait_until(ready, timeout, what="recflow up")
        return self

    def log_tail(self, n: int = 3000) -> str:
        out = []
        for p in [self.data / "up.log", *sorted((self.data / "logs").glob("*.log"))]:
            if p.exists():
                out.append(f"--- {p.name}\n{p.read_text(errors='replace')[-n:]}")
        return "\n".join(out)

    def down(self) -> None:
        stop_group(self.proc, timeout=45)

    def wait_status(
        self, recording_id: str, status: str = "processed", timeout: float = 240
    ) -> dict:
        def check() -> dict | None:
            r = self.cli("recordings", "show", recording_id, "--json", check=False)
            if r.returncode == 0:
                data = json.loads(r.stdout)
                if data["status"] == status:
                    return data
                if data["status"] == "failed" and status != "failed":
                    raise AssertionError(f"recording failed: {data['error']}\n{self.log_tail()}")
            return None

        try:
            return wait_until(check, timeout, interval=1, what=f"recording {status}")
        except TimeoutError:
            raise AssertionError(
                f"recording {recording_id} not {status}\n{self.log_tail()}"
            ) from None
