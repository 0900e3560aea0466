"""What a review branch's pull request says: its title, and a Markdown body for a reviewer
(the feature, what the agent said, the checks, the diffstat, what it cost, its dependencies
and its place in the stack). `render_body` takes the pull requests' URLs by feature, when
they exist, so that dependencies link to them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from worktree_agents.domain import FeatureId, FeatureState
from worktree_agents.git import GitRepo
from worktree_agents.plan import Feature
from worktree_agents.plumbing import plumb
from worktree_agents.progress import money
from worktree_agents.records import FeatureRecord
from worktree_agents.review import ReviewBranch
from worktree_agents.text import plural

STAT_WIDTH = 72  # columns of `git diff --stat` in a body: the same on every machine


@dataclass(frozen=True)
class DiffStat:
    files_changed: int
    insertions: int
    deletions: int
    text: str  # `git diff --stat` at STAT_WIDTH columns


def diffstat(repo: GitRepo, review: ReviewBranch) -> DiffStat:
    """What `git diff base branch` changes."""
    span = (review.base_commit, review.commit)
    numstat = plumb(repo, "diff", "--no-ext-diff", "--numstat", "-z", "--no-renames", *span)
    files = insertions = deletions = 0
    for record in numstat.stdout.split("\0"):
        added, _, rest = record.partition("\t")
        removed, _, path = rest.partition("\t")
        if not path:
            continue
        files += 1
        insertions += int(added) if added.isdigit() else 0  # "-" for a binary file
        deletions += int(removed) if removed.isdigit() else 0
    stat = plumb(repo, "diff", "--no-ext-diff", "--no-renames", f"--stat={STAT_WIDTH}", *span)
    return DiffStat(files, insertions, deletions, stat.stdout.rstrip("\n"))


@dataclass(frozen=True)
class ReviewEntry:
    """One feature's review, with what its pull request says."""

    review: ReviewBranch
    feature: Feature
    record: FeatureRecord
    stat: DiffStat
    position: int  # 1-based, in review order
    total: int
    chain: tuple[FeatureId, ...]  # the reviews it stacks on, in review order, then itself
    verify: tuple[str, ...]  # the plan's verify commands
    base_name: str  # the run's base branch


def render_title(entry: ReviewEntry) -> str:
    return entry.feature.display_title


def render_body(entry: ReviewEntry, pr_urls: Mapping[FeatureId, str] | None = None) -> str:
    """The pull request's body; dependencies link to their pull requests in `pr_urls`."""
    urls = pr_urls or {}
    feature, record = entry.feature, entry.record
    parts = [feature.description.strip() or f"Feature `{feature.id}`."]
    if record.summary and record.summary.strip():
        parts.append("## What the agent says\n\n" + record.summary.strip())
    parts.append(_checks(entry))
    parts.append(f"## Change\n\n```\n{entry.stat.text or '(no change)'}\n```")
    tries = record.attempts - record.interrupted
    parts.append(
        "## Details\n\n"
        f"- cost: {money(record.cost_usd, record.cost_estimated, 2)}\n"
        f"- model: {record.model or 'not recorded'}\n"
        f"- attempts: {tries}"
    )
    parts.append(_stack(entry, urls))
    parts.append(
        f"<sub>Made by wta from feature `{feature.id}`: `{entry.review.branch}` onto"
        f" `{entry.review.base}`.</sub>"
    )
    return "\n\n".join(parts) + "\n"


def _checks(entry: ReviewEntry) -> str:
    where = (
        "on its branch, and wta merged it"
        if entry.record.state is FeatureState.MERGED
        else "on its branch (done, not merged yet)"
    )
    lines = [f"- [x] `{c}` (verify)" for c in entry.verify]
    lines += [f"- [x] `{c}` (acceptance)" for c in entry.feature.acceptance]
    if not lines:
        return "## Checks\n\nThe plan names no checks for this feature."
    return f"## Checks\n\nEvery check passed {where}:\n\n" + "\n".join(lines)


def _stack(entry: ReviewEntry, urls: Mapping[FeatureId, str]) -> str:
    chain = " → ".join(f"**{f}**" if f == entry.feature.id else f for f in entry.chain)
    lines = [f"{entry.position} of {entry.total} in review order: {chain}"]
    reviewed = set(entry.review.depends_on)
    for dep in entry.feature.depends_on:
        if dep in urls:
            lines.append(f"- depends on `{dep}`: {urls[dep]}")
        elif dep in reviewed:
            lines.append(f"- depends on `{dep}`: its pull request comes first")
        else:
            lines.append(f"- depends on `{dep}`: already in {entry.base_name}")
    if len(lines) == 1:
        lines.append("- no dependencies")
    return "## Stack\n\n" + "\n".join(lines)


def review_json(entry: ReviewEntry, pr_urls: Mapping[FeatureId, str] | None = None) -> Any:
    """One object of `data.reviews`; `pr` is null until a pull request is opened."""
    return {
        "id": entry.feature.id,
        "branch": entry.review.branch,
        "base": entry.review.base,
        "title": render_title(entry),
        "body": render_body(entry, pr_urls),
        "depends_on": list(entry.feature.depends_on),
        "files_changed": entry.stat.files_changed,
        "insertions": entry.stat.insertions,
        "deletions": entry.stat.deletions,
        "pr": None,
    }


def chains(
    order: Sequence[FeatureId], deps: Mapping[FeatureId, Sequence[FeatureId]]
) -> dict[FeatureId, tuple[FeatureId, ...]]:
    """For each feature in `order`, the features of `order` it stacks on, transitively, in
    that order, then itself."""
    below: dict[FeatureId, set[FeatureId]] = {}
    for fid in order:
        below[fid] = set()
        for dep in deps.get(fid, ()):
            if dep in below:
                below[fid] |= below[dep] | {dep}
    return {f: (*[o for o in order if o in below[f]], f) for f in order}


def describe(entry: ReviewEntry) -> str:
    """The text block of `wta review` for one feature."""
    stat = entry.stat
    counts = f"{plural(stat.files_changed, 'file')} changed, +{stat.insertions} -{stat.deletions}"
    lines = [
        f"{entry.position}. {entry.feature.id}: {render_title(entry)}",
        f"   branch {entry.review.branch}",
        f"   base   {entry.review.base}",
        f"   {counts}",
    ]
    lines += [f"   {line.strip()}" for line in stat.text.splitlines()[:-1]]  # one per file
    return "\n".join(lines)
