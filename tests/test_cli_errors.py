"""User mistakes get one clear line and exit 2, with nothing changed; and the status table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from gitutil import git
from runutil import Spec, plan_repo, wta

from worktree_agents.cli import main


def test_run_outside_a_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = tmp_path / "wta.toml"
    plan.write_text('[[feature]]\nid = "a"\n')
    monkeypatch.chdir(tmp_path)

    assert main(["run", "--plan", str(plan)]) == 2

    assert capsys.readouterr() == (
        "",
        f"wta: error: {tmp_path} is not inside a git repository; run wta inside a clone,"
        " or create one with `git init`\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wta.toml"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"}), Spec("b", {"b.txt": "b\n"}, ["a"])])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run", "--only", "nope"],
            "--only names 'nope', which the plan does not have; see `wta plan` for the feature ids",
        ),
        (["run", "--profile", "fast"], "--profile 'fast' is not defined; the plan has: default"),
        (["show", "nope"], "the plan has no feature 'nope'; see `wta status` for the ids"),
        (["diff", "a"], "feature 'a' has not run yet, so it has no diff"),
        (["logs"], "no run has been recorded in this repository yet; `wta run` makes one"),
        (["logs", "a"], "feature 'a' has no attempt log yet"),
    ],
)
def test_usage_errors(
    repo: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    refs = git(repo, "for-each-ref")
    capsys.readouterr()

    assert wta(repo, *args) == 2

    assert capsys.readouterr() == ("", f"wta: error: {message}\n")
    assert git(repo, "for-each-ref") == refs


def test_detached_head_without_base(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(repo, "checkout", "--quiet", "--detach")
    capsys.readouterr()

    assert wta(repo, "run") == 2

    assert capsys.readouterr().err == (
        "wta: error: HEAD is detached and the plan sets no [run] base;"
        ' set base = "<branch>" in wta.toml or check out a branch\n'
    )
    assert git(repo, "branch", "--list", "wta/*") == ""


def test_status_table(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert wta(repo, "run") == 0
    capsys.readouterr()

    assert wta(repo, "status") == 0

    out = re.sub(r"\d+\.\ds", "T", capsys.readouterr().out)
    head = git(repo, "rev-parse", "--short=12", "wta/integration")
    assert out == (
        "FEATURE  STATE   REASON  BRANCH  TRIES  COST   TIME\n"
        "a        merged  -       wta/a   1      $0.00  T\n"
        "b        merged  -       wta/b   1      $0.00  T\n"
        "\n"
        "2 merged, 0 failed, 0 skipped, 0 pending of 2; cost $0.00;"
        f" integration wta/integration at {head}\n"
    )


def test_demo_into_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("mine\n")

    assert main(["demo", "--dir", str(target)]) == 2

    assert capsys.readouterr() == (
        "",
        f"wta: error: {target} is not a directory; pass --dir with a new or empty directory\n",
    )
    assert target.read_text() == "mine\n"
