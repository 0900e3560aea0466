"""`wta run` on the claude backend through the real SDK with the fake CLI: escalation,
resuming the failed attempt's session, tool events, and costs per attempt, feature and run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from fakecli import fake_cli
from gitutil import git
from runutil import Spec, features, plan_repo, wta

from worktree_agents import procfs
from worktree_agents.events import EventLog, ToolDenied, ToolUsed


def fake_plan(
    tmp_path: Path,
    scenario: str,
    extra: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Path, Path]:
    """A repository whose plan runs the claude backend on the fake CLI; (repo, fake state).

    `extra` is added to the default profile, `env` to its environment."""
    cli = fake_cli(tmp_path)
    state = tmp_path / "fake"
    state.mkdir()
    agent = {
        "backend": "claude",
        "model": "haiku",
        "cli_path": str(cli),
        "env": {
            "ANTHROPIC_API_KEY": "test-key",  # the pre-flight wants credentials
            "FAKE_CLAUDE_SCENARIO": scenario,
            "FAKE_CLAUDE_STATE": str(state),
            **(env or {}),
        },
        **(extra or {}),
    }
    repo = plan_repo(
        tmp_path,
        [Spec("feat", {}, extra='title = "A feature"')],
        settings="[guardrails]\nmax_attempts = 2\n",
        agent=agent,
        profiles={"strong": {"model": "opus"}},
    )
    return repo, state


def test_retry_escalates_and_resumes_the_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, state = fake_plan(
        tmp_path, "second_try", {"escalate_to": "strong", "resume_on_retry": True}
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
        "turns": 4,  # over both attempts, like the cost
    }
    assert data["totals"]["cost_usd"] == 0.02
    assert data["run"]["cost_usd"] == 0.02
    first, second = (json.loads((state / f"record.{n}.json").read_text()) for n in (1, 2))
    model_of = {n: r["argv"][r["argv"].index("--model") + 1] for n, r in ((1, first), (2, second))}
    assert model_of == {1: "haiku", 2: "opus"}  # the retry ran on the escalation profile
    resumes = [[a for a in r["argv"] if a.startswith("--resume")] for r in (first, second)]
    assert resumes == [[], ["--resume=sess-1"]]
    assert git(repo, "show", "wta/integration:feat.txt") == "written by the fake"
    # the CLI's process group is noted, for a later run to stop should this one die
    record = (repo / ".git" / "wta" / "attempts" / "feat" / "1" / "processes").read_text()
    assert [len(line.split()) for line in record.splitlines()] == [2]
    assert record.split()[0] == str(first["pid"])
    events = EventLog.read(repo / ".git" / "wta" / "runs" / f"{data['run_id']}.jsonl")
    tools = [(e.attempt, e.tool) for e in events if isinstance(e, ToolUsed)]
    assert tools == [(2, "Write")]


@pytest.mark.parametrize(
    ("extra", "attempts"),
    [({}, 1), ({"escalate_to": "strong"}, 2)],
    ids=["no-escalation", "escalate-to-strong"],
)
def test_blocked_is_retried_only_on_another_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: dict[str, object], attempts: int
) -> None:
    repo, _ = fake_plan(tmp_path, "blocked", extra)
    capsys.readouterr()

    assert wta(repo, "run", "--json") == 1

    [feature] = json.loads(capsys.readouterr().out)["data"]["features"]
    assert (feature["state"], feature["reason"], feature["attempts"]) == (
        "failed",
        "blocked",
        attempts,
    )
    assert feature["detail"] == "The spec names no database."


def test_a_denied_write_is_an_event_and_the_feature_merges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Write into the user's checkout is denied; the agent carries on in its worktree, and
    the feature merges. The denial is an event, a progress line and a transcript line."""
    outside = tmp_path / "repo" / "escaped.txt"  # in the user's checkout
    repo, _ = fake_plan(tmp_path, "fenced", env={"FAKE_CLAUDE_OUTSIDE": str(outside)})
    capsys.readouterr()

    assert wta(repo, "run") == 0

    worktree = tmp_path / "repo.wta" / "feat"
    reason = f"{outside} is outside the worktree {worktree}"
    progress = capsys.readouterr().err.splitlines()
    assert [line[9:] for line in progress if line[9:].startswith("feat: denied")] == [
        f"feat: denied Write: {reason}"
    ]
    assert not outside.exists()
    assert git(repo, "ls-tree", "--name-only", "wta/integration") == "README.md\ninside.txt"
    [run] = (repo / ".git" / "wta" / "runs").iterdir()
    events = EventLog.read(run)
    kinds = [e.kind for e in events]
    assert kinds[kinds.index("agent_started") :] == [
        "agent_started",
        "tool_used",
        "tool_denied",
        "tool_used",
        "agent_finished",
        "merge_started",
        "merged",
        "run_finished",
    ]
    [denied] = [e for e in events if isinstance(e, ToolDenied)]
    assert denied.model_dump(exclude={"ts", "run_id"}) == {
        "schema_version": 1,
        "kind": "tool_denied",
        "feature_id": "feat",
        "attempt": 1,
        "tool": "Write",
        "path": str(outside),
        "reason": reason,
    }
    log = (repo / ".git" / "wta" / "attempts" / "feat" / "1" / "log.txt").read_text()
    assert [line for line in log.splitlines() if line.startswith("[tool denied]")] == [
        f"[tool denied] Write: {reason}"
    ]


def test_a_child_the_cli_left_in_a_session_of_its_own_ends_with_the_attempt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, state = fake_plan(tmp_path, "setsid_child")

    assert wta(repo, "run") == 0

    child = json.loads((state / "record.1.json").read_text())["setsid_child"]
    left = procfs.read(child)
    assert (left is None or left.zombie, features(capsys, repo)["feat"]["state"]) == (
        True,
        "merged",
    )
    log = (repo / ".git" / "wta" / "attempts" / "feat" / "1" / "log.txt").read_text()
    assert log.splitlines()[-1] == (
        "[wta] killed 1 process that the agent left running outside its process group"
        f" (pid {child})"
    )
