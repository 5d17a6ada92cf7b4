"""Both channels in one decoding pass: the layout of the speech chunks and the way each decoded
word goes back to its channel and its time in the recording (pure; no model)."""

from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np

from catalog.models import Speaker
from connectors import joint_layout as J


def _w(word: str, start: float, end: float, p: float = 0.9) -> NS:
    return NS(word=f" {word}", start=start, end=end, probability=p)


# caller (channel 0, not slowed) speaks at 0-2 s and 6-7 s of its model audio; the callee
# (channel 1, slowed by 15 %: model time = recording time x 1.15) at 2.3-4.6 model s, i.e.
# 2.0-4.0 s of the recording
CHANNELS = [(0, 1.0, [(0.0, 2.0), (6.0, 7.0)]), (1, 1.15, [(2.3, 4.6)])]


def test_chunks_are_laid_out_in_conversation_order_with_a_gap_between():
    pieces = J.layout(CHANNELS, gap_s=0.5)
    assert [(p.channel, p.start, p.end) for p in pieces] == [
        (0, 0.0, 2.0),
        (1, 2.5, 2.5 + 2.3),
        (0, 5.3, 6.3),
    ]
    assert J.length(pieces) == 6.3


def test_joint_audio_holds_each_chunk_at_its_place_and_silence_between():
    rate = 10
    audio = {0: np.arange(1, 71, dtype=np.float32), 1: -np.arange(1, 47, dtype=np.float32)}
    pieces = J.layout(CHANNELS, gap_s=0.5)
    out = J.joint_audio(pieces, audio, rate)
    assert out.size == 63
    assert list(out[:20]) == list(range(1, 21))  # caller 0-2 s
    assert not out[20:25].any()  # the gap
    assert list(out[25:48]) == [-x for x in range(24, 47)]  # callee 2.3-4.6 model s
    assert list(out[53:63]) == list(range(61, 71))  # caller again, 6-7 s


def test_words_go_back_to_their_channel_and_recording_time():
    pieces = J.layout(CHANNELS, gap_s=0.5)
    # the model's segments run over the pieces as it likes
    decoded = [
        NS(words=[_w("Hello,", 0.1, 0.5), _w("my", 0.6, 0.8), _w("order.", 0.9, 1.9)]),
        NS(words=[_w("Thank", 2.6, 3.0), _w("you.", 3.0, 3.4), _w("Bye.", 5.4, 5.8, 0.5)]),
    ]
    segs = J.split_segments(decoded, pieces)
    assert [(s.speaker, s.text) for s in segs] == [
        (Speaker.caller, "Hello, my order."),
        (Speaker.callee, "Thank you."),
        (Speaker.caller, "Bye."),
    ]
    # callee: joint 2.6 s = 0.1 s into its piece = model 2.4 s = recording 2.4 / 1.15
    thank = segs[1].words[0]
    assert thank.word == "Thank"
    assert thank.start == round(2.4 / 1.15, 3)
    assert segs[1].end == round(3.2 / 1.15, 3)
    # caller's second chunk: joint 5.4 s = 0.1 s into it = 6.1 s of the recording
    assert (segs[2].start, segs[2].end) == (6.1, 6.5)
    assert segs[2].words[0].probability == 0.5
    assert all(s.channel == s.speaker.channel for s in segs)


def test_a_word_in_the_gap_stays_with_the_words_before_it():
    pieces = J.layout(CHANNELS, gap_s=0.5)
    # "please?" aligned late and without duration, in the silence before the callee's chunk
    # (nearer the callee): it ends the caller's sentence, and its time stays in the caller's
    decoded = [NS(words=[_w("email,", 1.5, 1.9), _w("please?", 2.4, 2.4)])]
    [seg] = J.split_segments(decoded, pieces)
    assert (seg.speaker, seg.text, seg.end) == (Speaker.caller, "email, please?", 2.0)
    # a segment that starts in a gap goes to the nearer piece
    [seg] = J.split_segments([NS(words=[_w("Yes.", 2.4, 2.45)])], pieces)
    assert seg.speaker is Speaker.callee
    assert seg.start == round(2.3 / 1.15, 3)  # clamped to the start of the callee's chunk


def test_a_word_straddling_two_pieces_goes_where_its_middle_is():
    pieces = J.layout(CHANNELS, gap_s=0.5)
    decoded = [NS(words=[_w("so", 1.0, 1.5), _w("okay", 1.8, 2.9)])]  # middle 2.35: the gap
    assert [s.speaker for s in J.split_segments(decoded, pieces)] == [Speaker.caller]
    decoded = [NS(words=[_w("so", 1.0, 1.5), _w("okay", 1.9, 3.3)])]  # middle 2.6: callee
    segs = J.split_segments(decoded, pieces)
    assert [(s.speaker, s.text) for s in segs] == [(Speaker.caller, "so"), (Speaker.callee, "okay")]
    assert segs[1].start == round(2.3 / 1.15, 3)  # the part in the gap is not the callee's


def test_segments_without_words_are_dropped():
    pieces = J.layout(CHANNELS, gap_s=0.5)
    assert J.split_segments([NS(words=[]), NS(words=None)], pieces) == []
