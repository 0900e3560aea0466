"""Where a feature's own change comes from, for its review branch: the commits it put on the
integration branch (merged), or its verified branch since its recorded base (done).

Each change is a list of steps, oldest first: one commit to replay, with its first parent,
message and dates, so that replaying the same steps gives the same commit ids."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from worktree_agents.domain import CommitSha, FeatureId
from worktree_agents.git import GitRepo
from worktree_agents.merge import TRAILER, MergeMode
from worktree_agents.plumbing import plumb

_FIELDS = 8  # see _LOG_FORMAT
_LOG_FORMAT = (
    "%H%x00%P%x00%an%x00%ae%x00%ad%x00%cd%x00"
    f"%(trailers:key={TRAILER},valueonly,unfold,separator=%x1f)%x00%B"
)


@dataclass(frozen=True)
class Step:
    """Replay `parent..commit` (a cherry-pick), committed with `message` and these dates."""

    parent: CommitSha
    commit: CommitSha
    message: str
    author: Mapping[str, str]  # GIT_AUTHOR_NAME, _EMAIL and _DATE of the source commit
    committer_date: str  # raw (`@<seconds> <zone>`), the source commit's


@dataclass(frozen=True)
class _Commit:
    sha: CommitSha
    parent: CommitSha | None
    author: Mapping[str, str]
    committer_date: str
    feature: FeatureId | None
    message: str

    def step(self, message: str | None = None) -> Step:
        assert self.parent is not None
        text = self.message if message is None else message
        return Step(self.parent, self.sha, text, self.author, self.committer_date)


def _log(repo: GitRepo, *rev_args: str) -> list[_Commit]:
    args = ["log", "-z", "--first-parent", "--no-show-signature", "--date=raw", "--reverse"]
    out = plumb(repo, *args, f"--format={_LOG_FORMAT}", "--end-of-options", *rev_args).stdout
    fields = out.split("\0")[:-1]
    commits: list[_Commit] = []
    for i in range(0, len(fields) - _FIELDS + 1, _FIELDS):
        sha, parents, name, email, adate, cdate, trailers, message = fields[i : i + _FIELDS]
        named = [t.strip() for t in trailers.split("\x1f") if t.strip()]
        author = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": adate}
        commits.append(
            _Commit(
                sha=CommitSha(sha),
                parent=CommitSha(parents.split()[0]) if parents else None,
                author=author,
                committer_date=cdate,
                feature=FeatureId(named[-1]) if named else None,
                message=message,
            )
        )
    return commits


def integrated_steps(
    repo: GitRepo, integration: CommitSha, base: CommitSha
) -> dict[FeatureId, list[Step]]:
    """Each feature's commits on the integration branch's first-parent line that the base
    lacks, oldest first: what integrating it introduced. A feature whose commits the base
    already holds (its pull request was merged) is not there."""
    found: dict[FeatureId, list[Step]] = {}
    for commit in _log(repo, integration, f"^{base}"):
        if commit.feature is not None and commit.parent is not None:
            found.setdefault(commit.feature, []).append(commit.step())
    return found


def branch_steps(
    repo: GitRepo, feature: FeatureId, title: str, base: CommitSha, tip: CommitSha, mode: MergeMode
) -> list[Step]:
    """A done feature's change, `base..tip` on its branch, as integrating it would make it:
    one commit titled as the feature (squash), or each of its commits (rebase); every message
    carries the feature's trailer."""
    commits = [c for c in _log(repo, tip, f"^{base}") if c.parent is not None]
    if not commits:
        return []
    if mode == "squash":
        last = commits[-1]
        message = with_trailer(repo, title + "\n", feature)
        return [Step(base, tip, message, last.author, last.committer_date)]
    return [c.step(with_trailer(repo, c.message, feature)) for c in commits]


def with_trailer(repo: GitRepo, message: str, feature: FeatureId) -> str:
    args = ["interpret-trailers", "--no-divider", "--where", "end", "--if-exists", "replace"]
    args += ["--if-missing", "add", "--trailer", f"{TRAILER}: {feature}"]
    return plumb(repo, *args, input=message.encode("utf-8", "surrogateescape")).stdout
