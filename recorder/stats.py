"""What the recorder counts for monitoring: plain numbers the core and its shell bump, read by
whatever exports them (``recflow recorder --metrics-port``: Prometheus names in
docs/recorder.md). No metrics library here: the recorder stays a core, and a count costs an
integer add on the hot path.

Counters only grow; the exporter reads them at scrape time (another thread: reading an int or a
list item is atomic under the GIL, and a scrape that sees one call half-counted is harmless).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# per-stream jitter histogram bounds, milliseconds (a G.711 packet is 20 ms)
JITTER_BUCKETS_MS: tuple[float, ...] = (1, 2, 5, 10, 20, 30, 50, 100, 200, 500)

# why an INVITE for a new call was refused (the label of recflow_recorder_invites_rejected_total)
REJECT_REASONS = ("forbidden", "busy", "bad_sdp", "not_acceptable")


@dataclass
class RecorderStats:
    invites_rejected: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0)
    )
    calls_recorded: int = 0  # captured into the catalog with audio
    calls_not_recorded: int = 0  # listed without audio (recording policy)
    sms_received: int = 0
    rtp_packets_received: int = 0  # of streams that ended
    rtp_packets_lost: int = 0  # RFC 3550 A.3: expected - received, per source
    # per ended stream, its worst interarrival jitter (RFC 3550 A.8): counts per bucket
    # (the last one is +Inf), their sum and how many
    jitter_buckets: list[int] = field(default_factory=lambda: [0] * (len(JITTER_BUCKETS_MS) + 1))
    jitter_sum_ms: float = 0.0
    jitter_count: int = 0

    def rejected(self, reason: str) -> None:
        self.invites_rejected[reason] = self.invites_rejected.get(reason, 0) + 1

    def stream_ended(self, summary: dict[str, Any]) -> None:
        """Add one ended stream (``MediaStream.summary()``); a stream that never received a
        packet has no jitter to speak of and is left out of the histogram."""
        received = int(summary.get("packets_received", 0))
        self.rtp_packets_received += received
        self.rtp_packets_lost += int(summary.get("packets_lost", 0))
        if not received:
            return
        jitter = float(summary.get("max_jitter_ms", 0.0))
        i = next((i for i, b in enumerate(JITTER_BUCKETS_MS) if jitter <= b), -1)
        self.jitter_buckets[i] += 1
        self.jitter_sum_ms += jitter
        self.jitter_count += 1
