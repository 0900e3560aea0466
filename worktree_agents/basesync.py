"""Integration follows its base: before any agent starts, the commits of the base branch
that the integration branch lacks are brought onto it, with plumbing only (no checkout),
and the branch moves by compare-and-swap.

The base is merged into integration (or integration fast-forwarded, while it holds nothing
of wta's) rather than the merged features replayed onto the new base: the merge keeps every
feature commit, its `Wta-Feature` trailer and the attempt refs as they are, takes one step,
and rewrites no history a reviewer may have looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from worktree_agents.domain import BranchName, CommitSha, RunId
from worktree_agents.errors import RepoError, UsageError, WtaError
from worktree_agents.events import BaseFollowed
from worktree_agents.git import GitRepo
from worktree_agents.merge import AlreadyPresent, BaseConflict, MergeCoordinator
from worktree_agents.store import Store

SyncHow = Literal["up_to_date", "fast_forward", "merge"]


@dataclass(frozen=True)
class BaseSync:
    """What following the base did to the integration branch."""

    branch: BranchName  # the integration branch
    base: str  # the base, as named in messages
    base_commit: CommitSha
    old_head: CommitSha
    new_head: CommitSha
    how: SyncHow

    @property
    def moved(self) -> bool:
        return self.how != "up_to_date"

    def describe(self) -> str:
        head, base = self.new_head[:10], f"{self.base} ({self.base_commit[:10]})"
        if self.how == "merge":
            return f"{self.branch}: merged {base} into it, now at {head}"
        if self.how == "fast_forward":
            return f"{self.branch}: fast-forwarded to {base}"
        return f"{self.branch} is up to date with {base}"


def base_name(branch: BranchName | None, configured: str | None, commit: CommitSha) -> str:
    """How the base is named in messages: its local branch, else what the plan says."""
    return branch or configured or commit[:12]


def follow_base(
    coordinator: MergeCoordinator, base: str, base_commit: CommitSha, max_retries: int = 5
) -> BaseSync:
    """Bring the integration branch up to date with `base_commit`. A conflict raises
    RepoError (exit 2) naming the paths, and moves nothing."""
    for _ in range(max_retries + 1):
        onto = coordinator.tip()
        if onto is None:
            raise RepoError(
                f"the integration branch '{coordinator.branch}' does not exist;"
                " create it from the base first"
            )
        prepared = coordinator.prepare_base(base_commit, base, onto)
        if isinstance(prepared, AlreadyPresent):
            return BaseSync(coordinator.branch, base, base_commit, onto, onto, "up_to_date")
        if isinstance(prepared, BaseConflict):
            raise RepoError(conflict_message(coordinator.branch, base, prepared.paths))
        if coordinator.publish(prepared):
            how: SyncHow = "fast_forward" if prepared.commit == base_commit else "merge"
            return BaseSync(coordinator.branch, base, base_commit, onto, prepared.commit, how)
    raise WtaError(
        f"the integration branch '{coordinator.branch}' kept moving while it was brought up"
        f" to date with {base} ({max_retries + 1} attempts); is another wta running?"
    )


def conflict_message(branch: BranchName, base: str, paths: tuple[str, ...]) -> str:
    """The error for a base that conflicts with integration, with the way out."""
    return (
        f"the base '{base}' has commits that conflict with the integration branch '{branch}',"
        f" in: {', '.join(paths)}; nothing was started and nothing moved.\n"
        f"Merge {base} into {branch} yourself and resolve the conflict, for example:\n"
        f"  git worktree add ../wta-sync {branch} && cd ../wta-sync && git merge {base}\n"
        "then remove that worktree (git worktree remove ../wta-sync) and run wta again"
    )


def check_base(base_branch: BranchName | None, integration: str) -> None:
    """The base may not be the integration branch itself."""
    if base_branch is not None and base_branch == integration:
        raise UsageError(
            f"the base branch '{base_branch}' is the integration branch; check out the branch"
            " you want to build on, or set [run] base in wta.toml"
        )


def check_same_base(
    repo: GitRepo,
    store: Store,
    configured: str | None,
    base: tuple[BranchName | None, CommitSha],
    coordinator: MergeCoordinator,
) -> None:
    """With no `[run] base`, the base is the branch checked out. When that is not the
    branch the last run built on and integration does not hold it, stop rather than merge
    into integration a branch the user may only have switched to for a moment."""
    branch, commit = base
    last = _last_base_branch(store)
    if configured is not None or last is None or last == branch:
        return
    tip = coordinator.tip()
    if tip is None or repo.is_ancestor(commit, tip):
        return  # following it would move nothing
    now = f"the current branch '{branch}'" if branch else f"HEAD ({commit[:10]})"
    raise UsageError(
        f"the integration branch '{coordinator.branch}' was built on '{last}', and"
        f" {now} has commits it lacks; nothing was started and nothing moved.\n"
        f"Check out {last} and run again, or, to bring {branch or commit[:10]} into"
        f' {coordinator.branch}, set base = "{branch or commit}" under [run] in wta.toml'
    )


def _last_base_branch(store: Store) -> BranchName | None:
    """The local branch the latest run that recorded one built on."""
    for run in reversed(store.runs()):
        recorded = run.options.get("base_branch")
        if isinstance(recorded, str):
            return BranchName(recorded)
    return None


def base_followed(run_id: RunId, synced: BaseSync) -> BaseFollowed:
    """The event for a sync that moved the integration branch."""
    assert synced.how != "up_to_date"
    return BaseFollowed(
        run_id=run_id,
        base=synced.base,
        base_commit=synced.base_commit,
        how=synced.how,
        old_head=synced.old_head,
        integration_head=synced.new_head,
    )
