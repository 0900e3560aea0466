"""The agents' hooks (refguard.py), run by real git in real worktrees: what an agent's git
may move, what it is refused, and whose hooks run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from gitutil import git, make_repo

from worktree_agents.agents.base import AGENT_GIT_CONFIG
from worktree_agents.domain import CommitSha, FeatureId
from worktree_agents.git import HEADS, GitRepo, git_config_env, git_env
from worktree_agents.refguard import (
    HOOK_NAMES,
    RefusedUpdate,
    agent_settings,
    agent_vars,
    install_hooks,
    refused_updates,
)
from worktree_agents.worktrees import Worktree, WorktreeManager


def agent_git(
    repo: GitRepo, worktree: Worktree, log: Path, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """git as an agent of `worktree` runs it: the agent's git settings and variables."""
    env = git_env(agent_vars(repo, HEADS + worktree.branch, log))
    env.update(git_config_env(AGENT_GIT_CONFIG + agent_settings(install_hooks(repo)), env))
    return subprocess.run(
        ["git", *args], cwd=cwd or worktree.path, env=env, capture_output=True, text=True
    )


def made(tmp_path: Path) -> tuple[GitRepo, Worktree, Path]:
    repo = GitRepo.open(make_repo(tmp_path / "repo", {"a.txt": "a\n"}))
    git(repo.toplevel, "branch", "topic")
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/")
    worktree = manager.create(FeatureId("f"), CommitSha(repo.head_commit()))
    return repo, worktree, tmp_path / "refused"


def test_the_feature_branch_moves_and_nothing_else_does(tmp_path: Path) -> None:
    repo, worktree, log = made(tmp_path)
    main = repo.head_commit()

    committed = agent_git(repo, worktree, log, "commit", "-q", "--allow-empty", "-m", "mine")
    mine = git(worktree.path, "rev-parse", "HEAD")
    refused = [
        agent_git(repo, worktree, log, *args)
        for args in (
            ("update-ref", "refs/heads/main", "HEAD"),
            ("tag", "v1"),
            ("branch", "-D", "topic"),
            ("update-ref", "refs/remotes/origin/main", "HEAD"),
        )
    ]

    assert committed.returncode == 0
    assert git(repo.toplevel, "rev-parse", "wta/f") == mine
    assert [r.returncode for r in refused] == [128, 128, 128, 128]
    assert refused[0].stderr.splitlines()[0] == (
        "wta: refs/heads/main is not this feature's to move; only refs/heads/wta/f is."
    )
    assert git(repo.toplevel, "for-each-ref", "--format=%(refname) %(objectname)") == (
        f"refs/heads/main {main}\nrefs/heads/topic {main}\nrefs/heads/wta/f {mine}"
    )
    zero = CommitSha("0" * 40)
    assert refused_updates(log) == [
        RefusedUpdate("refs/heads/main", zero, CommitSha(mine)),
        RefusedUpdate("refs/tags/v1", zero, CommitSha(mine)),
        RefusedUpdate("refs/heads/topic", zero, zero),  # git gives no old value
        RefusedUpdate("refs/remotes/origin/main", zero, CommitSha(mine)),
    ]


def test_a_repository_of_its_own_under_the_worktrees_admin_dir_is_not_guarded(
    tmp_path: Path,
) -> None:
    # a submodule's git directory lives at .git/worktrees/<id>/modules/<name>
    repo, worktree, log = made(tmp_path)
    sub_git = repo.common_dir / "worktrees" / "f" / "modules" / "sub"
    sub = worktree.path / "sub"
    sub_git.parent.mkdir(parents=True)
    git(worktree.path, "init", "-q", "-b", "main", "--separate-git-dir", str(sub_git), str(sub))

    results = [
        agent_git(repo, worktree, log, *args, cwd=sub)
        for args in (("commit", "-q", "--allow-empty", "-m", "x"), ("tag", "v1"))
    ]

    assert [r.returncode for r in results] == [0, 0]
    assert git(sub, "for-each-ref", "--format=%(refname)") == "refs/heads/main\nrefs/tags/v1"
    assert refused_updates(log) == []


def test_the_users_hooks_run_for_agents_and_only_those_are_linked(tmp_path: Path) -> None:
    repo, worktree, log = made(tmp_path)
    hook = repo.common_dir / "hooks" / "commit-msg"
    hook.write_text('#!/bin/sh\necho "hooked: $(head -1 "$1")" > "$GIT_DIR/../../hooked"\n')
    hook.chmod(0o755)

    result = agent_git(repo, worktree, log, "commit", "-q", "--allow-empty", "-m", "mine")

    assert result.returncode == 0
    assert (repo.common_dir / "hooked").read_text() == "hooked: mine\n"
    linked = sorted(p.name for p in install_hooks(repo).iterdir())
    assert linked == ["commit-msg", "dispatch", "reference-transaction"]


def test_a_relative_hooks_path_links_every_hook(tmp_path: Path) -> None:
    repo, _worktree, _log = made(tmp_path)
    git(repo.toplevel, "config", "core.hooksPath", ".githooks")

    linked = {p.name for p in install_hooks(repo).iterdir()}

    assert linked == {*HOOK_NAMES, "dispatch"}


def test_a_hooks_path_set_between_two_agents_is_followed(tmp_path: Path) -> None:
    repo, _worktree, _log = made(tmp_path)
    assert {p.name for p in install_hooks(repo).iterdir()} == {"reference-transaction", "dispatch"}

    git(repo.toplevel, "config", "core.hooksPath", ".githooks")

    assert {p.name for p in install_hooks(repo).iterdir()} == {*HOOK_NAMES, "dispatch"}


def test_a_planted_or_changed_hook_script_is_rewritten(tmp_path: Path) -> None:
    repo, worktree, log = made(tmp_path)
    hooks = install_hooks(repo)
    (hooks / "dispatch").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "reference-transaction").unlink()
    os.symlink("/bin/true", hooks / "reference-transaction")

    refused = agent_git(repo, worktree, log, "tag", "v1")  # agent_git installs again

    assert refused.returncode == 128
    assert [u.ref for u in refused_updates(log)] == ["refs/tags/v1"]


@pytest.mark.parametrize("state", ["committed", "aborted"])
def test_only_the_prepared_state_is_checked(tmp_path: Path, state: str) -> None:
    repo, _worktree, log = made(tmp_path)
    hook = install_hooks(repo) / "reference-transaction"
    env = {**os.environ, **agent_vars(repo, "refs/heads/wta/f", log)}
    env["GIT_DIR"] = str(repo.common_dir / "worktrees" / "f")

    ran = subprocess.run(
        [str(hook), state], input="0 1 refs/heads/main\n", env=env, capture_output=True, text=True
    )

    assert (ran.returncode, ran.stderr, log.exists()) == (0, "", False)
