"""`wta demo`'s text output, and the acceptance check that decides its race by a condition
(the winner is on the integration branch) rather than by timing."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from gitutil import SCRUBBED_GIT_VARS, commit, git, make_repo
from runutil import BASE, Spec, features, plan_repo, wta

from worktree_agents.cli import main
from worktree_agents.demo import after_merge_of, wait_until


def test_demo_prints_the_table_the_outcome_how_to_look_and_the_review(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "demo"

    assert main(["demo", "--dir", str(target)]) == 0

    out = re.sub(r"\d+\.\ds$", "<time>", capsys.readouterr().out, flags=re.MULTILINE)
    head = git(target, "rev-parse", "--short=12", "wta/integration")
    assert out.split("\n") == [
        f"demo repository: {target}",
        "",
        "FEATURE         STATE    REASON           BRANCH              TRIES  COST   TIME",
        "greeting        merged   -                wta/greeting        1      $0.00  <time>",
        "greeting-cli    merged   -                wta/greeting-cli    1      $0.00  <time>",
        "storage         merged   -                wta/storage         1      $0.00  <time>",
        "storage-json    merged   -                wta/storage-json    1      $0.00  <time>",
        "storage-csv     merged   -                wta/storage-csv     1      $0.00  <time>",
        "storage-export  merged   -                wta/storage-export  1      $0.00  <time>",
        "banner-en       merged   -                wta/banner-en       1      $0.00  <time>",
        "banner-fr       failed   conflict         wta/banner-fr       1      $0.00  <time>",
        "banner-fr-docs  skipped  after banner-fr  -                   0      $0.00  -",
        "",
        "7 merged, 1 failed, 1 skipped, 0 pending of 9; cost $0.00;"
        f" integration wta/integration at {head}",
        "",
        "As designed: banner-fr lost the race to banner-en (same line of app/banner.py), so it"
        " failed with a conflict and banner-fr-docs was skipped; everything else merged onto"
        " wta/integration. Your own branches were not touched.",
        "",
        "Look at the result:",
        f"  cd {target}",
        "  git log --oneline --graph wta/integration",
        "  git log --format='%s%n  %(trailers:key=Wta-Feature)' main..wta/integration",
        "  git branch --list 'wta/*'",
        "  git diff main wta/storage-export",
        "  wta status",
        "  wta show banner-fr        # the conflict: paths, hunks, who won",
        "  wta diff greeting-cli",
        "",
        "$ wta review",
        "7 review branches, in review order (merge their pull requests in this order):",
        "",
        "1. greeting: A greet() function",
        "   branch wta/review/greeting",
        "   base   main",
        "   1 file changed, +2 -0",
        "   app/greeting.py | 2 ++",
        "",
        "2. greeting-cli: A command line for greet()",
        "   branch wta/review/greeting-cli",
        "   base   wta/review/greeting",
        "   1 file changed, +7 -0",
        "   app/cli.py | 7 +++++++",
        "",
        "3. storage: An in-memory store",
        "   branch wta/review/storage",
        "   base   main",
        "   1 file changed, +6 -0",
        "   app/storage.py | 6 ++++++",
        "",
        "4. storage-json: Save the store as JSON",
        "   branch wta/review/storage-json",
        "   base   wta/review/storage",
        "   1 file changed, +7 -0",
        "   app/storage_json.py | 7 +++++++",
        "",
        "5. storage-csv: Save the store as CSV",
        "   branch wta/review/storage-csv",
        "   base   wta/review/storage",
        "   1 file changed, +5 -0",
        "   app/storage_csv.py | 5 +++++",
        "",
        "6. storage-export: Export in every format",
        "   branch wta/review/storage-export",
        "   base   wta/review-base/storage-export",
        "   1 file changed, +7 -0",
        "   app/export.py | 7 +++++++",
        "",
        "7. banner-en: A friendlier English banner",
        "   branch wta/review/banner-en",
        "   base   main",
        "   1 file changed, +1 -1",
        "   app/banner.py | 2 +-",
        "",
        "next:",
        "  wta review --push origin      push these branches, with a lease",
        "  wta review --open-prs         open or update one pull request each",
        "The run's report, with the DAG and a timeline (open it in a browser):"
        f" {target}/.git/wta/report.html",
        "",
    ]


def sh(command: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    return subprocess.Popen(
        ["/bin/sh", "-c", command], cwd=cwd, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_the_check_waits_until_the_feature_is_on_the_integration_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "branch", "wta/integration")
    git(repo, "switch", "-q", "wta/integration")
    commit(repo, {"other.txt": "x\n"}, "Other\n\nWta-Feature: winner-2")  # not the winner
    check = sh(after_merge_of("winner"), repo)
    with pytest.raises(subprocess.TimeoutExpired):
        check.wait(timeout=1)  # still polling: the winner is not there yet

    commit(repo, {"win.txt": "x\n"}, "Winner\n\nWta-Feature: winner")

    out, _ = check.communicate(timeout=30)
    assert (out, check.returncode) == ("", 0)


def test_the_check_gives_up_loudly(tmp_path: Path) -> None:
    check = sh(wait_until("false", "nothing", polls=2), tmp_path)

    out, _ = check.communicate(timeout=30)
    assert (out, check.returncode) == ("gave up waiting for nothing\n", 1)


def test_the_loser_loses_even_when_the_winner_is_slower(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a winner slowed down by its own check still merges first: the order is a condition
    specs = [
        Spec("winner", {"src/core.py": "VALUE = 2\n"}, acceptance=["sleep 1"]),
        Spec("loser", {"src/core.py": "VALUE = 3\n"}, acceptance=[after_merge_of("winner")]),
    ]
    repo = plan_repo(tmp_path, specs, BASE, "[guardrails]\nmax_attempts = 1\n")

    assert wta(repo, "run") == 1

    got = features(capsys, repo)
    assert {fid: (f["state"], f["reason"]) for fid, f in got.items()} == {
        "winner": ("merged", None),
        "loser": ("failed", "conflict"),
    }
