"""Reusable widgets of the TUI: a paged table for huge row sets and chart widgets."""

from __future__ import annotations
