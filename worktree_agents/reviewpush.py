"""`wta review --push REMOTE`: each review branch, and the review base it stacks on, pushed
with a lease, all in one `git push`.

Review branches are rebuilt when integration changes, so a push may replace the remote's
branch. It does so only over a commit wta made for that branch (one it still has, carrying
the feature's trailer or being its review base, or one the new tip holds); anything else
there is someone else's work, and is reported instead, with nothing pushed over it. The
push itself leases the value read, so a move in between is refused by the remote."""

from __future__ import annotations

from collections.abc import Sequence

from worktree_agents.domain import BranchName, CommitSha, FeatureId
from worktree_agents.errors import UsageError
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.merge import TRAILER
from worktree_agents.push import PushResult, push_many, remote_heads
from worktree_agents.review import ReviewBranch


def push_reviews(repo: GitRepo, remote: str, reviews: Sequence[ReviewBranch]) -> list[PushResult]:
    """Push, in review order, each stacked review base and each review branch."""
    if not remote or remote.startswith("-"):
        raise UsageError(f"--push needs a remote name or URL, not {remote!r}")
    branches: list[tuple[BranchName, FeatureId]] = []
    for review in reviews:
        if review.stacked:
            branches.append((review.base, review.feature_id))
        branches.append((review.branch, review.feature_id))
    there = remote_heads(repo, remote, [b for b, _ in branches])
    results: dict[BranchName, PushResult] = {}
    to_push: list[tuple[str, CommitSha | None]] = []
    for branch, feature in branches:
        old, local = there.get(branch), repo.rev_parse(HEADS + branch)
        if old is not None and old == local:
            results[branch] = PushResult(remote, HEADS + branch, old, old, None)
        elif old is not None and local is not None and not _made_by_wta(repo, old, feature, local):
            why = (
                f"{remote} has {branch} at {old[:10]}, which wta did not make there: someone"
                f" else moved it; look at it (git fetch {remote} {branch}), and delete it on"
                f" {remote} to let wta push it again"
            )
            results[branch] = PushResult(remote, HEADS + branch, old, None, why)
        else:
            to_push.append((branch, old))
    for (name, _), pushed in zip(to_push, push_many(repo, remote, to_push), strict=True):
        results[BranchName(name)] = pushed
    return [results[branch] for branch, _ in branches]  # in review order


def _made_by_wta(repo: GitRepo, commit: CommitSha, feature: FeatureId, local: CommitSha) -> bool:
    """Whether the remote's `commit` is one wta put on this branch (see the module)."""
    fmt = f"--format=%(trailers:key={TRAILER},valueonly,unfold,separator=%x1f)%x00%s"
    shown = repo.run("log", "-1", "--no-show-signature", fmt, commit, "--", check=False)
    if shown.exit_code != 0:  # an object this repository never saw: not wta's
        return False
    trailers, _, subject = shown.stdout.strip().partition("\0")
    named = [t.strip() for t in trailers.split("\x1f") if t.strip()]
    if (named and named[-1] == feature) or subject == f"wta: review base for {feature}":
        return True
    return repo.is_ancestor(commit, local)
