"""`wta retry ID..`, and what a partial `wta run` suggests doing next."""

from __future__ import annotations

from pathlib import Path

import pytest
from runutil import BASE, Spec, features, plan_repo, wta


def test_retry_resets_failed_with_skipped_dependents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [
        Spec("ok", {"ok.txt": "ok\n"}),
        Spec("bad", {"bad.txt": "bad\n"}, acceptance=["false"]),
        Spec("after", {"after.txt": "x\n"}, depends_on=["bad"]),
        Spec("last", {"last.txt": "x\n"}, depends_on=["after"]),
    ]
    repo = plan_repo(tmp_path, specs, BASE, "[guardrails]\nmax_attempts = 1\n")
    assert wta(repo, "run") == 1
    out = capsys.readouterr().out
    assert out.split("\n\n", 1)[1].splitlines()[1:] == [
        "next:",
        "  wta show bad            why it failed",
        "  wta retry bad           back to pending, with their skipped dependents",
        "  wta run --retry-failed  run every failed and skipped feature again",
    ]

    assert wta(repo, "retry", "nope", "ok") == 2
    assert capsys.readouterr().err == (
        "wta: error: the plan has no feature 'nope'; see `wta status` for the ids\n"
    )
    assert wta(repo, "retry", "bad", "ok") == 2
    assert capsys.readouterr().err == (
        "wta: error: only failed and skipped features can be retried: 'ok' (it is merged already)\n"
    )
    assert {f: v["state"] for f, v in features(capsys, repo).items()} == {
        "ok": "merged", "bad": "failed", "after": "skipped", "last": "skipped",
    }  # fmt: skip

    assert wta(repo, "retry", "bad") == 0
    assert capsys.readouterr().out == "back to pending: bad, after, last; `wta run` starts them\n"
    got = features(capsys, repo)
    assert {f: (v["state"], v["reason"], v["skipped_because"]) for f, v in got.items()} == {
        "ok": ("merged", None, None),
        "bad": ("pending", None, None),
        "after": ("pending", None, None),
        "last": ("pending", None, None),
    }
    assert got["bad"]["attempts"] == 1  # attempt numbers go on counting


def test_retry_a_skipped_feature_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    specs = [
        Spec("bad", {"bad.txt": "bad\n"}, acceptance=["false"]),
        Spec("after", {"after.txt": "x\n"}, depends_on=["bad"]),
    ]
    repo = plan_repo(tmp_path, specs, BASE, "[guardrails]\nmax_attempts = 1\n")
    assert wta(repo, "run") == 1
    capsys.readouterr()
    assert wta(repo, "retry", "after") == 0
    assert capsys.readouterr().out == "back to pending: after; `wta run` starts them\n"
    assert {f: v["state"] for f, v in features(capsys, repo).items()} == {
        "bad": "failed", "after": "pending",
    }  # fmt: skip
