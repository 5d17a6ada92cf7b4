"""Recorder under load: N concurrent SIPp calls streaming speech, bounded, 127.0.0.1 only.

Prints a table: calls, sample-exact WAVs, packets lost, recorder CPU seconds, call-seconds per
CPU second (= concurrent calls one core sustains), peak RSS and RSS per call.

    .venv/bin/python benchmarks/recorder_load.py --calls 200 --seconds 10 [--profile]

``--profile`` runs the recorder under cProfile and prints where its time goes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recorder.media import ULAW  # noqa: E402

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="load">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: "Load" <sip:+447700900123@[local_ip]:[local_port]>;tag=[pid]l[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:load@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=load 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=sendonly
]]></send>
  <recv response="100" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: "Load" <sip:+447700900123@[local_ip]:[local_port]>;tag=[pid]l[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
  <nop><action><exec rtp_stream="@FILE@,1,0"/></action></nop>
  <pause milliseconds="@PAUSE@"/>
  <send retrans="500"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: "Load" <sip:+447700900123@[local_ip]:[local_port]>;tag=[pid]l[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the process, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user+sys): the event-loop thread vs the others (capture worker)."""
    out: dict[str, float] = {}
    tck = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = "loop" if task.name == str(pid) else "workers"
            f = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + (int(f[11]) + int(f[12])) / tck
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def speech_ulaw(seconds: int, workdir: Path) -> bytes:
    text = (
        "Hello, this is a load test of the recorder. I want to cancel my subscription, "
        "please call me back tomorrow morning about the invoice. "
    ) * 4
    wav = workdir / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav), text], check=True)
    ul = workdir / "speech.ul"
    subprocess.run(["sox", str(wav), "-r", "8000", "-c", "1", "-t", "ul", str(ul)], check=True)
    data = ul.read_bytes()
    while len(data) < seconds * 8000:
        data += data
    return data[: seconds * 8000]


def exact(wav_path: Path, src: np.ndarray) -> bool:
    with wave.open(str(wav_path)) as w:
        ch = w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, ch)
    first = int(np.flatnonzero(src)[0])
    probe = src[first : first + 400]
    for k in range(ch):
        x = pcm[:, k]
        for i in np.flatnonzero(x == probe[0])[:50000]:
            if np.array_equal(x[i : i + 400], probe):
                off = i - first
                n = min(len(src), len(x) - max(off, 0))
                seg = x[max(off, 0) : max(off, 0) + n]
                if n >= 0.98 * len(src) and np.array_equal(
                    seg, src[max(-off, 0) : max(-off, 0) + n]
                ):
                    return True
                break
    return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rate", type=int, default=50, help="new calls per second")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument(
        "--spy",
        metavar="FILE",
        help="sample the recorder with py-spy during the run (raw collapsed stacks to FILE)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the work dir (data, logs)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="recorder-load-"))
    try:
        run(args, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    clip = speech_ulaw(args.seconds, work)
    (work / "clip.ul").write_bytes(clip)
    src = ULAW[np.frombuffer(clip, dtype=np.uint8)]
    scen = work / "uac.xml"
    scen.write_text(
        SCENARIO.replace("@FILE@", str(work / "clip.ul")).replace(
            "@PAUSE@", str(args.seconds * 1000 + 500)
        )
    )
    data = work / "data"
    sip = free_port()
    recflow = ROOT / ".venv" / "bin" / "recflow"
    log = open(work / "recorder.log", "w")
    proc = subprocess.Popen(
        [
            str(recflow if recflow.exists() else "recflow"),
            "recorder",
            "--sip-port",
            str(sip),
            "--rtp-ports",
            "42000-43999",
            "--bind",
            "127.0.0.1",
            "--data-dir",
            str(data),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={
            **os.environ,
            "RECFLOW_DATA_DIR": str(data),
            **({"RECFLOW_RECORDER_PROFILE": str(work / "profile.out")} if args.profile else {}),
        },
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline and "listening" not in (work / "recorder.log").read_text():
            time.sleep(0.2)
        time.sleep(1)
        cpu0, t0, th0 = cpu_times(proc.pid), time.time(), thread_cpu(proc.pid)
        spy = None
        if args.spy:
            spy = subprocess.Popen(
                [
                    str(ROOT / ".venv" / "bin" / "py-spy"),
                    *("record", "-p", str(proc.pid), "-r", "250", "-f", "raw"),
                    *("-o", args.spy, "--threads", "--nonblocking"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        r = subprocess.run(
            [
                "sipp",
                "-sf",
                str(scen),
                "-i",
                "127.0.0.1",
                "-mi",
                "127.0.0.1",
                "-mp",
                str(free_port()),
                "-p",
                str(free_port()),
                "-r",
                str(args.rate),
                "-l",
                str(args.calls),
                "-m",
                str(args.calls),
                "-nostdin",
                "-timeout",
                str(args.seconds * 6 + 60),
                "-timeout_error",
                "-s",
                "load",
                f"127.0.0.1:{sip}",
            ],
            capture_output=True,
            text=True,
            timeout=args.seconds * 6 + 120,
            cwd=work,
        )
        time.sleep(5)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        cpu1 = cpu_times(proc.pid)
        th1 = thread_cpu(proc.pid)
        user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        cpu = user + system
        wall = time.time() - t0
        rss = rss_mb(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    wavs = sorted(data.rglob("*.wav"))
    n_exact = sum(exact(p, src) for p in wavs)
    import sqlite3

    con = sqlite3.connect(data / "catalog.sqlite3")
    rows = con.execute("select metadata from recordings").fetchall()
    import json

    lost = late = 0
    for (meta,) in rows:
        for st in json.loads(meta).get("streams", []):
            lost += st["packets_lost"]
            late += st["packets_late"]
    call_s = args.calls * args.seconds
    print(f"sipp rc={r.returncode}")
    print(
        "| calls | seconds | WAVs | sample-exact | rows | lost | late "
        "| recorder CPU s (user+sys) | wall s | call-s per CPU-s (calls/core) | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.calls} | {args.seconds} | {len(wavs)} | {n_exact} | {len(rows)} | {lost} | "
        f"{late} | {cpu:.2f} ({user:.2f}+{system:.2f}) | {wall:.0f} | "
        f"{call_s / cpu if cpu else float('nan'):.0f} | "
        f"{rss:.0f} |"
    )
    threads = {k: v - th0.get(k, 0.0) for k, v in th1.items()}
    print("CPU by thread:", ", ".join(f"{k} {v:.2f}s" for k, v in sorted(threads.items()) if v))
    if (work / "profile.out").exists():
        import pstats

        print(
            "\ncProfile of the recorder process (inflates per-call costs; shares are what count):"
        )
        pstats.Stats(str(work / "profile.out")).sort_stats(
            os.environ.get("PSORT", "tottime")
        ).print_stats(int(os.environ.get("PN", "18")))


if __name__ == "__main__":
    main()
