"""A host installed without the optional extras (pyproject: whisper, crm, archive, postgres)
still imports every part of recflow, and a connector whose extra is missing is reported as not
loadable with the command that installs it, instead of failing on first use. The missing
packages are acted out in a subprocess by marking their import names absent (sys.modules[name]
= None, which makes `import name` raise ModuleNotFoundError), derived from the installed metadata
of what each extra adds beyond the core dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.install_closure import EXTRAS, added_by, import_names

PACKAGES = ["catalog", "recorder", "triggers", "connectors", "templates", "services", "flows",
            "portal", "recflow"]  # fmt: skip

PROBE = r"""
import importlib, json, pkgutil, sys
blocked, packages = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name in blocked:
    sys.modules[name] = None
failed = {}
for pkg in packages:
    mod = importlib.import_module(pkg)
    for info in pkgutil.walk_packages(mod.__path__, pkg + "."):
        # alembic scripts are run by alembic; __main__ modules run their program when imported
        if ".migrations.versions." in info.name or info.name.endswith(".__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception as e:
            failed[info.name] = f"{type(e).__name__}: {e}"
from connectors import registry
from connectors.base import ConfigError
from connectors.faster_whisper import model_path
try:
    model_path("bundled:tiny.en")
    bundled = "loaded"
except ConfigError as e:
    bundled = str(e)
print(json.dumps({
    "failed": failed,
    "available": sorted(registry.available()),
    "errors": {e.kind: e.error for e in registry.load_errors()},
    "bundled": bundled,
}))
"""


def _probe(blocked: set[str]) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(sorted(blocked)), json.dumps(PACKAGES)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_a_core_only_host_imports_everything_and_names_the_missing_extras():
    blocked = set().union(*(import_names(added_by(e)) for e in EXTRAS))
    assert {"faster_whisper", "boto3", "slack_sdk", "psycopg"} <= blocked  # the probe is real
    got = _probe(blocked)
    assert got["failed"] == {}
    for kind, extra in [("faster_whisper", "whisper"), ("s3", "archive"),
                        ("azure_blob", "archive"), ("slack", "crm"), ("salesforce", "crm"),
                        ("hubspot", "crm"), ("jira", "crm"), ("gsheets", "crm")]:  # fmt: skip
        assert kind not in got["available"]
        assert got["errors"][kind].endswith(f"pip install 'recflow[{extra}]'"), got["errors"][kind]
    # what needs no extra stays: webhooks, e-mail, SFTP/FTP archives, Excel, Apprise, tickets
    assert {"webhook", "email", "sftp", "ftp", "excel", "apprise", "linear"} <= set(
        got["available"]
    )
    assert "recflow[whisper]" in got["bundled"]


def test_the_full_install_loads_every_connector():
    got = _probe(set())
    assert got["failed"] == {}
    assert got["errors"] == {}
    assert got["bundled"] == "loaded"
