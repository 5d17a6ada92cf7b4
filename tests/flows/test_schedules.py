"""Schedules are validated by the rule of the parser that runs them (Prefect's), at `config
apply`: catalog.schedules agrees with Prefect's own validator on every expression below, and a
cron Prefect would refuse is refused at apply with the field named."""

from __future__ import annotations

import pytest
from prefect._internal.schemas.validators import validate_cron_string
from prefect.client.schemas.schedules import CronSchedule

from catalog.schedules import cron_error
from tests.support import child_env, cli

CORPUS = [
    "0 3 * * *",
    "30 3 * * *",
    "*/5 * * * *",
    "0 0 L * *",
    "0 0 * * 1#2",
    "@daily",
    "@hourly",
    "0 0 29 2 *",
    "0 9-17 * * mon-fri",
    "R R * * *",
    "H 3 * * *",
    "0 R * * *",
    "h h * * *",
    "61 * * * *",
    "0 3 * *",
    "not cron",
    "0 25 * * *",
    "* * * * * *",
]


def prefect_accepts(expr: str) -> bool:
    try:
        validate_cron_string(expr)
        CronSchedule(cron=expr, timezone="UTC")
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("expr", CORPUS)
def test_catalog_rule_agrees_with_prefect(expr):
    assert (cron_error(expr) is None) == prefect_accepts(expr), expr


def test_a_random_cron_is_refused_at_apply_naming_the_field(tmp_path):
    env = child_env(tmp_path / "data")
    bad = tmp_path / "bad.yaml"
    bad.write_text('retention:\n  default_days: 30\n  schedule: "R R * * *"\n')
    r = cli(env, "config", "apply", str(bad), check=False)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "retention.schedule" in out and "not supported by Prefect" in out, out
    assert "Traceback" not in out
    good = tmp_path / "good.yaml"
    good.write_text('retention:\n  default_days: 30\n  schedule: "15 4 * * *"\n')
    assert cli(env, "config", "apply", str(good)).returncode == 0


def test_a_bad_stored_schedule_is_a_config_error_not_an_unreachable_api(catalog):
    """A cron stored before this rule existed (or written around `config apply`) must not stop
    the worker: the deployment is served unscheduled and the log names the config error."""
    import asyncio
    import logging

    from flows import registry, worker

    def bad_schedules(_catalog):  # what flows.archive builds from a stored "R R * * *"
        return [{"schedule": CronSchedule(cron="R R * * *", timezone="UTC"), "active": True}]

    spec = registry.DEPLOYMENTS["retention"]
    fake = type(spec)(spec.flow_path, spec.name, spec.description, bad_schedules, spec.tags)
    registered: list[object] = []

    class FakeDeployment:
        async def aapply(self) -> str:
            return "dep-id"

    async def fake_to_deployment(**kwargs):  # type: ignore[no-untyped-def]
        registered.append(kwargs["schedules"])
        return FakeDeployment()

    flow = spec.load_flow()
    original = flow.ato_deployment
    flow.ato_deployment = fake_to_deployment  # type: ignore[method-assign]
    registry.DEPLOYMENTS["retention"] = fake
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("recflow.worker").addHandler(handler)
    try:
        asyncio.run(worker.register_deployment("retention", catalog))
    finally:
        logging.getLogger("recflow.worker").removeHandler(handler)
        registry.DEPLOYMENTS["retention"] = spec
        flow.ato_deployment = original  # type: ignore[method-assign]
    assert registered == [None]
    assert any("config error: schedules of retention" in r.getMessage() for r in records)
