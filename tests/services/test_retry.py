"""The one retry policy: retriable errors only, Retry-After waited exactly, every attempt seen,
an overall deadline, and the blocking twin behaving the same."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import stamina.instrumentation
from sqlalchemy import exc as sa_exc

from connectors.base import AuthError, ConnectorError, PermanentError, RetriableError
from services.retry import (
    RetryPolicy,
    call_with_retries,
    call_with_retries_blocking,
    is_transient,
)

FAST = RetryPolicy(attempts=4, wait_initial=0.001, wait_max=0.01, wait_jitter=0.0)


@pytest.fixture
def waits() -> Iterator[list[float]]:
    """The wait stamina scheduled before each retry."""
    seen: list[float] = []
    stamina.instrumentation.set_on_retry_hooks([lambda d: seen.append(d.wait_for)])
    yield seen
    stamina.instrumentation.set_on_retry_hooks(None)


def flaky(errors: list[Exception], result: str = "ok"):  # type: ignore[no-untyped-def]
    calls = {"n": 0}

    async def call() -> str:
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return result

    return call, calls


async def test_retriable_errors_are_retried_and_each_attempt_is_seen(waits) -> None:
    call, calls = flaky([RetriableError("503"), httpx.ConnectError("refused")])
    started: list[int] = []
    failed: list[tuple[int, str]] = []
    out = await call_with_retries(
        FAST, call, on_attempt=started.append, on_failure=lambda n, e: failed.append((n, e.code))
    )
    assert out == "ok" and calls["n"] == 3
    assert started == [1, 2, 3]
    assert [n for n, _ in failed] == [1, 2] and all(code for _, code in failed)
    assert len(waits) == 2


async def test_retry_after_is_waited_exactly(waits) -> None:
    call, _ = flaky([RetriableError("429", retry_after=0.05)])
    assert await call_with_retries(FAST, call) == "ok"
    # the hint, not the policy's back-off (0.001 s) and not capped by wait_max (0.01 s)
    assert waits == [0.05]


@pytest.mark.parametrize("error", [AuthError("401"), PermanentError("400"), ValueError("bug")])
async def test_permanent_errors_fail_at_once(error: Exception, waits) -> None:
    call, calls = flaky([error])
    with pytest.raises(ConnectorError):
        await call_with_retries(FAST, call)
    assert calls["n"] == 1 and waits == []


async def test_the_policy_gives_up_after_its_attempts(waits) -> None:
    call, calls = flaky([RetriableError("503")] * 10)
    with pytest.raises(RetriableError):
        await call_with_retries(FAST, call)
    assert calls["n"] == 4 and len(waits) == 3


async def test_the_deadline_stops_retries_before_the_attempts_run_out() -> None:
    policy = RetryPolicy(
        attempts=100, wait_initial=0.05, wait_max=0.05, wait_jitter=0, deadline=0.2
    )
    call, calls = flaky([RetriableError("503")] * 100)
    with pytest.raises(RetriableError):
        await call_with_retries(policy, call)
    assert 2 <= calls["n"] < 10


def test_the_blocking_twin_follows_the_same_policy(waits) -> None:
    errors: list[Exception] = [TimeoutError("slow"), RetriableError("429", retry_after=0.02)]
    calls = {"n": 0}

    def call() -> int:
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return 7

    assert call_with_retries_blocking(FAST, call) == 7
    assert calls["n"] == 3 and waits[1] == 0.02


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECFLOW_DELIVERY_MAX_ATTEMPTS", "2")  # the older name still works
    monkeypatch.setenv("RECFLOW_RETRY_BACKOFF_SECONDS", "0")
    policy = RetryPolicy.from_env()
    assert policy.attempts == 2 and policy.wait_initial == 0 and policy.wait_jitter == 0


def _status_error(code: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://balancer/api/flow_runs/")
    response = httpx.Response(code, request=request)
    return httpx.HTTPStatusError(f"HTTP {code}", request=request, response=response)


def _raised_from(outer: Exception, cause: Exception) -> Exception:
    try:
        raise outer from cause
    except Exception as e:
        return e


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        # the platform going away: the Prefect API (directly or through the balancer) ...
        (httpx.ConnectError("refused"), True),
        (httpx.RemoteProtocolError("server disconnected without sending a response"), True),
        (httpx.ReadTimeout("timed out"), True),
        (_status_error(502), True),
        (_status_error(503), True),
        (_status_error(500), True),
        (_status_error(429), True),
        (ConnectionResetError(104, "reset by peer"), True),
        (TimeoutError(), True),
        # ... or the catalog's connection
        (sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")), True),
        (sa_exc.InterfaceError("SELECT 1", {}, Exception("connection already closed")), True),
        (_raised_from(RuntimeError("while saving"), httpx.ConnectError("refused")), True),
        # the item's own failures, and verdicts a connector boundary already made
        (_status_error(404), False),
        (_status_error(422), False),
        (sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")), False),
        (ValueError("not a WAV file"), False),
        (PermanentError("unreadable audio"), False),
        (RetriableError("engine 503 after every retry"), False),
        (_raised_from(PermanentError("HTTP 400"), httpx.ConnectError("refused")), False),
    ],
    ids=repr,
)
def test_what_hands_a_work_item_back_instead_of_failing_it(
    error: BaseException, transient: bool
) -> None:
    assert is_transient(error) is transient
