"""Background jobs: each training, sweep or command runs in its own detached process.

`manager` submits, cancels and lists jobs; `worker` is the process (`python -m
tui_mlops.jobs.worker HOME RUN_ID`); `slots` limits how many run at once.
"""
