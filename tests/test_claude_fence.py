"""Which file writes the fence denies (agents/claude_fence.py), on real files and symlinks, and
the PreToolUse hook that asks it (claude_options.fence_hooks), called as the SDK calls it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from claude_agent_sdk import HookInput, ToolResultBlock, UserMessage
from runutil import resolved_profile

from worktree_agents.agents.base import AgentTask
from worktree_agents.agents.claude_fence import denial_message, outside_worktree
from worktree_agents.agents.claude_options import fence_hooks
from worktree_agents.agents.claude_transcript import Transcript
from worktree_agents.domain import CommitSha, FeatureId
from worktree_agents.redaction import Redactor


def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A worktree and, beside it, the user's checkout, with symlinks from one to the other."""
    checkout = tmp_path / "repo"
    (checkout / "deep").mkdir(parents=True)
    (checkout / "README.md").write_text("# mine\n")
    worktree = tmp_path / "repo.wta" / "feat"
    (worktree / "src").mkdir(parents=True)
    (worktree / "src" / "app.py").write_text("x = 1\n")
    (worktree / "out").symlink_to(checkout)  # a directory pointing out
    (worktree / "up").symlink_to(checkout / "deep")  # out, and `..` after it: the checkout
    (worktree / "alias").symlink_to(worktree / "src")  # pointing inside
    (worktree / "dangling").symlink_to(checkout / "missing.txt")
    (tmp_path / "repo.wta" / "feat-other").mkdir()  # shares the worktree's name as a prefix
    return worktree, checkout


def test_writes_outside_the_worktree_are_denied(tmp_path: Path) -> None:
    wt, repo = layout(tmp_path)
    nul = f"{wt}/a\0b"
    calls: dict[str, tuple[str, dict[str, Any]]] = {
        # inside
        "absolute": ("Write", {"file_path": f"{wt}/src/app.py", "content": ""}),
        "relative": ("Edit", {"file_path": "src/app.py", "old_string": "1", "new_string": "2"}),
        "new parents": ("Write", {"file_path": f"{wt}/new/deeper/mod.py", "content": ""}),
        "symlink inside": ("MultiEdit", {"file_path": f"{wt}/alias/app.py", "edits": []}),
        "dot-dot back in": ("Write", {"file_path": f"{wt}/src/../src/b.py", "content": ""}),
        "non-ASCII": ("Write", {"file_path": f"{wt}/données/été 東京.py", "content": ""}),
        "unknown ~user": ("Write", {"file_path": "~nobody-here/a.py", "content": ""}),
        # outside
        "checkout": ("Write", {"file_path": f"{repo}/README.md", "content": ""}),
        "dot-dot": ("Edit", {"file_path": "../../repo/README.md", "old_string": "a"}),
        "dot-dot absolute": ("Write", {"file_path": f"{wt}/src/../../x.py", "content": ""}),
        "symlinked dir": ("Write", {"file_path": "out/README.md", "content": ""}),
        "after the link": ("Write", {"file_path": f"{wt}/up/../README.md", "content": ""}),
        "dangling link": ("Write", {"file_path": f"{wt}/dangling", "content": ""}),
        "no parent yet": ("Write", {"file_path": f"{repo}/new/deeper/mod.py", "content": ""}),
        "prefix sibling": ("Write", {"file_path": f"{wt}-other/a.py", "content": ""}),
        "home": ("Write", {"file_path": "~/.bashrc", "content": ""}),  # conftest's temp HOME
        "notebook": ("NotebookEdit", {"notebook_path": f"{repo}/ünï.ipynb", "new_source": ""}),
        "NUL": ("Write", {"file_path": nul, "content": ""}),
        # not a file write the fence can judge
        "Bash": ("Bash", {"command": f"echo x > {repo}/README.md"}),
        "Read": ("Read", {"file_path": f"{repo}/README.md"}),
        "no path": ("Write", {"content": ""}),
        "not a string": ("Write", {"file_path": 7, "content": ""}),
    }  # fmt: skip
    verdicts = {name: outside_worktree(tool, args, wt) for name, (tool, args) in calls.items()}
    assert verdicts == {
        "absolute": None,
        "relative": None,
        "new parents": None,
        "symlink inside": None,
        "dot-dot back in": None,
        "non-ASCII": None,
        "unknown ~user": None,  # not expanded: a directory of that name in the worktree
        "checkout": f"{repo}/README.md is outside the worktree {wt}",
        "dot-dot": f"../../repo/README.md is outside the worktree {wt}",
        "dot-dot absolute": f"{wt}/src/../../x.py is outside the worktree {wt}",
        "symlinked dir": f"out/README.md resolves to {repo}/README.md, outside the worktree {wt}",
        # the kernel takes `..` after following the link: up/.. is the checkout, not wt
        "after the link": (
            f"{wt}/up/../README.md resolves to {repo}/README.md, outside the worktree {wt}"
        ),
        "dangling link": f"{wt}/dangling resolves to {repo}/missing.txt, outside the worktree {wt}",
        "no parent yet": f"{repo}/new/deeper/mod.py is outside the worktree {wt}",
        "prefix sibling": f"{wt}-other/a.py is outside the worktree {wt}",
        "home": f"~/.bashrc is outside the worktree {wt}",
        "notebook": f"{repo}/ünï.ipynb is outside the worktree {wt}",
        "NUL": f"{nul!r} is not a valid path",
        "Bash": None,
        "Read": None,
        "no path": None,
        "not a string": None,
    }


