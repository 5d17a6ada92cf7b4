"""The spine from outside: a two-voice call ingested into a running `recflow up` gets a
per-speaker transcript with the spoken words."""

from __future__ import annotations

import json

import pytest

from tests.support import CANCEL_CALL, make_call, wer

pytestmark = pytest.mark.slow


def test_two_voice_call_is_transcribed_per_speaker(stack):
    call = make_call(CANCEL_CALL)
    rid = stack.cli(
        "ingest", str(call.stereo), "--from", "+447700900123", "--to", "+441632960555"
    ).stdout.strip()
    done = stack.wait_status(rid, "processed")
    assert done["attempt"] == 0 and done["flow_run_id"]
    data = json.loads(stack.cli("recordings", "transcript", rid, "--json").stdout)
    by = {"caller": [], "callee": []}
    for seg in data["segments"]:
        assert seg["end"] >= seg["start"] >= 0
        assert seg["channel"] == (0 if seg["speaker"] == "caller" else 1)
        assert seg["words"], "word timings are kept"
        by[seg["speaker"]].append(seg["text"])
    assert wer(call.ref_caller, " ".join(by["caller"])) <= 0.35
    assert wer(call.ref_callee, " ".join(by["callee"])) <= 0.35
    starts = [s["start"] for s in data["segments"]]
    assert starts == sorted(starts), "segments are merged on one timeline"
    human = stack.cli("recordings", "transcript", rid).stdout
    assert "caller:" in human and "callee:" in human
