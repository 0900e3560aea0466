"""Integrating again the features the integration branch lost (reconcile.py finds them):
from their attempt refs or branches, without running their agents, in topological order,
by the merge coordinator and with the after-merge checks, as a run integrates a feature."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from worktree_agents.context import RunContext
from worktree_agents.domain import FeatureId, FeatureState
from worktree_agents.failures import Failure
from worktree_agents.integrate import checks_task, integrate
from worktree_agents.merge import FeatureChange
from worktree_agents.process import NOTE_PREFIX, append_log
from worktree_agents.reconcile import LOST, lost_change

AGAIN = "integrated again: the integration branch had lost it"
NOTHING_LEFT = LOST + ", and nothing of its work is left; it runs again"


async def reintegrate(ctx: RunContext, lost: Sequence[FeatureId]) -> None:
    """Integrate each lost feature again; one whose dependency is no longer merged, or with
    no work left, goes back to pending (and runs, or is skipped, as the plan says)."""
    store, plan = ctx.journal.store, ctx.loaded.plan
    for fid in lost:
        deps = plan.by_id[fid].depends_on
        states = store.states()
        change = await asyncio.to_thread(lost_change, ctx.repo, plan, store, fid)
        if change is None or any(states.get(d) is not FeatureState.MERGED for d in deps):
            store.reset([fid])
            if change is None:
                store.set_state(fid, FeatureState.PENDING, detail=NOTHING_LEFT)
            continue
        failure = await _integrate_again(ctx, change)
        if failure is None:
            store.set_state(fid, FeatureState.MERGED, detail=AGAIN)
        else:
            ctx.journal.failed(fid, failure)


async def _integrate_again(ctx: RunContext, change: FeatureChange) -> Failure | None:
    """The feature's worktree on its work, as after its attempt, then integrate() as an
    attempt ends: conflicts, after-merge checks and the branch's move are the same."""
    fid, plan = change.feature_id, ctx.loaded.plan
    feature = plan.by_id[fid]
    attempts = ctx.journal.store.attempts(fid)
    n = attempts[-1].n if attempts else 0
    files = ctx.paths.attempt(fid, n)
    files.dir.mkdir(parents=True, exist_ok=True)
    append_log(files.log, f"{NOTE_PREFIX}{AGAIN}; from {change.tip}", plan.run.max_log_bytes)
    made = await asyncio.to_thread(ctx.worktrees.create, fid, change.tip, reset=True)
    worktree = replace(made, base_commit=change.base_commit)
    record = ctx.journal.store.get(fid)
    task = checks_task(ctx, feature, record.profile if record else None, n, worktree, files)
    return await integrate(ctx, feature, worktree, change.tip, files, task)
