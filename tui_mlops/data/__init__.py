"""Data management services: ingest, versions, profile, rules, clean and split."""
