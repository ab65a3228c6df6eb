"""Pipelines: an `mlops.toml` file's stages form a DAG that runs with fingerprint caching,
independent stages in parallel, records per run, and CI exit codes (issue 6)."""
