"""The store: home layout, atomic files, append-only logs and the DuckDB catalog index."""
