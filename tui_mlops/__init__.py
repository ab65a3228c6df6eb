"""mlops-tui: a keyboard-driven terminal workbench for the machine-learning lifecycle."""

__version__ = "0.1.0"
