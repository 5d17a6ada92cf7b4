"""`recflow recorder`: the SIP recording server on its own (also started by `recflow up`)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from functools import partial
from pathlib import Path
from typing import Any

import typer

from recflow.context import DATA_DIR_OPTION, use_data_dir


def _port_range(value: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value)
    if not m or not (1024 <= int(m.group(1)) < int(m.group(2)) <= 65535):
        raise typer.BadParameter("expected LOW-HIGH, e.g. 20000-29999")
    return int(m.group(1)), int(m.group(2))


def _sms_callback(catalog: Any) -> Any:
    """The SMS store (issue 6) when it is installed; SIP MESSAGE is still answered without it."""
    try:
        from catalog.sms import ingest_sms
    except ImportError:
        return None
    return partial(ingest_sms, catalog, source="sip")


def _sms_check(catalog: Any) -> Any:
    """MESSAGE validation before the answer, with the account's ``sms.max_chars`` (re-read at
    most every 30 s, so `config apply` takes effect without a restart)."""
    import time

    from catalog.sms import get_sms_settings
    from recorder.messages import sms_checker

    cached = [0.0, 0]

    def max_chars() -> int:
        now = time.monotonic()
        if now >= cached[0]:
            cached[0], cached[1] = now + 30.0, get_sms_settings(catalog).max_chars
        return int(cached[1])

    return sms_checker(max_chars)


def recorder(
    sip_port: int = typer.Option(5060, "--sip-port", help="SIP port (UDP and TCP)"),
    rtp_ports: str = typer.Option("20000-29999", "--rtp-ports", help="RTP port range LOW-HIGH"),
    bind: str = typer.Option("0.0.0.0", "--bind", help="Address to listen on"),
    data_dir: Path | None = DATA_DIR_OPTION,
    max_calls: int | None = typer.Option(None, "--max-calls", help="Concurrent calls (503 beyond)"),
    trusted: list[str] | None = typer.Option(
        None, "--trusted", help="CIDR allowed to send SIP (repeatable; default: private networks)"
    ),
    rtp_timeout: float | None = typer.Option(
        None, "--rtp-timeout", help="Seconds without RTP that end a call"
    ),
    answer_delay: float | None = typer.Option(
        None, "--answer-delay", help="Ring this long before answering"
    ),
    advertise: str | None = typer.Option(None, "--advertise", help="IP to put in SDP/Contact"),
    no_tcp: bool = typer.Option(False, "--no-tcp", help="UDP only"),
    tls_cert: Path | None = typer.Option(
        None, "--tls-cert", help="PEM certificate (chain): also listen for SIP over TLS"
    ),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert"),
    tls_port: int = typer.Option(5061, "--tls-port", help="SIP over TLS port"),
    tls_client_ca: Path | None = typer.Option(
        None, "--tls-client-ca", help="CA file: require and verify peer certificates (mutual TLS)"
    ),
    metrics_port: int = typer.Option(
        0,
        "--metrics-port",
        envvar="RECFLOW_RECORDER_METRICS_PORT",
        help="Serve Prometheus metrics on 127.0.0.1:PORT (0 = off)",
    ),
) -> None:
    """Record SIP calls (SIPREC or forked) to stereo WAV and capture them into the catalog."""
    from catalog.repository import Catalog
    from recflow.context import settings
    from recorder.capture import CatalogSink
    from recorder.server import RecorderServer, serve_forever
    from services.config.recorder_section import load_settings

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    lo, hi = _port_range(rtp_ports)
    if data_dir is not None:
        use_data_dir(data_dir)
    cfg = settings()
    catalog = Catalog.open(cfg)
    rs = load_settings(catalog)
    overrides: dict[str, Any] = {}
    if max_calls is not None:
        overrides["max_calls"] = max_calls
    if trusted:
        overrides["trusted_sources"] = trusted
    if rtp_timeout is not None:
        overrides["rtp_timeout_seconds"] = rtp_timeout
    if answer_delay is not None:
        overrides["answer_delay_seconds"] = answer_delay
    if advertise is not None:
        overrides["advertise_address"] = advertise
    if overrides:
        rs = rs.model_validate({**rs.model_dump(), **overrides})
    tls = None
    if tls_cert is not None:
        from recorder.tls import TlsConfigError, server_context

        try:
            tls = server_context(tls_cert, tls_key, tls_client_ca)
        except TlsConfigError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
    catalog.get_recording("warm-up")  # compile the ORM paths now, not during the first capture
    server = RecorderServer(
        rs,
        data_dir=cfg.resolved_data_dir,
        bind=bind,
        sip_port=sip_port,
        rtp_ports=(lo, hi),
        sink=CatalogSink(catalog),
        on_sms=_sms_callback(catalog),
        check_sms=_sms_check(catalog),
        tcp=not no_tcp,
        tls=tls,
        tls_port=tls_port,
    )

    if metrics_port:
        from recflow import recorder_metrics

        recorder_metrics.serve(metrics_port, server)

    from recorder.policy_source import PolicyRefresher

    # recording policy and API start/stop of on-demand calls (issue 16)
    policy = PolicyRefresher(catalog, server.core, control=server.record_control_threadsafe).start()

    def ready() -> None:
        proto = ("udp" if no_tcp else "udp+tcp") + (
            f", tls on {server.tls_port}" if tls is not None else ""
        )
        typer.echo(
            f"recorder listening on sip:{bind}:{server.sip_port} ({proto}), "
            f"rtp {lo}-{hi}, data {cfg.resolved_data_dir}",
            err=True,
        )

    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    profile_to = os.environ.get("RECFLOW_RECORDER_PROFILE")
    if profile_to:  # benchmarks/recorder_load.py --profile: where the CPU goes
        import cProfile

        cProfile.runctx("runner(serve_forever(server, ready))", globals(), locals(), profile_to)
    else:
        runner(serve_forever(server, ready))
    policy.stop()
    catalog.db.dispose()


def register(app: typer.Typer) -> None:
    app.command("recorder")(recorder)
