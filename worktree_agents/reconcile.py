"""The refs are the truth and the store is a record of them: every `wta run` (and `wta
merge`) reconciles the two before it acts, and `wta status` shows what that would make of
the store, without writing a ref.

- A feature recorded merged that the integration branch does not hold (the branch was
  deleted or reset) is lost: `reintegrate.py` integrates it again from its attempt ref or
  its branch; with nothing of its work left, it goes back to pending.
- A branch under the prefix that holds nothing beyond a base wta recorded (in the store, or
  in the worktree's `wta-base`) is wta's own, made by a run killed before recording it: it
  is adopted, not refused.
- Lock files a killed git left in wta's refs and worktrees are removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from worktree_agents.domain import CommitSha, FeatureId, FeatureState
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.merge import FeatureChange, feature_trailers
from worktree_agents.plan import Plan
from worktree_agents.recovery import IN_FLIGHT, landed, recover
from worktree_agents.store import DONE_IN_PLAN, FeatureRecord, FeatureUpdate, Store
from worktree_agents.worktrees import WorktreeManager

LOST = "recorded merged, but the integration branch does not hold it"
LOST_DETAIL = LOST + "; `wta run` integrates it again"
INTERRUPTED_DETAIL = "interrupted: the run stopped; `wta run` resumes it"
FOUND_DETAIL = "found on the integration branch after an interrupted run"


@dataclass(frozen=True)
class Reconciled:
    lost: tuple[FeatureId, ...]  # recorded merged, not on integration: to integrate again


def reconcile(
    repo: GitRepo, plan: Plan, store: Store, base_commit: CommitSha | None, worktree_root: Path
) -> Reconciled:
    """Settle the store with the refs before a run or a merge acts (the caller holds the
    run lock): what a dead run left in flight, its lock files, and the merges the
    integration branch lost, returned for `reintegrate()`."""
    recover(repo, plan, store, base_commit)
    clear_stale_locks(repo, plan, worktree_root)
    records = store.all_features()
    return Reconciled(lost=lost_merges(repo, plan, records, base_commit))


def lost_merges(
    repo: GitRepo, plan: Plan, records: Iterable[FeatureRecord], base_commit: CommitSha | None
) -> tuple[FeatureId, ...]:
    """Features recorded merged by a run (not `done = true`) that the integration branch
    holds neither by their trailer nor by their recorded commit, in topological order."""
    merged = [r for r in records if r.state is FeatureState.MERGED and not r.done_in_plan]
    if not merged:
        return ()
    tip = repo.rev_parse(HEADS + plan.run.integration_branch)
    found = landed(repo, plan, base_commit)
    # a feature whose change was already present made no commit of its own: its recorded
    # commit is the tip it was found on, which the branch holds if it holds the feature
    lost = {
        r.id
        for r in merged
        if r.id not in found and not (tip and r.commit_sha and repo.is_ancestor(r.commit_sha, tip))
    }
    if not lost:  # the usual case, which needs no graph (nor networkx)
        return ()
    return tuple(f for f in plan.graph.topological if f in lost)


def lost_change(repo: GitRepo, plan: Plan, store: Store, fid: FeatureId) -> FeatureChange | None:
    """What is left of a lost feature's work: the last attempt's ref (the agent's commits on
    its recorded base), else its branch (the merged commits carrying its trailer, or the
    commits beyond its recorded base); None when nothing is left."""
    from worktree_agents.attempt import ATTEMPTS_REF  # the run's machinery: not for status

    title = plan.by_id[fid].display_title
    for attempt in reversed(store.attempts(fid)):
        tip = repo.rev_parse(f"{ATTEMPTS_REF}/{fid}/{attempt.n}")
        if tip is not None and attempt.base_commit and tip != attempt.base_commit:
            return FeatureChange(fid, title, attempt.base_commit, tip)
    record = store.get(fid)
    tip = repo.rev_parse(HEADS + plan.run.branch_prefix + fid)
    if record is None or tip is None:
        return None
    since = f"{record.base_commit}..{tip}" if record.base_commit else tip
    commits = [c for c, f in feature_trailers(repo, since) if f == fid]
    if commits:
        first = repo.rev_parse(commits[0] + "^")
        return None if first is None else FeatureChange(fid, title, first, commits[-1])
    base = record.base_commit
    if base and tip != base and repo.is_ancestor(base, tip):
        return FeatureChange(fid, title, base, tip)
    return None


def own_branches(
    repo: GitRepo, store: Store, prefix: str, unknown: Iterable[FeatureId], worktree_root: Path
) -> list[FeatureId]:
    """Of the features whose `<prefix><id>` branch wta has no record of, those whose branch
    holds nothing beyond a base wta recorded for them: a run was killed between making the
    branch and recording it. Their branch is recorded now."""
    manager = WorktreeManager(repo, worktree_root, prefix)
    bases = {w.feature_id: w.base_commit for w in manager.list()}
    own = []
    for fid in unknown:
        branch = prefix + fid
        tip = repo.rev_parse(HEADS + branch)
        record = store.get(fid)
        recorded = {a.base_commit for a in store.attempts(fid)} | {
            record.base_commit if record else None,
            bases.get(fid),
        }
        if tip is not None and tip in recorded:
            store.update_feature(fid, FeatureUpdate(branch=branch))
            own.append(fid)
    return own


def clear_stale_locks(repo: GitRepo, plan: Plan, worktree_root: Path) -> list[str]:
    """Remove the lock files a killed git left on wta's refs and in wta's worktrees (the
    caller holds the run lock, and the processes of a dead run are stopped)."""
    removed: list[str] = []
    refs = repo.common_dir / "refs"
    prefix = plan.run.branch_prefix
    for where in (refs / "wta", (refs / "heads" / prefix).parent):
        locks = where.rglob("*.lock") if where.is_dir() else []
        for lock in locks:
            name = lock.relative_to(repo.common_dir).as_posix()
            if name.startswith((HEADS + prefix, "refs/wta/")):
                lock.unlink(missing_ok=True)
                removed.append(str(lock))
    manager = WorktreeManager(repo, worktree_root, prefix)
    manager.mend()  # a worktree a killed run left half-moved (reuse_worktrees)
    for worktree in manager.list():
        if manager.registered(worktree):
            removed += manager.clear_stale_locks(worktree)
    return removed


def status_overrides(
    repo: GitRepo,
    plan: Plan,
    records: Mapping[FeatureId, FeatureRecord],
    base_commit: CommitSha | None,
    run_alive: bool,
) -> dict[FeatureId, tuple[FeatureState, str | None]]:
    """What `wta status` shows instead of the store's state, by feature: what the next
    run's reconciliation will make of it. No ref is written."""
    shown: dict[FeatureId, tuple[FeatureState, str | None]] = {}
    for feature in plan.features:
        record = records.get(feature.id)
        if feature.done and (record is None or record.state is not FeatureState.MERGED):
            shown[feature.id] = (FeatureState.MERGED, DONE_IN_PLAN)
        elif not feature.done and record is not None and record.done_in_plan:
            shown[feature.id] = (FeatureState.PENDING, None)
    stranded = [r for r in records.values() if r.state in IN_FLIGHT] if not run_alive else []
    found = landed(repo, plan, base_commit) if stranded else {}
    for record in stranded:
        if record.id in found:
            shown[record.id] = (FeatureState.MERGED, FOUND_DETAIL)
        else:
            shown[record.id] = (FeatureState.PENDING, INTERRUPTED_DETAIL)
    candidates = [r for r in records.values() if r.id not in shown]
    for fid in lost_merges(repo, plan, candidates, base_commit):
        shown[fid] = (FeatureState.PENDING, LOST_DETAIL)
    return shown
