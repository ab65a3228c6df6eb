"""Model validation: holdout metrics, bootstrap intervals, drift, stability, gates and reports."""
