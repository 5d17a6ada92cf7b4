"""Recordings workspace: categories, custom fields, saved searches, and the full-text index
(SQLite FTS5 / PostgreSQL tsvector + GIN) kept in step by triggers on recordings, transcripts,
notes, categories and custom field values.

Revision ID: workspace_0001
Revises: notes_0001
"""

# ruff: noqa: E501  (SQL reads better unwrapped)
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "workspace_0001"
down_revision = "notes_0001"
branch_labels = ("workspace",)
depends_on = None

# (table, column holding the recording id) whose changes re-index a recording
_SOURCES = [
    ("transcripts", "recording_id"),
    ("recording_notes", "recording_id"),
    ("recording_categories", "recording_id"),
    ("recording_fields", "recording_id"),
]
_PARTY_COLUMNS = "call_id, from_number, from_name, to_number, to_name"


def _sqlite_refresh(rid: str) -> str:
    """Statements re-indexing one recording (``rid`` is an SQL expression, e.g. NEW.id)."""
    return f"""
    DELETE FROM search_fts WHERE rowid = (SELECT doc_id FROM search_docs WHERE recording_id = {rid});
    INSERT INTO search_fts(rowid, parties, transcript, notes, labels)
      SELECT d.doc_id,
        r.call_id || ' ' || r.from_number || ' ' || r.from_name || ' ' || r.to_number || ' ' || r.to_name,
        coalesce((SELECT t.text FROM transcripts t WHERE t.recording_id = r.id), ''),
        coalesce((SELECT group_concat(n.text, ' ') FROM recording_notes n WHERE n.recording_id = r.id), ''),
        coalesce((SELECT group_concat(c.category, ' ') FROM recording_categories c WHERE c.recording_id = r.id), '')
          || ' ' ||
        coalesce((SELECT group_concat(f.value, ' ') FROM recording_fields f WHERE f.recording_id = r.id), '')
      FROM recordings r JOIN search_docs d ON d.recording_id = r.id WHERE r.id = {rid};
    """


def _sqlite_index() -> None:
    op.execute(
        "CREATE TABLE search_docs (doc_id INTEGER PRIMARY KEY, "
        "recording_id VARCHAR(36) NOT NULL UNIQUE)"
    )
    op.execute(
        "CREATE VIRTUAL TABLE search_fts USING fts5(parties, transcript, notes, labels, "
        "tokenize = 'unicode61 remove_diacritics 2')"
    )
    op.execute(
        f"""CREATE TRIGGER search_rec_ins AFTER INSERT ON recordings BEGIN
        INSERT OR IGNORE INTO search_docs(recording_id) VALUES (NEW.id);
        {_sqlite_refresh("NEW.id")}
        END"""
    )
    op.execute(
        f"""CREATE TRIGGER search_rec_upd AFTER UPDATE OF {_PARTY_COLUMNS} ON recordings BEGIN
        {_sqlite_refresh("NEW.id")}
        END"""
    )
    op.execute(
        """CREATE TRIGGER search_rec_del AFTER DELETE ON recordings BEGIN
        DELETE FROM search_fts WHERE rowid = (SELECT doc_id FROM search_docs WHERE recording_id = OLD.id);
        DELETE FROM search_docs WHERE recording_id = OLD.id;
        END"""
    )
    for table, col in _SOURCES:
        for event, ref in (("INSERT", "NEW"), ("DELETE", "OLD")):
            op.execute(
                f"""CREATE TRIGGER search_{table}_{event.lower()} AFTER {event} ON {table} BEGIN
                {_sqlite_refresh(f"{ref}.{col}")}
                END"""
            )
        op.execute(
            f"""CREATE TRIGGER search_{table}_update AFTER UPDATE ON {table} BEGIN
            {_sqlite_refresh(f"OLD.{col}")}
            {_sqlite_refresh(f"NEW.{col}")}
            END"""
        )
    # backfill what exists already
    op.execute("INSERT INTO search_docs(recording_id) SELECT id FROM recordings")
    op.execute(
        """INSERT INTO search_fts(rowid, parties, transcript, notes, labels)
        SELECT d.doc_id,
          r.call_id || ' ' || r.from_number || ' ' || r.from_name || ' ' || r.to_number || ' ' || r.to_name,
          coalesce((SELECT t.text FROM transcripts t WHERE t.recording_id = r.id), ''),
          coalesce((SELECT group_concat(n.text, ' ') FROM recording_notes n WHERE n.recording_id = r.id), ''),
          ''
        FROM recordings r JOIN search_docs d ON d.recording_id = r.id"""
    )


