"""`wta review [--json] [--push REMOTE] [--open-prs]`: one PR-ready branch per merged or
done feature, in review order, each with its base, diffstat, title and body; pushed, and
with its pull request opened or updated through `gh`."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from worktree_agents.domain import FeatureId
from worktree_agents.errors import ExitCode
from worktree_agents.ghpr import GhError, PrResult, PullRequestSpec, check_gh, sync_pull_requests
from worktree_agents.git import GitRepo
from worktree_agents.output import envelope, error_entry, print_json
from worktree_agents.plan_load import load_plan
from worktree_agents.push import PushResult
from worktree_agents.reviewbody import (
    ReviewEntry,
    describe,
    render_body,
    render_title,
    review_json,
)
from worktree_agents.reviewpush import push_reviews
from worktree_agents.reviewset import ReviewSet, collect_reviews
from worktree_agents.text import plural

NOTHING = "nothing to review: no feature is merged or done yet (`wta run` makes them)"


def run_review(
    repo_dir: Path, plan_path: Path, push: str | None, open_prs: bool, as_json: bool
) -> int:
    loaded = load_plan(plan_path)
    repo = GitRepo.open(repo_dir)
    if open_prs:
        check_gh(repo.toplevel)  # no gh, or not logged in: exit 2 before anything moves
    found = collect_reviews(repo, loaded)
    reviews = [entry.review for entry in found.entries]
    pushed = push_reviews(repo, push, reviews) if push is not None else []
    failed = bool(found.problems) or any(p.detail is not None for p in pushed)
    errors = [error_entry("ReviewConflict", p.detail, where=p.feature_id) for p in found.problems]
    prs: dict[FeatureId, PrResult] = {}
    if open_prs and found.entries:
        try:
            prs = {r.feature_id: r for r in open_pull_requests(repo, found.entries)}
        except GhError as exc:
            prs, failed = {r.feature_id: r for r in exc.done}, True
            errors.append(error_entry("GhError", exc.message))
            if not as_json:
                print(f"wta: {exc.message}", file=sys.stderr)
    code = ExitCode.PARTIAL if failed else ExitCode.OK
    if as_json:
        data = _data(found, push, pushed, prs)
        print_json(envelope("review", code, data, errors))
        return int(code)
    print(render_text(found, push, pushed, list(prs.values()) if open_prs else None))
    return int(code)


def open_pull_requests(repo: GitRepo, entries: Sequence[ReviewEntry]) -> list[PrResult]:
    """One pull request per review branch, in review order, each body linking the pull
    requests of its dependencies opened or found before it."""
    by_id = {entry.feature.id: entry for entry in entries}
    specs = [
        PullRequestSpec(e.feature.id, e.review.branch, e.review.base, render_title(e))
        for e in entries
    ]

    def body_for(spec: PullRequestSpec, links: Mapping[FeatureId, str]) -> str:
        return render_body(by_id[spec.feature_id], links)

    return sync_pull_requests(specs, body_for, repo.toplevel)


def _data(
    found: ReviewSet, push: str | None, pushed: list[PushResult], prs: Mapping[FeatureId, PrResult]
) -> dict[str, Any]:
    urls = {fid: pr.url for fid, pr in prs.items()}
    reviews = []
    for entry in found.entries:
        shown = review_json(entry, urls)
        pr = prs.get(entry.feature.id)
        shown["pr"] = pr.as_json() if pr is not None else None
        reviews.append(shown)
    return {
        "base": found.base,
        "base_commit": found.base_commit,
        "reviews": reviews,
        "push": [p.as_json() for p in pushed] if push is not None else None,
    }


def render_text(
    found: ReviewSet,
    push: str | None,
    pushed: list[PushResult],
    prs: list[PrResult] | None = None,
) -> str:
    lines: list[str] = []
    if found.entries:
        lines.append(
            f"{plural(len(found.entries), 'review branch', 'review branches')},"
            f" in review order (merge their pull requests in this order):"
        )
        for entry in found.entries:
            lines += ["", describe(entry)]
    elif not found.problems:
        lines.append(NOTHING)
    for problem in found.problems:
        lines += ["", f"{problem.feature_id}: no review branch: {problem.detail}"]
    if pushed:
        lines.append("")
        lines += [p.describe() for p in pushed]
    if prs:
        lines.append("")
        lines += [pr.describe() for pr in prs]
    if found.entries and prs is None:
        lines += ["", "next:"]
        if push is None:
            lines.append("  wta review --push origin      push these branches, with a lease")
        lines.append("  wta review --open-prs         open or update one pull request each")
    return "\n".join(lines)
