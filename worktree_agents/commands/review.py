"""`wta review [--json] [--push REMOTE]`: one PR-ready branch per merged or done feature,
in review order, each with its base, diffstat, title and body."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worktree_agents.errors import ExitCode
from worktree_agents.git import GitRepo
from worktree_agents.output import envelope, error_entry, print_json
from worktree_agents.plan_load import load_plan
from worktree_agents.push import PushResult
from worktree_agents.reviewbody import describe, review_json
from worktree_agents.reviewpush import push_reviews
from worktree_agents.reviewset import ReviewSet, collect_reviews
from worktree_agents.text import plural

NOTHING = "nothing to review: no feature is merged or done yet (`wta run` makes them)"


def run_review(repo_dir: Path, plan_path: Path, push: str | None, as_json: bool) -> int:
    loaded = load_plan(plan_path)
    repo = GitRepo.open(repo_dir)
    found = collect_reviews(repo, loaded)
    pushed = push_reviews(repo, push, found.entries) if push is not None else []
    failed = bool(found.problems) or any(p.detail is not None for p in pushed)
    code = ExitCode.PARTIAL if failed else ExitCode.OK
    if as_json:
        errors = [
            error_entry("ReviewConflict", p.detail, where=p.feature_id) for p in found.problems
        ]
        print_json(envelope("review", code, _data(found, push, pushed), errors))
        return int(code)
    print(render_text(found, push, pushed))
    return int(code)


def _data(found: ReviewSet, push: str | None, pushed: list[PushResult]) -> dict[str, Any]:
    return {
        "base": found.base,
        "base_commit": found.base_commit,
        "reviews": [review_json(entry) for entry in found.entries],
        "push": [p.as_json() for p in pushed] if push is not None else None,
    }


def render_text(found: ReviewSet, push: str | None, pushed: list[PushResult]) -> str:
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
    if found.entries:
        lines += ["", "next:"]
        if push is None:
            lines.append("  wta review --push origin      push these branches, with a lease")
        lines.append("  wta review --open-prs         open or update one pull request each")
    return "\n".join(lines)
