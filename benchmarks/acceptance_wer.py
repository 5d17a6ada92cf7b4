"""Per-speaker word error rate on the two calls of the `transcripts` acceptance check
(espeak-ng en-us caller / en-us+f3 callee, 150 wpm, phone band, µ-law round trip, 0.4 s gaps),
for the current default engine settings or variants given on the command line.

    .venv/bin/python benchmarks/acceptance_wer.py [--show] [--set beam_size=1 --set hints=false]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CALLS = {
    "p1_cancel": [
        (
            "callee",
            "Thank you for calling Acme support, my name is Sarah. How can I help you today?",
        ),
        (
            "caller",
            "Hi, I want to cancel my subscription. My order number is four five seven two nine.",
        ),
        ("callee", "I am sorry to hear that. May I ask why you want to leave us?"),
        ("caller", "Your competitor offers the same service for less money."),
        (
            "callee",
            "I understand. I can process that today and you will get an email confirmation.",
        ),
        ("caller", "Great, thank you very much."),
    ],
    "p2_hours": [
        ("caller", "Hello, what time does your shop open on Saturday?"),
        ("callee", "Good morning, on Saturday we open at nine and close at five."),
        ("caller", "Lovely, thanks for your help."),
    ],
}


def _value(v: str) -> object:
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", action="append", default=[], help="engine setting key=value")
    ap.add_argument("--show", action="store_true", help="print the hypotheses")
    args = ap.parse_args()
    from catalog.models import Recording, Speaker
    from connectors.faster_whisper import FasterWhisperConfig, FasterWhisperConnector
    from tests.support import make_call, wer

    overrides = dict(kv.split("=", 1) for kv in args.set)
    cfg = FasterWhisperConfig(**{k: _value(v) for k, v in overrides.items()})
    conn = FasterWhisperConnector(cfg)
    rows = []
    for name, lines in CALLS.items():
        call = make_call(lines)
        t = time.process_time()
        tr = conn.transcribe_sync(Recording(), call.stereo)
        cpu = time.process_time() - t
        hyp = {s: tr.text_of(s) for s in Speaker}
        w = {s: wer(getattr(call, f"ref_{s.value}"), hyp[s]) for s in Speaker}
        rows.append((name, w[Speaker.caller], w[Speaker.callee], call.seconds, cpu))
        if args.show:
            for s in Speaker:
                print(f"  {name} {s.value}: {hyp[s]}")
    print(f"\nacceptance calls, settings: {overrides or 'defaults'}\n")
    print("| call | caller WER | callee WER | seconds | CPU s |")
    print("|---|---|---|---|---|")
    for name, a, b, secs, cpu in rows:
        print(f"| {name} | {a:.3f} | {b:.3f} | {secs:.1f} | {cpu:.2f} |")
    worst = max(max(r[1], r[2]) for r in rows)
    print(f"\nworst {worst:.3f} (goal <= 0.15)")


if __name__ == "__main__":
    main()
