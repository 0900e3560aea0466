"""Guardrails in a run: protected paths, an agent that leaves its branch or takes the
user's stash, and the circuit breaker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitutil import git
from runutil import BASE, Spec, command_repo, features, plan_repo, wta

from worktree_agents.demo import wait_until


def test_guardrail_protected_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    specs = [Spec("sneaky", {".github/workflows/ci.yml": "on: push\n", "x.txt": "x\n"})]
    settings = '[guardrails]\nmax_attempts = 1\nprotected_paths = [".github/**"]\n'
    repo = plan_repo(tmp_path, specs, BASE, settings)

    assert wta(repo, "run") == 1

    got = features(capsys, repo)["sneaky"]
    assert (got["state"], got["reason"], got["detail"]) == (
        "failed",
        "guardrail",
        "changed a protected path: .github/workflows/ci.yml (matches '.github/**')",
    )
    assert git(repo, "rev-parse", "wta/integration") == git(repo, "rev-parse", "main")


def test_an_agent_that_leaves_its_branch_fails_the_guardrail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = command_repo(tmp_path, [Spec("wander", {})])
    (tmp_path / "agent.py").write_text(
        "import subprocess\n"
        "def run(*a): subprocess.run(a, check=True)\n"
        "run('git', 'switch', '-q', '--detach')\n"
        "open('a.txt', 'w').write('a\\n')\n"
        "run('git', 'add', '-A')\n"
        "run('git', 'commit', '-qm', 'w')\n"
    )
    plan = tmp_path / "plan" / "wta.toml"
    plan.write_text("[guardrails]\nmax_attempts = 1\n" + plan.read_text())

    assert wta(repo, "run") == 1

    got = features(capsys, repo)["wander"]
    assert (got["state"], got["reason"], got["detail"]) == (
        "failed",
        "guardrail",
        "the agent left the branch wta/wander (the worktree is on a detached HEAD)",
    )
    assert git(repo, "rev-parse", "wta/integration") == git(repo, "rev-parse", "main")


def test_an_agent_that_pops_the_users_stash_is_stopped_and_the_stash_restored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = command_repo(tmp_path, [Spec("thief", {})])
    (tmp_path / "agent.py").write_text(
        "import subprocess\n"
        "subprocess.run(['git', 'stash', 'pop'], check=True)\n"
        "open('x.txt', 'w').write('x\\n')\n"
    )
    plan = tmp_path / "plan" / "wta.toml"
    plan.write_text("[guardrails]\nmax_attempts = 1\n" + plan.read_text())
    (repo / "README.md").write_text("my work in progress\n")
    git(repo, "stash", "push", "-q", "-m", "my wip")
    before = git(repo, "stash", "list", "--format=%H %gs")

    assert wta(repo, "run") == 1

    got = features(capsys, repo)["thief"]
    assert (got["reason"], got["detail"]) == (
        "guardrail",
        "the agent changed the stash, which your checkout shares; wta put back 1 entry it had"
        " removed",
    )
    assert git(repo, "stash", "list", "--format=%H %gs") == before
    assert git(repo, "rev-parse", "wta/integration") == git(repo, "rev-parse", "main")


def test_circuit_breaker_stops_new_features(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [Spec(f"bad{i}", {f"b{i}.txt": "x\n"}, acceptance=["false"]) for i in range(2)]
    specs.append(Spec("later", {"later.txt": "x\n"}, depends_on=["bad0"]))
    specs.append(Spec("good", {"good.txt": "x\n"}, depends_on=["bad1"]))
    # slow passes only once the breaker has tripped, so its merge cannot reset the count
    # first. The pattern must not match itself: the check's own command is in the events.
    events = '"$(git rev-parse --git-common-dir)"/wta/runs/*.jsonl'
    tripped = f'grep -qs "guardrail_trippe[d]" {events}'
    specs.append(Spec("slow", {"slow.txt": "x\n"}, acceptance=[wait_until(tripped, "the trip")]))
    specs.append(Spec("free", {"free.txt": "x\n"}, depends_on=["slow"]))
    settings = "[run]\nmax_parallel = 3\n[guardrails]\nmax_attempts = 1\nstop_after_failures = 2\n"
    repo = plan_repo(tmp_path, specs, BASE, settings)
    capsys.readouterr()

    assert wta(repo, "run", "--json") == 1

    data = json.loads(capsys.readouterr().out)["data"]
    states = {f["id"]: f["state"] for f in data["features"]}
    assert states == {
        "bad0": "failed",
        "bad1": "failed",
        "later": "skipped",
        "good": "skipped",
        "slow": "merged",
        "free": "ready",
    }
    assert (data["not_started"], data["stopped_by"]) == (["free"], "stop_after_failures")