_PG_DOC = """
  setweight(to_tsvector('simple', r.call_id || ' ' || r.from_number || ' ' || r.from_name || ' '
                                   || r.to_number || ' ' || r.to_name), 'A')
  || setweight(to_tsvector('simple', coalesce((SELECT t.text FROM transcripts t
                                                WHERE t.recording_id = r.id), '')), 'B')
  || setweight(to_tsvector('simple', coalesce((SELECT string_agg(n.text, ' ') FROM recording_notes n
                                                WHERE n.recording_id = r.id), '')), 'C')
  || setweight(to_tsvector('simple',
        coalesce((SELECT string_agg(c.category, ' ') FROM recording_categories c
                  WHERE c.recording_id = r.id), '') || ' ' ||
        coalesce((SELECT string_agg(f.value, ' ') FROM recording_fields f
                  WHERE f.recording_id = r.id), '')), 'D')
"""


def _pg_index() -> None:
    op.execute(
        "CREATE TABLE search_docs (recording_id VARCHAR(36) PRIMARY KEY, tsv tsvector NOT NULL)"
    )
    op.execute("CREATE INDEX ix_search_docs_tsv ON search_docs USING GIN (tsv)")
    op.execute(
        f"""CREATE FUNCTION recflow_search_refresh(rid text) RETURNS void AS $$
        BEGIN
          INSERT INTO search_docs(recording_id, tsv)
            SELECT r.id, {_PG_DOC} FROM recordings r WHERE r.id = rid
          ON CONFLICT (recording_id) DO UPDATE SET tsv = EXCLUDED.tsv;
        END $$ LANGUAGE plpgsql"""
    )
    op.execute(
        """CREATE FUNCTION recflow_search_rec() RETURNS trigger AS $$
        BEGIN
          IF TG_OP = 'DELETE' THEN
            DELETE FROM search_docs WHERE recording_id = OLD.id;
            RETURN OLD;
          END IF;
          PERFORM recflow_search_refresh(NEW.id);
          RETURN NEW;
        END $$ LANGUAGE plpgsql"""
    )
    op.execute(
        """CREATE FUNCTION recflow_search_src() RETURNS trigger AS $$
        BEGIN
          IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM recflow_search_refresh(OLD.recording_id);
          END IF;
          IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM recflow_search_refresh(NEW.recording_id);
            RETURN NEW;
          END IF;
          RETURN OLD;
        END $$ LANGUAGE plpgsql"""
    )
    op.execute(
        "CREATE TRIGGER search_rec_ins AFTER INSERT ON recordings "
        "FOR EACH ROW EXECUTE FUNCTION recflow_search_rec()"
    )
    op.execute(
        f"CREATE TRIGGER search_rec_upd AFTER UPDATE OF {_PARTY_COLUMNS} ON recordings "
        "FOR EACH ROW EXECUTE FUNCTION recflow_search_rec()"
    )
    op.execute(
        "CREATE TRIGGER search_rec_del AFTER DELETE ON recordings "
        "FOR EACH ROW EXECUTE FUNCTION recflow_search_rec()"
    )
    for table, _col in _SOURCES:
        op.execute(
            f"CREATE TRIGGER search_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION recflow_search_src()"
        )
    op.execute(
        f"INSERT INTO search_docs(recording_id, tsv) SELECT r.id, {_PG_DOC} FROM recordings r"
    )


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "recording_categories",
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("assigned_by", sa.String(length=320), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("recording_id", "category"),
    )
    op.create_index(
        "ix_recording_categories_category", "recording_categories", ["category", "recording_id"]
    )
    op.create_table(
        "custom_fields",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "recording_fields",
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("recording_id", "name"),
    )
    op.create_index("ix_recording_fields_name_value", "recording_fields", ["name", "value"])
    op.create_table(
        "saved_searches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=320), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_saved_searches_owner", "saved_searches", ["owner"])
    # notes (notes_0001) gain a time offset in the call and an edit time
    with op.batch_alter_table("recording_notes") as batch:
        batch.add_column(sa.Column("offset_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        _pg_index()
    else:
        _sqlite_index()


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS search_rec_ins ON recordings")
        op.execute("DROP TRIGGER IF EXISTS search_rec_upd ON recordings")
        op.execute("DROP TRIGGER IF EXISTS search_rec_del ON recordings")
        for table, _col in _SOURCES:
            op.execute(f"DROP TRIGGER IF EXISTS search_{table} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS recflow_search_src()")
        op.execute("DROP FUNCTION IF EXISTS recflow_search_rec()")
        op.execute("DROP FUNCTION IF EXISTS recflow_search_refresh(text)")
        op.execute("DROP TABLE IF EXISTS search_docs")
    else:
        for name in ("search_rec_ins", "search_rec_upd", "search_rec_del"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        for table, _col in _SOURCES:
            for ev in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS search_{table}_{ev}")
        op.execute("DROP TABLE IF EXISTS search_fts")
        op.execute("DROP TABLE IF EXISTS search_docs")
    for t in (
        "saved_searches",
        "recording_fields",
        "custom_fields",
        "recording_categories",
        "categories",
    ):
        op.drop_table(t)
