"""Both channels of a call in one decoding pass: the layout and the way back.

Whisper's encoder always sees a 30-s window, and on a short call that window is mostly padding:
two channels of a 5-s call cost two full encoder passes for a few seconds of speech each. When
the speech of both channels (after the VAD) fits in one window, the speech chunks are laid out
one after another in conversation order — by when they start in the recording, never mixed —
with a short silence between them, decoded once, and every word is given back to the chunk it
falls in: its channel, and its time in the recording.

Pure functions (no model): the engine decodes ``joint_audio(...)`` and hands the segments to
``split_segments``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from catalog.models import TranscriptSegment
from connectors.transcription import engine_word, speaker_of


@dataclass(frozen=True)
class Piece:
    """One speech chunk of one channel, placed in the joint audio."""

    channel: int
    start: float  # where it starts in the joint audio, seconds
    end: float
    source: float  # where it starts in the channel's audio as the model hears it, seconds
    scale: float  # the channel's time scale (speaker normalisation): model s per recording s

    def recording_time(self, t: float) -> float:
        """A joint-audio time → recording time, clamped to this piece: a word the alignment
        stretched into the silence between pieces stays within its own channel's speech."""
        t = min(max(t, self.start), self.end)
        return (self.source + t - self.start) / self.scale


def layout(
    channels: Sequence[tuple[int, float, Sequence[tuple[float, float]]]], gap_s: float
) -> list[Piece]:
    """``channels``: (channel, time scale, speech spans in the channel's model seconds) →
    the pieces in conversation order (by start in the recording; a tie goes to the lower
    channel), each followed by ``gap_s`` of silence."""
    spans = sorted(
        (s / scale, ch, s, e, scale) for ch, scale, chunks in channels for s, e in chunks if e > s
    )
    pieces, cursor = [], 0.0
    for _, ch, s, e, scale in spans:
        pieces.append(Piece(ch, cursor, cursor + (e - s), s, scale))
        cursor += (e - s) + gap_s
    return pieces


def length(pieces: Sequence[Piece]) -> float:
    """Seconds of joint audio the pieces take (the gap after the last one is not laid out)."""
    return pieces[-1].end if pieces else 0.0


def joint_audio(pieces: Sequence[Piece], audio: Mapping[int, np.ndarray], rate: int) -> np.ndarray:
    """The channels' samples (as the model hears them) at the pieces' places; silence between."""
    out = np.zeros(round(length(pieces) * rate), dtype=np.float32)
    for p in pieces:
        at, src = round(p.start * rate), round(p.source * rate)
        n = min(round((p.end - p.start) * rate), out.size - at, audio[p.channel].size - src)
        out[at : at + n] = audio[p.channel][src : src + n]
    return out


def piece_index(pieces: Sequence[Piece], t: float) -> int:
    """The piece holding joint time ``t``; in a gap, the nearer one (the earlier on a tie)."""
    best, dist = 0, float("inf")
    for i, p in enumerate(pieces):
        d = max(p.start - t, t - p.end, 0.0)
        if d < dist:
            best, dist = i, d
    return best


def split_segments(
    decoded: Iterable[Any], pieces: Sequence[Piece], digits: int = 3
) -> list[TranscriptSegment]:
    """faster-whisper segments over the joint audio → segments per channel in recording time.

    A decoded segment may run over several pieces (the model does not know where one party
    stops and the other starts); each word goes to the piece its midpoint falls in, and each run
    of words in one piece becomes one segment of that piece's channel. A word placed in the
    silence between two pieces (the alignment puts a run's last word late, sometimes with no
    duration: "… email address, please?" at the next piece's edge) stays with the words before
    it in its segment; a segment's first word there goes to the nearer piece. Segments without words
    (no word timestamps) are dropped: there is nothing to place them by."""
    out: list[TranscriptSegment] = []
    for seg in decoded:
        run: list[Any] = []
        run_piece = -1
        for w in seg.words or []:
            mid = (w.start + w.end) / 2
            i = piece_index(pieces, mid)
            if run and not pieces[i].start <= mid <= pieces[i].end:
                i = run_piece  # in the silence between pieces: the run it ends goes on
            if run and i != run_piece:
                out.append(_segment(run, pieces[run_piece], digits))
                run = []
            run.append(w)
            run_piece = i
        if run:
            out.append(_segment(run, pieces[run_piece], digits))
    return [s for s in out if s.text]


def _segment(words: list[Any], piece: Piece, digits: int) -> TranscriptSegment:
    def t(x: float) -> float:
        return round(piece.recording_time(x), digits)

    placed = [engine_word(w, t) for w in words]
    return TranscriptSegment(
        speaker=speaker_of(piece.channel),
        channel=piece.channel,
        start=placed[0].start,
        end=placed[-1].end,
        text="".join(w.word for w in words).strip(),
        words=placed,
    )