def test_a_worktree_reached_through_a_symlink(tmp_path: Path) -> None:
    wt, _ = layout(tmp_path)
    link = tmp_path / "link-to-wt"
    link.symlink_to(wt)
    verdicts = [
        outside_worktree("Write", {"file_path": path}, link)
        for path in (f"{wt}/a.py", f"{link}/a.py", "a.py", f"{link}/../x.py")
    ]
    assert verdicts == [
        None,
        None,
        None,
        # `..` after the link is the real worktree's parent, not tmp_path
        f"{link}/../x.py resolves to {wt.parent}/x.py, outside the worktree {link}",
    ]


def test_denial_message() -> None:
    reason = "/home/u/repo/a.py is outside the worktree /w/feat"
    assert denial_message("Write", reason, Path("/w/feat")) == (
        "wta denied this Write: /home/u/repo/a.py is outside the worktree /w/feat. This "
        "feature's work belongs in its own git worktree, /w/feat: write files only inside it, "
        "and carry on with the feature there."
    )  # fmt: skip


def pre_tool_use(tool: str, tool_input: dict[str, Any]) -> HookInput:
    return {
        "session_id": "s",
        "transcript_path": "/dev/null",
        "cwd": "/",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": tool_input,
        "tool_use_id": "tu_1",
    }


@pytest.mark.parametrize("recording_fails", [False, True])
def test_the_hook_denies_and_tells(tmp_path: Path, recording_fails: bool) -> None:
    wt, repo = layout(tmp_path)
    told: list[tuple[str | None, str, str, str]] = []

    def on_denied(tool_use_id: str | None, tool: str, path: str, reason: str) -> None:
        told.append((tool_use_id, tool, path, reason))
        if recording_fails:
            raise OSError("disk full")

    [matcher] = fence_hooks(wt, on_denied)["PreToolUse"]
    [hook] = matcher.hooks

    async def ask() -> list[object]:
        calls = [("Write", f"{repo}/x.py"), ("Write", f"{wt}/x.py"), ("Bash", f"{repo}/x.py")]
        return [
            await hook(pre_tool_use(tool, {"file_path": path}), "tu_1", {"signal": None})
            for tool, path in calls
        ]

    reason = f"{repo}/x.py is outside the worktree {wt}"
    assert (matcher.matcher, asyncio.run(ask())) == (
        "Write|Edit|MultiEdit|NotebookEdit",
        [
            {
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "deny",
                    "permissionDecisionReason": denial_message("Write", reason, wt),
                }
            },
            {},
            {},
        ],
    )
    assert told == [("tu_1", "Write", f"{repo}/x.py", reason)]


def test_a_denial_is_logged_with_its_tool_result_or_at_the_end(tmp_path: Path) -> None:
    """The hook may run before the SDK hands over the call it denies, so the denial is
    recorded when the call's result comes: after the call's own line. Without an id it is
    recorded at once, and one whose result never comes when the try ends."""
    secret = "s3cret-token-value"
    told: list[tuple[str, str, str]] = []
    task = AgentTask(
        feature_id=FeatureId("feat"),
        title="Feature",
        attempt=1,
        run_id="run-1",
        worktree=tmp_path / "wt",
        base_commit=CommitSha("0" * 40),
        prompt="",
        prompt_file=tmp_path / "prompt.md",
        log_path=tmp_path / "log.txt",
        port=4321,
        profile=resolved_profile(backend="claude"),
        plan_dir=tmp_path,
        on_tool_denied=lambda tool, path, reason: told.append((tool, path, reason)),
    )
    transcript = Transcript(task, Redactor({"API_TOKEN": secret}))

    def result(tool_use_id: str, content: str) -> UserMessage:
        return UserMessage(content=[ToolResultBlock(tool_use_id=tool_use_id, content=content)])

    transcript.denied("tu_1", "Write", f"/x/{secret}", "r1")
    transcript.denied(None, "Edit", "/b", "r2")
    transcript.handle(result("tu_9", "ok"))
    transcript.denied("tu_2", "NotebookEdit", "/c", f"r3 {secret}")
    transcript.handle(result("tu_1", "PreToolUse:Write hook error: wta denied this Write"))
    transcript.end_try()
    transcript.handle(result("tu_2", "too late"))

    assert (tmp_path / "log.txt").read_text() == (
        "[tool denied] Edit: r2\n"
        "[tool result] ok\n"
        "[tool denied] Write: r1\n"
        "[tool denied] NotebookEdit: r3 ***\n"
        "[tool result] too late\n"
    )
    assert told == [
        ("Edit", "/b", "r2"),
        ("Write", "/x/***", "r1"),
        ("NotebookEdit", "/c", "r3 ***"),
    ]
