"""The system of record: domain models, tables, migrations and the recording file store."""
