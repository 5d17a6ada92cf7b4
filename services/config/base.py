"""Declarative configuration: what every section shares (errors, the apply context, parsing).

The file is a set of top-level sections (``account``, ``connectors``, ``rules``, ``sms``, …).
Each feature owns one or more sections through a :class:`Section` object registered in
``services.config.document``. Apply is two-phase: every section validates first (errors name the
path of the bad field), and only when the whole file is valid does any section change anything.
Applying the same file twice changes nothing the second time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ValidationError

from catalog.repository import Catalog

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigFileError(Exception):
    """Every problem found in a file, each with the dotted path of the field."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in problems))


@dataclass
class ApplyContext:
    catalog: Catalog
    document: dict[str, Any]
    parsed: dict[str, Any] = field(default_factory=dict)  # section key -> parsed value
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


class Section(Protocol):
    """One top-level key of the file."""

    key: str
    order: int  # apply order: lower first (connectors before rules that name them)

    def validate(self, raw: Any, ctx: ApplyContext) -> Any:
        """Parse ``raw``; raise ConfigFileError with paths starting at ``self.key``."""

    def apply(self, parsed: Any, ctx: ApplyContext) -> list[str]:
        """Make the catalog match; return one line per change (empty when nothing changed)."""

    def export(self, catalog: Catalog) -> Any | None:
        """Current state as file content (secrets as references), or None to omit."""


def expand_env(value: str, environ: Mapping[str, str], path: str) -> str:
    """Resolve ``${VAR}`` references; a missing variable is a validation error, not ''."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in environ:
            raise ConfigFileError([(path, f"environment variable {name} is not set")])
        return environ[name]

    return _ENV_REF.sub(sub, value)


def validation_problems(prefix: str, err: ValidationError) -> list[tuple[str, str]]:
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        out.append((loc, e["msg"]))
    return out


def parse_model(model: type[BaseModel], raw: Any, prefix: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise ConfigFileError(validation_problems(prefix, e)) from None


def load_yaml(text: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigFileError([("(file)", f"not valid YAML: {e}")]) from None
    if not isinstance(doc, dict):
        raise ConfigFileError([("(file)", "top level must be a mapping of sections")])
    return doc
