"""Tests for git.py against real repositories."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from gitutil import commit, git, make_repo

from worktree_agents.domain import BranchName, CommitSha
from worktree_agents.errors import GitError, RepoError
from worktree_agents.git import GitRepo, GitResult, WorktreeEntry, git_env, run_git

# make_repo's commit, stable because identities and dates are pinned.
INITIAL = "ae729b05459f63f3dda8071ff1ac3c07134960db"


def real(path: Path) -> Path:
    return Path(os.path.realpath(path))


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def repo(repo_dir: Path) -> GitRepo:
    return GitRepo.open(repo_dir)


def test_make_repo_hash_is_pinned(repo_dir: Path) -> None:
    assert git(repo_dir, "rev-parse", "HEAD") == INITIAL


def test_run_git_returns_a_typed_result(repo_dir: Path) -> None:
    result = run_git(["rev-parse", "--is-inside-work-tree"], cwd=repo_dir)
    assert result == GitResult(
        args=("rev-parse", "--is-inside-work-tree"), exit_code=0, stdout="true\n", stderr=""
    )


def test_git_trace_names_each_command_with_its_directory(
    repo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = tmp_path / "trace.txt"
    monkeypatch.setenv("WTA_GIT_TRACE", str(trace))
    run_git(["rev-parse", "HEAD"], cwd=repo_dir)
    run_git(["log", "--format=%s\t%b", "-1"], cwd=repo_dir)
    assert trace.read_text().splitlines() == [
        f"{repo_dir}\trev-parse\tHEAD",
        f"{repo_dir}\tlog\t--format=%s %b\t-1",
    ]


def test_run_git_feeds_input(repo_dir: Path) -> None:
    result = run_git(["hash-object", "--stdin"], cwd=repo_dir, input="hello\n")
    assert result.stdout == "ce013625030ba8dba906f756967f9e9ca394464a\n"
    assert run_git(["hash-object", "--stdin"], cwd=repo_dir, input=b"hello\n") == result


def test_git_error_carries_command_exit_code_and_stderr(repo_dir: Path) -> None:
    with pytest.raises(GitError) as caught:
        run_git(["rev-parse", "--verify", "nope"], cwd=repo_dir)
    error = caught.value
    assert error.args_list == ["rev-parse", "--verify", "nope"]
    assert error.returncode == 128
    assert error.stderr == "fatal: Needed a single revision\n"
    assert (
        error.message == "`git rev-parse --verify nope` exited 128: fatal: Needed a single revision"
    )


def test_unchecked_and_ok_codes_do_not_raise(repo_dir: Path) -> None:
    unchecked = run_git(["rev-parse", "--verify", "--quiet", "nope"], cwd=repo_dir, check=False)
    assert unchecked == GitResult(("rev-parse", "--verify", "--quiet", "nope"), 1, "", "")
    allowed = run_git(["rev-parse", "--verify", "--quiet", "nope"], cwd=repo_dir, ok_codes=(0, 1))
    assert allowed.exit_code == 1


def test_missing_git_executable(
    repo_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(RepoError) as caught:
        run_git(["status"], cwd=repo_dir)
    assert caught.value.message == "git is not installed or not on PATH; install git 2.39 or newer"


def test_git_env_scrubs_and_pins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", "/bogus")
    monkeypatch.setenv("GIT_INDEX_FILE", "/bogus/index")
    monkeypatch.setenv("GIT_EDITOR", "vim")
    env = git_env({"GIT_DIR": "/explicit"})
    assert env["GIT_DIR"] == "/explicit"
    assert "GIT_INDEX_FILE" not in env
    assert {
        k: env[k] for k in ("GIT_TERMINAL_PROMPT", "GIT_EDITOR", "GIT_SEQUENCE_EDITOR", "GIT_PAGER")
    } == {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_EDITOR": "true",
        "GIT_SEQUENCE_EDITOR": "true",
        "GIT_PAGER": "cat",
    }


def test_inherited_repository_variables_are_ignored(
    repo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoy = make_repo(tmp_path / "decoy", {"decoy.txt": "decoy\n"})
    monkeypatch.setenv("GIT_DIR", str(decoy / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(decoy))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "bogus-index"))
    monkeypatch.setenv("GIT_COMMON_DIR", str(decoy / ".git"))
    (repo_dir / "new.txt").write_text("new\n")

    top = run_git(["rev-parse", "--show-toplevel"], cwd=repo_dir).stdout
    status = run_git(["status", "--porcelain"], cwd=repo_dir).stdout
    repo = GitRepo.open(repo_dir)

    assert top == f"{real(repo_dir)}\n"
    assert status == "?? new.txt\n"
    assert (repo.toplevel, repo.common_dir) == (real(repo_dir), real(repo_dir / ".git"))
    assert not (tmp_path / "bogus-index").exists()


def test_open_finds_the_repository_from_a_subdirectory(repo_dir: Path) -> None:
    repo = GitRepo.open(repo_dir / "src")
    assert repo == GitRepo(
        toplevel=real(repo_dir),
        git_dir=real(repo_dir / ".git"),
        common_dir=real(repo_dir / ".git"),
        zero_oid=CommitSha("0" * 40),
    )
    assert repo.state_dir() == real(repo_dir / ".git" / "wta")
    assert not repo.state_dir().exists()


def test_open_inside_a_linked_worktree(repo_dir: Path, tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    git(repo_dir, "worktree", "add", "--quiet", "-b", "topic", str(linked))
    repo = GitRepo.open(linked)
    assert (repo.toplevel, repo.git_dir, repo.common_dir) == (
        real(linked),
        real(repo_dir / ".git" / "worktrees" / "linked"),
        real(repo_dir / ".git"),
    )
    assert repo.current_branch() == "topic"


def test_open_nonexistent_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(RepoError) as caught:
        GitRepo.open(missing)
    assert (
        caught.value.message
        == f"{missing} does not exist; pass a directory inside a git repository"
    )


def test_open_plain_directory(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(RepoError) as caught:
        GitRepo.open(plain)
    assert caught.value.message == (
        f"{plain} is not inside a git repository; run wta inside a clone,"
        " or create one with `git init`"
    )


def test_open_bare_repository(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "--quiet", "--bare", str(bare))
    with pytest.raises(RepoError) as caught:
        GitRepo.open(bare)
    assert caught.value.message == (
        f"{bare} is a bare repository; wta needs a working tree;"
        " run it inside a clone with a checkout"
    )


def test_open_inside_the_git_directory(repo_dir: Path) -> None:
    with pytest.raises(RepoError) as caught:
        GitRepo.open(repo_dir / ".git")
    assert caught.value.message == (
        f"{repo_dir / '.git'} is inside a .git directory; wta needs a working tree;"
        " run it inside a clone with a checkout"
    )


def test_open_repository_without_commits(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "--quiet", "-b", "main")
    with pytest.raises(RepoError) as caught:
        GitRepo.open(empty)
    assert caught.value.message == (
        f"the repository at {real(empty)} has no commits yet;"
        " make a first commit, then run wta again"
    )


def test_open_on_an_orphan_branch(repo_dir: Path) -> None:
    git(repo_dir, "checkout", "--quiet", "--orphan", "fresh")
    with pytest.raises(RepoError) as caught:
        GitRepo.open(repo_dir)
    assert caught.value.message == (
        "the current branch 'fresh' has no commits yet;"
        " commit something on it or check out another branch"
    )


def test_branch_and_commit_queries(repo: GitRepo, repo_dir: Path) -> None:
    assert repo.current_branch() == BranchName("main")
    assert repo.head_commit() == INITIAL
    assert repo.rev_parse("main") == INITIAL
    assert repo.rev_parse("refs/heads/main") == INITIAL
    assert repo.rev_parse("nope") is None
    assert repo.rev_parse("--all") is None
    assert (repo.ref_exists("refs/heads/main"), repo.ref_exists("refs/heads/nope")) == (True, False)


def test_resolve_base(repo: GitRepo, repo_dir: Path) -> None:
    second = commit(repo_dir, {"b.txt": "b\n"}, "second")
    git(repo_dir, "branch", "release", INITIAL)
    git(repo_dir, "update-ref", "refs/remotes/origin/main", INITIAL)
    git(repo_dir, "tag", "v1", INITIAL)
    assert repo.resolve_base(None) == ("main", second)
    assert repo.resolve_base("main") == ("main", second)
    assert repo.resolve_base("release") == ("release", INITIAL)
    assert repo.resolve_base("refs/heads/release") == ("release", INITIAL)
    assert repo.resolve_base("origin/main") == (None, INITIAL)
    assert repo.resolve_base("refs/tags/v1") == (None, INITIAL)


def test_resolve_base_detached_head_without_base(repo: GitRepo, repo_dir: Path) -> None:
    git(repo_dir, "checkout", "--quiet", "--detach")
    assert repo.current_branch() is None
    with pytest.raises(RepoError) as caught:
        repo.resolve_base(None)
    assert caught.value.message == (
        "HEAD is detached and the plan sets no [run] base;"
        ' set base = "<branch>" in wta.toml or check out a branch'
    )
    assert repo.resolve_base("main") == ("main", INITIAL)


def test_resolve_base_missing_branch(repo: GitRepo) -> None:
    with pytest.raises(RepoError) as caught:
        repo.resolve_base("develop")
    assert caught.value.message == (
        "base branch 'develop' does not exist; create it, or set [run] base"
        " in wta.toml to an existing branch"
    )


def test_update_ref_is_compare_and_swap(repo: GitRepo, repo_dir: Path) -> None:
    second = CommitSha(commit(repo_dir, {"b.txt": "b\n"}, "second"))
    first = CommitSha(INITIAL)
    ref = "refs/wta/test"

    repo.update_ref(ref, first, None)
    with pytest.raises(GitError) as exists:
        repo.update_ref(ref, second, None)
    repo.update_ref(ref, second, first)
    with pytest.raises(GitError) as stale:
        repo.update_ref(ref, first, first)

    assert repo.rev_parse(ref) == second
    assert exists.value.returncode == 128
    assert exists.value.stderr == (
        f"fatal: update_ref failed for ref '{ref}': cannot lock ref '{ref}':"
        " reference already exists\n"
    )
    assert stale.value.args_list == ["update-ref", ref, first, first]
    assert stale.value.stderr == (
        f"fatal: update_ref failed for ref '{ref}': cannot lock ref '{ref}':"
        f" is at {second} but expected {first}\n"
    )


def test_delete_ref_is_compare_and_swap(repo: GitRepo) -> None:
    first = CommitSha(INITIAL)
    repo.update_ref("refs/wta/gone", first, None)
    with pytest.raises(GitError):
        repo.delete_ref("refs/wta/gone", CommitSha("1" * 40))
    repo.delete_ref("refs/wta/gone", first)
    assert not repo.ref_exists("refs/wta/gone")


def test_worktrees_and_checked_out_branches(repo: GitRepo, repo_dir: Path, tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    git(repo_dir, "worktree", "add", "--quiet", "-b", "topic", str(linked))
    git(repo_dir, "worktree", "add", "--quiet", "--detach", str(tmp_path / "detached"))
    main, *linked_entries = repo.worktrees()  # git lists linked worktrees in no fixed order
    assert main == WorktreeEntry(real(repo_dir), CommitSha(INITIAL), BranchName("main"))
    assert sorted(linked_entries, key=lambda e: e.path) == [
        WorktreeEntry(real(tmp_path / "detached"), CommitSha(INITIAL), None),
        WorktreeEntry(real(linked), CommitSha(INITIAL), BranchName("topic")),
    ]
    assert repo.checked_out_branches() == {"main": real(repo_dir), "topic": real(linked)}


def test_checked_out_branches_read_from_files_agree_with_git(
    repo: GitRepo, repo_dir: Path, tmp_path: Path
) -> None:
    git(repo_dir, "worktree", "add", "--quiet", "-b", "wta/a-b", str(tmp_path / "slashed"))
    git(repo_dir, "worktree", "add", "--quiet", "-b", "gone", str(tmp_path / "gone"))
    shutil.rmtree(tmp_path / "gone")  # prunable: git still counts its branch as checked out
    git(repo_dir, "worktree", "add", "--quiet", "--detach", str(tmp_path / "detached"))
    from_git = {e.branch: real(e.path) for e in repo.worktrees() if e.branch is not None}
    assert from_git == {
        "main": real(repo_dir),
        "wta/a-b": real(tmp_path / "slashed"),
        "gone": real(tmp_path / "gone"),
    }
    assert repo.checked_out_branches() == from_git
    listed = sorted((real(e.path), e.branch, e.prunable) for e in repo.worktrees())
    read = sorted((real(e.path), e.branch, e.prunable) for e in repo.worktree_heads())
    assert read == listed
    # and from inside a linked worktree, the same
    assert GitRepo.open(tmp_path / "slashed").checked_out_branches() == from_git


def test_ref_value_is_the_exact_refs_value_or_none(repo: GitRepo) -> None:
    first = CommitSha(INITIAL)
    assert repo.ref_value("refs/wta/a") is None
    repo.update_ref("refs/wta/a/below", first, None)  # the pattern matches it; the name does not
    assert repo.ref_value("refs/wta/a") is None
    repo.update_ref("refs/wta/a-b", first, None)
    assert repo.ref_value("refs/wta/a-b") == first
