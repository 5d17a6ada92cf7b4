"""SIPREC metadata comes from a peer: parsed with defusedxml, so DTDs, entity expansion and
external references are refused (the call is still recorded, without participants)."""

from __future__ import annotations

from recorder.sdp import parse_rs_metadata

GOOD = b"""<?xml version="1.0"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
  <participant participant_id="p1"><nameID aor="sip:+447700900123@x"><name>Alice</name></nameID>
  </participant>
</recording>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
<recording><participant participant_id="p1"><name>&c;</name></participant></recording>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<recording><participant participant_id="p1"><name>&x;</name></participant></recording>"""


def test_plain_metadata_still_parses() -> None:
    meta = parse_rs_metadata(GOOD)
    assert [(p.name, p.aor) for p in meta.participants] == [("Alice", "sip:+447700900123@x")]


def test_entities_and_dtds_are_refused() -> None:
    for doc in (LAUGHS, XXE):
        meta = parse_rs_metadata(doc)
        assert meta.participants == []
