"""`wta run` on the claude backend through the real SDK with the fake CLI: escalation,
resuming the failed attempt's session, tool events, and costs per attempt, feature and run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from gitutil import git
from runutil import Spec, plan_repo, wta

from worktree_agents.events import EventLog, ToolUsed

FAKE = Path(__file__).with_name("fakeclaude.py")


def test_retry_escalates_and_resumes_the_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, [Spec("feat", {})])
    cli = tmp_path / "bin" / "claude"
    cli.parent.mkdir()
    cli.write_text(
        f"#!{sys.executable}\nimport runpy\nrunpy.run_path({str(FAKE)!r}, run_name='__main__')\n"
    )
    cli.chmod(0o755)
    state = tmp_path / "fake"
    state.mkdir()
    plan = tmp_path / "plan" / "wta.toml"
    plan.write_text(
        f"""
[agent]
backend = "claude"
model = "haiku"
cli_path = "{cli}"
escalate_to = "strong"
resume_on_retry = true
env = {{ FAKE_CLAUDE_SCENARIO = "second_try", FAKE_CLAUDE_STATE = "{state}" }}

[agents.strong]
model = "opus"

[guardrails]
max_attempts = 2

[[feature]]
id = "feat"
title = "A feature"
"""
    )
    capsys.readouterr()

    assert wta(repo, "run", "--json") == 0

    data = json.loads(capsys.readouterr().out)["data"]
    [feature] = data["features"]
    assert {
        k: feature[k] for k in ("state", "attempts", "profile", "model", "cost_usd", "turns")
    } == {
        "state": "merged",
        "attempts": 2,
        "profile": "strong",
        "model": "claude-fake-1",
        "cost_usd": 0.02,
        "turns": 2,
    }
    assert data["totals"]["cost_usd"] == 0.02
    assert data["run"]["cost_usd"] == 0.02
    first, second = (json.loads((state / f"record.{n}.json").read_text()) for n in (1, 2))
    model_of = {n: r["argv"][r["argv"].index("--model") + 1] for n, r in ((1, first), (2, second))}
    assert model_of == {1: "haiku", 2: "opus"}  # the retry ran on the escalation profile
    resumes = [[a for a in r["argv"] if a.startswith("--resume")] for r in (first, second)]
    assert resumes == [[], ["--resume=sess-1"]]
    assert git(repo, "show", "wta/integration:feat.txt") == "written by the fake"
    events = EventLog.read(repo / ".git" / "wta" / "runs" / f"{data['run_id']}.jsonl")
    tools = [(e.attempt, e.tool) for e in events if isinstance(e, ToolUsed)]
    assert tools == [(2, "Write")]
