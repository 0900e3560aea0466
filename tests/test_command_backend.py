"""The command backend end to end: argv, environment, log, no_changes, and an agent's own
commits kept in rebase mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitutil import git
from runutil import Spec, command_repo, features, wta


def test_command_backend_and_no_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = command_repo(tmp_path, [Spec("hello", {}), Spec("lazy", {})])

    assert wta(repo, "run") == 1

    got = features(capsys, repo)
    assert (got["hello"]["state"], got["lazy"]["state"], got["lazy"]["reason"]) == (
        "merged",
        "failed",
        "no_changes",
    )
    assert json.loads(git(repo, "show", "wta/integration:hello.json")) == {
        "argv": ["--id", "hello"],
        "prompt_first_line": "# Feature hello: hello",
        "attempt": "1",
    }
    log = (repo / ".git" / "wta" / "attempts" / "hello" / "1" / "log.txt").read_text()
    assert log.splitlines()[-1] == "agent done for hello"


COMMITTING_AGENT = """\
import os, subprocess
def run(*a): subprocess.run(a, check=True)
open("first.txt", "w").write("first\\n"); run("git", "add", "first.txt")
run("git", "commit", "-qm", "Agent's first commit")
open("second.txt", "w").write("second\\n"); run("git", "add", "second.txt")
run("git", "commit", "-qm", "Agent's second commit")
open("leftover.txt", "w").write("left over\\n")
"""


def test_rebase_mode_keeps_the_agents_commits(tmp_path: Path) -> None:
    repo = command_repo(tmp_path, [Spec("work", {})])
    (tmp_path / "agent.py").write_text(COMMITTING_AGENT)
    plan = tmp_path / "plan" / "wta.toml"
    plan.write_text('[run]\nmerge = "rebase"\n' + plan.read_text())

    assert wta(repo, "run") == 0

    log = git(
        repo, "log", "--format=%s|%(trailers:key=Wta-Feature,valueonly)", "main..wta/integration"
    )
    assert [line for line in log.splitlines() if line] == [
        "work|work",  # wta's commit of what the agent left uncommitted, titled by the feature
        "Agent's second commit|work",
        "Agent's first commit|work",
    ]
    assert git(repo, "show", "wta/integration:leftover.txt") == "left over"
