"""Discovery through entry points: a broken plugin never takes the host down."""

from __future__ import annotations

import sys
import types
from importlib.metadata import EntryPoint

import pytest

from connectors import registry
from connectors.base import Connector, ConnectorConfig


class GoodConfig(ConnectorConfig):
    pass


class GoodConnector(Connector):
    kind = "good_plugin"
    display_name = "Good plugin"
    config_model = GoodConfig
    capabilities = frozenset({"notify"})

    async def notify(self, message, *, idempotency_key):  # type: ignore[no-untyped-def]
        return "ok"


def test_broken_plugins_are_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = types.ModuleType("recflow_test_plugins")
    mod.GoodConnector = GoodConnector  # type: ignore[attr-defined]
    mod.NotAConnector = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "recflow_test_plugins", mod)
    eps = [
        EntryPoint("good_plugin", "recflow_test_plugins:GoodConnector", registry.GROUP),
        EntryPoint("broken", "recflow_no_such_module_xyz:Thing", registry.GROUP),
        EntryPoint("wrong", "recflow_test_plugins:NotAConnector", registry.GROUP),
        EntryPoint("misnamed", "recflow_test_plugins:GoodConnector", registry.GROUP),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps)
    registry.refresh()
    try:
        assert list(registry.available()) == ["good_plugin"]
        errors = {e.kind: e.error for e in registry.load_errors()}
        assert "ModuleNotFoundError" in errors["broken"]
        assert "not a subclass" in errors["wrong"]
        assert "differs" in errors["misnamed"]
        with pytest.raises(KeyError, match="failed to load"):
            registry.get("broken")
        with pytest.raises(KeyError, match="unknown connector kind"):
            registry.get("nothing")
    finally:
        monkeypatch.undo()
        registry.refresh()
    assert "slack" in registry.available()
