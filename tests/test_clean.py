"""`wta clean`: which worktrees it removes, which it keeps, and that branches stay."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitutil import git
from runutil import BASE, Spec, plan_repo, wta


def test_clean_removes_finished_worktrees_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [
        Spec("ok", {"ok.txt": "ok\n"}),
        Spec("bad", {"bad.txt": "bad\n"}, acceptance=["false"]),
        Spec("after-bad", {"after.txt": "x\n"}, depends_on=["bad"]),
    ]
    repo = plan_repo(tmp_path, specs, BASE, "[guardrails]\nmax_attempts = 1\n")
    assert wta(repo, "run") == 1
    root = tmp_path / "repo.wta"
    assert sorted(p.name for p in root.iterdir()) == ["bad", "ok"]
    capsys.readouterr()

    (root / "ok" / "build.out").write_text("untracked build output\n")
    assert wta(repo, "clean") == 0
    assert capsys.readouterr().out == "removed 1 worktree: ok\n"
    assert sorted(p.name for p in root.iterdir()) == ["bad"]
    (root / "bad" / "bad.txt").write_text("a person's edit\n")  # a tracked change
    assert wta(repo, "clean", "--all") == 0
    assert capsys.readouterr().out == (
        "removed 0 worktrees\n"
        "kept 1 with changes to tracked files: bad; pass --force to remove them anyway\n"
    )
    assert wta(repo, "clean", "--all", "--force") == 0
    assert capsys.readouterr().out == "removed 1 worktree: bad\n"
    assert not root.exists()  # the empty <repo>.wta goes with its last worktree
    # branches are kept
    assert git(repo, "branch", "--list", "wta/*", "--format=%(refname:short)").split() == [
        "wta/bad", "wta/integration", "wta/ok",
    ]  # fmt: skip


def test_clean_removes_a_detached_feature_worktree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)
    assert wta(repo, "run") == 0
    worktree = tmp_path / "repo.wta" / "a"
    git(worktree, "checkout", "--quiet", "--detach")  # as an interrupted step can leave it
    capsys.readouterr()

    assert wta(repo, "clean") == 0

    assert capsys.readouterr().out == "removed 1 worktree: a\n"
    assert not worktree.exists()


def test_clean_keeps_a_worktree_root_that_holds_something_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)
    assert wta(repo, "run") == 0
    root = tmp_path / "repo.wta"
    (root / "notes.txt").write_text("mine\n")
    capsys.readouterr()

    assert wta(repo, "clean") == 0

    assert capsys.readouterr().out == "removed 1 worktree: a\n"
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]
    (root / "notes.txt").unlink()
    assert wta(repo, "clean") == 0  # an empty root left from before goes too
    assert capsys.readouterr().out == "removed 0 worktrees\n"
    assert not root.exists()
