"""wta's own commits get a fallback identity when git has none; nothing else does. The
identity they carry is read once, before any agent runs: an agent that changes user.email
in the shared config cannot reach them.

The fallback once went into os.environ, so every agent inherited wta's identity.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from gitutil import git, make_repo
from runutil import Spec, plan_repo, wta

from worktree_agents.domain import CommitSha, FeatureId
from worktree_agents.git import GitRepo
from worktree_agents.worktrees import WorktreeManager

AGENT = """\
import os, pathlib
names = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")
pathlib.Path("seen.txt").write_text(repr([os.environ.get(n) for n in names]) + "\\n")
"""
IDENTITY = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")


def test_agents_do_not_inherit_wtas_fallback_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_git: Path
) -> None:
    repo = plan_repo(tmp_path, [Spec("one", {})])
    # from here on, git has no identity at all and may not guess one
    for name in IDENTITY:
        monkeypatch.delenv(name)
    (isolated_git / ".gitconfig").write_text("[user]\n\tuseConfigOnly = true\n")
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    plan = tmp_path / "plan" / "wta.toml"
    text = plan.read_text().replace(
        'backend = "patch"', f'backend = "command"\ncommand = ["{sys.executable}", "{script}"]'
    )
    plan.write_text("\n".join(line for line in text.splitlines() if not line.startswith("dir =")))
    before = dict(os.environ)

    assert wta(repo, "run") == 0

    assert dict(os.environ) == before
    assert git(repo, "show", "wta/integration:seen.txt") == repr([None] * 4)
    assert git(repo, "log", "-1", "--format=%an <%ae> / %cn <%ce>", "wta/integration") == (
        "wta <wta@localhost> / wta <wta@localhost>"
    )


def test_wtas_commits_keep_the_identity_read_before_an_agent_changed_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_git: Path
) -> None:
    repo_dir = make_repo(tmp_path / "repo")
    for name in IDENTITY:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Author From The Environment")
    (isolated_git / ".gitconfig").write_text("[user]\n\tname = Me\n\temail = me@home.invalid\n")
    repo = GitRepo.open(repo_dir)

    assert repo.pin_identity() == {
        "GIT_AUTHOR_NAME": "Author From The Environment",
        "GIT_AUTHOR_EMAIL": "me@home.invalid",
        "GIT_COMMITTER_NAME": "Me",
        "GIT_COMMITTER_EMAIL": "me@home.invalid",
    }
    git(repo_dir, "config", "user.name", "Evil")  # the shared config, changed by an agent
    git(repo_dir, "config", "user.email", "evil@x")
    manager = WorktreeManager(repo, tmp_path / "trees", "wta/")
    worktree = manager.create(FeatureId("f"), CommitSha(repo.head_commit()))
    (worktree.path / "left.txt").write_text("left uncommitted by the agent\n")
    head = manager.commit_all(worktree, "leftovers")

    assert git(repo_dir, "log", "-1", "--format=%an <%ae> / %cn <%ce>", head) == (
        "Author From The Environment <me@home.invalid> / Me <me@home.invalid>"
    )
