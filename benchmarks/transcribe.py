"""Transcription benchmark: word error rate per speaker, digit strings, rule-phrase recall and
precision, and × real time per CPU second, on a generated set of two-party calls.

    .venv/bin/python benchmarks/transcribe.py [--calls 20] [--snr clean,20,10] [--settings new,old]
    .venv/bin/python benchmarks/transcribe.py --settings new --snr clean --set speaker_warp=1.05

Calls are rendered with espeak-ng (several voices and speeds; see SCRIPTS and VOICES), band-limited
to 300-3400 Hz at 8 kHz, optionally mixed with white noise at the given SNR (over the active speech),
then sent through G.711 µ-law and back, as a call sounds on the wire. The reference texts are the
scripts. Settings:

* ``old``: the engine before this work (scipy resampling, no prompt, no level/speaker
  normalisation, no hallucination guard, no hints);
* ``new``: the defaults now, with the account hints (each call's rule phrases);
* ``new-nohints``: the defaults without hints.

CPU seconds are the process's user+system time over all threads; the figure is
audio seconds (both channels) / CPU seconds. Numbers on a shared machine are noisy. The speed
goal has two numbers, measured on their own calls (no hints; see speed_calls): call-length
(one call of about a minute) and 5-second calls.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import phone_band, ulaw_decode, ulaw_encode, wer  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "recflow-bench-calls"
# (caller voice, callee voice, words per minute)
VOICES = [
    ("en-us", "en-us+f3", 150),
    ("en-gb", "en+f2", 160),  # "en-gb+f2" silently renders the male en-gb voice
    ("en-us+m3", "en-us+f4", 140),
    ("en-gb-x-rp", "en-us+f1", 170),
]
# each script: lines, rule phrases the account has (hints and the recall/precision count)
SCRIPTS: list[tuple[list[tuple[str, str]], list[str]]] = [
    (
        [
            ("callee", "Thank you for calling Acme support, how can I help?"),
            (
                "caller",
                "I want to cancel my subscription, my order number is four five seven two nine.",
            ),
            ("callee", "I can do that for you today."),
        ],
        ["cancel my subscription"],
    ),
    (
        [
            ("caller", "Hello, what time does your shop open on Saturday?"),
            ("callee", "We open at nine and close at five."),
            ("caller", "Lovely, thanks for your help."),
        ],
        ["refund"],
    ),
    (
        [
            ("caller", "We are moving to another supplier next month."),
            ("callee", "I am sorry to hear that. Can I offer you a discount?"),
            ("caller", "No thank you, the price is too high."),
        ],
        ["another supplier", "discount"],
    ),
    (
        [
            ("caller", "I was charged twice on my credit card this month."),
            ("callee", "I can see the duplicate payment and I will refund it today."),
            ("caller", "Thank you, the reference is eight three one six."),
        ],
        ["refund", "charged twice"],
    ),
    (
        [
            ("caller", "Can you send the invoice to my email address please?"),
            ("callee", "Of course, the invoice number is six zero four one two."),
            ("caller", "Perfect, thank you."),
        ],
        ["invoice"],
    ),
    (
        [
            ("caller", "The internet connection keeps dropping every evening."),
            ("callee", "I will book an engineer to visit your house on Tuesday."),
            ("caller", "My postcode is one two three four."),
        ],
        ["engineer"],
    ),
    (
        [
            ("callee", "Good afternoon, you are speaking with David."),
            ("caller", "I would like to speak to a manager about my complaint."),
            ("callee", "I will put you through to my manager now."),
        ],
        ["speak to a manager", "complaint"],
    ),
    (
        [
            ("caller", "My account number is nine eight seven six five four."),
            ("callee", "Thank you, I have found your account."),
            ("caller", "I want to upgrade to the premium plan."),
        ],
        ["upgrade", "premium plan"],
    ),
    (
        [
            ("caller", "The delivery has not arrived and it was due last week."),
            ("callee", "I am sorry, the tracking number is three three five one."),
            ("caller", "Please send a replacement."),
        ],
        ["replacement", "delivery"],
    ),
    (
        [
            ("callee", "Hello, this call is recorded for training purposes."),
            ("caller", "I am calling about a data protection request."),
            ("callee", "I will pass that to our legal team."),
        ],
        ["data protection", "legal team"],
    ),
]


def render(
    lines: list[tuple[str, str]], voices: tuple[str, str, int], snr: float | None, seed: int
) -> tuple[Path, dict[str, str]]:
    key = hashlib.sha256(json.dumps([lines, voices, snr, seed]).encode()).hexdigest()[:16]
    out = CACHE / key
    stereo = out / "stereo.wav"
    refs_file = out / "refs.json"
    if stereo.exists():
        return stereo, json.loads(refs_file.read_text())
    out.mkdir(parents=True, exist_ok=True)
    gap = np.zeros(3200)
    chans: dict[str, list[np.ndarray]] = {"caller": [], "callee": []}
    refs: dict[str, list[str]] = {"caller": [], "callee": []}
    for i, (who, text) in enumerate(lines):
        voice = voices[0] if who == "caller" else voices[1]
        pcm = phone_band(text, voice, out / f"part{i}.wav", wpm=voices[2]).astype(np.float64)
        other = "callee" if who == "caller" else "caller"
        chans[who] += [pcm, gap]
        chans[other] += [np.zeros(len(pcm)), gap]
        refs[who].append(text)
    rng = np.random.default_rng(seed)
    legs = []
    for who in ("caller", "callee"):
        x = np.concatenate(chans[who])
        if snr is not None:
            active = x[np.abs(x) > 0.01 * np.abs(x).max()]
            p = float(np.mean(active**2))
            x = x + rng.standard_normal(x.size) * np.sqrt(p / 10 ** (snr / 10))
        x = np.clip(x, -32768, 32767).astype(np.int16)
        legs.append(ulaw_decode(ulaw_encode(x).tobytes()))
    with wave.open(str(stereo), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.stack(legs, axis=1).astype("<i2").tobytes())
    joined = {k: " ".join(v) for k, v in refs.items()}
    refs_file.write_text(json.dumps(joined))
    return stereo, joined


_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def digit_strings(text: str) -> list[str]:
    """Spelled-out digit runs of 4+ in a reference text, as digits."""
    out, run = [], []
    for w in [*re.findall(r"[a-z]+", text.lower()), ""]:
        if w in _UNITS:
            run.append(str(_UNITS.index(w)))
            continue
        if len(run) >= 4:
            out.append("".join(run))
        run = []
    return out


SPEED = True  # --no-speed: skip the call-length and 5-s speed calls
OVERRIDES: dict[str, object] = {}  # --set key=value: engine fields for the new-* settings
# --hints account: every call is hinted with every rule phrase of the set, as an account hints
# all its enabled rules (recflow does); --hints call: only the call's own phrases (optimistic:
# the hints then name exactly what was said)
HINTS = "account"


def engine(setting: str):
    from connectors.faster_whisper import FasterWhisperConfig, FasterWhisperConnector

    if setting == "old":
        cfg = FasterWhisperConfig(
            cpu_threads=1,
            initial_prompt="",
            hints=False,
            level_normalise=False,
            speaker_normalise=False,
            hallucination_silence_s=None,
            min_tail_s=0,  # it decoded every channel to the end
            vad_trim_end=False,
        )
        return FasterWhisperConnector(cfg), False
    cfg = FasterWhisperConfig(**{"cpu_threads": 1, **OVERRIDES})
    return FasterWhisperConnector(cfg), setting == "new"


def _old_resampler():
    """scipy's resample_poly, as the engine resampled before (scipy is not a dependency)."""
    try:
        from scipy.signal import resample_poly
    except ImportError:
        return None

    def poly(x, rate, target=16000):
        g = np.gcd(rate, target)
        return resample_poly(x, target // g, rate // g).astype(np.float32)

    return poly


def speed_calls(snr: float | None) -> tuple[list[Path], list[Path]]:
    """Calls for the speed goal's two numbers: call-length (the lines of six scripts in one
    call, about a minute) and 5-second calls (each script's first two lines, cut at 5 s)."""
    long_lines = [line for lines, _ in SCRIPTS[:6] for line in lines]
    long_call, _ = render(long_lines, VOICES[0], snr, 1000)
    short = []
    for i, (lines, _) in enumerate(SCRIPTS[:6]):
        path, _ = render(lines[:2], VOICES[i % len(VOICES)], snr, 2000 + i)
        cut = path.with_name("five_s.wav")
        if not cut.exists():
            with wave.open(str(path)) as r:
                params, frames = r.getparams(), r.readframes(5 * r.getframerate())
            with wave.open(str(cut), "wb") as w:
                w.setparams(params)
                w.writeframes(frames)
        short.append(cut)
    return [long_call], short


def speed(conn, paths: list[Path]) -> float:
    """Audio seconds (both channels) / CPU seconds for transcribing ``paths``."""
    from catalog.audio import read_wav
    from catalog.models import Recording

    audio_s = cpu_s = 0.0
    for path in paths:
        audio_s += read_wav(path).duration * 2
        t0 = time.process_time()
        conn.transcribe_sync(Recording(), path)
        cpu_s += time.process_time() - t0
    return audio_s / max(cpu_s, 1e-9)


def measure(setting: str, snr: float | None, calls: list, all_phrases: list[str]) -> tuple | None:
    import connectors.transcription as ct
    from catalog.audio import read_wav
    from catalog.models import Recording, Speaker
    from triggers import RuleSet, compile_rules

    saved = ct.resample
    if setting == "old":
        poly = _old_resampler()
        if poly is None:
            print("  skipped: old (needs scipy: pip install scipy)", file=sys.stderr)
            return None
        ct.resample = poly
    try:
        conn, use_hints = engine(setting)
        rules = RuleSet.model_validate(
            {"rules": [{"name": f"r{k}", "any": [p]} for k, p in enumerate(all_phrases)]}
        )
        compiled = compile_rules(rules)
        wers: dict[str, list[float]] = {"caller": [], "callee": []}
        digits_ok = digits_all = 0
        tp = fp = fn = 0
        audio_s = cpu_s = 0.0
        for lines, phrases, voices, seed in calls:
            path, refs = render(lines, voices, snr, seed)
            audio_s += read_wav(path).duration * 2
            t0 = time.process_time()
            hints = (all_phrases if HINTS == "account" else phrases) if use_hints else ()
            tr = conn.transcribe_sync(Recording(), path, hints=hints)
            cpu_s += time.process_time() - t0
            for sp in Speaker:
                wers[sp.value].append(wer(refs[sp.value], tr.text_of(sp)))
            said = " ".join(s.display_text for s in tr.segments)
            heard = re.sub(r"[^\d ]", " ", said).split()
            for ds in digit_strings(refs["caller"] + " " + refs["callee"]):
                digits_all += 1
                digits_ok += ds in heard
            fired = {m.phrase for m in compiled.evaluate(tr)}
            ref_text = re.sub(r"[^a-z ]", "", (refs["caller"] + " " + refs["callee"]).lower())
            truth = {p for p in all_phrases if p in ref_text}
            tp += len(fired & truth)
            fp += len(fired - truth)
            fn += len(truth - fired)
        long_calls, short_calls = speed_calls(snr) if SPEED else ([], [])
        x_long = speed(conn, long_calls) if SPEED else float("nan")
        x_short = speed(conn, short_calls) if SPEED else float("nan")
    finally:
        ct.resample = saved
    return (
        setting,
        "clean" if snr is None else f"{snr:.0f} dB",
        float(np.mean(wers["caller"])),
        float(np.mean(wers["callee"])),
        float(max(max(wers["caller"]), max(wers["callee"]))),
        digits_ok / max(1, digits_all),
        tp / max(1, tp + fn),
        tp / max(1, tp + fp),
        audio_s / max(cpu_s, 1e-9),
        x_long,
        x_short,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--snr", default="clean,20,10", help="conditions: clean and/or SNR dB")
    ap.add_argument("--settings", default="old,new,new-nohints")
    ap.add_argument("--pairs", default="", help="setting:condition list, e.g. new:clean,old:10")
    ap.add_argument("--set", action="append", default=[], help="engine field key=value (new)")
    ap.add_argument("--no-speed", action="store_true", help="skip the two speed measures")
    ap.add_argument(
        "--hints",
        choices=["account", "call"],
        default="account",
        help="hint every call with all rule phrases (as an account does) or only its own",
    )
    args = ap.parse_args()
    global SPEED, HINTS
    SPEED = not args.no_speed
    HINTS = args.hints
    for kv in args.set:
        k, v = kv.split("=", 1)
        try:
            OVERRIDES[k] = json.loads(v)
        except ValueError:
            OVERRIDES[k] = v

    calls = []
    for i in range(args.calls):
        lines, phrases = SCRIPTS[i % len(SCRIPTS)]
        calls.append((lines, phrases, VOICES[i % len(VOICES)], i))
    conditions = [None if c == "clean" else float(c) for c in args.snr.split(",")]
    plan = [(st, c) for st in args.settings.split(",") for c in conditions]
    if args.pairs:
        plan = [
            (p.split(":")[0], None if p.split(":")[1] == "clean" else float(p.split(":")[1]))
            for p in args.pairs.split(",")
        ]
    all_phrases = sorted({p for _, ph, _, _ in calls for p in ph})
    rows = []
    for setting, snr in plan:
        row = measure(setting, snr, calls, all_phrases)
        if row is None:
            continue
        rows.append(row)
        print(
            f"  done: {row[0]} {row[1]}: WER {row[2]:.3f}/{row[3]:.3f} worst {row[4]:.2f}"
            f" digits {row[5]:.0%} recall {row[6]:.2f} precision {row[7]:.2f} x{row[8]:.1f}"
            f" (call-length x{row[9]:.1f}, 5-s calls x{row[10]:.1f})",
            file=sys.stderr,
            flush=True,
        )
    print(
        f"\ntranscribe benchmark: {len(calls)} generated two-party calls, "
        f"bundled tiny.en int8, 1 thread, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}\n"
    )
    print(
        "| setting | audio | WER caller | WER callee | worst call WER | digit strings exact "
        "| rule recall | rule precision | × real time per CPU s | call-length × | 5-s calls × |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r[0]} | {r[1]} | {r[2]:.3f} | {r[3]:.3f} | {r[4]:.2f} | {r[5]:.0%} "
            f"| {r[6]:.2f} | {r[7]:.2f} | {r[8]:.1f} | {r[9]:.1f} | {r[10]:.1f} |"
        )
    print(
        "\nGoals: WER ≤ 0.15 per speaker clean, ≤ 0.25 at 10 dB; digit strings ≥ 90 %; "
        "recall ≥ 0.95 at precision ≥ 0.95; ≥ 25× real time per core on call-length audio,"
        " ≥ 20× on 5-s calls (the last two columns, 1 thread)."
    )


if __name__ == "__main__":
    main()
