"""Prometheus metrics of `recflow recorder` (``--metrics-port N``), read at scrape time from the
recorder's own counts (``recorder.stats``; the recorder imports no metrics library).

Names (docs/recorder.md, "Monitoring"):
- ``recflow_recorder_calls_active``: calls in progress (INVITE accepted, not ended);
- ``recflow_recorder_invites_rejected_total{reason}``: new calls refused — ``forbidden``
  (source not trusted, 403), ``busy`` (max calls or no RTP ports, 503), ``bad_sdp`` (400),
  ``not_acceptable`` (no offer or no usable codec, 488);
- ``recflow_recorder_calls_recorded_total``: calls captured into the catalog with audio;
  ``recflow_recorder_calls_not_recorded_total``: calls listed without audio (recording policy);
- ``recflow_recorder_sms_received_total``: SIP MESSAGEs accepted as SMS;
- ``recflow_recorder_rtp_packets_received_total``, ``recflow_recorder_rtp_packets_lost_total``:
  RTP packets of streams that ended (loss as RFC 3550 A.3 counts it);
- ``recflow_recorder_rtp_jitter_ms``: histogram of each ended stream's worst interarrival
  jitter (RFC 3550 A.8), milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from recorder.stats import JITTER_BUCKETS_MS


class RecorderCollector(Collector):
    def __init__(self, server: Any) -> None:
        self.server = server  # recorder.server.RecorderServer

    def collect(self) -> Iterator[Any]:
        stats = self.server.stats
        yield GaugeMetricFamily(
            "recflow_recorder_calls_active",
            "Calls in progress",
            value=len(self.server.core.calls),
        )
        rejected = CounterMetricFamily(
            "recflow_recorder_invites_rejected",
            "INVITEs for new calls the recorder refused, by reason",
            labels=["reason"],
        )
        for reason, n in sorted(stats.invites_rejected.items()):
            rejected.add_metric([reason], n)
        yield rejected
        for name, doc, value in (
            ("calls_recorded", "Calls captured with audio", stats.calls_recorded),
            ("calls_not_recorded", "Calls listed without audio (policy)", stats.calls_not_recorded),
            ("sms_received", "SIP MESSAGEs stored as SMS", stats.sms_received),
            ("rtp_packets_received", "RTP packets of ended streams", stats.rtp_packets_received),
            ("rtp_packets_lost", "RTP packets lost in ended streams", stats.rtp_packets_lost),
        ):
            yield CounterMetricFamily(f"recflow_recorder_{name}", doc, value=value)
        bounds = [*map(floatToGoString, JITTER_BUCKETS_MS), "+Inf"]
        cumulative, buckets = 0, []
        for bound, n in zip(bounds, list(stats.jitter_buckets), strict=True):
            cumulative += n
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            "recflow_recorder_rtp_jitter_ms",
            "Worst interarrival jitter of each ended RTP stream (ms)",
            buckets=buckets,
            sum_value=stats.jitter_sum_ms,
        )


def serve(port: int, server: Any, host: str = "127.0.0.1") -> None:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry(auto_describe=True)
    registry.register(RecorderCollector(server))
    start_http_server(port, addr=host, registry=registry)
