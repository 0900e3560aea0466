"""`wta clean`: remove the worktrees of finished features. Branches are kept."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

from worktree_agents.domain import FeatureState
from worktree_agents.lock import RunLock
from worktree_agents.plan_load import load_repo_and_plan
from worktree_agents.reuse import mid_hand_over
from worktree_agents.store import Store
from worktree_agents.worktree_files import admin_of
from worktree_agents.worktrees import (
    WorktreeManager,
    default_worktree_root,
    resolve_worktree_root,
    uncommitted_edits,
)

REMOVABLE = frozenset({FeatureState.MERGED, FeatureState.SKIPPED, FeatureState.DONE})


def run_clean(repo_dir: Path, plan_path: Path, include_failed: bool, force: bool) -> int:
    """Remove worktrees of merged, done and skipped features (and failed ones with --all).

    A worktree with changes to tracked files is kept unless `force`; untracked files (build
    output of the checks) do not keep it. No branch is deleted.
    """
    repo, loaded = load_repo_and_plan(repo_dir, plan_path)
    plan = loaded.plan
    root = resolve_worktree_root(repo, plan.run.worktree_root, loaded.base_dir)
    manager = WorktreeManager(repo, root, plan.run.branch_prefix)
    removable = REMOVABLE | ({FeatureState.FAILED} if include_failed else set())
    with RunLock(repo.state_dir()), Store.open(repo.state_dir()) as store:
        states = {r.id: r.state for r in store.all_features(include_retired=True)}
        removed, kept = [], []
        manager.mend()  # a worktree a killed run left half-moved (reuse_worktrees)
        for worktree in manager.list():
            state = states.get(worktree.feature_id)
            if state not in removable:
                continue
            # a handover a killed run left midway: its files are no one's work
            handing = mid_hand_over(admin_of(worktree.path))
            if uncommitted_edits(repo, worktree.path) and not force and not handing:
                kept.append(worktree.feature_id)
                continue
            manager.remove(worktree.feature_id, force=True)
            removed.append(worktree.feature_id)
        manager.prune()
        if root == default_worktree_root(repo):
            _remove_if_empty(root)
    noun = "worktree" if len(removed) == 1 else "worktrees"
    print(f"removed {len(removed)} {noun}" + (f": {', '.join(removed)}" if removed else ""))
    if kept:
        print(
            f"kept {len(kept)} with changes to tracked files: {', '.join(kept)};"
            " pass --force to remove them anyway"
        )
    return 0


def _remove_if_empty(root: Path) -> None:
    """wta made `<repo>.wta` for its worktrees: once they are gone, so is it. rmdir removes
    only an empty directory, so whatever else is in it stays, and so does the directory."""
    with suppress(OSError):
        root.rmdir()
