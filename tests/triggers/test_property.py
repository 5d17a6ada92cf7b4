"""Property: the compiled matcher (one automaton, candidate rules only) finds exactly what a
simple reference finds by checking every rule and every phrase at every token position."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from catalog.models import Speaker, Transcript, TranscriptSegment, Word
from triggers import Rule, SpeakerScope, compile_rules, compiler
from triggers.normalize import normalize_text
from triggers.transcript import PreparedTranscript, prepare

VOCAB = ["cancel", "my", "refund", "refunds", "manager", "five", "5", "a"]


def reference(rules: list[Rule], p: PreparedTranscript) -> Counter:
    """Brute force: for every rule, slide every phrase over every admitted stream."""
    out: Counter = Counter()
    for r in rules:
        if not r.enabled:
            continue
        text: dict[tuple[str, ...], str] = {}
        for phrase in (
            *r.any_,
            *r.all_,
            *r.none,
            *(x for n in r.near for x in (*n.phrases, *n.near)),
        ):
            text.setdefault(tuple(normalize_text(phrase)), phrase)
        lo, hi = r.window.bounds(p.duration) if r.window else (0.0, float("inf"))

        def occurrences(
            phrase: str, r: Rule = r, lo: float = lo, hi: float = hi
        ) -> list[tuple[int, int, int]]:
            toks = normalize_text(phrase)
            found = []
            for si, s in enumerate(p.streams):
                if not r.speaker.admits(s.speaker):
                    continue
                for i in range(len(s.tokens) - len(toks) + 1):
                    if s.tokens[i : i + len(toks)] == toks and lo <= s.starts[i] < hi:
                        found.append((si, i, i + len(toks) - 1))
            return found

        def key(phrase: str) -> tuple[str, ...]:
            return tuple(normalize_text(phrase))

        hits = {}
        for phrase in (*r.any_, *r.all_):
            for occ in occurrences(phrase):
                hits[(key(phrase), occ)] = None
        if r.any_ and not any(occurrences(x) for x in r.any_):
            continue
        if any(not occurrences(x) for x in r.all_):
            continue
        if any(occurrences(x) for x in r.none):
            continue
        pairs = []
        ok = True
        for n in r.near:
            clause = []
            for ka in dict.fromkeys(key(x) for x in n.phrases):
                for a in occurrences(text[ka]):
                    for kb in dict.fromkeys(key(x) for x in n.near):
                        for b in occurrences(text[kb]):
                            s = p.streams[a[0]]
                            if a[0] != b[0] or s.turns[a[1]] != s.turns[b[1]]:
                                continue
                            gap = max(b[1] - a[2] - 1, a[1] - b[2] - 1)
                            if gap <= n.within_words:
                                clause.append((ka, a, kb, b))
            if not clause:
                ok = False
                break
            pairs.extend(clause)
        if not ok:
            continue
        for k, (si, a, b) in hits:
            s = p.streams[si]
            out[(r.name, text[k], "phrase", s.speaker, s.starts[a], s.ends[b])] += 1
        for ka, a, kb, b in pairs:
            s = p.streams[a[0]]
            first, last = min(a[1], b[1]), max(a[2], b[2])
            out[
                (
                    r.name,
                    f"{text[ka]} ~ {text[kb]}",
                    "near",
                    s.speaker,
                    s.starts[first],
                    s.ends[last],
                )
            ] += 1
        if r.none and not (r.any_ or r.all_ or r.near):
            sp = None if r.speaker is SpeakerScope.either else Speaker(r.speaker.value)
            end = min(hi, p.duration)
            for k in dict.fromkeys(key(x) for x in r.none):
                out[(r.name, text[k], "absent", sp, min(lo, end), end)] += 1
    return out


phrase = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=2).map(" ".join)
phrases = st.lists(phrase, max_size=3)


@st.composite
def rules(draw: st.DrawFn) -> list[Rule]:
    out = []
    for i in range(draw(st.integers(1, 6))):
        near = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "phrases": st.lists(phrase, min_size=1, max_size=2),
                        "near": st.lists(phrase, min_size=1, max_size=2),
                        "within_words": st.integers(0, 4),
                    }
                ),
                max_size=1,
            )
        )
        data = {
            "name": f"r{i}",
            "any": draw(phrases),
            "all": draw(st.lists(phrase, max_size=1)),
            "none": draw(st.lists(phrase, max_size=1)),
            "near": near,
            "speaker": draw(st.sampled_from(["caller", "callee", "either"])),
            "enabled": draw(st.sampled_from([True, True, True, False])),
        }
        window = draw(
            st.one_of(
                st.none(),
                st.builds(lambda n: {"first_seconds": n}, st.integers(1, 30)),
                st.builds(lambda n: {"last_seconds": n}, st.integers(1, 30)),
                st.builds(
                    lambda a, n: {"start_seconds": a, "end_seconds": a + n},
                    st.integers(0, 20),
                    st.integers(1, 20),
                ),
            )
        )
        if window:
            data["window"] = window
        if not (data["any"] or data["all"] or data["none"] or data["near"]):
            data["any"] = ["cancel"]
        out.append(Rule.model_validate(data))
    return out


@st.composite
def transcripts(draw: st.DrawFn) -> Transcript:
    segments = []
    t = 0.0
    for _ in range(draw(st.integers(0, 6))):
        sp = Speaker(draw(st.sampled_from(["caller", "callee"])))
        words = draw(
            st.lists(st.sampled_from([*VOCAB, "Cancel!", "my,", "X"]), min_size=2, max_size=10)
        )
        dur = float(len(words))
        timed = draw(st.booleans())
        segments.append(
            TranscriptSegment(
                speaker=sp,
                channel=sp.channel,
                start=t,
                end=t + dur,
                text=" ".join(words),
                words=[Word(word=w, start=t + i, end=t + i + 1) for i, w in enumerate(words)]
                if timed
                else [],
            )
        )
        t += dur + draw(st.sampled_from([0.0, 0.5, 3.0]))
    return Transcript(recording_id="x", segments=segments)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules(), transcripts(), st.sampled_from([64, 2]))
def test_compiled_matches_reference(rs: list[Rule], t: Transcript, fanout: int) -> None:
    """``fanout`` 2 forces multi-character token codes (what 10,000-rule sets use) on the small
    vocabulary here, so token alignment in the automaton is checked too."""
    prepared = prepare(t)
    cap, compiler.MAX_MATCHES_PER_RULE = compiler.MAX_MATCHES_PER_RULE, 10**6  # compare uncapped
    fan, compiler.CompiledRules.max_fanout = compiler.CompiledRules.max_fanout, fanout
    try:
        found = compile_rules(rs).evaluate_prepared(prepared)
    finally:
        compiler.MAX_MATCHES_PER_RULE = cap
        compiler.CompiledRules.max_fanout = fan
    got = Counter((m.rule, m.phrase, m.kind, m.speaker, m.start, m.end) for m in found)
    expected = reference(rs, prepared)
    event(f"rules fired: {min(3, len({k[0] for k in expected}))}")
    assert got == expected
