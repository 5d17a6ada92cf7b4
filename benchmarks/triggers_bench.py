"""Keyword-trigger matcher throughput: N rules over M one-minute transcripts.

    .venv/bin/python benchmarks/triggers_bench.py                      # 10,000 x 10,000
    .venv/bin/python benchmarks/triggers_bench.py --rules 1000 --transcripts 500

Times are CPU time of this process (the machine is shared). Measures the compiled matcher (one
Aho-Corasick automaton over normalised tokens, then only the rules an occurrence touches) end to
end per transcript: normalisation of every word, matching, rule evaluation and building the
matches. The baseline is the straightforward implementation,
one compiled regex per rule searched over each admitted speaker's text, measured in the same
run on a sample of the same transcripts (it is ~1000x slower, so all of them would take hours).
The baseline only tests "is any phrase present", a strict subset of the work, so the ratio is
conservative. Transcripts are synthetic: ~150 words a minute in two voices with word timings,
as faster-whisper produces them; a fifth of them say one rule's phrase.
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import statistics
import time

from catalog.models import Speaker, Transcript, TranscriptSegment, Word
from triggers import Rule, RuleSet, compile_rules

SYLLABLES = [a + b for a in "bcdfghjklmnprtvwz" for b in "aeiou"] + ["ka", "lo", "mi", "ne", "ru"]


def make_vocab(rng: random.Random, n: int) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def make_rules(rng: random.Random, vocab: list[str], n: int) -> list[Rule]:
    def phrase() -> str:
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 3)))

    rules = []
    for i in range(n):
        data: dict[str, object] = {
            "name": f"rule-{i}",
            "any": [phrase() for _ in range(rng.randint(1, 4))],
            "speaker": rng.choice(["caller", "callee", "either"]),
        }
        roll = rng.random()
        if roll < 0.1:
            data["window"] = {"first_seconds": rng.choice([15, 30, 60])}
        elif roll < 0.15:
            data["all"] = [phrase()]
        elif roll < 0.18:
            data["near"] = [{"phrases": [phrase()], "near": [phrase()], "within_words": 5}]
        elif roll < 0.2:
            data["none"] = [phrase()]
        rules.append(Rule.model_validate(data))
    # a handful of absence-only rules, which every transcript must evaluate
    for j in range(10):
        rules.append(
            Rule.model_validate({"name": f"absent-{j}", "none": [phrase()], "speaker": "callee"})
        )
    return rules


def make_transcript(rng: random.Random, common: list[str], rules: list[Rule], i: int) -> Transcript:
    """One minute, ~150 words, turns of 6-20 words alternating, word timings."""
    words_total = rng.randint(130, 170)
    step = 60.0 / words_total
    segments = []
    t, speaker, left = 0.0, Speaker.callee, words_total
    inject = rng.random() < 0.2
    while left > 0:
        n = min(left, rng.randint(6, 20))
        ws = [rng.choice(common) for _ in range(n)]
        if inject and speaker is Speaker.caller:
            said = rng.choice(rules[:-10]).any_[0].split()  # a rule's phrase, mid-sentence
            at = rng.randrange(n)
            ws[at:at] = said
            inject = False
        n = len(ws)
        words = [
            Word.model_construct(
                word=" " + w, start=t + k * step, end=t + (k + 1) * step, probability=0.9
            )
            for k, w in enumerate(ws)
        ]
        segments.append(
            TranscriptSegment.model_construct(
                speaker=speaker,
                channel=speaker.channel,
                start=t,
                end=t + n * step,
                text=" ".join(ws),
                words=words,
            )
        )
        t += n * step
        left -= n
        speaker = Speaker.caller if speaker is Speaker.callee else Speaker.callee
    return Transcript.model_construct(
        recording_id=f"bench-{i}", engine="synthetic", language="en", segments=segments
    )


class RegexBaseline:
    """One regex per rule over each admitted speaker's lower-cased text."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = []
        for r in rules:
            if not r.any_:
                continue
            alts = "|".join(r"\W+".join(map(re.escape, p.lower().split())) for p in r.any_)
            self.rules.append((r.name, r.speaker.value, re.compile(rf"\b(?:{alts})\b")))

    def evaluate(self, t: Transcript) -> set[str]:
        texts = {
            "caller": " ".join(s.text for s in t.segments if s.speaker is Speaker.caller).lower(),
            "callee": " ".join(s.text for s in t.segments if s.speaker is Speaker.callee).lower(),
        }
        fired = set()
        for name, speaker, rx in self.rules:
            if speaker == "either":
                hit = rx.search(texts["caller"]) or rx.search(texts["callee"])
            else:
                hit = rx.search(texts[speaker])
            if hit:
                fired.add(name)
        return fired


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rules", type=int, default=10_000)
    ap.add_argument("--transcripts", type=int, default=10_000)
    ap.add_argument(
        "--baseline-sample", type=int, default=30, help="transcripts for the regex baseline"
    )
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    vocab = make_vocab(rng, 30_000)
    common = vocab[:2_000]  # what people say; rules mostly use rarer words
    rules = make_rules(rng, vocab, args.rules)

    t0 = time.process_time()
    compiled = compile_rules(RuleSet(rules=rules))
    compile_s = time.process_time() - t0

    gen = random.Random(args.seed + 1)
    per: list[float] = []
    matches = 0
    fired_ours: dict[int, set[str]] = {}
    sample_ids = set(range(min(args.baseline_sample, args.transcripts)))
    sample: list[Transcript] = []
    gc.collect()
    for i in range(args.transcripts):
        tr = make_transcript(gen, common, rules, i)
        s = time.process_time()
        found = compiled.evaluate(tr, 60.0)
        per.append(time.process_time() - s)
        matches += len(found)
        if i in sample_ids:
            sample.append(tr)
            fired_ours[i] = {m.rule for m in found}
    ours_total = sum(per)

    t0 = time.process_time()
    baseline = RegexBaseline(rules)
    baseline_compile_s = time.process_time() - t0
    base_per = []
    # the two must agree on the rules both can express exactly (any-phrases, no window)
    plain = {r.name for r in rules if r.any_ and not (r.all_ or r.none or r.near or r.window)}
    agree = 0
    for i, tr in enumerate(sample):
        s = time.process_time()
        fired = baseline.evaluate(tr)
        base_per.append(time.process_time() - s)
        agree += (fired & plain) == (fired_ours[i] & plain)
    ours_mean = ours_total / len(per)
    base_mean = statistics.fmean(base_per) if base_per else float("nan")
    per_sorted = sorted(per)
    p99 = per_sorted[int(0.99 * (len(per_sorted) - 1))]
    words = args.transcripts * 150

    rows = [
        ("rules", f"{len(rules):,}"),
        ("distinct phrases", f"{compiled.phrase_count:,}"),
        ("transcripts (1 min, ~150 words)", f"{args.transcripts:,}"),
        ("compile time", f"{compile_s * 1000:,.0f} ms"),
        ("matched: transcripts/s", f"{args.transcripts / ours_total:,.0f}"),
        ("matched: words/s", f"{words / ours_total:,.0f}"),
        ("matched: mean per transcript", f"{ours_mean * 1000:.3f} ms"),
        ("matched: p99 per transcript", f"{p99 * 1000:.3f} ms"),
        ("matches found", f"{matches:,}"),
        ("regex baseline: compile", f"{baseline_compile_s * 1000:,.0f} ms"),
        (f"regex baseline: mean per transcript (n={len(base_per)})", f"{base_mean * 1000:.1f} ms"),
        ("speed-up vs regex-per-rule", f"{base_mean / ours_mean:,.0f}x"),
        ("same rules fired as baseline (sample)", f"{agree}/{len(sample)}"),
    ]
    w = max(len(k) for k, _ in rows)
    print(f"| {'measure'.ljust(w)} | value |")
    print(f"| {'-' * w} | ----- |")
    for k, v in rows:
        print(f"| {k.ljust(w)} | {v} |")


if __name__ == "__main__":
    main()
