"""Readers of worktree metadata are safe against a concurrent `git worktree add`.

`git worktree add` writes `.git/worktrees/<id>/` file by file; a `git worktree list` that
reads an entry half-made dies ("failed to read .git/worktrees/<id>/commondir"), and in a
wide run that made features end `crashed`. wta's adds hold the worktree lock, so every
reader must hold it too: then it never sees an entry that wta is still making.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from gitutil import git, make_repo
from runutil import Spec, plan_repo, wta

from worktree_agents.domain import BranchName, FeatureId
from worktree_agents.errors import GitError
from worktree_agents.git import GitRepo
from worktree_agents.merge import MergeCoordinator
from worktree_agents.worktrees import WorktreeManager

BLOCKED_S = 1.0  # a reader that is not blocked by the lock finishes in milliseconds


def _readers(tmp_path: Path) -> tuple[GitRepo, dict[str, Callable[[], object]]]:
    repo = GitRepo.open(make_repo(tmp_path / "repo", {"a.txt": "a\n"}))
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/")
    coordinator = MergeCoordinator(repo, BranchName("wta/integration"), "squash")
    coordinator.ensure_branch(repo.head_commit())
    fid = FeatureId("one")
    return repo, {
        "worktrees": repo.worktrees,
        "checked_out_branches": repo.checked_out_branches,
        "list": manager.list,
        "save_unrecorded_work": lambda: manager.save_unrecorded_work(fid, "refs/wta/x", []),
        "publish_check": coordinator.refuse_if_checked_out,
    }


@pytest.mark.parametrize(
    ("reader", "waits"),
    [
        ("worktrees", True),
        ("list", True),
        # these read git's files for each worktree (HEAD, gitdir), or only their own
        # feature's worktree, with no `git worktree list`: an entry half-made is skipped, so
        # they need not wait (and their cost does not grow with the worktrees)
        ("checked_out_branches", False),
        ("publish_check", False),
        ("save_unrecorded_work", False),
    ],
)
def test_a_reader_waits_for_a_worktree_add_in_progress(
    tmp_path: Path, reader: str, waits: bool
) -> None:
    repo, readers = _readers(tmp_path)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            readers[reader]()
        except BaseException as exc:
            errors.append(exc)

    half_made = repo.common_dir / "worktrees" / "f8"
    with repo.worktree_lock():
        # what `git worktree add` has written at one instant: gitdir, and commondir not yet
        half_made.mkdir(parents=True)
        (half_made / "gitdir").write_text(str(tmp_path / "trees" / "f8" / ".git") + "\n")
        (half_made / "commondir").write_text("")
        thread = threading.Thread(target=read)
        thread.start()
        thread.join(BLOCKED_S)
        blocked = thread.is_alive()
        (half_made / "commondir").write_text("../..\n")
        (half_made / "commondir").unlink()
        (half_made / "gitdir").unlink()
        half_made.rmdir()
    thread.join()
    assert (blocked, [repr(e) for e in errors]) == (waits, [])


def test_wide_plans_on_four_slots_never_crash(tmp_path: Path) -> None:
    specs = [Spec(f"f{i}", {f"f{i}.txt": f"{i}\n"}) for i in range(24)]
    for round_ in range(3):
        repo = plan_repo(tmp_path / str(round_), specs, settings="[run]\nmax_parallel = 4\n")
        assert wta(repo, "run", "--json") == 0


def _filtered_repo(tmp_path: Path, smudge: str) -> GitRepo:
    """A repository whose `slow.txt` goes through a smudge filter when it is checked out."""
    repo_dir = make_repo(
        tmp_path / "repo", {"slow.txt": "slow\n", ".gitattributes": "slow.txt filter=x\n"}
    )
    git(repo_dir, "config", "filter.x.smudge", smudge)
    git(repo_dir, "config", "filter.x.required", "true")
    return GitRepo.open(repo_dir)


def test_a_worktrees_files_are_written_outside_the_lock(tmp_path: Path) -> None:
    release = tmp_path / "release"
    started = tmp_path / "started"
    # the checkout blocks in the filter until the test has read the worktree list
    smudge = f"touch {started}; while [ ! -e {release} ]; do sleep 0.01; done; cat"
    repo = _filtered_repo(tmp_path, smudge)
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/")
    made: list[Path] = []
    thread = threading.Thread(
        target=lambda: made.append(manager.create(FeatureId("f"), repo.head_commit()).path)
    )
    thread.start()
    for _ in range(6000):  # up to a minute
        if started.exists():
            break
        time.sleep(0.01)
    listed: list[BranchName | None] = []
    reader = threading.Thread(target=lambda: listed.extend(e.branch for e in repo.worktrees()))
    reader.start()
    reader.join(10)  # not blocked by the checkout: milliseconds
    blocked = reader.is_alive()
    release.touch()
    thread.join()
    reader.join()
    assert (blocked, listed, (made[0] / "slow.txt").read_text()) == (
        False,
        ["main", "wta/f"],
        "slow\n",
    )


def test_a_checkout_that_fails_leaves_no_worktree_and_no_branch(tmp_path: Path) -> None:
    repo = _filtered_repo(tmp_path, "false")
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/")

    with pytest.raises(GitError):
        manager.create(FeatureId("f"), repo.head_commit())

    branches = git(repo.toplevel, "branch", "--list", "--format=%(refname)")
    assert ([e.branch for e in repo.worktrees()], branches) == (["main"], "refs/heads/main")
    assert not (tmp_path / "trees" / "f").exists()
