"""How a CLI process finds the running system: the data dir (``--data-dir`` or
``RECFLOW_DATA_DIR``), the catalog under it, and ``runtime.json`` written by `recflow up`; and
the options and output every command shares (``--data-dir``, ``--json``)."""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from catalog.models import assume_utc
from catalog.repository import Catalog
from catalog.settings import RecflowSettings, get_settings


def _announce_data_dir(ctx: typer.Context, value: Path | None) -> Path | None:
    """Every command takes ``--data-dir``: once it is resolved (option, ``RECFLOW_DATA_DIR``,
    default), say so when it is not the running system's (:func:`data_dir_notice`). `up` is the
    running system; ``--help`` exits before this runs."""
    if ctx.command.name != "up" and not ctx.resilient_parsing:
        announce_data_dir(value)
    return value


DATA_DIR_OPTION = typer.Option(
    None,
    "--data-dir",
    envvar="RECFLOW_DATA_DIR",
    help="Data directory",
    callback=_announce_data_dir,
)
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output")


def with_data_dir(command: Any) -> Any:
    """``command`` with a ``--data-dir`` option (the shared one: ``RECFLOW_DATA_DIR``, and the
    notice of :func:`data_dir_notice`), unless it takes one already. The CLI gives it to every
    command (recflow/cli.py), so no command can miss it."""
    sig = inspect.signature(command)
    if "data_dir" in sig.parameters:
        return command

    @functools.wraps(command)
    def wrapper(*args: Any, data_dir: Path | None = None, **kwargs: Any) -> Any:
        use_data_dir(data_dir)
        return command(*args, **kwargs)

    option = inspect.Parameter(
        "data_dir", inspect.Parameter.KEYWORD_ONLY, default=DATA_DIR_OPTION, annotation=Path | None
    )
    params = [p for p in sig.parameters.values() if p.kind != p.VAR_KEYWORD]
    wrapper.__signature__ = sig.replace(parameters=[*params, option])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**command.__annotations__, "data_dir": Path | None}
    return wrapper


def use_data_dir(data_dir: Path | None) -> None:
    """Make ``data_dir`` the data dir of this process and of every child it starts."""
    if data_dir is not None:
        os.environ["RECFLOW_DATA_DIR"] = str(data_dir.expanduser().resolve())
        get_settings.cache_clear()


def settings() -> RecflowSettings:
    return get_settings()


def open_catalog(data_dir: Path | None = None) -> Catalog:
    """The catalog of ``data_dir`` (made this process's data dir), else of the current one."""
    use_data_dir(data_dir)
    return Catalog.open(get_settings())


def echo_json(data: Any, *, indent: int | None = 2, ensure_ascii: bool = True) -> None:
    """``--json`` output: one JSON document on stdout."""
    typer.echo(json.dumps(data, indent=indent, ensure_ascii=ensure_ascii))


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 option value (``Z`` allowed; naive means UTC); None when not given."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"not an ISO 8601 date/time: {value!r}", param_hint=option
        ) from None
    return assume_utc(dt)


def runtime_path() -> Path:
    return get_settings().resolved_data_dir / "runtime.json"


def read_runtime() -> dict[str, Any]:
    try:
        return json.loads(runtime_path().read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


def prefect_api_url() -> str | None:
    """PREFECT_API_URL when set, else the server `recflow up` started for this data dir."""
    from services.run_cleanup import orchestrator_url

    return orchestrator_url(get_settings().resolved_data_dir)


# ---------------------------------------------------------------- which system is running
#
# `recflow up` registers its data dir in a per-user directory for as long as it runs, so any CLI
# process can tell whether the data dir it is about to use is the running system's, and say so
# when it is not (a `config apply` in the wrong directory used to succeed silently on a fresh
# ./recflow-data nobody reads).


def run_dir() -> Path:
    """Where running systems register: ``RECFLOW_RUN_DIR``, else a per-user directory under
    ``$XDG_RUNTIME_DIR`` or the temp dir."""
    if os.environ.get("RECFLOW_RUN_DIR"):
        return Path(os.environ["RECFLOW_RUN_DIR"])
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"recflow-{os.getuid()}"


def pid_alive(pid: int | None) -> bool:
    """A live process (a zombie, e.g. a SIGKILLed supervisor not yet reaped, is not)."""
    if not pid:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return state != "Z"


def register_running(data_dir: Path) -> Path:
    """Announce this `recflow up` (pid, data dir) until :func:`unregister_running`; a record
    left by a killed supervisor is ignored (and removed) once its pid is gone."""
    d = run_dir()
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = d / f"up-{os.getpid()}.json"
    path.write_text(json.dumps({"pid": os.getpid(), "data_dir": str(data_dir.resolve())}))
    return path


def unregister_running(path: Path) -> None:
    path.unlink(missing_ok=True)


def running_data_dirs() -> list[Path]:
    """The data dirs of the `recflow up` processes running now (this user's)."""
    out = []
    try:
        entries = sorted(run_dir().glob("up-*.json"))
    except OSError:
        return []
    for f in entries:
        try:
            rec = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if pid_alive(int(rec.get("pid") or 0)):
            out.append(Path(rec["data_dir"]))
        else:
            f.unlink(missing_ok=True)  # left by a killed supervisor
    return out


def data_dir_notice(data_dir: Path | None) -> str | None:
    """One line saying which data dir a command uses (``data_dir``, else the default), when it
    is not the running system's: another one runs elsewhere, or none runs and the directory does
    not exist yet (the command would create it). None when it is the running system's (or an
    existing dir, none running)."""
    data = get_settings().resolved_data_dir if data_dir is None else data_dir.expanduser().resolve()
    running = running_data_dirs()
    if data in running:
        return None
    if running:
        where = ", ".join(str(p) for p in running)
        whose = "the running system uses" if len(running) == 1 else "running systems use"
        return f"recflow: using data dir {data} ({whose} {where})"
    if not data.exists():
        return f"recflow: using data dir {data} (no recflow running; it does not exist yet)"
    return None


_announced = False


def announce_data_dir(data_dir: Path | None) -> None:
    """Print :func:`data_dir_notice` to stderr, once per process (never fails a command)."""
    global _announced
    if _announced or os.environ.get("RECFLOW_DATA_DIR_NOTICE") == "0":
        return
    _announced = True
    try:
        notice = data_dir_notice(data_dir)
    except Exception:
        return
    if notice:
        print(notice, file=sys.stderr)
