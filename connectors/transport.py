"""The two ways a connector talks to its vendor, written once.

* :func:`run_blocking` — a blocking SDK call (requests/urllib3/smtplib underneath) run in a worker
  thread, its failure mapped to the four connector error classes: errors already mapped pass
  through, the connector's own vendor table (``vendor``) comes next, transport failures are
  retriable and everything else is permanent.
* :func:`request_json` — one JSON-over-HTTP request with httpx: transport failures and HTTP
  statuses ≥ 400 mapped by the shared status table (``Retry-After`` honoured), the decoded JSON
  (or ``None`` for an empty body) returned.

Neither retries: retry policy lives once, in the delivery loop. SDKs that retry internally are
configured not to (botocore ``max_attempts: 1``, slack-sdk without retry handlers, jira
``max_retries=0``).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx

from connectors.base import ConnectorError, error_for_exception, error_for_status

T = TypeVar("T")

VendorTable = Callable[[BaseException], ConnectorError | None]


def map_exception(exc: BaseException, vendor: VendorTable | None = None) -> ConnectorError:
    """``exc`` as a connector error: already mapped → itself; the vendor table; then the shared
    transport rule (timeouts and refused connections retriable, the rest permanent)."""
    if isinstance(exc, ConnectorError):
        return exc
    if vendor is not None:
        mapped = vendor(exc)
        if mapped is not None:
            return mapped
    return error_for_exception(exc)


def guarded(fn: Callable[[], T], vendor: VendorTable | None = None) -> T:
    """Call ``fn`` (on this thread) with the error mapping of :func:`run_blocking`."""
    try:
        return fn()
    except Exception as e:
        raise map_exception(e, vendor) from None


async def run_blocking(fn: Callable[[], T], vendor: VendorTable | None = None) -> T:
    """Run a blocking SDK call in a worker thread; its failure comes back mapped."""
    return await asyncio.to_thread(guarded, fn, vendor)


@functools.lru_cache(maxsize=16)
def tls_context(verify: bool | str = True) -> ssl.SSLContext | bool:
    """One TLS context per trust setting for the process. Building one (loading the CA bundle)
    costs tens of milliseconds, more than a loopback request: a client per request must not
    pay it every time."""
    if verify is False:
        return False
    if verify is True:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    return ssl.create_default_context(cafile=verify)


def status_error(response: httpx.Response, what: str) -> ConnectorError:
    """The mapped error of an HTTP answer ≥ 400 (the body is kept short: it may echo input)."""
    return error_for_status(
        response.status_code,
        f"{what}: {response.text[:200]}",
        retry_after=response.headers.get("Retry-After"),
    )


async def send(
    method: str,
    url: str,
    *,
    what: str,
    timeout: float,
    json: Any = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    auth: httpx.Auth | tuple[str, str] | None = None,
    verify: bool | str = True,
    client: httpx.AsyncClient | None = None,
    ok_statuses: tuple[int, ...] = (),
) -> httpx.Response:
    """One HTTP request; transport failures and statuses ≥ 400 (outside ``ok_statuses``) raise
    mapped connector errors. ``client`` reuses a pooled client; else a one-shot one is used
    (``trust_env`` off: proxies and CA bundles come from config, never the environment)."""
    kwargs: dict[str, Any] = {"headers": dict(headers or {})}
    if json is not None:
        kwargs["json"] = json
    if content is not None:
        kwargs["content"] = content
    if params is not None:
        kwargs["params"] = dict(params)
    if auth is not None:
        kwargs["auth"] = auth
    try:
        if client is not None:
            r = await client.request(method, url, timeout=timeout, **kwargs)
        else:
            async with httpx.AsyncClient(
                timeout=timeout, verify=tls_context(verify), trust_env=False
            ) as http:
                r = await http.request(method, url, **kwargs)
    except Exception as e:
        raise error_for_exception(e) from None
    if r.status_code >= 400 and r.status_code not in ok_statuses:
        raise status_error(r, what)
    return r


async def request_json(method: str, url: str, **kwargs: Any) -> Any:
    """:func:`send`, then the decoded JSON body (None when the body is empty)."""
    r = await send(method, url, **kwargs)
    if not r.content:
        return None
    try:
        return r.json()
    except ValueError:
        from connectors.base import PermanentError

        raise PermanentError(f"{kwargs.get('what', url)}: answer is not JSON") from None
