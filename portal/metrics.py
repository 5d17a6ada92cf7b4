"""Prometheus metrics of the portal process: HTTP requests by route, and catalog gauges read at
scrape time (recordings by status, deliveries by status), so any process's /metrics tells the
state of the whole system."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from catalog.repository import Catalog

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _CatalogCollector(Collector):
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def collect(self) -> Iterator[GaugeMetricFamily]:
        recs = GaugeMetricFamily(
            "recflow_recordings", "Recordings in the catalog by status", labels=["status"]
        )
        for status, n in sorted(self.catalog.count_by_status().items()):
            recs.add_metric([status], n)
        yield recs
        dels = GaugeMetricFamily(
            "recflow_deliveries", "Connector deliveries by status", labels=["status"]
        )
        for status, n in sorted(self.catalog.count_deliveries_by_status().items()):
            dels.add_metric([status], n)
        yield dels


class Metrics:
    """One registry per app instance (tests create many apps in one process)."""

    def __init__(self, catalog: Catalog) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "recflow_portal_http_requests",
            "HTTP requests answered by the portal",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "recflow_portal_http_request_seconds",
            "Time to answer a portal HTTP request",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.logins = Counter(
            "recflow_portal_logins",
            "Login attempts by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.registry.register(_CatalogCollector(catalog))

    def render(self) -> bytes:
        return generate_latest(self.registry)
