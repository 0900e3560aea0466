"""Putting verified features on the integration branch: verifying the merged result,
and a check that commits."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitutil import git
from runutil import BASE, Spec, features, plan_repo, wta

from worktree_agents.demo import after_merge_of


def test_after_merge_verification_rejects_a_bad_combination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # each feature passes on its own; together they break the (made-up) invariant
    check = "test ! -f left.txt -o ! -f right.txt"
    specs = [
        Spec("left", {"left.txt": "l\n"}),
        Spec("right", {"right.txt": "r\n"}, acceptance=[after_merge_of("left")]),  # merges second
    ]
    settings = (
        f"[verify]\ncommands = ['{check}']\nafter_merge = true\n[guardrails]\nmax_attempts = 1\n"
    )
    repo = plan_repo(tmp_path, specs, BASE, settings)

    assert wta(repo, "run") == 1

    got = features(capsys, repo)
    assert (got["left"]["state"], got["right"]["state"], got["right"]["reason"]) == (
        "merged",
        "failed",
        "merge_verify_failed",
    )
    assert got["right"]["detail"] == f"on the merged result: `{check}` exited 1"
    worktree = tmp_path / "repo.wta" / "right"  # back on its branch, at the feature's commit
    assert git(worktree, "rev-parse", "--abbrev-ref", "HEAD") == "wta/right"
    assert git(repo, "rev-parse", "wta/integration") == got["left"]["commit"]


def test_a_check_that_commits_does_not_merge_the_feature_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [Spec("a", {"a.txt": "a\n"}, acceptance=["git commit -q --allow-empty -m x"])]
    repo = plan_repo(tmp_path, specs, BASE)

    assert wta(repo, "run") == 0

    got = features(capsys, repo)["a"]
    assert (got["state"], got["attempts"]) == ("merged", 1)
    trailers = git(repo, "log", "--format=%(trailers:key=Wta-Feature,valueonly)", "wta/integration")
    assert trailers.split() == ["a"]
