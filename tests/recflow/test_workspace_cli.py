"""`recflow recordings search|categorize|fields` and `recflow saved-searches` through the real
command line, with categories and custom fields from `recflow config apply`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from openpyxl import load_workbook

from catalog.models import Recording, Transcript, TranscriptSegment
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from tests.support import child_env, cli


def test_search_categorise_save_and_export_from_the_cli(tmp_path):
    data = tmp_path / "data"
    env = child_env(data)
    cat = Catalog.open(RecflowSettings(data_dir=data))
    recs = []
    for i, line in enumerate(["I want to cancel my subscription", "What are your opening hours"]):
        rec = cat.add_recording(
            Recording(
                from_number=f"+4477009001{i}",
                to_number="+441632960555",
                started_at=datetime(2026, 1, 1, 9, i, tzinfo=UTC),
                duration_seconds=30 + i,
            )
        )
        cat.save_transcript(
            Transcript(
                recording_id=rec.id,
                segments=[
                    TranscriptSegment(speaker="caller", channel=0, start=1.5, end=3, text=line)
                ],
            )
        )
        recs.append(rec)
    cat.db.dispose()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "categories: [billing, churn]\n"
        "custom_fields:\n  - name: outcome\n    type: option\n    options: [won, lost]\n"
    )
    out = cli(env, "config", "apply", str(cfg)).stdout
    assert "categories: added churn" in out and "custom_fields: added outcome" in out

    got = json.loads(cli(env, "recordings", "search", "cancel", "--json").stdout)
    (item,) = got["items"]
    assert item["id"] == recs[0].id
    assert item["snippets"][0]["start"] == 1.5 and "cancel" in item["snippets"][0]["text"]
    table = cli(env | {"COLUMNS": "250"}, "recordings", "search", "opening hours").stdout
    assert recs[1].id in table and "opening" in table

    cli(env, "recordings", "categorize", recs[0].id[:8], "--add", "churn")
    cli(env, "recordings", "fields", recs[0].id, "--set", "outcome=lost")
    got = json.loads(
        cli(
            env,
            "recordings",
            "search",
            "--where",
            "custom.outcome equal lost",
            "--category",
            "churn",
            "--json",
        ).stdout
    )
    assert [x["id"] for x in got["items"]] == [recs[0].id]
    assert got["items"][0]["categories"] == ["churn"]

    r = cli(env, "recordings", "search", "--where", "transcript regex (unclosed", check=False)
    assert r.returncode == 2 and "not a valid regex" in r.stderr
    r = cli(env, "recordings", "categorize", recs[0].id, "--add", "nope", check=False)
    assert r.returncode == 2 and "unknown category: nope" in r.stderr

    out = cli(
        env, "recordings", "search", "--where", "duration after 30", "--save", "long", "--shared"
    ).stdout
    assert "saved search" in out
    (saved,) = json.loads(cli(env, "saved-searches", "list", "--json").stdout)
    assert saved["name"] == "long" and saved["shared"] is True
    xlsx = tmp_path / "long.xlsx"
    cli(env, "recordings", "search", "--saved", str(saved["id"]), "--export", str(xlsx))
    rows = list(load_workbook(xlsx, read_only=True).active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == [recs[1].id]
    csv_path = tmp_path / "all.csv"
    cli(env, "recordings", "search", "--export", str(csv_path))
    assert csv_path.read_text().count("\n") == 3
