"""wta's own commits get a fallback identity when git has none; nothing else does.

The fallback once went into os.environ, so every agent inherited wta's identity.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from gitutil import git
from runutil import Spec, plan_repo, wta

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
