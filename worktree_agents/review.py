"""Review branches: one PR-ready branch per merged or done feature, built with plumbing only
(merge-tree, commit-tree, update-ref; no checkout, no index).

A feature's review branch `<prefix>review/<id>` is its own change (see review_source.py)
replayed, as a cherry-pick, onto its review base: the base branch when it has no reviewable
dependency, its dependency's review branch when it has one, and when it has several, their
review branches merged, published as `<prefix>review-base/<id>`. So the base is an ancestor
of the branch, `git diff base branch` is the feature's own change, and merging the pull
requests in review order gives the integration tree.

The branches are derived data: every commit takes its author, dates and message from the
commit it replays and is never signed, so the same inputs give the same commit ids, and
rebuilding moves nothing that is already right. Refs move by compare-and-swap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from worktree_agents.domain import BranchName, CommitSha, FeatureId
from worktree_agents.errors import RepoError
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.plumbing import (
    cherry_pick_tree,
    commit_tree,
    is_ancestor,
    merge_tree,
    plumb,
    tree_of,
)
from worktree_agents.review_source import Step


def review_branch(prefix: str, feature: FeatureId) -> BranchName:
    return BranchName(f"{prefix}review/{feature}")


def stack_branch(prefix: str, feature: FeatureId) -> BranchName:
    return BranchName(f"{prefix}review-base/{feature}")


@dataclass(frozen=True)
class ReviewBranch:
    feature_id: FeatureId
    branch: BranchName
    commit: CommitSha
    base: BranchName  # the branch its pull request targets
    base_commit: CommitSha
    stacked: bool  # `base` is this feature's own `<prefix>review-base/<id>`
    depends_on: tuple[FeatureId, ...]  # the dependencies that have review branches


@dataclass(frozen=True)
class ReviewProblem:
    feature_id: FeatureId
    detail: str


@dataclass(frozen=True)
class ReviewInputs:
    order: Sequence[FeatureId]  # review order: topological, plan order breaking ties
    deps: Mapping[FeatureId, Sequence[FeatureId]]
    changes: Mapping[FeatureId, Sequence[Step]]  # the reviewable features' own changes
    base: BranchName
    base_commit: CommitSha
    prefix: str


ReplayMemo = dict[tuple[CommitSha, tuple[tuple[str, str, str], ...]], "CommitSha | tuple[str, ...]"]


def build_reviews(
    repo: GitRepo,
    inputs: ReviewInputs,
    identity: Mapping[str, str],
    memo: ReplayMemo | None = None,
) -> list[ReviewBranch | ReviewProblem]:
    """Each reviewable feature's review branch (computed, not published), in review order.

    A replay is deterministic, so `memo`, kept across calls (as `wta run --push` does for
    each landing), saves replaying what is unchanged: only new features cost git calls."""
    built: dict[FeatureId, ReviewBranch] = {}
    out: list[ReviewBranch | ReviewProblem] = []
    for fid in inputs.order:
        if fid not in inputs.changes:
            continue
        deps = tuple(d for d in inputs.deps.get(fid, ()) if d in inputs.changes)
        lacking = next((d for d in deps if d not in built), None)
        if lacking is not None:
            out.append(ReviewProblem(fid, f"its dependency {lacking!r} has no review branch"))
            continue
        base = _review_base(repo, inputs, fid, [built[d] for d in deps], identity)
        if isinstance(base, ReviewProblem):
            out.append(base)
            continue
        name, commit, stacked = base
        steps = inputs.changes[fid]
        key = (commit, tuple((s.parent, s.commit, s.message) for s in steps))
        replayed = memo[key] if memo is not None and key in memo else None
        if replayed is None:
            replayed = _replay(repo, commit, steps, identity)
            if memo is not None:
                memo[key] = replayed
        if isinstance(replayed, tuple):
            paths = ", ".join(replayed)
            detail = f"its change conflicts with its review base {name} in {paths}"
            out.append(ReviewProblem(fid, detail))
            continue
        branch = review_branch(inputs.prefix, fid)
        built[fid] = ReviewBranch(fid, branch, replayed, name, commit, stacked, deps)
        out.append(built[fid])
    return out


def _review_base(
    repo: GitRepo,
    inputs: ReviewInputs,
    fid: FeatureId,
    deps: list[ReviewBranch],
    identity: Mapping[str, str],
) -> tuple[BranchName, CommitSha, bool] | ReviewProblem:
    if not deps:
        return inputs.base, inputs.base_commit, False
    # a dependency's branch that holds every other one is the base as it is
    for dep in deps:
        if all(is_ancestor(repo, other.commit, dep.commit) for other in deps):
            return dep.branch, dep.commit, False
    head = deps[0].commit
    stamp = _latest_date(repo, [d.commit for d in deps])
    env = {**identity, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    for dep in deps[1:]:
        merged = merge_tree(repo, head, dep.commit)
        if not merged.clean:
            names = ", ".join(d.feature_id for d in deps)
            where = ", ".join(merged.paths)
            return ReviewProblem(fid, f"the review branches of {names} conflict in {where}")
        message = f"wta: review base for {fid}\n\nThe review branches of its dependencies merged.\n"
        head = commit_tree(repo, merged.tree, [head, dep.commit], message, env, sign=False)
    return stack_branch(inputs.prefix, fid), head, True


def _replay(
    repo: GitRepo, onto: CommitSha, steps: Sequence[Step], identity: Mapping[str, str]
) -> CommitSha | tuple[str, ...]:
    """`steps` cherry-picked onto `onto`, one commit each (none for a step that changes
    nothing); or the conflicting paths."""
    head, tree = onto, tree_of(repo, onto)
    for step in steps:
        env = {**identity, **step.author, "GIT_COMMITTER_DATE": step.committer_date}
        merged = cherry_pick_tree(repo, tree, step.parent, step.commit, env)
        if not merged.clean:
            return merged.paths
        if merged.tree == tree:
            continue
        head = commit_tree(repo, merged.tree, [head], step.message, env, sign=False)
        tree = merged.tree
    return head


def _latest_date(repo: GitRepo, commits: Sequence[CommitSha]) -> str:
    stamps = plumb(repo, "log", "--no-walk", "--format=%ct", *commits).stdout.split()
    return f"@{max(int(s) for s in stamps)} +0000"


@dataclass(frozen=True)
class RefMove:
    branch: BranchName
    old: CommitSha | None  # None: created
    new: CommitSha | None  # None: deleted (its feature has no review branch any more)


def review_refs(repo: GitRepo, prefix: str) -> dict[BranchName, CommitSha]:
    """Every review branch and review base there is now."""
    patterns = (f"{HEADS}{prefix}review/", f"{HEADS}{prefix}review-base/")
    listed = repo.run("for-each-ref", "--format=%(objectname) %(refname)", *patterns).stdout
    found: dict[BranchName, CommitSha] = {}
    for line in listed.splitlines():
        sha, _, ref = line.partition(" ")
        found[BranchName(ref.removeprefix(HEADS))] = CommitSha(sha)
    return found


def wanted_refs(reviews: Sequence[ReviewBranch | ReviewProblem]) -> dict[BranchName, CommitSha]:
    wanted: dict[BranchName, CommitSha] = {}
    for review in reviews:
        if isinstance(review, ReviewBranch):
            if review.stacked:
                wanted[review.base] = review.base_commit
            wanted[review.branch] = review.commit
    return wanted


def publish(repo: GitRepo, prefix: str, wanted: Mapping[BranchName, CommitSha]) -> list[RefMove]:
    """Move the review refs to `wanted` by compare-and-swap and delete the ones no feature
    has any more; a ref that is already right does not move."""
    current = review_refs(repo, prefix)
    moves = [RefMove(b, current.get(b), c) for b, c in wanted.items() if current.get(b) != c]
    moves += [RefMove(b, old, None) for b, old in sorted(current.items()) if b not in wanted]
    checked_out = repo.checked_out_branches()
    blocked = [f"{m.branch} (in {checked_out[m.branch]})" for m in moves if m.branch in checked_out]
    if blocked:
        raise RepoError(
            f"review branches are checked out: {', '.join(blocked)}; wta never moves a"
            " checked-out branch; switch those worktrees to another branch"
        )
    for move in moves:
        if move.new is None:
            assert move.old is not None
            repo.delete_ref(HEADS + move.branch, move.old)
        else:
            repo.update_ref(HEADS + move.branch, move.new, move.old, message="wta: review")
    return moves
