"""Tests for worktrees.py: exact bases, listing, removal, and serialised concurrent adds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from gitutil import commit, git, make_repo

from worktree_agents.domain import BranchName, CommitSha, FeatureId
from worktree_agents.errors import GitError, RepoError
from worktree_agents.git import GitRepo
from worktree_agents.worktrees import (
    Worktree,
    WorktreeManager,
    default_worktree_root,
    resolve_worktree_root,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def real(path: Path) -> Path:
    return Path(os.path.realpath(path))


@dataclass
class Setup:
    dir: Path
    repo: GitRepo
    first: CommitSha
    second: CommitSha
    root: Path
    manager: WorktreeManager


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    repo_dir = make_repo(tmp_path / "repo", {"app.txt": "one\n"})
    first = CommitSha(git(repo_dir, "rev-parse", "HEAD"))
    second = CommitSha(commit(repo_dir, {"app.txt": "two\n"}, "second"))
    repo = GitRepo.open(repo_dir)
    root = real(tmp_path / "trees")
    return Setup(repo_dir, repo, first, second, root, WorktreeManager(repo, root, "wta/"))


def user_state(repo_dir: Path) -> tuple[str, str, str, str]:
    return (
        git(repo_dir, "rev-parse", "HEAD"),
        git(repo_dir, "symbolic-ref", "HEAD"),
        git(repo_dir, "status", "--porcelain", "--untracked-files=all"),
        git(repo_dir, "rev-parse", "main"),
    )


def linked_worktrees(repo_dir: Path) -> list[str]:
    lines = git(repo_dir, "worktree", "list", "--porcelain").splitlines()
    paths = [line.removeprefix("worktree ") for line in lines if line.startswith("worktree ")]
    return sorted(paths[1:])


def test_create_at_an_exact_base_commit(setup: Setup) -> None:
    before = user_state(setup.dir)
    tree = setup.manager.create(FeatureId("auth"), setup.first)
    path = setup.root / "auth"
    assert tree == Worktree(
        FeatureId("auth"), path, BranchName("wta/auth"), setup.first, setup.first
    )
    assert git(path, "rev-parse", "HEAD") == setup.first
    assert git(path, "symbolic-ref", "HEAD") == "refs/heads/wta/auth"
    assert (path / "app.txt").read_text() == "one\n"
    assert git(path, "status", "--porcelain") == ""
    assert user_state(setup.dir) == before


def test_create_refuses_an_existing_worktree_or_branch(setup: Setup) -> None:
    setup.manager.create(FeatureId("auth"), setup.first)
    with pytest.raises(RepoError) as path_taken:
        setup.manager.create(FeatureId("auth"), setup.first)
    git(setup.dir, "worktree", "remove", str(setup.root / "auth"))
    with pytest.raises(RepoError) as branch_taken:
        setup.manager.create(FeatureId("auth"), setup.first)
    assert path_taken.value.message == (
        f"worktree {setup.root / 'auth'} already exists; remove it first (wta clean)"
        " or recreate it with a reset"
    )
    assert branch_taken.value.message == (
        "branch 'wta/auth' already exists; delete it first or recreate the worktree with a reset"
    )


def test_reset_replaces_the_worktree_and_moves_the_branch(setup: Setup) -> None:
    old = setup.manager.create(FeatureId("auth"), setup.first)
    commit(old.path, {"agent.txt": "work\n"}, "agent work")
    (old.path / "dirty.txt").write_text("uncommitted\n")

    tree = setup.manager.create(FeatureId("auth"), setup.second, reset=True)

    assert tree == Worktree(FeatureId("auth"), old.path, old.branch, setup.second, setup.second)
    assert git(tree.path, "rev-parse", "HEAD", "wta/auth") == f"{setup.second}\n{setup.second}"
    assert git(tree.path, "status", "--porcelain", "--untracked-files=all") == ""
    assert setup.manager.list() == [tree]


def test_create_refuses_a_branch_checked_out_elsewhere(setup: Setup, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    git(setup.dir, "worktree", "add", "--quiet", "-b", "wta/auth", str(elsewhere))
    with pytest.raises(RepoError) as caught:
        setup.manager.create(FeatureId("auth"), setup.first, reset=True)
    assert caught.value.message == (
        f"branch 'wta/auth' is checked out in {real(elsewhere)}; wta will not move a branch"
        " checked out in another worktree; switch that worktree to another branch"
    )
    assert git(setup.dir, "rev-parse", "wta/auth") == setup.second


def test_a_failed_add_leaves_nothing_behind(setup: Setup) -> None:
    broken = CommitSha(commit(setup.dir, {".gitattributes": "*.txt filter=broken\n"}, "attrs"))
    git(setup.dir, "config", "filter.broken.smudge", "false")  # every checkout of *.txt fails
    git(setup.dir, "config", "filter.broken.required", "true")
    git(setup.dir, "branch", "wta/old", setup.first)

    with pytest.raises(GitError):
        setup.manager.create(FeatureId("new"), broken)
    with pytest.raises(GitError):
        setup.manager.create(FeatureId("old"), broken, reset=True)

    assert git(setup.dir, "branch", "--list", "wta/*", "--format=%(refname) %(objectname)") == (
        f"refs/heads/wta/old {setup.first}"
    )
    assert linked_worktrees(setup.dir) == []
    assert not (setup.root / "new").exists()
    assert not (setup.root / "old").exists()


def test_list_shows_only_feature_worktrees_with_their_base(setup: Setup, tmp_path: Path) -> None:
    auth = setup.manager.create(FeatureId("auth"), setup.first)
    docs = setup.manager.create(FeatureId("docs"), setup.second)
    work = CommitSha(commit(auth.path, {"auth.txt": "auth\n"}, "auth"))
    git(setup.dir, "worktree", "add", "--quiet", "-b", "topic", str(tmp_path / "user-tree"))
    git(setup.dir, "worktree", "add", "--quiet", "-b", "other", str(setup.root / "other"))

    listed = sorted(setup.manager.list(), key=lambda t: t.feature_id)

    assert listed == [
        Worktree(FeatureId("auth"), auth.path, auth.branch, setup.first, work),
        docs,
    ]


def test_remove_keeps_the_branch(setup: Setup) -> None:
    tree = setup.manager.create(FeatureId("auth"), setup.first)
    setup.manager.remove(FeatureId("auth"))
    setup.manager.remove(FeatureId("auth"))  # already gone: not an error
    assert not tree.path.exists()
    assert linked_worktrees(setup.dir) == []
    assert git(setup.dir, "rev-parse", "wta/auth") == setup.first
    assert setup.manager.list() == []


def test_remove_a_dirty_worktree_needs_force(setup: Setup) -> None:
    tree = setup.manager.create(FeatureId("auth"), setup.first)
    (tree.path / "scratch.txt").write_text("scratch\n")
    with pytest.raises(GitError):
        setup.manager.remove(FeatureId("auth"))
    setup.manager.remove(FeatureId("auth"), force=True)
    assert linked_worktrees(setup.dir) == []


def test_remove_and_prune_after_the_directory_was_deleted(setup: Setup) -> None:
    one = setup.manager.create(FeatureId("one"), setup.first)
    two = setup.manager.create(FeatureId("two"), setup.first)
    shutil.rmtree(one.path)
    shutil.rmtree(two.path)

    setup.manager.remove(FeatureId("one"))
    assert linked_worktrees(setup.dir) == [str(two.path)]
    setup.manager.prune()
    assert linked_worktrees(setup.dir) == []


def test_default_root_is_a_sibling_outside_the_repository(setup: Setup) -> None:
    root = default_worktree_root(setup.repo)
    assert root == real(setup.dir.parent) / "repo.wta"
    assert setup.repo.toplevel not in root.parents
    assert setup.repo.common_dir not in root.parents
    assert resolve_worktree_root(setup.repo, None, setup.dir) == root


def test_default_root_is_the_same_from_a_linked_worktree(setup: Setup, tmp_path: Path) -> None:
    git(setup.dir, "worktree", "add", "--quiet", "-b", "topic", str(tmp_path / "linked"))
    assert default_worktree_root(GitRepo.open(tmp_path / "linked")) == real(tmp_path / "repo.wta")


def test_configured_root_is_relative_to_the_plan(setup: Setup, tmp_path: Path) -> None:
    resolved = resolve_worktree_root(setup.repo, "../trees", setup.dir)
    assert resolved == real(tmp_path / "trees")
    assert resolve_worktree_root(setup.repo, str(tmp_path / "abs"), setup.dir) == real(
        tmp_path / "abs"
    )


@pytest.mark.parametrize("configured", ["trees", ".", ".git/trees"])
def test_configured_root_inside_the_working_tree_is_rejected(setup: Setup, configured: str) -> None:
    with pytest.raises(RepoError) as caught:
        resolve_worktree_root(setup.repo, configured, setup.dir)
    root = real(setup.dir / configured)
    assert caught.value.message == (
        f"worktree root {root} is inside the repository's working tree {setup.repo.toplevel};"
        f" choose a directory outside it, such as {real(setup.dir.parent / 'repo.wta')}"
    )


def test_configured_root_inside_a_separate_git_dir_is_rejected(tmp_path: Path) -> None:
    work = tmp_path / "work"
    git(tmp_path, "init", "--quiet", "-b", "main", "--separate-git-dir", "store.git", "work")
    commit(work, {"a.txt": "a\n"})
    repo = GitRepo.open(work)
    with pytest.raises(RepoError) as caught:
        resolve_worktree_root(repo, "../store.git/trees", work)
    assert caught.value.message == (
        f"worktree root {real(tmp_path / 'store.git/trees')} is inside the git directory"
        f" {real(tmp_path / 'store.git')}; choose a directory outside it,"
        f" such as {real(tmp_path / 'work.wta')}"
    )


def test_sixteen_concurrent_creations_in_threads(setup: Setup) -> None:
    before = user_state(setup.dir)
    ids = [FeatureId(f"f{i:02d}") for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        trees = list(pool.map(lambda f: setup.manager.create(f, setup.first), ids))

    assert [t.feature_id for t in trees] == ids
    assert linked_worktrees(setup.dir) == [str(setup.root / f) for f in ids]
    assert sorted(t.feature_id for t in setup.manager.list()) == ids
    assert {git(t.path, "rev-parse", "HEAD") for t in trees} == {setup.first}

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(setup.manager.remove, ids))
    assert linked_worktrees(setup.dir) == []
    assert user_state(setup.dir) == before


WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from worktree_agents.domain import CommitSha, FeatureId
    from worktree_agents.git import GitRepo
    from worktree_agents.worktrees import WorktreeManager

    repo_dir, root, base, worker, go = sys.argv[1:]
    manager = WorktreeManager(GitRepo.open(Path(repo_dir)), Path(root), "wta/")
    Path(go + "." + worker).touch()
    while not Path(go).exists():
        time.sleep(0.005)
    for n in range(4):
        manager.create(FeatureId(f"p{worker}-{n}"), CommitSha(base))
    """
)


