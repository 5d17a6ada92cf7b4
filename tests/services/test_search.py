"""The workspace's search on a real database, SQLite (FTS5) and PostgreSQL (tsvector + GIN):
quick search ranked with snippets, every operator, all/any, bounded regex, the index kept in
step with transcripts, notes, categories and deletions, visibility in results, counts and
exports, saved searches."""

from __future__ import annotations

import csv
import io
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete

from catalog.db import Database
from catalog.models import Recording, Transcript, TranscriptSegment
from catalog.notes import NoteRow, add_note
from catalog.portal_queries import Visibility
from catalog.repository import Catalog
from catalog.search import index_stats
from catalog.settings import RecflowSettings
from catalog.store import LocalStore
from catalog.tables import RecordingRow, TranscriptRow
from catalog.workspace import (
    CustomField,
    put_custom_field,
    saved_searches_for,
    set_categories,
    set_category_list,
)
from services.search import ConditionIn, SearchError, SearchQuery, run_search
from services.workspace import (
    compile_for,
    export_csv,
    export_xlsx,
    save_search,
    saved_query,
    update_custom_values,
    views,
)

PG_ADMIN = os.environ.get(
    "RECFLOW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ADMIN = Visibility(everything=True, private_all=True)
T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=5)


def _pg_url() -> Iterator[str]:
    try:
        import psycopg

        admin = PG_ADMIN.replace("+psycopg", "")
        name = f"workspace_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    yield from _pg_url()


_TABLES = [
    "recording_notes",
    "recording_categories",
    "recording_fields",
    "transcripts",
    "recordings",
    "categories",
    "custom_fields",
    "saved_searches",
]


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request, tmp_path: Path) -> Iterator[Catalog]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else ""
    settings = RecflowSettings(data_dir=tmp_path / "data", database_url=url)
    cat = Catalog(Database(settings.resolved_database_url), LocalStore(tmp_path / "rec"), settings)
    yield cat
    if url:  # one PostgreSQL database per module: empty it for the next test
        with cat.db.engine.begin() as conn:
            for t in _TABLES:
                conn.exec_driver_sql(f"DELETE FROM {t}")
    cat.db.dispose()


def _call(cat: Catalog, frm: str, to: str, minutes: int, lines: list[str], **kw) -> Recording:
    rec = cat.add_recording(
        Recording(
            from_number=frm,
            to_number=to,
            started_at=T0 + timedelta(minutes=minutes),
            duration_seconds=kw.pop("duration", 60.0),
            **kw,
        )
    )
    if lines:
        segs = [
            TranscriptSegment(
                speaker="caller" if i % 2 == 0 else "callee",
                channel=i % 2,
                start=i * 5.0,
                end=i * 5.0 + 4,
                text=t,
            )
            for i, t in enumerate(lines)
        ]
        cat.save_transcript(Transcript(recording_id=rec.id, segments=segs))
    return rec


@pytest.fixture
def calls(catalog: Catalog) -> dict[str, Recording]:
    c = catalog
    return {
        "cancel": _call(
            c,
            "+447700900123",
            "+441632960555",
            0,
            [
                "Hello, I want to cancel my subscription",
                "I am sorry to hear that",
                "The competitor is cheaper, so cancel it",
            ],
            from_name="Alice Smith",
            duration=120.0,
        ),
        "hours": _call(
            c,
            "+447700900124",
            "+441632960555",
            10,
            ["What are your opening hours?", "We open at nine"],
            duration=30.0,
        ),
        "refund": _call(
            c,
            "+447700900125",
            "+441632960556",
            20,
            ["I was charged twice and want a refund", "The refund is on its way"],
            to_name="Billing Desk",
            duration=200.0,
        ),
        "private": _call(
            c,
            "+447700900999",
            "+441632960557",
            30,
            [
                "I have a question about the private line and the new price",
                "maybe I will cancel later if the price goes up again next month",
            ],
            private=True,
        ),
        "silent": _call(c, "+447700900126", "+441632960555", 40, [], duration=0.0),
    }


def ids(cat: Catalog, vis: Visibility = ADMIN, **kw) -> list[str]:
    res = run_search(cat, compile_for(cat, SearchQuery(**kw), NOW), vis, order="newest")
    return [h.recording.id for h in res.hits]


def cond(field: str, op: str, value=None) -> ConditionIn:
    return ConditionIn(field=field, op=op, value=value)


