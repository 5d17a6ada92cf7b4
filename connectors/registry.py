"""Connector discovery through the ``recflow.connectors`` entry-point group.

A third-party package adds a connector by declaring, in its own ``pyproject.toml``::

    [project.entry-points."recflow.connectors"]
    zendesk = "recflow_zendesk:ZendeskConnector"

A plugin that fails to import (missing dependency, syntax error, wrong class) never takes the
host down: it is left out of :func:`available` and reported by :func:`load_errors`, which
``recflow connectors list`` prints.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points

from connectors.base import CAPABILITY_PROTOCOLS, Connector, ConnectorConfig

GROUP = "recflow.connectors"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadError:
    kind: str
    target: str
    error: str


_lock = threading.Lock()
_cache: tuple[dict[str, type[Connector]], list[LoadError]] | None = None


def _check_class(kind: str, obj: object) -> str | None:
    """Why ``obj`` is not a usable connector class, or None when it is."""
    if not isinstance(obj, type) or not issubclass(obj, Connector):
        return "not a subclass of connectors.base.Connector"
    if getattr(obj, "kind", None) != kind:
        return f"class kind {getattr(obj, 'kind', None)!r} differs from entry-point name {kind!r}"
    model = getattr(obj, "config_model", None)
    if not isinstance(model, type) or not issubclass(model, ConnectorConfig):
        return "config_model is not a ConnectorConfig subclass"
    unknown = set(obj.capabilities) - set(CAPABILITY_PROTOCOLS)
    if unknown:
        return f"unknown capabilities {sorted(unknown)}"
    return None


def _missing_modules(cls: type[Connector]) -> list[str]:
    missing = []
    for name in cls.requires:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # a parent package of a dotted name is absent
            found = False
        if not found:
            missing.append(name)
    return missing


def _discover() -> tuple[dict[str, type[Connector]], list[LoadError]]:
    found: dict[str, type[Connector]] = {}
    errors: list[LoadError] = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if ep.name in found:
            # two distributions claim one kind: first (alphabetical by target) wins, loudly
            errors.append(LoadError(ep.name, ep.value, "duplicate kind; ignored"))
            continue
        try:
            obj = ep.load()
        except Exception as e:  # any import failure of a plugin stays the plugin's problem
            log.warning("connector %s (%s) failed to import: %s", ep.name, ep.value, e)
            errors.append(LoadError(ep.name, ep.value, f"{type(e).__name__}: {e}"))
            continue
        problem = _check_class(ep.name, obj)
        if problem is None and (missing := _missing_modules(obj)):  # type: ignore[arg-type]
            extra = obj.extra  # type: ignore[attr-defined]
            problem = f"needs {', '.join(missing)}: pip install 'recflow[{extra}]'"
        if problem:
            errors.append(LoadError(ep.name, ep.value, problem))
            continue
        found[ep.name] = obj  # type: ignore[assignment]
    return found, errors


def _state() -> tuple[dict[str, type[Connector]], list[LoadError]]:
    global _cache
    with _lock:
        if _cache is None:
            _cache = _discover()
        return _cache


def refresh() -> None:
    """Forget what was discovered (tests that install plugins at run time)."""
    global _cache
    with _lock:
        _cache = None


def available() -> dict[str, type[Connector]]:
    """Every connector class that imported cleanly, by kind."""
    return dict(_state()[0])


def load_errors() -> list[LoadError]:
    return list(_state()[1])


def register(cls: type[Connector]) -> None:
    """Add a class at run time (tests, notebooks); entry points are the normal way."""
    problem = _check_class(cls.kind, cls)
    if problem:
        raise ValueError(problem)
    _state()[0][cls.kind] = cls


def get(kind: str) -> type[Connector]:
    found, errors = _state()
    if kind in found:
        return found[kind]
    for e in errors:
        if e.kind == kind:
            raise KeyError(f"connector kind {kind!r} is installed but failed to load: {e.error}")
    raise KeyError(f"unknown connector kind {kind!r} (installed: {', '.join(sorted(found))})")
