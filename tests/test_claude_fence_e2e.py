"""The fence's hook with the real bundled Claude Code CLI, under bypassPermissions, against the
fake Anthropic API (tests/fakeapi.py): writes outside the worktree are denied and never
happen, the agent is told why and carries on inside, and the feature merges."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeAnthropic, ToolUse, text, tools, write
from gitutil import make_repo
from runutil import agent_toml, wta
from test_claude_e2e import (
    assert_no_claude_left,
    blob,
    needs_cli,
    real_cli_profile,
)

from worktree_agents.agents.claude_fence import denial_message
from worktree_agents.events import EventLog, ToolDenied

GREET = "print('hello')\n"


def tool_errors(body: dict[str, Any]) -> list[str]:
    """The error results of tool calls the model was shown, without the CLI's reminders."""
    return [
        str(block["content"]).split("\n\n<system-reminder>")[0]
        for message in body["messages"]
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if block.get("type") == "tool_result" and block.get("is_error")
    ]


@pytest.mark.e2e
@needs_cli
def test_writes_outside_the_worktree_are_denied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# sample\n"})
    home = tmp_path / "home"
    home.mkdir()
    escaped, readme = repo / "escaped.py", repo / "README.md"  # the user's checkout
    edit = {"file_path": str(readme), "old_string": "# sample", "new_string": "# hacked"}
    script = [
        tools(ToolUse("Write", {"file_path": str(escaped), "content": GREET})),
        tools(
            ToolUse("Read", {"file_path": str(readme)}),
        ),  # Edit needs it
        tools(ToolUse("Edit", edit)),
        write("greet.py", GREET),
        tools(ToolUse("mcp__wta__feature_done", {"summary": "greet.py"})),
        text("done"),
    ]
    started = time.monotonic()
    with FakeAnthropic({"greet": script}) as api:
        agent = real_cli_profile(api, home, max_turns=10)
        plan_dir = tmp_path / "plan"
        plan_dir.mkdir()
        (plan_dir / "wta.toml").write_text(
            f'version = 1\n\n{agent_toml(agent)}\n[[feature]]\nid = "greet"\ntitle = "Greet"\n',
            encoding="utf-8",
        )
        try:
            code = wta(repo, "run", "--json")
        finally:
            assert_no_claude_left(home)
    elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert code == 0, out
    [feature] = json.loads(out)["data"]["features"]
    assert (feature["state"], feature["summary"]) == ("merged", "greet.py")

    assert (escaped.exists(), readme.read_text()) == (False, "# sample\n")
    assert blob(repo, "wta/integration:greet.py") == GREET
    assert blob(repo, "wta/integration:README.md") == "# sample\n"
    worktree = tmp_path / "repo.wta" / "greet"
    reasons = [f"{path} is outside the worktree {worktree}" for path in (escaped, readme)]
    # the model was told why, and carried on
    told = tool_errors(api.conversation_requests()[-1])
    assert told == [
        f"PreToolUse:{tool} hook error: {denial_message(tool, reason, worktree)}"
        for tool, reason in zip(("Write", "Edit"), reasons, strict=True)
    ]
    [run] = (repo / ".git" / "wta" / "runs").iterdir()
    denied = [e for e in EventLog.read(run) if isinstance(e, ToolDenied)]
    assert [(e.tool, e.path, e.reason) for e in denied] == [
        ("Write", str(escaped), reasons[0]),
        ("Edit", str(readme), reasons[1]),
    ]
    log = (repo / ".git" / "wta" / "attempts" / "greet" / "1" / "log.txt").read_text()
    assert [line for line in log.splitlines() if line.startswith("[tool denied]")] == [
        f"[tool denied] Write: {reasons[0]}",
        f"[tool denied] Edit: {reasons[1]}",
    ]
    assert elapsed < 60, f"took {elapsed:.1f}s"
