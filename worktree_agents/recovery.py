"""Settling what a run that died left behind: features in flight are restarted, unless the
integration branch already holds them (their `Wta-Feature` trailer), which makes them merged."""

from __future__ import annotations

import asyncio
from pathlib import Path

from worktree_agents.domain import CommitSha, FeatureId, FeatureState
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.merge import feature_trailers
from worktree_agents.paths import AttemptFiles
from worktree_agents.plan import Plan
from worktree_agents.store import AttemptOutcome, AttemptRecord, FeatureUpdate, Store

IN_FLIGHT = frozenset({FeatureState.RUNNING, FeatureState.VERIFYING, FeatureState.INTEGRATING})


def landed(repo: GitRepo, plan: Plan, base_commit: CommitSha | None) -> dict[FeatureId, CommitSha]:
    """Features the integration branch holds beyond the base, from their `Wta-Feature`
    trailers (only the commits since the base are read: the cost stays small)."""
    integration = HEADS + plan.run.integration_branch
    if not repo.ref_exists(integration):
        return {}
    since = f"{base_commit}..{integration}" if base_commit else integration
    return {feature: commit for commit, feature in feature_trailers(repo, since)}


def settle(store: Store, plan: Plan, fid: FeatureId, commit: CommitSha, when: str) -> None:
    """Record a feature found on the integration branch as merged."""
    store.set_state(
        fid,
        FeatureState.MERGED,
        detail=f"found on the integration branch {when}",
        changes=FeatureUpdate(commit_sha=commit, branch=plan.run.branch_prefix + fid),
    )


def recover(repo: GitRepo, plan: Plan, store: Store, base_commit: CommitSha | None) -> None:
    """Settle features left in flight by a run that died.

    A feature whose commit already reached the integration branch (the run died between
    moving the ref and recording it) is marked merged, so it is never merged twice. One
    whose last attempt had succeeded was being integrated (by a run, by `wta merge`, or
    again by reintegrate.py): it is recorded merged, reconciliation finds the integration
    branch lacks it, and the next `wta run` or `wta merge` integrates its verified work
    without running its agent again. Any other is restarted from pending.
    """
    stranded = [r for r in store.all_features() if r.state in IN_FLIGHT]
    found = landed(repo, plan, base_commit) if stranded else {}
    for record in stranded:
        _stop_unfinished_attempt(store, record.id)
        if record.id in found:
            settle(store, plan, record.id, found[record.id], "after an interrupted run")
        elif _succeeded(store, record.id):
            store.set_state(record.id, FeatureState.MERGED)
        else:
            store.reset([record.id])


def _succeeded(store: Store, fid: FeatureId) -> bool:
    attempts = store.attempts(fid)
    return bool(attempts) and attempts[-1].outcome is AttemptOutcome.OK


def _stop_unfinished_attempt(store: Store, fid: FeatureId) -> None:
    from worktree_agents.agents.base import Spend  # here: `wta status` never stops anything

    attempts = store.attempts(fid)
    if not attempts or attempts[-1].finished_at is not None:
        return
    last = attempts[-1]
    spent = Spend()
    if last.log_path:
        # its agent and checks outlive a run killed by SIGKILL: stop them first, so that
        # they cannot write into the restarted attempt's worktree
        files = AttemptFiles.of_log(last.log_path)
        asyncio.run(_stop_processes(files, Path(last.log_path), last))
        spent = Spend.recorded(files.spend)  # what its agent had reported using
    store.finish_attempt(
        fid,
        last.n,
        outcome=AttemptOutcome.INTERRUPTED,
        detail="the run that started this attempt stopped before it finished",
        cost_usd=spent.cost_usd,
        cost_estimated=spent.estimated,
    )


async def _stop_processes(files: AttemptFiles, log: Path, attempt: AttemptRecord) -> None:
    """The process groups the attempt recorded, then what its agent left running beyond them,
    found by the attempt's marker (and sessions) as when an attempt ends."""
    from worktree_agents.process import kill_recorded
    from worktree_agents.procfs import ticks_at
    from worktree_agents.reaper import SLACK_TICKS, attempt_marker, kill_marked

    await kill_recorded(files.processes, log)
    marker = attempt_marker(attempt.run_id, files.dir)
    since = ticks_at(attempt.started_at) - SLACK_TICKS
    await kill_marked(marker, record=files.processes, since=since, log_path=log)
