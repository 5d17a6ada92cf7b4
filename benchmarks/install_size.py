"""Install size per host role: what each pyproject extra adds on disk to the core install.

    .venv/bin/python benchmarks/install_size.py

Read from this venv's installed metadata (RECORD sizes of every distribution in the dependency
closure of `recflow[extras]`, recflow's own sources excluded), so no network and no new venvs;
the venv must hold `.[all]` (scripts/setup installs it). Python's own stdlib and pip are not
counted.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.install_closure import (  # noqa: E402
    EXTRAS,
    PROJECT,
    added_by,
    closure,
    size_bytes,
)

ROLES = [
    ("recorder or portal only", frozenset()),
    ("worker, transcribing", frozenset({"whisper"})),
    ("worker, CRM connectors", frozenset({"crm"})),
    ("everything (`recflow up`)", frozenset({"all"})),
]


def main() -> None:
    mb = 2**20
    everything = size_bytes(closure(frozenset({"all"})) - {PROJECT})
    print("| extra | packages added | MB added |")
    print("|---|---|---|")
    for extra in EXTRAS:
        dists = added_by(extra)
        print(f"| {extra} | {len(dists)} | {size_bytes(dists) / mb:.0f} |")
    print()
    print("| host | install | packages | MB | vs everything |")
    print("|---|---|---|---|---|")
    for role, extras in ROLES:
        dists = closure(extras) - {PROJECT}
        size = size_bytes(dists)
        spec = f"recflow[{','.join(sorted(extras))}]" if extras else "recflow"
        print(f"| {role} | `{spec}` | {len(dists)} | {size / mb:.0f} | {size / everything:.2f}x |")


if __name__ == "__main__":
    main()
