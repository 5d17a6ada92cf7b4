"""The one retry policy for every call to an external system (deliveries, archive uploads, SMS
email, worker registration): exponential back-off with jitter, an overall deadline, and a
server's ``Retry-After`` honoured exactly. Built on ``stamina`` (tenacity underneath).

Only errors the connector contract calls retriable are retried (``RetriableError``: 429, 5xx,
timeouts, refused connections, DNS failures); the rest fail at once. The caller sees every
attempt through ``on_attempt``/``on_failure`` so the delivery log holds each one.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import stamina

from connectors.base import ConnectorError, error_for_exception

T = TypeVar("T")

AttemptHook = Callable[[int], None]
FailureHook = Callable[[int, ConnectorError], None]


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    wait_initial: float = 2.0  # seconds before the first retry; doubles each time
    wait_max: float = 60.0  # no back-off waits longer (a Retry-After hint may, up to the deadline)
    wait_jitter: float = 1.0  # up to this many random seconds added to each back-off
    deadline: float = 600.0  # all attempts and waits together

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """``RECFLOW_RETRY_*``; the older ``RECFLOW_DELIVERY_*`` names still work."""

        def pick(new: str, old: str, default: float) -> float:
            return _env_float(new, _env_float(old, default))

        initial = pick("RECFLOW_RETRY_BACKOFF_SECONDS", "RECFLOW_DELIVERY_BACKOFF_SECONDS", 2)
        return cls(
            attempts=max(
                1, int(pick("RECFLOW_RETRY_MAX_ATTEMPTS", "RECFLOW_DELIVERY_MAX_ATTEMPTS", 4))
            ),
            wait_initial=initial,
            wait_max=pick(
                "RECFLOW_RETRY_MAX_DELAY_SECONDS", "RECFLOW_DELIVERY_MAX_DELAY_SECONDS", 60
            ),
            # jitter in proportion to the back-off, so a zero back-off (tests) waits nothing
            wait_jitter=_env_float("RECFLOW_RETRY_JITTER_SECONDS", initial / 2),
            deadline=_env_float("RECFLOW_RETRY_DEADLINE_SECONDS", 600.0),
        )

    def backoff(self, exc: Exception) -> bool | float:
        """stamina's back-off hook: False stops, a number is the exact wait (Retry-After),
        True means the policy's exponential back-off."""
        err = exc if isinstance(exc, ConnectorError) else error_for_exception(exc)
        if not err.retriable:
            return False
        hint = getattr(err, "retry_after", None)
        if hint is not None:
            return max(0.0, float(hint))
        return True

    def _context(self) -> stamina._core._RetryContextIterator:
        return stamina.retry_context(
            on=self.backoff,
            attempts=self.attempts,
            timeout=self.deadline,
            wait_initial=self.wait_initial,
            wait_max=self.wait_max,
            wait_jitter=self.wait_jitter,
        )


@contextmanager
def _attempt(
    n: int, on_attempt: AttemptHook | None, on_failure: FailureHook | None
) -> Iterator[None]:
    """One attempt: announce it, and map whatever it raises to the connector contract (which is
    what the back-off hook and the caller both judge)."""
    if on_attempt:
        on_attempt(n)
    try:
        yield
    except Exception as exc:
        err = error_for_exception(exc)
        if on_failure:
            on_failure(n, err)
        if err is exc:
            raise
        raise err from exc


async def call_with_retries(
    policy: RetryPolicy,
    call: Callable[[], Awaitable[T]],
    *,
    on_attempt: AttemptHook | None = None,
    on_failure: FailureHook | None = None,
) -> T:
    """Await ``call()`` until it succeeds or the policy gives up; raises the last error mapped
    to the connector contract (a ``ConnectorError``)."""
    async for attempt in policy._context():
        with attempt, _attempt(attempt.num, on_attempt, on_failure):
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover


_TRANSIENT_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))


def is_transient(exc: BaseException) -> bool:
    """A failure of the platform a work item's run stands on, not of the item: the Prefect API
    or the catalog going away (a refused or reset connection, a timeout, a half-answered request
    to a killed server, a balancer's 502/503/504, a dropped or locked database connection).
    Whoever meets one hands the item back to be tried again instead of failing it; only what
    the item itself causes (corrupt audio, a connector's permanent error) fails it.

    A ``ConnectorError`` is the connector boundary's own verdict (its retriable errors were
    already retried by this policy) and is never judged again here, nor what it wraps. An
    exception raised *from* another (``raise X from e``) is judged by its cause too."""
    import httpx

    try:
        from sqlalchemy import exc as sa_exc

        database: tuple[type[BaseException], ...] = (
            sa_exc.OperationalError,  # connection lost or refused, server gone, SQLite locked
            sa_exc.InterfaceError,
            sa_exc.DisconnectionError,
            sa_exc.TimeoutError,  # no pooled connection in time
        )
    except ImportError:  # pragma: no cover
        database = ()
    seen: set[int] = set()
    err: BaseException | None = exc
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, ConnectorError):
            return False
        if isinstance(err, (httpx.TransportError, ConnectionError, TimeoutError, *database)):
            return True
        if isinstance(err, httpx.HTTPStatusError):
            return err.response.status_code in _TRANSIENT_STATUS
        err = err.__cause__
    return False


def call_with_retries_blocking(
    policy: RetryPolicy,
    call: Callable[[], T],
    *,
    on_attempt: AttemptHook | None = None,
    on_failure: FailureHook | None = None,
) -> T:
    """The same policy for code that runs in a worker thread (blocking SDKs)."""
    for attempt in policy._context():
        with attempt, _attempt(attempt.num, on_attempt, on_failure):
            return call()
    raise AssertionError("unreachable")  # pragma: no cover
