"""Account switches that apply when a live call becomes a recording (the recorder's capture).

- ``dynamic_private_calls`` off: the DTMF private code (``*1``) no longer marks a call private;
  the recording keeps ``metadata.private_code_ignored = true`` so the fact is visible.
- ``announcements``: the announcement in force when the call was captured is recorded in
  ``metadata.announcement`` (what the PBX was told to play; see docs/quality.md).

Read once per capture batch (one settings document), never cached across batches, so a change
in the portal applies to the next call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from catalog.models import Recording


def apply_capture_policy(catalog: Any, recs: Sequence[Recording]) -> None:
    features = catalog.account().features
    for rec in recs:
        rec.metadata["announcement"] = features.announcements
        if rec.private and not features.dynamic_private_calls:
            rec.private = False
            rec.metadata["private_code_ignored"] = True
