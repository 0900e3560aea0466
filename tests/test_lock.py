"""The run lock: one `wta run` per repository at a time."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from gitutil import git
from runutil import BASE, Spec, plan_repo, wta

from worktree_agents.lock import RunLock


def test_a_second_run_is_refused_while_the_lock_is_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)

    with RunLock(repo / ".git" / "wta"):
        holder = json.loads((repo / ".git" / "wta" / "run.lock").read_text())
        capsys.readouterr()
        assert wta(repo, "run") == 2
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["started_at"]))
        assert capsys.readouterr() == (
            "",
            f"wta: error: another wta run holds this repository (pid {os.getpid()} on"
            f" {holder['host']}, started {started}); wait for it to finish, or stop it;"
            " `wta status` works meanwhile\n",
        )
        assert wta(repo, "status") == 0  # status works during a run
    assert git(repo, "branch", "--list", "wta/*") == ""
