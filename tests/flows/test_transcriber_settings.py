"""The worker's engine and hints follow the stored `transcription:` section."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog import trigger_matches as store
from catalog.models import Recording
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from connectors.faster_whisper import FasterWhisperConnector
from services.config.document import apply_document
from services.runtime import transcriber_for
from services.transcription import hints_for


@pytest.fixture
def cat(tmp_path: Path) -> Catalog:
    c = Catalog.open(RecflowSettings(data_dir=tmp_path))
    store.save_rules_document(c, "v1", [{"name": "churn", "any": ["another supplier"]}])
    return c


def test_worker_engine_follows_the_section(cat: Catalog) -> None:
    default = transcriber_for(cat)
    assert isinstance(default, FasterWhisperConnector)
    assert (default.config.model, default.config.beam_size) == ("bundled:tiny.en", 5)
    apply_document(cat, {"transcription": {"beam_size": 1, "compute_type": "float32"}})
    engine = transcriber_for(cat)
    assert isinstance(engine, FasterWhisperConnector)
    assert (engine.config.beam_size, engine.config.compute_type) == (1, "float32")
    assert transcriber_for(cat) is engine  # one engine per distinct setting


def test_hints_follow_the_section(cat: Catalog) -> None:
    engine = transcriber_for(cat)
    assert hints_for(cat, Recording(), engine) == ["another supplier"]
    apply_document(cat, {"transcription": {"hints": False}})
    assert hints_for(cat, Recording(), transcriber_for(cat)) == []


def test_engines_that_take_no_hints_get_none(cat: Catalog) -> None:
    class Plain:
        async def transcribe(self, recording, audio):  # pragma: no cover - never called
            raise AssertionError

    assert hints_for(cat, Recording(), Plain()) == []
