"""A transcript as the matcher sees it: per speaker, one stream of normalised tokens with times.

Streams run across segment boundaries (a phrase may be split by the recogniser into two
segments of the same speaker) but never across speakers: half a phrase from each party is not a
phrase. Each token knows its speaker turn (a maximal run of one party's segments on the merged
timeline), which proximity clauses use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from catalog.models import Speaker, Transcript, TranscriptSegment
from triggers.normalize import normalize_arrays, split_words


@dataclass
class Stream:
    speaker: Speaker
    tokens: list[str] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)
    first_word: list[int] = field(default_factory=list)  # token -> index into words
    last_word: list[int] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # source words as transcribed, stripped
    probs: list[float] = field(default_factory=list)  # recogniser probability per source word

    def confidence(self, first_token: int, last_token: int) -> float:
        """Least probability of the source words behind tokens ``first..last``."""
        a, b = self.first_word[first_token], self.last_word[last_token]
        return min(self.probs[a : b + 1], default=1.0)

    def snippet(self, first_token: int, last_token: int, context: int = 8) -> str:
        a, b = self.first_word[first_token], self.last_word[last_token]
        lo, hi = max(0, a - context), min(len(self.words), b + context + 1)
        text = " ".join(self.words[lo:hi])
        return ("… " if lo > 0 else "") + text + (" …" if hi < len(self.words) else "")


@dataclass
class PreparedTranscript:
    streams: list[Stream]
    duration: float


def _segment_words(
    seg: TranscriptSegment,
) -> tuple[list[str], list[float], list[float], list[float]]:
    """Words with times and probabilities: the recogniser's word timings when present, else the
    segment's span spread evenly over its words (probability 1: the engine gave none)."""
    if seg.words:
        return (
            [w.word for w in seg.words],
            [w.start for w in seg.words],
            [w.end for w in seg.words],
            [w.probability for w in seg.words],
        )
    words = split_words(seg.text)
    n = len(words)
    if n == 0:
        return [], [], [], []
    step = max(0.0, seg.end - seg.start) / n
    starts = [seg.start + i * step for i in range(n)]
    return words, starts, [s + step for s in starts], [1.0] * n


def prepare(transcript: Transcript, duration: float | None = None) -> PreparedTranscript:
    segments = sorted(transcript.segments, key=lambda s: (s.start, s.channel))
    by_speaker: dict[Speaker, Stream] = {}
    turn, previous = -1, None
    for seg in segments:
        if seg.speaker is not previous:
            turn += 1
            previous = seg.speaker
        stream = by_speaker.get(seg.speaker)
        if stream is None:
            stream = by_speaker[seg.speaker] = Stream(seg.speaker)
        words, starts, ends, probs = _segment_words(seg)
        if not words:
            continue
        base = len(stream.words)
        stream.words.extend([w.strip() for w in words])
        stream.probs.extend(probs)
        toks, first, last = normalize_arrays(words)
        stream.tokens.extend(toks)
        stream.starts.extend([starts[a] for a in first])
        stream.ends.extend([ends[b] for b in last])
        stream.turns.extend([turn] * len(toks))
        if base:
            stream.first_word.extend([base + a for a in first])
            stream.last_word.extend([base + b for b in last])
        else:
            stream.first_word.extend(first)
            stream.last_word.extend(last)
    if duration is None or duration <= 0:
        duration = max((s.end for s in transcript.segments), default=0.0)
    order = {Speaker.caller: 0, Speaker.callee: 1}
    streams = sorted(by_speaker.values(), key=lambda s: order[s.speaker])
    return PreparedTranscript(streams=streams, duration=duration)
