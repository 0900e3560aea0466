"""`wta logs`: the run's events, a feature's transcript, and --follow."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gitutil import git
from runutil import BASE, Spec, plan_repo, start_run, wta


def test_logs_print_the_events_and_a_features_transcript(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)
    assert wta(repo, "run") == 0
    capsys.readouterr()

    assert wta(repo, "logs") == 0
    lines = [line.split(" ", 1)[1] for line in capsys.readouterr().out.splitlines()]
    head = git(repo, "rev-parse", "wta/integration")
    worktree = tmp_path / "repo.wta" / "a"
    base = git(repo, "rev-parse", "main")
    assert (
        lines[1:]
        == [
            f"a: worktree {worktree} on wta/a at {base[:10]}",
            "a: attempt 1 started (patch, profile default)",
            lines[3],  # the agent's time varies
            f"a: merged as {head[:10]}",
            lines[5],
        ]
    )
    assert lines[0].startswith("run ") and lines[0].endswith(": 1 feature, 3 slots")
    assert lines[3].startswith("a: agent finished in ")
    assert lines[5].startswith("run finished (success): 1 merged, 0 failed, 0 skipped in ")

    assert wta(repo, "logs", "a") == 0
    patch = tmp_path / "plan" / "patches" / "a.patch"
    assert capsys.readouterr().out.splitlines() == [f"[wta] a attempt 1: git apply {patch}"]


def test_logs_follow_prints_until_the_run_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"}, acceptance=["sleep 2"])], BASE)
    proc = start_run(repo)
    runs = repo / ".git" / "wta" / "runs"
    deadline = time.monotonic() + 30
    while not (runs.exists() and any(runs.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.05)
    capsys.readouterr()

    assert wta(repo, "logs", "--follow") == 0  # returns once the run has ended

    assert proc.wait(timeout=30) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].split(" ", 1)[1].startswith("run finished (success): 1 merged")
