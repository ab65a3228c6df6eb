"""Experiment tracking: the logging API for scripts and jobs (api.py), the run event schema
(events.py), framework helpers (integrations.py) and queries over the runs catalog (query.py)."""
