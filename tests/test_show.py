"""`wta show` and `wta diff`: one feature in full, and its change, before and after a run."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitutil import git
from runutil import BASE, Spec, plan_repo, wta

from worktree_agents.demo import after_merge_of

SPECS = [
    Spec("winner", {"src/core.py": "VALUE = 2\n"}, extra='title = "The winner"'),
    Spec(
        "loser",
        {"src/core.py": "VALUE = 3\n", "src/new.py": "NEW = 1\n"},
        acceptance=[after_merge_of("winner")],
    ),
    Spec("after", {"after.txt": "a\n"}, depends_on=["loser"]),
]


def output(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = wta(repo, *args)
    out, err = capsys.readouterr()
    return code, out, err


def test_show_and_diff_before_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = plan_repo(tmp_path, SPECS, BASE)

    assert output(capsys, repo, "show", "after") == (
        0,
        "after: after\nstate: pending (not run yet)\ndepends on: loser\n",
        "",
    )
    assert output(capsys, repo, "diff", "loser") == (
        2,
        "",
        "wta: error: feature 'loser' has not run yet, so it has no diff\n",
    )
    assert output(capsys, repo, "show", "nope") == (
        2,
        "",
        "wta: error: the plan has no feature 'nope'; see `wta status` for the ids\n",
    )


def test_show_a_merged_a_conflicting_and_a_skipped_feature(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, SPECS, BASE, "[guardrails]\nmax_attempts = 1\n")
    assert wta(repo, "run") == 1
    base = git(repo, "rev-parse", "main")
    attempts = repo / ".git" / "wta" / "attempts"

    assert output(capsys, repo, "show", "winner") == (
        0,
        "winner: The winner\n"
        "state: merged\n"
        "branch: wta/winner\n"
        f"base: {base}\n"
        f"commit: {git(repo, 'rev-parse', 'wta/integration')}\n"
        "profile: default\n"
        "summary: applied winner.patch\n"
        "changes: 1 file, +1 -1\n"
        "cost: $0.0000\n"
        "attempt 1: ok\n"
        f"  log: {attempts / 'winner' / '1' / 'log.txt'}\n",
        "",
    )
    assert output(capsys, repo, "show", "loser") == (
        0,
        "loser: loser\n"
        "state: failed (conflict)\n"
        "detail: conflict in src/core.py (also changed by winner)\n"
        "branch: wta/loser\n"
        f"base: {base}\n"
        "profile: default\n"
        "summary: applied loser.patch\n"
        "changes: 2 files, +2 -1\n"
        "conflict paths: src/core.py\n"
        "cost: $0.0000\n"
        "attempt 1: failed (conflict): conflict in src/core.py (also changed by winner)\n"
        f"  log: {attempts / 'loser' / '1' / 'log.txt'}\n"
        f"  conflict report: {attempts / 'loser' / '1' / 'conflict.txt'}\n"
        "    Auto-merging src/core.py\n"
        "    CONFLICT (content): Merge conflict in src/core.py\n"
        "    \n"
        "    --- src/core.py\n"
        "    <<<<<<< wta/integration\n"
        "    VALUE = 2\n"
        "    =======\n"
        "    VALUE = 3\n"
        "    >>>>>>> loser\n",
        "",
    )
    assert output(capsys, repo, "show", "after") == (
        0,
        "after: after\n"
        "state: skipped\n"
        "detail: dependency 'loser' failed\n"
        "skipped because: loser\n"
        "cost: $0.0000\n"
        "depends on: loser\n",
        "",
    )


def test_diff_of_a_merged_a_failed_and_a_skipped_feature(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, SPECS, BASE, "[guardrails]\nmax_attempts = 1\n")
    assert wta(repo, "run") == 1

    # merged: the change as it landed on the integration branch
    assert output(capsys, repo, "diff", "winner") == (
        0,
        "diff --git a/src/core.py b/src/core.py\n"
        "index b15b1b0..c8fcecd 100644\n"
        "--- a/src/core.py\n"
        "+++ b/src/core.py\n"
        "@@ -1 +1 @@\n"
        "-VALUE = 1\n"
        "+VALUE = 2\n",
        "",
    )
    # failed: its branch against its base, the loser's own work
    assert output(capsys, repo, "diff", "loser") == (
        0,
        "diff --git a/src/core.py b/src/core.py\n"
        "index b15b1b0..95cd691 100644\n"
        "--- a/src/core.py\n"
        "+++ b/src/core.py\n"
        "@@ -1 +1 @@\n"
        "-VALUE = 1\n"
        "+VALUE = 3\n"
        "diff --git a/src/new.py b/src/new.py\n"
        "new file mode 100644\n"
        "index 0000000..8718bc6\n"
        "--- /dev/null\n"
        "+++ b/src/new.py\n"
        "@@ -0,0 +1 @@\n"
        "+NEW = 1\n",
        "",
    )
    assert output(capsys, repo, "diff", "after") == (
        2,
        "",
        "wta: error: feature 'after' has not run yet, so it has no diff\n",
    )
