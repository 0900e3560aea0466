"""Test helpers for the merge coordinator: feature branches made with plain git commands."""

from __future__ import annotations

from pathlib import Path

from gitutil import commit, git

from worktree_agents.domain import BranchName, CommitSha, FeatureId
from worktree_agents.git import GitRepo
from worktree_agents.merge import FeatureChange, MergeCoordinator, MergeMode

INTEGRATION = BranchName("wta/integration")


def coordinator(repo: Path, mode: MergeMode) -> MergeCoordinator:
    """A coordinator whose integration branch starts at `main`."""
    made = MergeCoordinator(GitRepo.open(repo), INTEGRATION, mode)
    made.ensure_branch(CommitSha(git(repo, "rev-parse", "main")))
    return made


def feature(
    repo: Path,
    fid: str,
    files: dict[str, str],
    message: str = "",
    *,
    start: str = "main",
    title: str = "",
    body: str = "",
) -> FeatureChange:
    """Branch wta/<fid> from `start` with one commit of `files`; the checkout stays on main."""
    base = CommitSha(git(repo, "rev-parse", f"{start}^{{commit}}"))
    git(repo, "switch", "--quiet", "-c", f"wta/{fid}", base)
    tip = CommitSha(commit(repo, files, message or f"{fid}: work"))
    git(repo, "switch", "--quiet", "main")
    return FeatureChange(FeatureId(fid), title or f"Feature {fid}", base, tip, body)
