"""wta: run coding agents in parallel git worktrees, driven by a feature DAG."""

from __future__ import annotations

__version__ = "0.1.0"
