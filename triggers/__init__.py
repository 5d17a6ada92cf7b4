"""Keyword triggers: rules over transcripts, compiled once into one multi-pattern matcher.

Pure core (no Prefect, no web framework): :mod:`triggers.models` (rules and matches),
:mod:`triggers.normalize` (what "the same word" means), :mod:`triggers.compiler` (the matcher).
"""

from __future__ import annotations

from triggers.compiler import CompiledRules, compile_rules
from triggers.models import (
    DEFAULT_TEMPLATE,
    Action,
    Match,
    Near,
    Rule,
    RuleSet,
    SpeakerScope,
    Window,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "Action",
    "CompiledRules",
    "Match",
    "Near",
    "Rule",
    "RuleSet",
    "SpeakerScope",
    "Window",
    "compile_rules",
]