def test_four_processes_creating_four_worktrees_each(setup: Setup, tmp_path: Path) -> None:
    before = user_state(setup.dir)
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(setup.dir),
                str(setup.root),
                setup.first,
                str(w),
                str(go),
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    deadline = time.monotonic() + 30
    while not all(Path(f"{go}.{w}").exists() for w in range(4)):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(w.poll() is None for w in workers), "a worker died before the start"
        time.sleep(0.01)
    go.touch()  # release all four at once
    errors = [w.communicate(timeout=60)[1] for w in workers]

    assert [w.returncode for w in workers] == [0, 0, 0, 0], errors
    expected = sorted(str(setup.root / f"p{w}-{n}") for w in range(4) for n in range(4))
    assert linked_worktrees(setup.dir) == expected
    assert user_state(setup.dir) == before


def test_a_failing_post_checkout_hook_does_not_stop_a_worktree(setup: Setup) -> None:
    hook = setup.dir / ".git" / "hooks" / "post-checkout"
    hook.write_text("#!/bin/sh\necho the hook ran >> hook.log\nexit 1\n")
    hook.chmod(0o755)

    made = setup.manager.create(FeatureId("auth"), setup.first)

    assert (made.head, (made.path / "app.txt").read_text()) == (setup.first, "one\n")
    assert not (made.path / "hook.log").exists()
