"""What a killed claude attempt spent: the CLI reports a cost only in its final result, so
wta estimates it from the token usage of the messages it sent, marks it as an estimate, and
counts it in the run's budget. The fake CLI sends usage, then hangs until the timeout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakeapi import FakeAnthropic, Usage, bash
from fakecli import fake_cli
from gitutil import SCRUBBED_GIT_VARS, make_repo
from runutil import Spec, agent_toml, features, plan_repo, start_run, wta
from test_claude_e2e import (
    assert_no_claude_left,
    needs_cli,
    real_cli_profile,
)

from worktree_agents.agents.base import TokenUsage
from worktree_agents.agents.pricing import estimate_usd, price_of

# fakeclaude.spend_then_hang at claude-sonnet-4-5's prices ($3 input, $15 output, $3.75 cache
# writes, $0.30 cache reads per million tokens); its first message counts once, as it grew:
# (2000 * 3 + 300 * 15 + 10000 * 0.3) + (1000 * 3 + 100 * 15 + 4000 * 3.75) = 33000
ESTIMATE = 0.033


def killed_plan(tmp_path: Path) -> Path:
    cli = fake_cli(tmp_path)
    state = tmp_path / "fake"
    state.mkdir()
    agent = {
        "backend": "claude",
        "model": "sonnet",
        "cli_path": str(cli),
        "timeout": "2s",
        "env": {
            "ANTHROPIC_API_KEY": "test-key",  # the pre-flight wants credentials
            "FAKE_CLAUDE_SCENARIO": "spend_then_hang",
            "FAKE_CLAUDE_STATE": str(state),
        },
    }
    settings = "[run]\nmax_parallel = 1\n\n[guardrails]\nmax_attempts = 1\nrun_budget_usd = 0.03\n"
    specs = [Spec("a", {}), Spec("b", {})]
    return plan_repo(tmp_path, specs, settings=settings, agent=agent)


def test_a_timed_out_attempt_costs_its_estimate_which_the_run_budget_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = killed_plan(tmp_path)
    capsys.readouterr()

    assert wta(repo, "run", "--json") == 1

    data = json.loads(capsys.readouterr().out)["data"]
    got = {
        f["id"]: (f["state"], f["reason"], f["cost_usd"], f["cost_estimated"])
        for f in data["features"]
    }
    assert got == {
        "a": ("failed", "timeout", ESTIMATE, True),
        "b": ("ready", None, 0.0, False),
    }
    assert (data["not_started"], data["stopped_by"]) == (["b"], "run_budget_usd")
    assert (data["run"]["cost_usd"], data["totals"]["cost_usd"]) == (ESTIMATE, ESTIMATE)

    assert wta(repo, "status") == 0
    table = capsys.readouterr().out.splitlines()
    assert [line.split()[:6] for line in table[1:3]] == [
        ["a", "failed", "timeout", "wta/a", "1", "~$0.03"],
        ["b", "ready", "-", "-", "0", "$0.00"],
    ]
    assert table[4].startswith("0 merged, 1 failed, 0 skipped, 1 pending of 2; cost ~$0.03;")
    assert wta(repo, "show", "a") == 0
    shown = capsys.readouterr().out.splitlines()
    assert [line for line in shown if line.startswith(("cost", "attempt"))] == [
        "cost: ~$0.0330",
        "attempt 1: failed (timeout): timed out after 2s; cost ~$0.0330",
    ]


def test_prices_by_model_id_and_the_most_expensive_for_an_unknown_model() -> None:
    usage = TokenUsage(1_000_000, 1_000_000, 1_000_000, 1_000_000)
    models = [
        "claude-sonnet-4-5-20250929",
        "claude-opus-4-1-20250805",
        "claude-opus-4-20250514",
        "claude-opus-4-6",
        "claude-haiku-4-5-20251001",
        "claude-3-5-haiku",
        "claude-sonnet-5-5",
    ]
    assert [estimate_usd(m, usage) for m in models] == [
        3 + 15 + 3.75 + 0.30,
        15 + 75 + 18.75 + 1.50,
        15 + 75 + 18.75 + 1.50,
        5 + 25 + 6.25 + 0.50,
        1 + 5 + 1.25 + 0.10,
        0.80 + 4 + 1 + 0.08,
        2 + 10 + 2.50 + 0.10,
    ]
    assert (price_of("gpt-5"), estimate_usd("gpt-5", usage)) == (None, 15 + 75 + 18.75 + 1.50)


@pytest.mark.e2e
@needs_cli
def test_the_real_cli_killed_by_the_idle_timeout_costs_its_estimate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# sample\n"})
    home = tmp_path / "home"
    home.mkdir()
    # one turn, whose Bash call outlasts the idle timeout: Claude Code says nothing meanwhile
    command = "python3 -c 'import time; time.sleep(30)'"
    script = [bash(command, Usage(1200, 300, 0, 5000))]
    with FakeAnthropic({"slow": script}) as api:
        agent = real_cli_profile(api, home, idle_timeout="4s")
        plan = tmp_path / "plan" / "wta.toml"
        plan.parent.mkdir()
        plan.write_text(
            f"version = 1\n\n[guardrails]\nmax_attempts = 1\n\n{agent_toml(agent)}\n"
            '[[feature]]\nid = "slow"\ntitle = "Slow"\n',
            encoding="utf-8",
        )
        capsys.readouterr()
        try:
            code = wta(repo, "run", "--json")
        finally:
            assert_no_claude_left(home)
    data = json.loads(capsys.readouterr().out)["data"]
    [feature] = data["features"]
    assert (code, feature["state"], feature["reason"]) == (1, "failed", "idle")
    # The CLI's message carries the input and cache counts, but not the output count, which
    # the API sends after the content: wta counts a token per 4 characters of what it says.
    said = len(json.dumps({"command": command, "description": "run it"})) // 4
    estimate = round((1200 * 3 + said * 15 + 5000 * 0.30) / 1_000_000, 6)
    assert (said, feature["cost_usd"], feature["cost_estimated"]) == (20, estimate, True)
    assert data["run"]["cost_usd"] == estimate


def test_an_attempt_stopped_by_ctrl_c_keeps_its_estimate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = killed_plan(tmp_path)
    plan = tmp_path / "plan" / "wta.toml"
    plan.write_text(plan.read_text().replace('timeout = "2s"', 'timeout = "60s"'))
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    with subprocess.Popen(
        [sys.executable, "-m", "worktree_agents.cli", "run", "--plan", str(plan)],
        cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        log = repo / ".git" / "wta" / "attempts" / "a" / "1" / "log.txt"
        deadline = time.monotonic() + 60
        while not (log.exists() and "Waiting." in log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)

        proc.send_signal(signal.SIGINT)

        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert [line[9:] for line in err.splitlines() if " a: attempt 1 " in line] == [
        "a: attempt 1 started (claude, profile default, sonnet)",
        "a: attempt 1 interrupted (not a try), ~$0.0330",
    ]
    assert_interrupted_with_estimate(capsys, repo)


def test_an_attempt_of_a_run_killed_outright_keeps_its_estimate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL leaves wta no moment to record anything: what the agent had used is kept in
    the attempt's spend.json as it runs, and the next command's recovery records it."""
    repo = killed_plan(tmp_path)
    plan = tmp_path / "plan" / "wta.toml"
    plan.write_text(plan.read_text().replace('timeout = "2s"', 'timeout = "60s"'))
    proc = start_run(repo, new_session=True)
    log = repo / ".git" / "wta" / "attempts" / "a" / "1" / "log.txt"
    deadline = time.monotonic() + 60
    while not (log.exists() and "Waiting." in log.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)

    os.kill(proc.pid, signal.SIGKILL)  # wta alone: its agent lives on, until recovery
    proc.wait()
    assert json.loads((log.parent / "spend.json").read_text()) == {
        "cost_usd": ESTIMATE,
        "estimated": True,
    }
    capsys.readouterr()

    assert wta(repo, "merge") == 0  # nothing to merge, but it settles the killed run first

    assert_interrupted_with_estimate(capsys, repo)


def assert_interrupted_with_estimate(capsys: pytest.CaptureFixture[str], repo: Path) -> None:
    """a went back to pending: its attempt was interrupted, not a try, and kept its estimate."""
    got = features(capsys, repo)["a"]
    assert {k: got[k] for k in ("state", "attempts", "interrupted", "cost_usd")} == {
        "state": "pending",
        "attempts": 0,
        "interrupted": 1,
        "cost_usd": ESTIMATE,
    }
    assert got["cost_estimated"] is True
