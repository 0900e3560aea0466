"""`[run] setup`: commands run in each new worktree after it is made and before its agent,
and a failing one fails the attempt with `setup_failed`."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from gitutil import git, make_repo
from runutil import BASE, Spec, command_profile, features, plan_repo, wta

from worktree_agents.events import EventLog
from worktree_agents.progress import describe

# Reads what setup installed, and makes the feature's change from it.
AGENT = """\
import os, pathlib
installed = pathlib.Path("node_modules/dep.txt").read_text()
pathlib.Path(os.environ["WTA_FEATURE_ID"] + ".txt").write_text("agent saw: " + installed)
print("agent done")
"""
INSTALL = "mkdir -p node_modules && echo installed > node_modules/dep.txt"


def setup_repo(tmp_path: Path, specs: list[Spec], settings: str) -> Path:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    base = {**BASE, ".gitignore": "node_modules/\n"}
    return plan_repo(tmp_path, specs, base, settings, agent=command_profile(script))


def events(repo: Path) -> list[dict[str, object]]:
    [log] = (repo / ".git" / "wta" / "runs").glob("*.jsonl")
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_setup_runs_in_the_new_worktree_before_the_agent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = setup_repo(tmp_path, [Spec("a", {})], f"[run]\nsetup = ['{INSTALL}', 'true']\n")

    assert wta(repo, "run") == 0

    assert git(repo, "show", "wta/integration:a.txt") == "agent saw: installed"
    # what setup installed is ignored, so it is not part of the feature's work
    assert git(repo, "diff", "--name-only", "main", "wta/integration") == "a.txt"
    steps = [
        (e["kind"], e.get("stage"), e.get("command"))
        for e in events(repo)
        if e.get("feature_id") == "a" and e["kind"] not in ("feature_ready", "worktree_created")
    ]
    assert steps == [
        ("verify_started", "setup", INSTALL),
        ("verify_finished", "setup", INSTALL),
        ("verify_started", "setup", "true"),
        ("verify_finished", "setup", "true"),
        ("agent_started", None, None),
        ("agent_finished", None, None),
        ("merge_started", None, None),
        ("merged", None, None),
    ]
    [path] = (repo / ".git" / "wta" / "runs").glob("*.jsonl")
    assert [describe(e) for e in EventLog.read(path) if e.kind == "verify_finished"] == [
        f"a: setup `{INSTALL}` passed",
        "a: setup `true` passed",
    ]
    log = repo / ".git" / "wta" / "attempts" / "a" / "1" / "log.txt"
    agent = shlex.join([sys.executable, str(tmp_path / "agent.py")])
    assert log.read_text() == f"$ {INSTALL}\n$ true\n[wta] a attempt 1: {agent}\nagent done\n"


def test_a_failing_setup_fails_the_attempt_and_the_retry_is_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = 'test "$WTA_FEATURE_ID" != a || { echo npm ERR! missing lockfile; exit 3; }'
    settings = f"[run]\nsetup = ['{INSTALL}', '{failing}']\n[guardrails]\nmax_attempts = 2\n"
    repo = setup_repo(tmp_path, [Spec("a", {}), Spec("b", {})], settings)

    assert wta(repo, "run") == 1

    got = features(capsys, repo)
    detail = f"setup `{failing}` exited 3"
    assert [
        (f["id"], f["state"], f["reason"], f["detail"], f["attempts"]) for f in got.values()
    ] == [
        ("a", "failed", "setup_failed", detail, 2),
        ("b", "merged", None, None, 1),
    ]
    assert git(repo, "show", "wta/integration:b.txt") == "agent saw: installed"
    [path] = (repo / ".git" / "wta" / "runs").glob("*.jsonl")
    kinds = ("agent_started", "retry", "feature_failed")  # a's agent never started
    told = sorted(describe(e) or "" for e in EventLog.read(path) if e.kind in kinds)
    assert told == [
        f"a: failed (setup_failed): {detail}",
        "a: retrying as attempt 2 on profile default after setup_failed",
        "b: attempt 1 started (command, profile default)",
    ]
    prompt = (repo / ".git" / "wta" / "attempts" / "a" / "2" / "prompt.md").read_text()
    assert prompt.split("A previous attempt at this feature failed. What went wrong:\n\n")[1] == (
        "Preparing the worktree failed before the agent started. The setup command"
        f" `{failing}` failed with exit code 3. The end of its output:\n"
        "npm ERR! missing lockfile\n"
    )


def test_a_setup_command_is_stopped_at_setup_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = "[run]\nsetup = ['sleep 30']\nsetup_timeout = '1s'\n[guardrails]\nmax_attempts = 1\n"
    repo = setup_repo(tmp_path, [Spec("a", {})], settings)

    assert wta(repo, "run") == 1

    got = features(capsys, repo)["a"]
    assert (got["reason"], got["detail"]) == (
        "setup_failed",
        "setup `sleep 30` was stopped (timeout)",
    )


SUBMODULE_AGENT = """\
import os, pathlib
seen = pathlib.Path("sub/s.txt").read_text()
pathlib.Path(os.environ["WTA_FEATURE_ID"] + ".txt").write_text("agent saw: " + seen)
"""


def test_setup_git_is_not_behind_the_agents_ref_guard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # cloning a submodule writes its remote-tracking refs, which the agents' hook refuses;
    # `b` sets up after `a`'s agent ran, when that hook is in place
    sub = make_repo(tmp_path / "sub", {"s.txt": "from the submodule\n"})
    script = tmp_path / "agent.py"
    script.write_text(SUBMODULE_AGENT)
    update = "git -c protocol.file.allow=always submodule --quiet update --init"
    specs = [Spec("a", {}), Spec("b", {}, depends_on=["a"])]
    repo = plan_repo(
        tmp_path, specs, BASE, f"[run]\nsetup = ['{update}']\n", agent=command_profile(script)
    )
    git(repo, "-c", "protocol.file.allow=always", "submodule", "--quiet", "add", str(sub), "sub")
    git(repo, "commit", "--quiet", "-m", "a submodule")
    git(repo, "submodule", "--quiet", "deinit", "sub")  # so the worktrees start without it

    assert wta(repo, "run") == 0

    got = features(capsys, repo)
    assert [(f["id"], f["state"]) for f in got.values()] == [("a", "merged"), ("b", "merged")]
    assert git(repo, "show", "wta/integration:b.txt") == "agent saw: from the submodule"
