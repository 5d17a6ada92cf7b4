"""Transcription benchmark: audio seconds per CPU second and word error rate on generated
phone-band speech (espeak-ng, 300-3400 Hz, 8 kHz, through G.711), per engine setting.

    .venv/bin/python benchmarks/transcribe.py [--calls 6]

CPU seconds are the process's user+system time (all threads), so "× real time per core" is
audio seconds / CPU seconds whatever the thread count.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCRIPTS = [
    [
        ("caller", "Hello, I would like to cancel my subscription please."),
        ("callee", "I am sorry to hear that. Can I ask why you want to leave?"),
        ("caller", "Your competitor offers the same service for less money."),
    ],
    [
        ("caller", "Hi, what time does the store open on Saturday?"),
        ("callee", "We open at nine in the morning and close at five."),
    ],
    [
        ("caller", "My order number is four seven two nine and it has not arrived."),
        ("callee", "Let me check the delivery status for you right now."),
    ],
    [
        ("caller", "I was charged twice on my credit card this month."),
        ("callee", "I can see the duplicate payment and I will refund it today."),
    ],
    [
        ("caller", "Can you send the invoice to my email address please?"),
        ("callee", "Of course, you will receive it within the next hour."),
    ],
    [
        ("caller", "The internet connection keeps dropping every evening."),
        ("callee", "I will book an engineer to visit your house on Tuesday."),
    ],
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=len(SCRIPTS))
    ap.add_argument(
        "--long",
        action="store_true",
        help="join the scripts into one long call (realistic call length)",
    )
    args = ap.parse_args()
    from catalog.audio import read_wav
    from catalog.models import Recording, Speaker
    from connectors.faster_whisper import FasterWhisperConfig, FasterWhisperConnector, load_model
    from tests.support import make_call, wer

    scripts = SCRIPTS[: args.calls]
    calls = (
        [make_call([line for s in scripts for line in s])]
        if args.long
        else [make_call(s) for s in scripts]
    )
    audio_seconds = sum(read_wav(c.stereo).duration * 2 for c in calls)  # both channels
    settings = [
        ("tiny.en int8 beam5 (default)", FasterWhisperConfig(cpu_threads=1)),
        ("tiny.en int8 beam1", FasterWhisperConfig(cpu_threads=1, beam_size=1)),
        ("tiny.en int8 beam5 no-VAD", FasterWhisperConfig(cpu_threads=1, vad_filter=False)),
        ("tiny.en int8 beam5 2 threads", FasterWhisperConfig(cpu_threads=2)),
    ]
    rows = []
    for label, cfg in settings:
        conn = FasterWhisperConnector(cfg)
        t = time.perf_counter()
        load_model(cfg)
        load_s = time.perf_counter() - t
        conn.transcribe_sync(Recording(), calls[0].stereo)  # warm-up
        cpu0, wall0 = time.process_time(), time.perf_counter()
        errs = []
        for c in calls:
            tr = conn.transcribe_sync(Recording(), c.stereo)
            errs.append(wer(c.ref_caller, tr.text_of(Speaker.caller)))
            errs.append(wer(c.ref_callee, tr.text_of(Speaker.callee)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        rows.append(
            (label, audio_seconds / cpu, audio_seconds / wall, sum(errs) / len(errs), load_s)
        )
    print(
        f"\ntranscribe benchmark: {len(calls)} two-voice calls, {audio_seconds:.0f} s of channel audio "
        f"(8 kHz phone band), {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}\n"
    )
    print(
        "| engine setting | × real time per CPU second | × real time wall | mean WER | model load s |"
    )
    print("|---|---|---|---|---|")
    for label, per_cpu, per_wall, w, load_s in rows:
        print(f"| {label} | {per_cpu:.1f} | {per_wall:.1f} | {w:.3f} | {load_s:.2f} |")
    print("\nGoal: ≥ 25× real time per core at WER ≤ 0.25 with the bundled model.")


if __name__ == "__main__":
    main()
