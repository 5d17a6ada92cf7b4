"""`recflow up`, `recflow worker`, `recflow portal`, `recflow prefect-server`, `recflow status`:
running the system, on one machine (`up`) or as separate parts on several (docs/operations.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from recflow.context import (
    pid_alive,
    read_runtime,
    register_running,
    settings,
    unregister_running,
    use_data_dir,
)

DATA_DIR_OPTION = typer.Option(
    None, "--data-dir", envvar="RECFLOW_DATA_DIR", help="Data directory (default ./recflow-data)"
)


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("worker")(worker)
    app.command("portal")(portal)
    app.command("prefect-server")(prefect_server)
    app.command("status")(status)


def up(
    data_dir: Path | None = DATA_DIR_OPTION,
    sip_port: int = typer.Option(5060, "--sip-port", help="SIP port (UDP and TCP)"),
    rtp_ports: str = typer.Option("20000-29999", "--rtp-ports", help="RTP port range"),
    portal_port: int = typer.Option(8080, "--portal-port", help="Portal HTTP port"),
    prefect_port: int = typer.Option(4200, "--prefect-port", help="Local Prefect server port"),
    bind: str = typer.Option("0.0.0.0", "--bind", help="Address the recorder listens on"),
) -> None:
    """Run everything on this machine: catalog, Prefect server, worker, recorder, portal."""
    from catalog.repository import Catalog
    from recflow.context import settings
    from recflow.supervisor import (
        AlreadyInUse,
        Supervisor,
        check_ports,
        lock_data_dir,
        prefect_server_part,
        recflow_part,
    )

    use_data_dir(data_dir or Path("recflow-data"))
    cfg = settings()
    data = cfg.resolved_data_dir
    data.mkdir(parents=True, exist_ok=True)
    # refuse to start a second system on the same data dir or ports, naming the holder
    try:
        lock = lock_data_dir(data)  # held until this process ends (even by SIGKILL)
        ports = [
            ("portal", "127.0.0.1", portal_port, "tcp"),
            ("SIP", bind, sip_port, "udp"),
            ("SIP", bind, sip_port, "tcp"),
        ]
        if not os.environ.get("PREFECT_API_URL"):
            ports.append(("Prefect server", "127.0.0.1", prefect_port, "tcp"))
        check_ports(ports)
    except AlreadyInUse as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    cfg.resolved_secret_key()  # create the dev key once, before children race for it
    Catalog.open(cfg)  # migrate before any part starts

    parts = []
    api_url = os.environ.get("PREFECT_API_URL")
    backend = "external"
    if not api_url:
        parts.append(prefect_server_part(data, prefect_port))
        api_url = f"http://127.0.0.1:{prefect_port}/api"
        backend = "postgresql" if os.environ.get("RECFLOW_PREFECT_DATABASE_URL") else "sqlite"
    portal_url = f"http://127.0.0.1:{portal_port}"
    child_env = {
        "PREFECT_API_URL": api_url,
        "RECFLOW_PREFECT_BACKEND": backend,
        # links in messages; a deployment behind a proxy sets its own
        "RECFLOW_PUBLIC_URL": os.environ.get("RECFLOW_PUBLIC_URL") or portal_url,
    }
    parts += [
        recflow_part("worker", "worker", env=child_env),
        recflow_part(
            "recorder",
            "recorder",
            "--sip-port",
            str(sip_port),
            "--rtp-ports",
            rtp_ports,
            "--bind",
            bind,
            "--data-dir",
            str(data),
            env=child_env,
        ),
        recflow_part("sftp", "sftp", "--data-dir", str(data), env=child_env),
        recflow_part(
            "portal",
            "portal",
            "--port",
            str(portal_port),
            env=child_env,
            health_url=f"{portal_url}/healthz",
        ),
    ]
    runtime = {
        "prefect_api_url": api_url,
        "prefect_ui_url": api_url.removesuffix("/api"),
        "prefect_backend": backend,
        "portal_url": portal_url,
        "sip": f"{bind}:{sip_port}",
        "rtp_ports": rtp_ports,
        "supervisor_pid": os.getpid(),
    }

    def ready(error: str | None) -> None:
        if error:
            typer.echo(error, err=True)
            return
        typer.echo(
            f"recflow is up (data: {data})\n"
            f"  portal     {portal_url}\n"
            f"  SIP        udp+tcp {bind}:{sip_port}  (RTP {rtp_ports})\n"
            f"  Prefect UI {runtime['prefect_ui_url']}\n"
            f"  logs       {data / 'logs'}\n"
            "Ctrl-C stops everything."
        )

    typer.echo("starting recflow (Prefect server, worker, recorder, portal)…")
    registered = register_running(data)  # other CLI processes compare their data dir with it
    try:
        code = Supervisor(data, parts, runtime).run(ready)
    finally:
        unregister_running(registered)
    lock.close()
    raise typer.Exit(code)


def worker(
    data_dir: Path | None = DATA_DIR_OPTION,
    concurrency: int = typer.Option(0, "--concurrency", help="Flow runs at a time (0 = auto)"),
    no_dispatch: bool = typer.Option(False, "--no-dispatch", help="Only execute, do not claim"),
    metrics_port: int = typer.Option(
        0,
        "--metrics-port",
        envvar="RECFLOW_WORKER_METRICS_PORT",
        help="Serve Prometheus metrics on 127.0.0.1:PORT (0 = off)",
    ),
) -> None:
    """Execute flow runs (process-recording and the scheduled flows) in this process."""
    use_data_dir(data_dir)
    runtime = read_runtime()
    if not os.environ.get("PREFECT_API_URL") and runtime.get("prefect_api_url"):
        os.environ["PREFECT_API_URL"] = str(runtime["prefect_api_url"])
    if not os.environ.get("PREFECT_API_URL"):
        typer.echo("error: no Prefect API: set PREFECT_API_URL or start `recflow up`", err=True)
        raise typer.Exit(2)
    backend = os.environ.get("RECFLOW_PREFECT_BACKEND") or runtime.get("prefect_backend")
    if backend:
        os.environ["RECFLOW_PREFECT_BACKEND"] = str(backend)
    # the worker is Prefect code (flows/); this shell only wires the process, so it becomes it
    argv = [sys.executable, "-m", "flows.worker", "--concurrency", str(concurrency)]
    if no_dispatch:
        argv.append("--no-dispatch")
    if metrics_port:
        argv += ["--metrics-port", str(metrics_port)]
    os.execv(sys.executable, argv)


def portal(
    data_dir: Path | None = DATA_DIR_OPTION,
    port: int = typer.Option(8080, "--port", help="HTTP port"),
    host: str = typer.Option("127.0.0.1", "--host", help="Listen address"),
) -> None:
    """Serve the web portal and REST API."""
    import uvicorn

    use_data_dir(data_dir)
    uvicorn.run(
        "portal.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        # X-Forwarded-For is believed only from RECFLOW_PORTAL_TRUSTED_PROXIES, by the app's own
        # ProxyHeadersMiddleware; uvicorn's default would trust any header from 127.0.0.1
        proxy_headers=False,
        server_header=False,
    )


def prefect_server(
    data_dir: Path | None = DATA_DIR_OPTION,
    host: str = typer.Option("127.0.0.1", "--host", help="Listen address"),
    port: int = typer.Option(4200, "--port", help="HTTP port (API under /api, UI at /)"),
    ui: bool = typer.Option(True, "--ui/--no-ui", help="Serve Prefect's web UI"),
    services: bool = typer.Option(
        True,
        "--services/--no-services",
        help="Run Prefect's background services (scheduler, late runs …) in this process too",
    ),
) -> None:
    """Run one Prefect API server: what `recflow up` starts, for layouts with parts on several
    machines. RECFLOW_PREFECT_DATABASE_URL selects PostgreSQL (shared by every API server);
    RECFLOW_PREFECT_REDIS_URL turns on Prefect's Redis messaging, needed when more than one
    API server runs (docs/operations.md). Without a database URL it keeps SQLite under
    DATA_DIR/prefect, as `recflow up` does."""
    from recflow.prefect_server import ScaleOutConfigError, server_environment

    use_data_dir(data_dir)
    if not os.environ.get("PREFECT_HOME"):
        home = settings().resolved_data_dir / "prefect"
        home.mkdir(parents=True, exist_ok=True)
        os.environ["PREFECT_HOME"] = str(home)

    try:
        os.environ.update(server_environment())
    except ScaleOutConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    os.environ.pop("PREFECT_API_URL", None)  # a server serves; it is no client of another one
    argv = [sys.executable, "-m", "recflow.prefect_server", "--host", host, "--port", str(port)]
    argv.append("--ui" if ui else "--no-ui")
    if not services:
        argv.append("--no-services")
    os.execv(sys.executable, argv)


def _http_health(url: str) -> str:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return "healthy" if r.status == 200 else f"HTTP {r.status}"
    except Exception as e:
        return f"unreachable ({type(e).__name__})"


def status(
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output"),
) -> None:
    """Each part of the running system: pid, health, and the work queues' depth."""
    from catalog.repository import Catalog
    from catalog.sms import count_sms_by_status
    from recflow.context import echo_json, settings

    use_data_dir(data_dir)
    runtime = read_runtime()
    cfg = settings()
    catalog = Catalog.open(cfg)
    pids: dict[str, int] = runtime.get("pids") or {}
    lease = cfg.worker_lease_seconds
    workers = catalog.list_workers()
    parts: dict[str, dict[str, object]] = {}
    sup = runtime.get("supervisor_pid")
    if sup:
        parts["supervisor"] = {
            "pid": sup,
            "health": "running" if pid_alive(int(sup)) else "not running",
        }
    for name, pid in pids.items():
        alive = pid_alive(pid)
        health = "running" if alive else "not running"
        if alive and name == "prefect-server" and runtime.get("prefect_api_url"):
            health = _http_health(f"{runtime['prefect_api_url']}/health")
        elif alive and name == "portal" and runtime.get("portal_url"):
            health = _http_health(f"{runtime['portal_url']}/healthz")
        elif alive and name == "worker":
            mine = [w for w in workers if w["pid"] == pid]
            fresh = [w for w in mine if float(w["heartbeat_age_s"]) < lease]  # type: ignore[arg-type]
            health = "healthy (heartbeat)" if fresh else "no recent heartbeat"
        parts[name] = {"pid": pid, "health": health}
    recordings = catalog.count_by_status()
    sms = count_sms_by_status(catalog)
    queues = {
        "recordings": {
            "waiting": recordings.get("captured", 0) + recordings.get("dispatched", 0),
            "processing": recordings.get("processing", 0),
            "failed": recordings.get("failed", 0),
        },
        "sms": {
            "waiting": sms.get("pending", 0) + sms.get("dispatched", 0),
            "processing": sms.get("processing", 0),
            "failed": sms.get("failed", 0),
        },
    }
    report = {
        "data_dir": str(cfg.resolved_data_dir),
        "running": bool(sup) and pid_alive(int(sup)),
        "parts": parts,
        "workers": workers,
        "queues": queues,
    }
    if as_json:
        echo_json(report)
        return
    typer.echo(f"data dir  {report['data_dir']}")
    if not parts:
        typer.echo("recflow is not running from this data dir (no runtime.json)")
    for name, p in parts.items():
        typer.echo(f"  {name:<15} pid {p['pid']!s:<8} {p['health']}")
    for w in workers:
        typer.echo(f"  worker {w['id']}  heartbeat {w['heartbeat_age_s']}s ago")
    for kind, q in queues.items():
        typer.echo(
            f"  queue {kind:<11} waiting {q['waiting']}  processing {q['processing']}"
            f"  failed {q['failed']}"
        )
