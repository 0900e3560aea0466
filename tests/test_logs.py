"""`wta logs`: the run's events, a feature's transcript, and --follow."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gitutil import git
from runutil import BASE, Spec, plan_repo, start_run, wta

from worktree_agents.store import RunRecord, Store


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


def test_logs_run_shows_that_run_and_runs_lists_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [Spec("a", {"a.txt": "a\n"}), Spec("b", {"b.txt": "b\n"}, acceptance=["false"])]
    repo = plan_repo(tmp_path, specs, BASE, "[guardrails]\nmax_attempts = 1\n")
    assert wta(repo, "run") == 1
    assert wta(repo, "run", "--only", "b", "--retry-failed") == 1
    with Store.open(repo / ".git" / "wta") as store:
        first, second = store.runs()
    capsys.readouterr()

    assert wta(repo, "logs", "--runs") == 0

    def started(run: RunRecord) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started_at))

    width = len(first.id)
    assert capsys.readouterr() == (
        f"{'RUN'.ljust(width)}  STARTED              STATUS   FEATURES\n"
        f"{first.id}  {started(first)}  partial  a, b\n"
        f"{second.id}  {started(second)}  partial  b\n",
        "",
    )

    assert wta(repo, "logs", "--run", first.id) == 0
    lines = [line.split(" ", 1)[1] for line in capsys.readouterr().out.splitlines()]
    assert (lines[0], lines[-1].split(" in ")[0]) == (
        f"run {first.id}: 2 features, 3 slots",
        "run finished (partial): 1 merged, 1 failed, 0 skipped",
    )
    assert wta(repo, "logs") == 0  # the latest run
    lines = [line.split(" ", 1)[1] for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == f"run {second.id}: 1 feature, 3 slots"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--run", "nope"], "no run 'nope' is recorded; see `wta logs --runs` for the run ids"),
        (["a", "--run", "x"], "give a feature ID or --run RUN, not both"),
        (["--runs", "a"], "--runs lists the runs; give it alone, without an ID, --run or -f"),
    ],
)
def test_logs_run_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)
    assert wta(repo, "run") == 0
    capsys.readouterr()

    assert wta(repo, "logs", *args) == 2

    assert capsys.readouterr() == ("", f"wta: error: {message}\n")


def test_logs_runs_before_any_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)

    assert wta(repo, "logs", "--runs") == 2

    assert capsys.readouterr() == (
        "",
        "wta: error: no run has been recorded in this repository yet; `wta run` makes one\n",
    )


def test_diff_of_a_feature_with_no_changes_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {})], BASE, "[guardrails]\nmax_attempts = 1\n")
    assert wta(repo, "run") == 1
    base = git(repo, "rev-parse", "main")
    capsys.readouterr()

    assert wta(repo, "diff", "a") == 0

    assert capsys.readouterr() == (
        f"feature 'a' has no changes on wta/a since its base {base[:12]}\n",
        "",
    )
