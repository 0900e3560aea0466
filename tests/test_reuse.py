"""Reused worktrees (reuse.py, WorktreeManager.take_over): a merged feature's worktree,
handed to the next feature, is indistinguishable from a fresh checkout."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from gitutil import commit, git, make_repo

from worktree_agents.domain import BranchName, CommitSha, FeatureId
from worktree_agents.git import GitRepo
from worktree_agents.worktrees import BASE_FILE, Worktree, WorktreeManager

BASE = {
    ".gitignore": "build/\n*.log\nnode_modules/\n",
    "README.md": "# sample\n",
    "src/app/main.py": "print('one')\n",
    "src/app/util/helpers.py": "X = 1\n",
    "docs/guide.md": "guide\n",
}


def real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def tree_state(path: Path) -> tuple[str, str, dict[str, bytes]]:
    """The index, git's view of untracked and ignored files, and every file's bytes."""
    files = {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != ".git"
    }
    status = git(path, "status", "--porcelain", "--ignored", "--untracked-files=all")
    return git(path, "ls-files", "-s"), status, files


def litter(path: Path) -> None:
    """What a feature's agent and checks leave behind once its work is committed."""
    for name in ("build/out/a.o", "test.log", "node_modules/dep/index.js", "src/app/x.log"):
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text("left\n")


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo.open(make_repo(tmp_path / "repo", BASE))


def take_over(manager: WorktreeManager, fid: str, base: CommitSha) -> Worktree | None:
    old = manager.claim(FeatureId(fid))
    return None if old is None else manager.take_over(FeatureId(fid), base, old)


def finished(repo: GitRepo, manager: WorktreeManager, fid: str) -> Worktree:
    """A worktree whose feature made a commit and left ignored files, released."""
    tree = manager.create(FeatureId(fid), repo.head_commit())
    commit(tree.path, {f"{fid}.txt": f"{fid}\n", "docs/guide.md": f"guide by {fid}\n"}, fid)
    litter(tree.path)
    manager.release(tree)
    return tree


def test_a_reused_worktree_is_identical_to_a_fresh_checkout(repo: GitRepo, tmp_path: Path) -> None:
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/")
    old = finished(repo, manager, "a")
    base = CommitSha(commit(repo.toplevel, {"src/app/main.py": "print('two')\n"}, "two"))

    reused = take_over(manager, "b", base)
    fresh = manager.create(FeatureId("c"), base)

    root = real(tmp_path / "trees")
    note = "took over the worktree of a (reuse_worktrees)"
    assert reused == Worktree(FeatureId("b"), root / "b", BranchName("wta/b"), base, base, (note,))
    assert tree_state(reused.path) == tree_state(fresh.path)
    assert git(reused.path, "symbolic-ref", "HEAD") == "refs/heads/wta/b"
    assert git(repo.toplevel, "rev-parse", "wta/b", "wta/a") == "\n".join(
        [base, git(repo.toplevel, "rev-parse", "wta/a")]
    )
    assert not old.path.exists()
    assert sorted(manager.list(), key=lambda w: w.feature_id) == [
        Worktree(FeatureId("b"), root / "b", BranchName("wta/b"), base, base),
        Worktree(FeatureId("c"), root / "c", BranchName("wta/c"), base, base),
    ]
    assert manager.registered(reused)
    assert manager.off_branch(reused) is None


def test_keep_ignored_keeps_only_the_ignored_paths_it_names(repo: GitRepo, tmp_path: Path) -> None:
    # `cache/` is not ignored: a pattern may not keep an untracked file the next commit takes
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/", ("node_modules/", "cache/"))
    old = finished(repo, manager, "a")
    (old.path / "cache").mkdir()
    (old.path / "cache" / "c.txt").write_text("untracked\n")

    reused = take_over(manager, "b", repo.head_commit())
    fresh = manager.create(FeatureId("c"), repo.head_commit())

    assert reused is not None
    index, status, files = tree_state(reused.path)
    assert (index, status) == (
        git(fresh.path, "ls-files", "-s"),
        "!! node_modules/dep/index.js",
    )
    assert files == {**tree_state(fresh.path)[2], "node_modules/dep/index.js": b"left\n"}


def test_a_worktree_with_uncommitted_edits_is_not_reused(repo: GitRepo, tmp_path: Path) -> None:
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/")
    old = finished(repo, manager, "a")
    (old.path / "README.md").write_text("someone's edit\n")

    assert take_over(manager, "b", repo.head_commit()) is None

    assert (old.path / "README.md").read_text() == "someone's edit\n"
    assert git(old.path, "symbolic-ref", "HEAD") == "refs/heads/wta/a"


def test_nothing_is_taken_over_without_a_released_worktree_or_onto_an_existing_one(
    repo: GitRepo, tmp_path: Path
) -> None:
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/")
    assert take_over(manager, "b", repo.head_commit()) is None
    manager.create(FeatureId("b"), repo.head_commit())
    old = finished(repo, manager, "a")

    # b has a worktree (a retry): create() resets it; a's stays, still free for another
    assert take_over(manager, "b", repo.head_commit()) is None
    assert old.path.is_dir()
    assert take_over(manager, "d", repo.head_commit()) is not None


def test_a_worktree_with_a_checked_out_submodule_is_not_reused(
    repo: GitRepo, tmp_path: Path
) -> None:
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/")
    old = finished(repo, manager, "a")
    admin = Path(git(old.path, "rev-parse", "--absolute-git-dir"))
    (admin / "modules" / "lib").mkdir(parents=True)  # where checkout.py clones a submodule

    assert take_over(manager, "b", repo.head_commit()) is None
    assert old.path.is_dir()


def test_a_move_cut_short_is_mended(repo: GitRepo, tmp_path: Path) -> None:
    """`git worktree move` renames the directory, then writes the new path: a run killed
    in between leaves a directory git no longer knows. The next run mends it."""
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/")
    old = finished(repo, manager, "a")
    admin = Path(git(old.path, "rev-parse", "--absolute-git-dir"))
    (admin / BASE_FILE).write_text(repo.head_commit() + "\n")
    git(old.path, "checkout", "--quiet", "--detach", repo.head_commit())
    moved = old.path.parent / "b"
    os.rename(old.path, moved)

    fresh = WorktreeManager(repo, tmp_path / "trees", "wta/")
    assert fresh.mend() == [moved]
    assert fresh.list() == [
        Worktree(FeatureId("b"), moved, BranchName("wta/b"), repo.head_commit(), repo.head_commit())
    ]
    fresh.remove(FeatureId("b"), force=True)
    assert git(repo.toplevel, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_registered_reads_the_worktrees_own_files(repo: GitRepo, tmp_path: Path) -> None:
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/")
    tree = manager.create(FeatureId("a"), repo.head_commit())
    gitfile = tree.path / ".git"
    good = gitfile.read_text()
    verdicts = []
    for text in (good, f"gitdir: {repo.common_dir}\n", "gitdir: /nonexistent\n", "junk\n"):
        gitfile.write_text(text)
        verdicts.append(manager.registered(tree))
    gitfile.write_text(good)
    shutil.move(tree.path, tmp_path / "elsewhere")
    verdicts.append(manager.registered(tree))
    assert verdicts == [True, False, False, False, False]
