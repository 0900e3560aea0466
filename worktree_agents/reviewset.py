"""`wta review`'s work: read the plan, the store and the refs, build every review branch,
publish them, and describe each for its pull request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from worktree_agents.domain import BranchName, CommitSha, FeatureId, FeatureState
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.plan import LoadedPlan, Plan
from worktree_agents.records import FeatureRecord, RunRecord
from worktree_agents.review import (
    RefMove,
    ReplayMemo,
    ReviewBranch,
    ReviewInputs,
    ReviewProblem,
    build_reviews,
    publish,
    wanted_refs,
)
from worktree_agents.review_source import Step, branch_steps, integrated_steps
from worktree_agents.reviewbody import ReviewEntry, chains, diffstat
from worktree_agents.store import DB_NAME, Store


@dataclass(frozen=True)
class ReviewSet:
    base: BranchName
    base_commit: CommitSha
    entries: list[ReviewEntry]  # in review order
    problems: list[ReviewProblem]
    moves: list[RefMove]  # what publishing moved


def review_base(repo: GitRepo, plan: Plan, run: RunRecord | None) -> tuple[BranchName, CommitSha]:
    """The run's base branch, as the latest run recorded it, else as the plan names it, and
    its commit now."""
    options = run.options if run is not None else {}
    named: str | None = options.get("base_branch") or plan.run.base
    branch, commit = repo.resolve_base(named)
    return BranchName(branch or named or commit), commit


def _changes(
    repo: GitRepo,
    loaded: LoadedPlan,
    records: Mapping[FeatureId, FeatureRecord],
    base_commit: CommitSha,
) -> dict[FeatureId, list[Step]]:
    """The own change of each feature that has one to review: merged (and still on the
    integration branch, beyond the base) or done. Plan-`done` features are in the base."""
    plan = loaded.plan
    tip = repo.rev_parse(HEADS + plan.run.integration_branch)
    integrated = integrated_steps(repo, tip, base_commit) if tip is not None else {}
    changes: dict[FeatureId, list[Step]] = {}
    for feature in plan.features:
        record = records.get(feature.id)
        if feature.done or record is None or record.done_in_plan:
            continue
        if record.state is FeatureState.MERGED and integrated.get(feature.id):
            changes[feature.id] = integrated[feature.id]
        elif record.state is FeatureState.DONE and record.commit_sha and record.base_commit:
            steps = branch_steps(
                repo,
                feature.id,
                feature.display_title,
                record.base_commit,
                record.commit_sha,
                plan.run.merge,
            )
            if steps:
                changes[feature.id] = steps
    return changes


def collect_reviews(repo: GitRepo, loaded: LoadedPlan) -> ReviewSet:
    """Build and publish the review branches; describe each."""
    records, run = _read_store(repo)
    base, base_commit, built, moves = _publish(repo, loaded, records, run)
    reviews = [r for r in built if isinstance(r, ReviewBranch)]
    return ReviewSet(
        base=base,
        base_commit=base_commit,
        entries=_entries(repo, loaded.plan, records, reviews, base),
        problems=[p for p in built if isinstance(p, ReviewProblem)],
        moves=moves,
    )


def refresh_reviews(
    repo: GitRepo, loaded: LoadedPlan, memo: ReplayMemo | None = None
) -> list[ReviewBranch]:
    """Build and publish the review branches, without describing them (no diffstats):
    what a push needs, for less work while a run goes on (see build_reviews for `memo`)."""
    records, run = _read_store(repo)
    built = _publish(repo, loaded, records, run, memo)[2]
    return [r for r in built if isinstance(r, ReviewBranch)]


def _read_store(repo: GitRepo) -> tuple[dict[FeatureId, FeatureRecord], RunRecord | None]:
    if not (repo.state_dir() / DB_NAME).exists():
        return {}, None
    with Store.open(repo.state_dir()) as store:
        return {r.id: r for r in store.all_features()}, store.latest_run()


def _publish(
    repo: GitRepo,
    loaded: LoadedPlan,
    records: Mapping[FeatureId, FeatureRecord],
    run: RunRecord | None,
    memo: ReplayMemo | None = None,
) -> tuple[BranchName, CommitSha, list[ReviewBranch | ReviewProblem], list[RefMove]]:
    """Every review branch built, and the refs moved to them."""
    plan = loaded.plan
    base, base_commit = review_base(repo, plan, run)
    graph = plan.graph
    inputs = ReviewInputs(
        order=graph.topological,
        deps=graph.deps,
        changes=_changes(repo, loaded, records, base_commit),
        base=base,
        base_commit=base_commit,
        prefix=plan.run.branch_prefix,
    )
    built = build_reviews(repo, inputs, repo.commit_env, memo)
    moves = publish(repo, plan.run.branch_prefix, wanted_refs(built))
    return base, base_commit, built, moves


def _entries(
    repo: GitRepo,
    plan: Plan,
    records: Mapping[FeatureId, FeatureRecord],
    reviews: Sequence[ReviewBranch],
    base: BranchName,
) -> list[ReviewEntry]:
    order = [r.feature_id for r in reviews]
    stacked = chains(order, {r.feature_id: r.depends_on for r in reviews})
    return [
        ReviewEntry(
            review=review,
            feature=plan.by_id[review.feature_id],
            record=records[review.feature_id],
            stat=diffstat(repo, review),
            position=i,
            total=len(reviews),
            chain=stacked[review.feature_id],
            verify=tuple(plan.verify.commands),
            base_name=base,
        )
        for i, review in enumerate(reviews, start=1)
    ]
