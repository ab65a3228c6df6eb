"""Monitoring: system metrics of running jobs (system.py); later, batches and alerts."""
