"""Prometheus metrics of a `recflow worker` (served with ``recflow worker --metrics-port N``).

Names (docs/operations.md):
- ``recflow_worker_runs_started_total{kind}``, ``recflow_worker_runs_completed_total{kind}``,
  ``recflow_worker_runs_failed_total{kind}``: flow runs of work items (recording, sms) and
  deployment runs (kind="deployment") this worker started / completed / saw fail;
- ``recflow_worker_runs_active``: runs executing in this worker now;
- ``recflow_work_queue_depth{kind,state}``: work items waiting / processing in the catalog,
  read at scrape time (every worker reports the same shared queue).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
STARTED = Counter(
    "recflow_worker_runs_started", "Flow runs started by this worker", ["kind"], registry=REGISTRY
)
COMPLETED = Counter(
    "recflow_worker_runs_completed",
    "Flow runs completed by this worker",
    ["kind"],
    registry=REGISTRY,
)
FAILED = Counter(
    "recflow_worker_runs_failed",
    "Flow runs that failed in this worker",
    ["kind"],
    registry=REGISTRY,
)
ACTIVE = Gauge("recflow_worker_runs_active", "Flow runs executing now", registry=REGISTRY)


class QueueDepth(Collector):
    def __init__(self, catalog: Any, kinds: list[Any]) -> None:
        self.catalog = catalog
        self.kinds = kinds

    def collect(self) -> Iterator[GaugeMetricFamily]:
        g = GaugeMetricFamily(
            "recflow_work_queue_depth",
            "Work items in the catalog by state",
            labels=["kind", "state"],
        )
        for kind in self.kinds:
            q = kind.queue
            counts = q.count_by_state(self.catalog.db)
            g.add_metric([kind.name, "waiting"], counts.get("waiting", 0))
            g.add_metric([kind.name, "processing"], counts.get("processing", 0))
        yield g


def serve(port: int, catalog: Any, kinds: list[Any], host: str = "127.0.0.1") -> None:
    from prometheus_client import start_http_server

    REGISTRY.register(QueueDepth(catalog, kinds))
    start_http_server(port, addr=host, registry=REGISTRY)
