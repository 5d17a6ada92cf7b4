"""`recflow config apply --dry-run` prints what would change and changes nothing; `config export`
applied back with no environment changes nothing (literal secrets exported masked)."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from tests.connectors.conftest import isolated_settings  # noqa: F401

DOC = """connectors:
  - {name: mail, kind: email,
     config: {host: smtp.acme.test, from_address: rec@acme.test, username: rec, password: s3cr3t-pw}}
"""


def test_dry_run_then_apply_then_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from recflow.cli import app

    runner = CliRunner()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(DOC)
    r = runner.invoke(app, ["config", "apply", "--dry-run", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "would change: connectors.mail: created (email)" in r.output
    assert "s3cr3t-pw" not in r.output
    assert "connectors" not in yaml.safe_load(
        runner.invoke(app, ["config", "export"]).output or "{}"
    )

    assert runner.invoke(app, ["config", "apply", str(cfg)]).exit_code == 0
    exported = runner.invoke(app, ["config", "export"]).output
    assert "s3cr3t-pw" not in exported
    back = tmp_path / "export.yaml"
    back.write_text(exported)
    r = runner.invoke(app, ["config", "apply", str(back)])
    assert r.exit_code == 0, r.output
    assert "applied: 0 change(s)" in r.output
