"""The `transcription:` config section: accepted as documented, refused with a path when wrong,
idempotent, exported, and enforced: the worker's engine is built from what was applied."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from connectors.faster_whisper import FasterWhisperConnector
from services.config.base import ConfigFileError
from services.config.document import apply_document, export_document
from services.transcription import builtin_engine, current_settings


@pytest.fixture
def cat(tmp_path: Path) -> Catalog:
    return Catalog.open(RecflowSettings(data_dir=tmp_path))


def _problems(cat: Catalog, doc: dict) -> dict[str, str]:
    with pytest.raises(ConfigFileError) as e:
        apply_document(cat, doc)
    return dict(e.value.problems)


def test_docs_example_with_a_connector_is_accepted(cat: Catalog) -> None:
    doc = yaml.safe_load(
        """
connectors:
  - name: hosted
    kind: openai_transcribe
    config: {base_url: "http://127.0.0.1:9", api_key: "k", model: whisper-1}
transcription: {connector: hosted}
"""
    )
    changes = apply_document(cat, doc)
    assert "transcription.connector: None -> 'hosted'" in changes
    assert current_settings(cat).connector == "hosted"
    assert apply_document(cat, doc) == []  # idempotent


def test_engine_settings_reach_the_engine(cat: Catalog) -> None:
    doc = {
        "transcription": {
            "model": "bundled:tiny.en",
            "language": "en",
            "beam_size": 2,
            "hints": False,
            "device": "cpu",
            "compute_type": "float32",
        }
    }
    changes = apply_document(cat, doc)
    assert {c.split(":")[0] for c in changes} == {
        "transcription.beam_size",
        "transcription.hints",
        "transcription.compute_type",
    }  # model, language and device equal their defaults: stored as defaults
    engine = builtin_engine(current_settings(cat))
    assert isinstance(engine, FasterWhisperConnector)
    cfg = engine.config
    assert (cfg.beam_size, cfg.hints, cfg.compute_type, cfg.device) == (2, False, "float32", "cpu")
    assert export_document(cat)["transcription"] == {
        "beam_size": 2,
        "hints": False,
        "compute_type": "float32",
    }
    # declarative: an empty section is back to the defaults
    apply_document(cat, {"transcription": {}})
    assert builtin_engine(current_settings(cat)).config.beam_size == 5


def test_vad_settings_reach_the_engine(cat: Catalog) -> None:
    vad = {
        "vad_threshold": 0.4,
        "vad_speech_pad_ms": 600,
        "vad_min_silence_ms": 1000,
        "noisy_below_db": 25.0,
        "vad_noisy_threshold": 0.2,
        "suppress_below_db": 0.0,
        "lead_in_s": 0.0,
    }
    apply_document(cat, {"transcription": vad})
    cfg = builtin_engine(current_settings(cat)).config
    assert cfg.model_dump(include=set(vad)) == vad
    assert export_document(cat)["transcription"] == vad


@pytest.mark.parametrize(
    ("section", "path", "words"),
    [
        ({"beam_size": 0}, "transcription.beam_size", "greater than or equal to 1"),
        ({"device": "tpu"}, "transcription.device", "cpu"),
        ({"modle": "x"}, "transcription.modle", "Extra inputs"),
        ({"language": "de"}, "transcription", "English-only"),
        ({"model": "/nonexistent/model", "language": "de"}, "transcription", "no such model"),
        ({"model": "bundled:large"}, "transcription", "only bundled model"),
        ({"connector": "nope"}, "transcription.connector", "no connector named 'nope'"),
        ({"connector": "x", "beam_size": 3}, "transcription", "beam_size: set on the connector"),
        ({"vad_threshold": 1.5}, "transcription.vad_threshold", "less than 1"),
        ({"vad_speech_pad_ms": -1}, "transcription.vad_speech_pad_ms", "greater than or equal"),
        ({"suppress_below_db": -3}, "transcription.suppress_below_db", "greater than or equal"),
        ({"lead_in_s": 5}, "transcription.lead_in_s", "less than or equal"),
    ],
)
def test_bad_settings_are_refused_with_their_path(cat, section, path, words) -> None:
    problems = _problems(cat, {"transcription": section})
    assert path in problems, problems
    assert words in problems[path]
    assert cat.get_document("transcription") is None  # nothing stored


def test_connector_that_cannot_transcribe_is_refused(cat: Catalog) -> None:
    doc = {
        "connectors": [{"name": "chat", "kind": "slack", "config": {"token": "x"}}],
        "transcription": {"connector": "chat"},
    }
    problems = _problems(cat, doc)
    assert "cannot transcribe" in problems["transcription.connector"]
