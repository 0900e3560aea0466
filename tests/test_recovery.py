"""Runs that died or lost their state: the next run finishes the plan, never merges a
feature twice, and never overwrites a branch it did not make."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from gitutil import SCRUBBED_GIT_VARS, git
from runutil import BASE, Spec, command_repo, features, plan_repo, start_run, wta


def test_a_run_killed_with_sigkill_finishes_on_the_next_run(tmp_path: Path) -> None:
    slow = Spec("slow", {"slow.txt": "slow\n"}, acceptance=["sleep 30"])
    specs = [Spec(f"f{i}", {f"f{i}.txt": f"{i}\n"}) for i in range(4)] + [slow]
    repo = plan_repo(tmp_path, specs, BASE, "[run]\nmax_parallel = 5\n")
    plan = tmp_path / "plan" / "wta.toml"
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    proc = start_run(repo, new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the four quick ones merged
        merged = subprocess.run(
            ["git", "log", "--format=%(trailers:key=Wta-Feature)", "wta/integration", "--"],
            cwd=repo, env=env, capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        if len([line for line in merged.splitlines() if line.strip()]) == 4:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # wta and the sleeping check, at once
    proc.wait()
    # the slow feature's acceptance check would take 30 s: make it quick for the rerun
    plan.write_text(plan.read_text().replace("'sleep 30'", "'true'"))

    assert wta(repo, "run") == 0

    trailers = git(repo, "log", "--format=%(trailers:key=Wta-Feature,valueonly)", "wta/integration")
    assert sorted(trailers.split()) == ["f0", "f1", "f2", "f3", "slow"]  # each merged once
    assert git(repo, "show", "wta/integration:slow.txt") == "slow"


def test_a_merge_recorded_only_on_the_branch_is_not_merged_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from worktree_agents.domain import FeatureId, FeatureState
    from worktree_agents.store import Store

    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"}), Spec("b", {"b.txt": "b\n"})], BASE)
    assert wta(repo, "run") == 0
    head = git(repo, "rev-parse", "wta/integration")
    # as if the run died after moving the integration ref but before recording the merge
    with Store.open(repo / ".git" / "wta") as store:
        store.set_state(FeatureId("a"), FeatureState.INTEGRATING)

    assert wta(repo, "run") == 0

    got = features(capsys, repo)["a"]
    assert (got["state"], got["detail"], got["attempts"]) == (
        "merged",
        "found on the integration branch after an interrupted run",
        1,
    )
    assert git(repo, "rev-parse", "wta/integration") == head


def test_an_unknown_existing_feature_branch_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)
    git(repo, "branch", "wta/a")  # somebody's own branch under the prefix
    tip = git(repo, "rev-parse", "wta/a")
    capsys.readouterr()

    assert wta(repo, "run") == 2

    assert capsys.readouterr().err == (
        "wta: error: wta/a already exists, but wta has no record of making it; rename or"
        " delete it (git branch -m / -D) so wta does not overwrite it\n"
    )
    assert git(repo, "rev-parse", "wta/a") == tip
    assert git(repo, "branch", "--list", "wta/*", "--format=%(refname:short)") == "wta/a"


def test_lost_state_is_rebuilt_from_the_integration_branch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    specs = [Spec("a", {"a.txt": "a\n"}), Spec("b", {"b.txt": "b\n"}, depends_on=["a"])]
    repo = plan_repo(tmp_path, specs, BASE)
    assert wta(repo, "run") == 0
    head = git(repo, "rev-parse", "wta/integration")
    shutil.rmtree(repo / ".git" / "wta")

    assert wta(repo, "run") == 0

    got = features(capsys, repo)
    assert {f: (v["state"], v["detail"], v["attempts"]) for f, v in got.items()} == {
        fid: ("merged", "found on the integration branch (the state had no record of it)", 0)
        for fid in ("a", "b")
    }
    assert git(repo, "rev-parse", "wta/integration") == head


def test_lost_state_and_a_deleted_branch_do_not_merge_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)
    assert wta(repo, "run") == 0
    assert wta(repo, "clean") == 0
    git(repo, "branch", "-D", "wta/a")
    shutil.rmtree(repo / ".git" / "wta")
    head = git(repo, "rev-parse", "wta/integration")

    assert wta(repo, "run") == 0

    assert features(capsys, repo)["a"]["state"] == "merged"
    assert git(repo, "rev-parse", "wta/integration") == head


STALE_AGENT = """\
import os, time
if os.environ["WTA_ATTEMPT"] == "1":  # the run is killed while this sleeps
    time.sleep(4)
    open("stale.txt", "w").write("from the killed run\\n")
else:
    open("fresh.txt", "w").write("from the new run\\n")
"""


def test_agents_of_a_killed_run_are_stopped_before_the_feature_restarts(tmp_path: Path) -> None:
    repo = command_repo(tmp_path, [Spec("a", {})])
    (tmp_path / "agent.py").write_text(STALE_AGENT)
    proc = start_run(repo)
    record = repo / ".git" / "wta" / "attempts" / "a" / "1" / "processes"
    deadline = time.monotonic() + 30
    while not record.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # wta only: its agent lives on in its own session
    proc.wait()
    agent = int(record.read_text().split()[0])
    os.kill(agent, 0)  # still running

    assert wta(repo, "run") == 0

    time.sleep(4.5)  # when the stale agent would have written
    with pytest.raises(ProcessLookupError):
        os.kill(agent, 0)
    assert git(repo, "ls-tree", "--name-only", "wta/integration").split() == [
        "README.md",
        "fresh.txt",
        "src",
    ]
    assert not (tmp_path / "repo.wta" / "a" / "stale.txt").exists()
