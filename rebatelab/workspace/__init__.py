"""The workspace of record: period closes, payments and the roll-forward ledger in a DuckDB file."""
