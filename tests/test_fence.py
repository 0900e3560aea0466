"""The fence's checks around an agent, on a real repository: what they put back and what
they report, on every way out of the agent (done, raised, cancelled)."""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path

import pytest
from gitutil import git, make_repo

from worktree_agents.domain import CommitSha, FeatureId, GuardrailRule
from worktree_agents.failures import Finding
from worktree_agents.fence import Check, StashCheck, WorktreeCheck, fenced
from worktree_agents.git import GitRepo
from worktree_agents.worktrees import WorktreeManager

STASH_FINDING = Finding(
    rule=GuardrailRule.STASH,
    detail="the agent changed the stash, which your checkout shares; wta put back 1 entry"
    " it had removed",
    advice="Never use git stash.",
)


def repo_with_stash(tmp_path: Path) -> tuple[Path, GitRepo, str]:
    repo_dir = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    (repo_dir / "a.txt").write_text("my work in progress\n")
    git(repo_dir, "stash", "push", "-q", "-m", "my wip")
    return repo_dir, GitRepo.open(repo_dir), git(repo_dir, "stash", "list", "--format=%H %gs")


def drop(repo_dir: Path) -> None:
    git(repo_dir, "stash", "drop", "-q")


def test_the_stash_check_puts_back_what_a_finished_agent_dropped(tmp_path: Path) -> None:
    repo_dir, repo, before = repo_with_stash(tmp_path)

    async def agent() -> list[Finding]:
        async with fenced([StashCheck(repo, threading.Lock())]) as findings:
            drop(repo_dir)
        return findings

    assert asyncio.run(agent()) == [STASH_FINDING]
    assert git(repo_dir, "stash", "list", "--format=%H %gs") == before


def test_the_stash_check_puts_back_what_an_agent_dropped_before_it_raised(
    tmp_path: Path,
) -> None:
    repo_dir, repo, before = repo_with_stash(tmp_path)

    async def agent() -> None:
        async with fenced([StashCheck(repo, threading.Lock())]):
            drop(repo_dir)
            raise RuntimeError("the backend crashed")

    with pytest.raises(RuntimeError, match="the backend crashed"):
        asyncio.run(agent())
    assert git(repo_dir, "stash", "list", "--format=%H %gs") == before


def test_the_stash_check_puts_back_what_a_cancelled_agent_dropped(tmp_path: Path) -> None:
    repo_dir, repo, before = repo_with_stash(tmp_path)

    async def main() -> None:
        dropped = asyncio.Event()

        async def agent() -> None:
            async with fenced([StashCheck(repo, threading.Lock())]):
                drop(repo_dir)
                dropped.set()
                await asyncio.Event().wait()  # until cancelled

        task = asyncio.create_task(agent())
        await dropped.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert git(repo_dir, "stash", "list", "--format=%H %gs") == before


def test_the_branch_check_names_where_the_agent_went(tmp_path: Path) -> None:
    repo = GitRepo.open(make_repo(tmp_path / "repo", {"a.txt": "a\n"}))
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/")
    worktree = manager.create(FeatureId("f"), CommitSha(repo.head_commit()))
    stays = StashCheck(repo, threading.Lock())

    async def agent(command: tuple[str, ...]) -> list[Finding]:
        checks: list[Check] = [stays, WorktreeCheck(manager, worktree)]
        async with fenced(checks) as findings:
            if command:
                git(worktree.path, *command)
        return findings

    assert asyncio.run(agent(())) == []
    assert asyncio.run(agent(("switch", "-q", "-c", "side"))) == [
        Finding(
            rule=GuardrailRule.BRANCH,
            detail="the agent left the branch wta/f (the worktree is on side)",
            advice="Stay on your branch.",
        )
    ]
    git(worktree.path, "switch", "-q", "wta/f")
    assert asyncio.run(agent(("switch", "-q", "--detach"))) == [
        Finding(
            rule=GuardrailRule.BRANCH,
            detail="the agent left the branch wta/f (the worktree is on a detached HEAD)",
            advice="Stay on your branch.",
        )
    ]


def test_the_worktree_check_names_rewritten_history(tmp_path: Path) -> None:
    repo = GitRepo.open(make_repo(tmp_path / "repo", {"a.txt": "a\n"}))
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/")
    base = CommitSha(repo.head_commit())
    worktree = manager.create(FeatureId("f"), base)
    tree = git(worktree.path, "write-tree")
    unrelated = git(worktree.path, "commit-tree", tree, "-m", "unrelated root")

    async def agent() -> list[Finding]:
        async with fenced([WorktreeCheck(manager, worktree)]) as findings:
            git(worktree.path, "reset", "-q", "--hard", unrelated)
        return findings

    assert asyncio.run(agent()) == [
        Finding(
            rule=GuardrailRule.HISTORY,
            detail=f"the branch wta/f no longer descends from its base {base[:12]}"
            f" (it is at {unrelated[:12]})",
            advice="Never reset or rewrite the history below your starting commit.",
        )
    ]


@pytest.mark.parametrize("how", ["rm -rf", "git worktree remove"])
def test_a_deleted_worktree_is_named_and_pruned_so_the_place_is_free(
    tmp_path: Path, how: str
) -> None:
    repo = GitRepo.open(make_repo(tmp_path / "repo", {"a.txt": "a\n"}))
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/")
    base = CommitSha(repo.head_commit())
    worktree = manager.create(FeatureId("f"), base)

    async def agent() -> list[Finding]:
        async with fenced([WorktreeCheck(manager, worktree)]) as findings:
            if how == "rm -rf":
                shutil.rmtree(worktree.path)
            else:
                git(repo.toplevel, "worktree", "remove", "--force", str(worktree.path))
        return findings

    assert asyncio.run(agent()) == [
        Finding(
            rule=GuardrailRule.WORKTREE,
            detail=f"the agent deleted or broke its worktree {worktree.path}; wta pruned it",
            advice="Never remove your worktree.",
        )
    ]
    assert [e.path for e in repo.worktrees()] == [repo.toplevel]
    again = manager.create(FeatureId("f"), base, reset=True)
    assert (again.path / "a.txt").read_text() == "a\n"


def test_a_worktree_whose_git_file_was_deleted_is_discarded(tmp_path: Path) -> None:
    repo = GitRepo.open(make_repo(tmp_path / "repo", {"a.txt": "a\n"}))
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/")
    base = CommitSha(repo.head_commit())
    worktree = manager.create(FeatureId("f"), base)

    async def agent() -> list[Finding]:
        async with fenced([WorktreeCheck(manager, worktree)]) as findings:
            (worktree.path / ".git").unlink()
        return findings

    assert [f.rule for f in asyncio.run(agent())] == [GuardrailRule.WORKTREE]
    assert not worktree.path.exists()
    assert manager.list() == []
