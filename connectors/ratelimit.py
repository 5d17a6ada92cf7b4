"""Proactive rate limits: a token bucket per configured connector, shared by every worker through
the catalog (``catalog.rate_limits``), so a burst of calls is spread out *before* the vendor
answers 429.

The limit is ``rate_limit_per_minute`` / ``rate_limit_burst`` from the connector's config, else
the kind's ``default_rate_limit`` (the vendor's documented request limit divided by the requests
one delivery makes); ``rate_limit_per_minute: 0`` turns it off. Every call of a capability
method (``notify``, ``log_call``, ``append_row``, ``store_object``'s ``put_object``, the SMS
``send_message``) takes one token, retries included.
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from catalog.rate_limits import refund, reserve
from catalog.repository import Catalog
from connectors.base import CAPABILITY_PROTOCOLS, Connector, RetriableError

MAX_WAIT_S = 600.0
_METHODS = {
    cap: [n for n in dir(proto) if not n.startswith("_") and callable(getattr(proto, n))]
    for cap, proto in CAPABILITY_PROTOCOLS.items()
}


def limit_of(connector: Connector) -> tuple[float, int] | None:
    """(per second, burst) for ``connector``, or None when unlimited."""
    cfg = connector.config
    per_minute = getattr(cfg, "rate_limit_per_minute", None)
    burst = getattr(cfg, "rate_limit_burst", None)
    default = type(connector).default_rate_limit
    if per_minute is None:
        if default is None:
            return None
        per_minute = default[0]
    if per_minute <= 0:
        return None
    if burst is None:
        burst = default[1] if default else 1
    return per_minute / 60.0, max(1, int(burst))


async def acquire(catalog: Catalog, name: str, per_second: float, burst: int) -> float:
    """Reserve a slot of ``name``'s bucket and sleep until it; returns the seconds waited.

    The slot is an absolute time: however late the worker thread hands the answer back, the
    call goes at its slot, not at slot + that delay (delays that differ per caller would bunch
    calls together)."""

    def slot() -> float:
        now = time.time()
        return now + reserve(catalog, name, per_second, burst, now=now)

    start = time.monotonic()
    at = await asyncio.to_thread(slot)
    wait = at - time.time()
    if wait > MAX_WAIT_S:
        await asyncio.to_thread(refund, catalog, name)
        raise RetriableError(f"rate limit of {name}: no slot within {MAX_WAIT_S:.0f} s")
    if wait > 0:
        await asyncio.sleep(wait)
    await _local_gate(name, per_second, burst)
    return time.monotonic() - start


# per event loop (a lock belongs to one loop; a finished loop's gates go with it)
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)


async def _local_gate(name: str, per_second: float, burst: int) -> None:
    """The same (rate, burst) on this process's own clock, applied to the moment calls really
    leave. The shared bucket hands out slots; a caller that wakes late (a busy event loop, a
    queued worker thread) must not then go out together with the callers after it, which a
    vendor counting requests per second would answer with 429."""
    gates = _gates.setdefault(asyncio.get_running_loop(), {})
    if name not in gates:
        gates[name] = (asyncio.Lock(), [0.0])  # [theoretical arrival time] (GCRA)
    lock, tat = gates[name]
    interval = 1.0 / per_second
    async with lock:
        now = time.monotonic()
        allowed_at = tat[0] - (burst - 1) * interval
        if allowed_at > now:
            await asyncio.sleep(allowed_at - now)
            now = time.monotonic()
        tat[0] = max(tat[0], now) + interval


def capability_methods(cls: type[Connector]) -> list[str]:
    """The method names of ``cls``'s declared capabilities (notify, log_call, put_object …)."""
    return [m for cap in sorted(cls.capabilities) for m in _METHODS.get(cap, [])]


def limited(connector: Connector, catalog: Catalog) -> Connector:
    """``connector`` with its capability methods waiting for a token first (same instance)."""
    lim = limit_of(connector)
    if lim is None:
        return connector
    per_second, burst = lim
    for meth in capability_methods(type(connector)):
        original = getattr(connector, meth, None)
        if original is not None:
            setattr(connector, meth, _wrap(original, catalog, connector.name, per_second, burst))
    return connector


def _wrap(
    fn: Callable[..., Awaitable[Any]], catalog: Catalog, name: str, per_second: float, burst: int
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        await acquire(catalog, name, per_second, burst)
        return await fn(*args, **kwargs)

    return call
