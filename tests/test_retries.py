"""Retries: feedback from the failed attempt, and a person's work kept across them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitutil import git
from runutil import BASE, Spec, features, plan_repo, wta


def test_verify_failure_is_retried_with_feedback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # attempt 1 writes a value the acceptance check rejects; attempt 2 gets it right
    check = "grep -q good answer.txt || (echo answer is not good; exit 3)"
    specs = [
        Spec(
            "answer",
            {"answer.txt": "bad\n"},
            acceptance=[check],
            attempt_changes={2: {"answer.txt": "good\n"}},
        )
    ]
    repo = plan_repo(tmp_path, specs, BASE, "[guardrails]\nmax_attempts = 2\n")

    assert wta(repo, "run") == 0

    got = features(capsys, repo)["answer"]
    assert (got["state"], got["attempts"]) == ("merged", 2)
    prompt = (repo / ".git" / "wta" / "attempts" / "answer" / "2" / "prompt.md").read_text()
    assert prompt.split("A previous attempt at this feature failed. What went wrong:\n\n")[1] == (
        f"The check `{check}` failed with exit code 3. The end of its output:\nanswer is not good\n"
    )
    # the failed attempt's commit is kept under refs/wta/attempts
    assert git(repo, "show", "refs/wta/attempts/answer/1:answer.txt") == "bad"
    assert git(repo, "show", "wta/integration:answer.txt") == "good"


def test_retry_keeps_a_persons_work_on_the_feature_branch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [Spec("a", {"a.txt": "a\n"}, acceptance=["test -f fixed.txt"])]
    repo = plan_repo(tmp_path, specs, BASE, "[guardrails]\nmax_attempts = 1\n")
    assert wta(repo, "run") == 1
    worktree = tmp_path / "repo.wta" / "a"
    (worktree / "mine.txt").write_text("a person's commit\n")
    git(worktree, "add", "mine.txt")
    git(worktree, "commit", "-qm", "my fix")
    mine = git(worktree, "rev-parse", "HEAD")
    (worktree / "edit.txt").write_text("an uncommitted edit\n")
    git(worktree, "add", "edit.txt")  # staged: someone's work; untracked files are not
    (worktree / "README.md").write_text("# an edit to a tracked file\n")
    (worktree / "__pycache__").mkdir()
    (worktree / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"build output")

    assert wta(repo, "run", "--retry-failed") == 1

    saved = "refs/wta/saved/a/2"
    assert git(repo, "rev-parse", f"{saved}~1") == mine
    assert git(repo, "diff", "--name-only", f"{saved}~1", saved).split() == [
        "README.md",
        "edit.txt",
    ]
    assert git(repo, "show", f"{saved}:edit.txt") == "an uncommitted edit"
    events = (repo / ".git" / "wta" / "runs").glob("*.jsonl")
    kinds = [json.loads(line)["kind"] for path in events for line in path.read_text().splitlines()]
    assert kinds.count("work_saved") == 1


def test_retry_does_not_save_build_output_of_the_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the compile check leaves untracked __pycache__/ in the worktree; that is not work
    checks = ["python3 -m compileall -q src", "false"]
    specs = [Spec("a", {"src/a.py": "A = 1\n"}, acceptance=checks)]
    repo = plan_repo(tmp_path, specs, BASE, "[guardrails]\nmax_attempts = 1\n")
    assert wta(repo, "run") == 1
    worktree = tmp_path / "repo.wta" / "a"
    assert git(worktree, "status", "--porcelain") == "?? src/__pycache__/"
    capsys.readouterr()

    assert wta(repo, "run", "--retry-failed") == 1

    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" ", 1)[1] for line in lines if "kept work" in line] == []
    assert git(repo, "for-each-ref", "refs/wta/saved/") == ""
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/wta/attempts/").split() == [
        "refs/wta/attempts/a/1",
        "refs/wta/attempts/a/2",
    ]