def test_quick_search_ranks_by_what_was_said_with_snippets(catalog, calls):
    res = run_search(catalog, compile_for(catalog, SearchQuery(q="cancel")), ADMIN)
    got = [h.recording.id for h in res.hits]
    # both calls that said "cancel"; the one that said it twice ranks first
    assert set(got) == {calls["cancel"].id, calls["private"].id}
    assert got[0] == calls["cancel"].id
    snips = res.snippets[calls["cancel"].id]
    assert [s["start"] for s in snips] == [0.0, 10.0]
    first = snips[0]
    a, b = first["highlights"][0]
    assert first["text"][a:b].lower() == "cancel" and first["speaker"] == "caller"
    # word beginnings, phrases, names, numbers and case all find their call
    assert ids(catalog, q="refun") == [calls["refund"].id]
    assert ids(catalog, q='"opening hours"') == [calls["hours"].id]
    assert ids(catalog, q='"hours opening"') == []
    assert ids(catalog, q="alice") == [calls["cancel"].id]
    assert ids(catalog, q="billing desk") == [calls["refund"].id]
    assert ids(catalog, q="0900124") == [calls["hours"].id]
    assert ids(catalog, q="CANCEL competitor") == [calls["cancel"].id]
    assert ids(catalog, q="cancel nonexistentword") == []


def test_private_calls_reach_only_their_owner_and_admins(catalog, calls):
    token = Visibility(everything=True)
    owner = Visibility(
        numbers=frozenset({"+447700900999"}), own_numbers=frozenset({"+447700900999"})
    )
    other = Visibility(
        numbers=frozenset({"+441632960555"}), own_numbers=frozenset({"+441632960555"})
    )
    assert ids(catalog, token, q="cancel") == [calls["cancel"].id]
    assert ids(catalog, owner, q="cancel") == [calls["private"].id]
    assert calls["private"].id in ids(catalog, ADMIN, q="cancel")
    assert ids(catalog, other, q="refund") == []  # not one of their calls
    q = compile_for(catalog, SearchQuery(q="cancel"))
    text = "".join(export_csv(catalog, q, token))
    assert calls["cancel"].id in text and calls["private"].id not in text
    counts = {v.key: v.count for v in views(catalog, token, me=None, my_numbers=[])}
    assert counts["all"] == 4


OPERATOR_CASES = [
    # (conditions, match, expected call names)
    ([cond("from_number", "equal", "+447700900124")], "all", {"hours"}),
    (
        [cond("from_number", "not_equal", "+447700900124")],
        "all",
        {"cancel", "refund", "private", "silent"},
    ),
    (
        [cond("from_number", "starts_with", "+4477009001")],
        "all",
        {"cancel", "hours", "refund", "silent"},
    ),
    ([cond("from_number", "ends_with", "0124")], "all", {"hours"}),
    ([cond("from_name", "includes", "smi")], "all", {"cancel"}),
    ([cond("from_name", "empty")], "all", {"hours", "refund", "private", "silent"}),
    ([cond("to_name", "not_empty")], "all", {"refund"}),
    (
        [cond("from_number", "pattern", "+44770090012?")],
        "all",
        {"cancel", "hours", "refund", "silent"},
    ),
    ([cond("to_number", "pattern", "*556")], "all", {"refund"}),
    ([cond("from_number", "regex", r"0012[34]$")], "all", {"cancel", "hours"}),
    ([cond("duration", "after", 100)], "all", {"cancel", "refund"}),
    ([cond("duration", "before", 31)], "all", {"hours", "silent"}),
    ([cond("duration", "between", [50, 150])], "all", {"cancel", "private"}),
    ([cond("duration", "empty")], "all", {"silent"}),
    ([cond("started_at", "before", "2026-01-10T09:15:00Z")], "all", {"cancel", "hours"}),
    ([cond("started_at", "after", "2026-01-10T09:25:00Z")], "all", {"private", "silent"}),
    (
        [cond("started_at", "between", ["2026-01-10T09:05:00Z", "2026-01-10T09:25:00Z"])],
        "all",
        {"hours", "refund"},
    ),
    (
        [cond("started_at", "equal", "2026-01-10")],
        "all",
        {"cancel", "hours", "refund", "private", "silent"},
    ),
    (
        [cond("started_at", "older_than_days", 4)],
        "all",
        {"cancel", "hours", "refund", "private", "silent"},
    ),
    ([cond("started_at", "newer_than_days", 4)], "all", set()),
    ([cond("transcript", "includes", "charged twice")], "all", {"refund"}),
    ([cond("transcript", "empty")], "all", {"silent"}),
    ([cond("transcript", "not_empty")], "all", {"cancel", "hours", "refund", "private"}),
    ([cond("transcript", "regex", r"open\w+ hours")], "all", {"hours"}),
    ([cond("transcript", "pattern", "*nine")], "all", {"hours"}),
    (
        [cond("transcript", "includes", "cancel"), cond("duration", "not_empty")],
        "all",
        {"cancel", "private"},
    ),
    (
        [cond("transcript", "includes", "refund"), cond("from_number", "ends_with", "0124")],
        "any",
        {"refund", "hours"},
    ),
    (
        [cond("transcript", "regex", "nine$"), cond("from_number", "ends_with", "0126")],
        "any",
        {"hours", "silent"},
    ),
    ([cond("transcript", "regex", "cancel"), cond("duration", "after", 100)], "all", {"cancel"}),
]


