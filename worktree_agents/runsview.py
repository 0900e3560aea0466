"""`wta logs --runs`: the recorded runs as a table, oldest first."""

from __future__ import annotations

import time

from worktree_agents.domain import FeatureId, RunId
from worktree_agents.store import Store
from worktree_agents.text import shorten

FEATURES_MAX = 60  # the FEATURES cell; `wta logs --run ID` shows them all


def run_features(store: Store) -> dict[RunId, list[FeatureId]]:
    """The features each run started an attempt of, in the order their attempts started."""
    started: dict[RunId, dict[FeatureId, float]] = {}
    for record in store.all_features(include_retired=True):
        for attempt in store.attempts(record.id):
            firsts = started.setdefault(attempt.run_id, {})
            firsts[record.id] = min(firsts.get(record.id, attempt.started_at), attempt.started_at)
    return {run: sorted(firsts, key=lambda f: (firsts[f], f)) for run, firsts in started.items()}


def render_runs(store: Store) -> str:
    """One row per run: its id, start (local time), status and the features it ran."""
    header = ("RUN", "STARTED", "STATUS", "FEATURES")
    features = run_features(store)
    rows = [
        (
            run.id,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started_at)),
            run.status.value,
            shorten(", ".join(features.get(run.id, [])), FEATURES_MAX) or "-",
        )
        for run in store.runs()
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    )
