"""`config apply` lands the whole file in one transaction: another process (the recorder, a
worker) sees every section's change or none, and an apply that fails part-way keeps nothing.
Before, each section committed on its own, and the recorder's 1-s poll could decide a call on a
new policy with the old directory (tests/recorder/test_policy_calls.py met it in CI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from catalog.db import Database
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from services.config import document

DOC = {"transcription": {"beam_size": 3}, "probe": {}}


@pytest.fixture
def cat(tmp_path: Path) -> Catalog:
    return Catalog.open(RecflowSettings(data_dir=tmp_path))


def _other_process_view(cat: Catalog) -> dict[str, Any] | None:
    """The transcription document as a separate connection (another process) reads it."""
    other = Catalog(Database(cat.db.url, run_migrations=False), cat.store, cat.settings)
    try:
        return other.get_document("transcription")
    finally:
        other.db.dispose()


class Probe:
    """A last section: runs after `transcription` has been applied, then looks or fails."""

    key, order = "probe", 10_000

    def __init__(self, cat: Catalog, fail: bool) -> None:
        self.cat, self.fail, self.seen_meanwhile = cat, fail, "unset"

    def validate(self, raw: Any, ctx: Any) -> Any:
        return raw

    def apply(self, parsed: Any, ctx: Any) -> list[str]:
        self.seen_meanwhile = _other_process_view(self.cat)
        if self.fail:
            raise RuntimeError("disk full")
        return []

    def export(self, catalog: Catalog) -> None:
        return None


def _with_probe(monkeypatch: pytest.MonkeyPatch, probe: Probe) -> None:
    real = document.sections()
    monkeypatch.setattr(document, "sections", lambda: [*real, probe])


def test_other_processes_see_the_apply_only_once_it_is_whole(cat, monkeypatch) -> None:
    probe = Probe(cat, fail=False)
    _with_probe(monkeypatch, probe)
    document.apply_document(cat, DOC)
    assert probe.seen_meanwhile is None  # mid-apply: nothing of it visible outside
    assert (_other_process_view(cat) or {}).get("beam_size") == 3  # afterwards: all of it


def test_an_apply_that_fails_part_way_keeps_nothing(cat, monkeypatch) -> None:
    _with_probe(monkeypatch, Probe(cat, fail=True))
    with pytest.raises(RuntimeError, match="disk full"):
        document.apply_document(cat, DOC)
    assert _other_process_view(cat) is None
    assert cat.get_document("transcription") is None
