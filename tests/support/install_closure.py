"""What each of recflow's pyproject extras adds to an install, read from the installed metadata
of this venv: the distributions an extra pulls in beyond the core dependencies, their import
names and their size on disk. The extras test blocks those imports to act out a host installed
without the extra; benchmarks/install_size.py reports the sizes."""

from __future__ import annotations

import contextlib
import re
from functools import cache
from importlib import metadata

from packaging.requirements import Requirement

PROJECT = "recflow"
EXTRAS = ("whisper", "crm", "archive", "postgres")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(dist: str, extras: frozenset[str]) -> list[Requirement]:
    try:
        raw = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return []
    out = []
    for line in raw:
        req = Requirement(line)
        if req.marker is None:
            out.append(req)
            continue
        envs = [{"extra": e} for e in extras] or [{"extra": ""}]
        if any(req.marker.evaluate(env) for env in envs):
            out.append(req)
    return out


@cache
def closure(extras: frozenset[str] = frozenset()) -> frozenset[str]:
    """Normalised names of every installed distribution `recflow[extras]` needs (recflow too)."""
    visited: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[str, frozenset[str]]] = [(PROJECT, extras)]
    while todo:
        name, want = todo.pop()
        if (_norm(name), want) in visited:
            continue
        visited.add((_norm(name), want))
        for req in _requirements(name, want):
            todo.append((req.name, frozenset(req.extras)))
    return frozenset(name for name, _ in visited)


def added_by(extra: str) -> frozenset[str]:
    """Distributions that `recflow[extra]` installs and the core install does not."""
    return closure(frozenset({extra})) - closure()


def import_names(dists: frozenset[str]) -> set[str]:
    """Top-level import names these distributions provide (and no core distribution does)."""
    core = closure()
    names = set()
    for module, owners in metadata.packages_distributions().items():
        owned = {_norm(o) for o in owners}
        if owned & dists and not owned & core:
            names.add(module)
    return names


def size_bytes(dists: frozenset[str]) -> int:
    total = 0
    for name in dists:
        try:
            files = metadata.distribution(name).files or []
        except metadata.PackageNotFoundError:
            continue
        for f in files:
            if f.size is not None:
                total += f.size
            else:  # RECORD lines without a size (the RECORD file itself)
                with contextlib.suppress(OSError):
                    total += f.locate().stat().st_size
    return total
