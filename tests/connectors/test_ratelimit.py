"""Proactive rate limits: the catalog token bucket (atomic on SQLite and PostgreSQL, shared by
racing workers) and the limit wrapped around a configured connector's calls."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from catalog.connector_configs import put_connector
from catalog.rate_limits import refund, reserve
from connectors.configured import load, make_stored
from connectors.ratelimit import limit_of
from tests.fakes.webhook import FakeWebhook


def test_bucket_refills_at_the_rate_and_caps_at_burst(any_catalog: Any) -> None:
    c = any_catalog
    assert [reserve(c, "x", 2.0, 3, now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    # empty: each further caller gets the next free slot, 1/2 s apart
    assert reserve(c, "x", 2.0, 3, now=100.0) == pytest.approx(0.5)
    assert reserve(c, "x", 2.0, 3, now=100.0) == pytest.approx(1.0)
    refund(c, "x")  # a reservation given back frees its slot
    assert reserve(c, "x", 2.0, 3, now=100.0) == pytest.approx(1.0)
    assert reserve(c, "x", 2.0, 3, now=102.0) == 0.0  # the queue drained, then some
    # a long pause refills to the burst, not beyond
    waits = [reserve(c, "x", 2.0, 3, now=1000.0) for _ in range(4)]
    assert waits == [0.0, 0.0, 0.0, pytest.approx(0.5)]
    # buckets are per connector
    assert reserve(c, "y", 2.0, 3, now=100.0) == 0.0


def test_racing_workers_share_one_bucket(any_catalog: Any) -> None:
    """Sixteen threads (each its own DB connection, like separate workers) race for slots at
    one instant: the 9 tokens left go to 9 callers, the others get distinct later slots."""
    reserve(any_catalog, "shared", 1.0, 10, now=50.0)  # create the row: 9 left
    with ThreadPoolExecutor(16) as pool:
        waits = list(
            pool.map(lambda _: reserve(any_catalog, "shared", 1.0, 10, now=50.0), range(64))
        )
    assert sum(1 for w in waits if w == 0.0) == 9
    assert sorted(w for w in waits if w > 0) == [pytest.approx(float(k)) for k in range(1, 56)]


def test_limit_of_uses_config_then_vendor_default() -> None:
    from connectors.slack import SlackConfig, SlackConnector
    from connectors.webhook import WebhookConfig, WebhookConnector

    slack = SlackConnector(SlackConfig(token="t", channel="#c"))
    assert limit_of(slack) == (1.0, 10)  # Slack's ~1 message/s per channel
    off = SlackConnector(SlackConfig(token="t", channel="#c", rate_limit_per_minute=0))
    assert limit_of(off) is None
    hook = WebhookConnector(WebhookConfig(url="http://h/"))
    assert limit_of(hook) is None
    mine = WebhookConnector(
        WebhookConfig(url="http://h/", rate_limit_per_minute=120, rate_limit_burst=4)
    )
    assert limit_of(mine) == (2.0, 4)


async def test_a_burst_through_a_loaded_connector_is_spread_out(catalog: Any) -> None:
    with FakeWebhook() as hook:
        put_connector(
            catalog,
            make_stored(
                name="hook",
                kind="webhook",
                values={"url": hook.hook_url, "rate_limit_per_minute": 60, "rate_limit_burst": 2},
            ),
        )
        conn = load(catalog, "hook")
        from connectors.base import Notification

        start = time.monotonic()
        ids = await asyncio.gather(
            *[
                conn.notify(Notification(title=f"t{i}", text="x"), idempotency_key=f"k{i}")
                for i in range(4)
            ]
        )
        elapsed = time.monotonic() - start
    assert len(set(ids)) == 4 and len(hook.received) == 4
    # 2 at once, then one a second: the last cannot go before ~2 s (a lower bound only)
    assert elapsed >= 1.5