@pytest.mark.parametrize(("conditions", "match", "expected"), OPERATOR_CASES)
def test_advanced_operators(catalog, calls, conditions, match, expected):
    want = {calls[n].id for n in expected}
    assert set(ids(catalog, match=match, conditions=conditions)) == want


def test_bad_queries_are_refused_naming_the_problem(catalog, calls):
    def err(**kw) -> str:
        with pytest.raises(SearchError) as e:
            run_search(catalog, compile_for(catalog, SearchQuery(**kw)), ADMIN)
        return str(e.value)

    assert "not a valid regex" in err(conditions=[cond("transcript", "regex", "(unclosed")])
    assert "unknown field 'colour'" in err(conditions=[cond("colour", "equal", "red")])
    assert "unknown operator 'like'" in err(conditions=[cond("from_number", "like", "1")])
    assert "does not apply" in err(conditions=[cond("duration", "starts_with", "1")])
    assert "needs a number" in err(conditions=[cond("duration", "after", "soon")])
    assert "needs a date" in err(conditions=[cond("started_at", "after", "yesterday")])
    assert "limited to 200" in err(conditions=[cond("transcript", "regex", "a" * 201)])
    assert "unknown custom field" in err(conditions=[cond("custom.nope", "equal", "x")])
    assert "longer than" in err(conditions=[cond("from_name", "equal", "x" * 10_000)])
    # catastrophic backtracking is stopped by the per-value timeout, not by the database
    slow = "(a+)+b"
    catalog.save_transcript(
        Transcript(
            recording_id=calls["silent"].id,
            segments=[
                TranscriptSegment(speaker="caller", channel=0, start=0, end=1, text="a" * 5000)
            ],
        )
    )
    msg = err(conditions=[cond("transcript", "regex", slow)])
    assert "took longer than" in msg


def test_index_follows_transcripts_notes_categories_and_deletions(catalog, calls):
    rid = calls["hours"].id
    assert ids(catalog, q="weekend") == []
    catalog.save_transcript(
        Transcript(
            recording_id=rid,
            segments=[
                TranscriptSegment(
                    speaker="caller", channel=0, start=0, end=1, text="open at the weekend?"
                )
            ],
        )
    )
    assert ids(catalog, q="weekend") == [rid]
    assert ids(catalog, q="nine") == []  # the old transcript is gone from the index
    add_note(catalog, rid, "sup@example.com", "Escalate to the manager")
    assert ids(catalog, q="escalate") == [rid]
    assert ids(catalog, conditions=[cond("note", "includes", "manager")]) == [rid]
    with catalog.db.session() as s:
        s.execute(delete(NoteRow).where(NoteRow.recording_id == rid))
    assert ids(catalog, q="escalate") == []
    set_category_list(catalog, ["billing", "delivery"])
    set_categories(catalog, [rid], ["delivery"], by="t")
    assert ids(catalog, q="delivery") == [rid]
    assert ids(catalog, category="delivery") == [rid]
    assert ids(catalog, conditions=[cond("category", "not_equal", "delivery")]).count(rid) == 0
    set_category_list(catalog, ["billing"])  # removing a category unassigns it
    assert ids(catalog, q="delivery") == []
    before = index_stats(catalog)
    assert before["indexed"] == before["recordings"] == 5
    # retention deletes rows directly (catalog.archive.delete_recording): the index follows
    with catalog.db.session() as s:
        s.execute(delete(TranscriptRow).where(TranscriptRow.recording_id == calls["refund"].id))
        s.execute(delete(RecordingRow).where(RecordingRow.id == calls["refund"].id))
    assert ids(catalog, q="refund") == []
    assert index_stats(catalog)["indexed"] == 4


