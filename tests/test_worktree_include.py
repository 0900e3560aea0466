""".worktreeinclude: the ignored files of the user's checkout that it names are copied into
each new worktree, before setup; nothing tracked, unmatched or behind a symlink."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gitutil import commit, git, make_repo
from runutil import BASE, Spec, features, plan_repo, wta

from worktree_agents.git import GitRepo
from worktree_agents.worktree_include import Included, copy_included

IGNORE = ".env\n*.local\nlink.env\nbuild.log\n"
INCLUDE = ".env\n*.local\nlink.env\nREADME.md\nnotes.txt\ntoken.secret\n"


def checkout_files(checkout: Path, outside: Path) -> None:
    """What a person has in their checkout besides the committed files."""
    (checkout / ".worktreeinclude").write_text(INCLUDE)
    (checkout / ".env").write_text("SECRET=1\n")
    (checkout / ".env").chmod(0o640)
    (checkout / "config").mkdir()
    (checkout / "config" / "app.local").write_text("nested\n")
    (checkout / "config" / "app.local").chmod(0o755)
    (checkout / "env.local").symlink_to(".env")  # leads inside the checkout
    outside.write_text("not yours to copy\n")
    (checkout / "link.env").symlink_to(outside)  # leads out of it
    (checkout / "build.log").write_text("ignored, but not named\n")
    (checkout / "notes.txt").write_text("named, but not ignored\n")
    (checkout / "README.md").write_text("an uncommitted edit of a tracked file\n")
    # ignored in the checkout only: the worktree would commit it
    (checkout / ".gitignore").write_text(IGNORE + "token.secret\n")
    (checkout / "token.secret").write_text("t0ken\n")


def snapshot(tree: Path) -> list[tuple[str, str, bytes]]:
    """Every file and symlink under `tree` (outside .git): its mode, and its bytes or target."""
    out = []
    for path in sorted(tree.rglob("*")):
        if ".git" in path.relative_to(tree).parts or (path.is_dir() and not path.is_symlink()):
            continue
        data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        out.append((path.relative_to(tree).as_posix(), oct(path.lstat().st_mode), data))
    return out


def test_the_named_ignored_files_are_copied_and_nothing_else(tmp_path: Path) -> None:
    checkout = make_repo(tmp_path / "repo", {**BASE, ".gitignore": IGNORE})
    worktree = tmp_path / "worktree"
    git(checkout, "worktree", "add", "--quiet", "-b", "feature", str(worktree))
    checkout_files(checkout, tmp_path / "outside.txt")
    before = snapshot(checkout)

    got = copy_included(GitRepo.open(checkout), checkout, worktree)

    assert got == Included(
        copied=(".env", "config/app.local", "env.local"),
        skipped=(
            ("link.env", "a symlink that leads out of your checkout"),
            ("token.secret", "the worktree does not ignore it, so it would be committed"),
        ),
    )
    assert snapshot(worktree) == [
        (".env", "0o100640", b"SECRET=1\n"),
        (".gitignore", "0o100644", IGNORE.encode()),
        ("README.md", "0o100644", b"# sample\n"),
        ("config/app.local", "0o100755", b"nested\n"),
        ("env.local", "0o100640", b"SECRET=1\n"),
        ("src/core.py", "0o100644", b"VALUE = 1\n"),
    ]
    assert snapshot(checkout) == before  # only read
    assert got.notes() == [
        ".worktreeinclude: copied .env",
        ".worktreeinclude: copied config/app.local",
        ".worktreeinclude: copied env.local",
        ".worktreeinclude: not copied link.env: a symlink that leads out of your checkout",
        ".worktreeinclude: not copied token.secret: the worktree does not ignore it, so it"
        " would be committed",
    ]


def test_nothing_is_written_through_a_symlink_in_the_worktree(tmp_path: Path) -> None:
    # the worktree's commit has `config` as a symlink to a directory outside it
    checkout = make_repo(tmp_path / "repo", {**BASE, ".gitignore": IGNORE})
    outside = tmp_path / "outside"
    outside.mkdir()
    git(checkout, "switch", "--quiet", "-c", "linked")
    (checkout / "config").symlink_to(outside)
    commit(checkout, {}, "config is a link")
    git(checkout, "switch", "--quiet", "main")
    worktree = tmp_path / "worktree"
    git(checkout, "worktree", "add", "--quiet", str(worktree), "linked")
    (checkout / ".worktreeinclude").write_text("*.local\n")
    (checkout / "config").mkdir()
    (checkout / "config" / "app.local").write_text("nested\n")

    got = copy_included(GitRepo.open(checkout), checkout, worktree)

    assert got == Included(
        skipped=(("config/app.local", "its path goes through a symlink or a file in the worktree"),)
    )
    assert list(outside.iterdir()) == []


def test_without_the_file_nothing_is_copied(tmp_path: Path) -> None:
    checkout = make_repo(tmp_path / "repo", {**BASE, ".gitignore": IGNORE})
    worktree = tmp_path / "worktree"
    git(checkout, "worktree", "add", "--quiet", "-b", "feature", str(worktree))
    (checkout / ".env").write_text("SECRET=1\n")

    assert copy_included(GitRepo.open(checkout), checkout, worktree) == Included()
    assert not (worktree / ".env").exists()


def test_a_run_copies_before_setup_and_never_commits_the_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = "[run]\nsetup = ['grep -q SECRET .env']\n"
    repo = plan_repo(
        tmp_path, [Spec("a", {"a.txt": "a\n"})], {**BASE, ".gitignore": IGNORE}, settings
    )
    (repo / ".worktreeinclude").write_text(".env\n")
    (repo / ".env").write_text("SECRET=1\n")

    assert wta(repo, "run") == 0

    assert features(capsys, repo)["a"]["state"] == "merged"
    assert git(repo, "diff", "--name-only", "main", "wta/integration") == "a.txt"
    log = repo / ".git" / "wta" / "attempts" / "a" / "1" / "log.txt"
    patch = tmp_path / "plan" / "patches" / "a.patch"
    assert log.read_text() == (
        "[wta] .worktreeinclude: copied .env\n"
        "$ grep -q SECRET .env\n"
        f"[wta] a attempt 1: git apply {patch}\n"
    )
