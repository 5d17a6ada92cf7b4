"""prefect.yaml is valid and matches what the worker serves: every entry point loads as a Prefect
flow, and the file lists exactly the deployments of flows/registry.py."""

from __future__ import annotations

from pathlib import Path

import yaml
from prefect.flows import load_flow_from_entrypoint

from flows.registry import DEPLOYMENTS

ROOT = Path(__file__).resolve().parents[2]


def test_every_entry_point_loads_and_matches_the_registry(monkeypatch):
    monkeypatch.chdir(ROOT)
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert doc["name"] == "recflow"
    served = {}
    for dep in doc["deployments"]:
        flow = load_flow_from_entrypoint(dep["entrypoint"])
        served[flow.name] = (dep["name"], dep["entrypoint"])
    assert set(served) == set(DEPLOYMENTS), "prefect.yaml and flows/registry.py disagree"
    for name, spec in DEPLOYMENTS.items():
        dep_name, entrypoint = served[name]
        assert dep_name == spec.name
        module, attr = spec.flow_path.split(":")
        assert entrypoint == f"{module.replace('.', '/')}.py:{attr}"