def test_custom_fields_are_validated_searchable_and_exported(catalog, calls):
    put_custom_field(catalog, CustomField(name="outcome", kind="option", options=["won", "lost"]))
    put_custom_field(catalog, CustomField(name="follow_up", kind="date"))
    rid = calls["refund"].id
    diff = update_custom_values(catalog, rid, {"outcome": "won", "follow_up": "2026-02-01"}, by="t")
    assert diff == {"outcome": (None, "won"), "follow_up": (None, "2026-02-01")}
    with pytest.raises(SearchError, match="one of won, lost"):
        update_custom_values(catalog, rid, {"outcome": "maybe"}, by="t")
    with pytest.raises(SearchError, match="needs a date"):
        update_custom_values(catalog, rid, {"follow_up": "soon"}, by="t")
    assert ids(catalog, conditions=[cond("custom.outcome", "equal", "won")]) == [rid]
    assert ids(catalog, conditions=[cond("custom.follow_up", "after", "2026-01-15")]) == [rid]
    assert len(ids(catalog, conditions=[cond("custom.outcome", "empty")])) == 4
    assert ids(catalog, q="won") == [rid]
    rows = list(
        csv.reader(
            io.StringIO(
                "".join(export_csv(catalog, compile_for(catalog, SearchQuery(q="won")), ADMIN))
            )
        )
    )
    assert rows[0][-2:] == ["custom.follow_up", "custom.outcome"]
    assert rows[1][0] == rid and rows[1][-2:] == ["2026-02-01", "won"]


def test_saved_searches_private_or_shared_and_exports(catalog, calls, tmp_path):
    s = save_search(catalog, "refunds", "alice@example.com", {"q": "refund"})
    shared = save_search(
        catalog,
        "long calls",
        "alice@example.com",
        {"conditions": [{"field": "duration", "op": "after", "value": 100}]},
        shared=True,
    )
    with pytest.raises(SearchError, match="not a valid regex"):
        save_search(
            catalog, "bad", "a", {"conditions": [{"field": "note", "op": "regex", "value": "("}]}
        )
    assert [x.name for x in saved_searches_for(catalog, "bob@example.com")] == ["long calls"]
    with pytest.raises(LookupError):
        saved_query(catalog, s.id, "bob@example.com", admin=False)
    q = saved_query(catalog, s.id, "bob@example.com", admin=True)
    assert ids(catalog, **q.model_dump()) == [calls["refund"].id]
    q2 = saved_query(catalog, shared.id, "bob@example.com", admin=False)
    assert set(ids(catalog, **q2.model_dump())) == {calls["cancel"].id, calls["refund"].id}
    path = export_xlsx(catalog, compile_for(catalog, q2), Visibility(everything=True))
    try:
        ws = load_workbook(path, read_only=True).active
        table = [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        path.unlink()
    assert table[0][0] == "id" and {r[0] for r in table[1:]} == {
        calls["cancel"].id,
        calls["refund"].id,
    }


def test_pages_are_stable_for_ranked_and_newest_orders(catalog, calls):
    for i in range(7):
        _call(catalog, f"+1555000{i:04d}", "+441632960555", 100 + i, [f"please cancel order {i}"])
    compiled = compile_for(catalog, SearchQuery(q="cancel"))
    for order in ("relevance", "newest"):
        seen, cursor = [], None
        while True:
            res = run_search(catalog, compiled, ADMIN, cursor=cursor, limit=3, order=order)
            seen += [h.recording.id for h in res.hits]
            cursor = res.next_cursor
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 9


def test_filters_never_hide_a_ranked_result(catalog, calls):
    for i in range(6):  # six better-ranked calls that the filter below excludes
        _call(catalog, f"+1555000{i:04d}", "+15550000", 100 + i, ["cancel cancel cancel"])
    got = ids(catalog, q="cancel", number="+441632960555")
    res = run_search(
        catalog, compile_for(catalog, SearchQuery(q="cancel", number="+441632960555")), ADMIN
    )
    assert [h.recording.id for h in res.hits] == [calls["cancel"].id] == got
