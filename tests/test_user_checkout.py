"""The watch on the user's checkouts, on real repositories: each change is reported once,
by path, with the features whose agents ran since the last look; wta's own worktrees and
changes made while no agent runs are not reported; nothing is ever undone."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from gitutil import git, make_repo

from worktree_agents.domain import CommitSha, FeatureId
from worktree_agents.fence import fenced
from worktree_agents.fence_files import CheckoutCheck, CheckoutWatch, Visit
from worktree_agents.git import GitRepo
from worktree_agents.records import CheckoutChange
from worktree_agents.user_checkout import checkout_state, user_worktrees
from worktree_agents.worktrees import WorktreeManager

A, B, C = FeatureId("a"), FeatureId("b"), FeatureId("c")


def watched(tmp_path: Path) -> tuple[Path, GitRepo, CheckoutWatch, list[CheckoutChange]]:
    repo_dir = make_repo(tmp_path / "repo", {"a.txt": "a\n", "b.txt": "b\n", "c.txt": "c\n"})
    repo = GitRepo.open(repo_dir)
    reports: list[CheckoutChange] = []
    return repo_dir, repo, CheckoutWatch(repo, tmp_path / "trees", reports.append), reports


def seen(reports: list[CheckoutChange]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    return [(r.paths, r.features) for r in reports]


def test_each_change_is_reported_once_with_the_features_that_ran_since_the_last_look(
    tmp_path: Path,
) -> None:
    repo_dir, _, watch, reports = watched(tmp_path)
    a, b, c = Visit(A), Visit(B), Visit(C)
    watch.enter(a)
    watch.enter(b)
    (repo_dir / "new.txt").write_text("by someone\n")
    watch.leave(a)  # sees it: a and b were running
    watch.enter(c)
    (repo_dir / "a.txt").write_text("changed\n")
    watch.leave(b)  # sees the second change only: b and c ran since a's look
    watch.leave(c)  # nothing new

    assert seen(reports) == [
        ((str(repo_dir / "new.txt"),), ("a", "b")),
        ((str(repo_dir / "a.txt"),), ("b", "c")),
    ]
    assert (repo_dir / "new.txt").read_text() == "by someone\n"  # nothing undone


def test_changes_while_no_agent_runs_are_not_reported(tmp_path: Path) -> None:
    repo_dir, _, watch, reports = watched(tmp_path)
    a, b = Visit(A), Visit(B)
    watch.enter(a)
    watch.leave(a)
    (repo_dir / "between.txt").write_text("the user, between agents\n")
    watch.enter(b)
    watch.leave(b)

    assert reports == []


def test_head_the_index_a_second_edit_and_the_users_other_worktrees_are_seen(
    tmp_path: Path,
) -> None:
    repo_dir, repo, watch, reports = watched(tmp_path)
    (repo_dir / "b.txt").write_text("already modified before the agents\n")
    (repo_dir / "staged later.txt").write_text("x\n")
    other = tmp_path / "mine"
    git(repo_dir, "worktree", "add", "-q", "-b", "side", str(other))
    ours = WorktreeManager(repo, tmp_path / "trees", "wta/")
    feature = ours.create(FeatureId("f"), CommitSha(repo.head_commit()))
    a = Visit(A)
    watch.enter(a)
    (repo_dir / "a.txt").write_text("committed\n")
    git(repo_dir, "commit", "-qm", "the user commits", "--", "a.txt")  # HEAD moves
    (repo_dir / "b.txt").write_text("modified again\n")  # still " M": its stat tells
    git(repo_dir, "add", "staged later.txt")
    git(repo_dir, "mv", "c.txt", "c renamed.txt")
    (other / "o.txt").write_text("in the user's other worktree\n")
    (feature.path / "f.txt").write_text("in wta's worktree: the agent's own business\n")
    watch.leave(a)

    assert seen(reports) == [
        (
            (
                str(other / "o.txt"),  # the worktrees in path order: mine, then repo
                f"{repo_dir}: HEAD",
                str(repo_dir / "b.txt"),
                str(repo_dir / "c renamed.txt"),
                str(repo_dir / "c.txt"),
                str(repo_dir / "staged later.txt"),
            ),
            ("a",),
        )
    ]


def test_only_the_users_worktrees_are_watched(tmp_path: Path) -> None:
    repo_dir, repo, _, _ = watched(tmp_path)
    other = tmp_path / "mine"
    git(repo_dir, "worktree", "add", "-q", "-b", "side", str(other))
    ours = WorktreeManager(repo, tmp_path / "trees", "wta/")
    ours.create(FeatureId("f"), CommitSha(repo.head_commit()))
    gone = tmp_path / "gone"
    git(repo_dir, "worktree", "add", "-q", "-b", "gone", str(gone))
    shutil.rmtree(gone)  # prunable now

    assert sorted(user_worktrees(repo, tmp_path / "trees")) == [other, repo_dir]
    assert sorted(checkout_state(repo, tmp_path / "trees")) == [other, repo_dir]


def test_the_check_reports_through_the_fence_and_finds_nothing(tmp_path: Path) -> None:
    repo_dir, _, watch, reports = watched(tmp_path)

    async def agent() -> list[object]:
        async with fenced([CheckoutCheck(watch, A)]) as findings:
            (repo_dir / "a.txt").write_text("an agent wrote here\n")
        return list(findings)

    assert asyncio.run(agent()) == []
    assert seen(reports) == [((str(repo_dir / "a.txt"),), ("a",))]


def test_a_worktree_git_cannot_read_is_left_out_of_the_comparison(tmp_path: Path) -> None:
    repo_dir, _, watch, reports = watched(tmp_path)
    other = tmp_path / "mine"
    git(repo_dir, "worktree", "add", "-q", "-b", "side", str(other))
    gitfile = (other / ".git").read_text()
    (other / ".git").write_text("not a gitfile\n")  # git status fails there
    a = Visit(A)
    watch.enter(a)
    (other / "o.txt").write_text("x\n")
    (other / ".git").write_text(gitfile)  # readable again: its status now differs
    (repo_dir / "a.txt").write_text("changed\n")
    watch.leave(a)

    assert seen(reports) == [((str(repo_dir / "a.txt"),), ("a",))]


def test_a_visit_whose_entry_failed_reports_nothing(tmp_path: Path) -> None:
    repo_dir, _, watch, reports = watched(tmp_path)
    entered, failed = Visit(A), Visit(B)
    watch.enter(entered)
    failed.entered.set()  # as after an entry that raised
    (repo_dir / "a.txt").write_text("changed\n")
    watch.leave(failed)

    assert reports == []
    watch.leave(entered)
    assert seen(reports) == [((str(repo_dir / "a.txt"),), ("a",))]
