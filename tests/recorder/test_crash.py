"""kill -9 during 20 live calls, then restart: every call is repaired and captured with its
audio up to the kill (minus at most ~1 s: the reorder window plus one flush interval)."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import numpy as np

from recorder.media import ULAW
from tests.recorder.helpers import (
    Dialog,
    Recorder,
    Uac,
    rtp_packet,
    sdp_media_ports,
    sdp_offer,
    tone,
)

CALLS = 20


def test_kill_9_then_restart_captures_every_call(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "data").start()
    uac = Uac(("127.0.0.1", rec.sip))
    ports, audio = [], []
    for i in range(CALLS):
        d = Dialog(uac, from_user=f"+4420700000{i:02d}")
        ports.append(sdp_media_ports(d.invite(sdp_offer(8000 + 2 * i)))[0])
        audio.append(tone(3.0, 300 + 20 * i, i))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    sent = 0
    while sent < 125:  # 2.5 s of audio on every call, paced at 20 ms
        for i, port in enumerate(ports):
            chunk = audio[i][sent * 160 : (sent + 1) * 160]
            sender.sendto(rtp_packet(sent, 160 * sent, 100 + i, chunk), ("127.0.0.1", port))
        sent += 1
        time.sleep(max(0.0, start + sent * 0.02 - time.monotonic()))
    time.sleep(0.1)
    rec.stop(signal.SIGKILL)
    sender.close()
    uac.close()
    live = tmp_path / "data" / "recorder" / "live"
    assert len(list(live.glob("*.rec"))) == CALLS  # the crash left them behind

    rec2 = Recorder(tmp_path / "data").start()
    try:
        rows = rec2.wait_rows(CALLS, timeout=30)
    finally:
        assert rec2.stop() == 0
    assert sorted(r["from_number"] for r in rows) == [f"+4420700000{i:02d}" for i in range(CALLS)]
    for r in rows:
        assert r["metadata"]["recovered"] is True
        assert r["metadata"]["end_reason"] == "recorder-crash"
        i = int(r["from_number"][-2:])
        pcm = rec2.audio(r)[:, 0]
        ref = ULAW[np.frombuffer(audio[i][: sent * 160], np.uint8)]
        nz = np.flatnonzero(pcm)
        assert len(nz), "no audio survived"
        got = pcm[nz[0] - int(np.flatnonzero(ref)[0]) :]
        got = got[: len(ref)]
        # everything written is exactly the sent audio, and at most ~1 s is missing
        assert np.array_equal(got[: len(got) - 1], ref[: len(got) - 1])
        assert len(got) >= len(ref) - 8000 * 1.1, (len(got), len(ref))
    assert not list(live.glob("*"))
