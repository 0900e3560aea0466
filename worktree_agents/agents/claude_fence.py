"""Which file writes of Claude Code the fence denies: a file-writing tool (Write, Edit,
MultiEdit, NotebookEdit) whose path resolves outside the attempt's worktree.

Pure path logic, no SDK: the hook that asks it is in claude_options.py. Bash is not covered:
what a shell command writes cannot be known from its text, so the fence's checks after the
agent (fence.py) are what catch it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Each file-writing tool of Claude Code, and the input that names the file it writes.
# MultiEdit is gone from recent CLIs (2.1.332 has none) but older ones still offer it.
WRITING_TOOLS: Mapping[str, str] = {
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}


def written_path(tool_name: str, tool_input: Mapping[str, Any]) -> str | None:
    """The path a file-writing tool call would write, as the agent gave it; else None."""
    key = WRITING_TOOLS.get(tool_name)
    path = tool_input.get(key) if key is not None else None
    return path if isinstance(path, str) else None


def outside_worktree(tool_name: str, tool_input: Mapping[str, Any], worktree: Path) -> str | None:
    """Why this tool call must be denied (a sentence naming the path), or None to let it run.

    The path is resolved as the kernel would: symlinks followed (a dangling one to its
    target), `..` taken after the link before it, a file that does not exist yet by its
    existing parents. A relative path is relative to the worktree, and `~` is the home
    directory, as the CLI expands it (CLI 2.1.332 hands hooks absolute paths already).
    """
    path = written_path(tool_name, tool_input)
    if path is None:
        return None
    if "\0" in path:  # no file can have this name; os.path would raise on it
        return f"{path!r} is not a valid path"
    root = Path(os.path.realpath(worktree))
    # os.path's expanduser: Path's raises on an unknown ~user, and the hook must not raise
    given = worktree / os.path.expanduser(path)  # noqa: PTH111
    target = Path(os.path.realpath(given))
    if target.is_relative_to(root):
        return None
    if target == Path(os.path.normpath(given)):
        return f"{path} is outside the worktree {worktree}"
    return f"{path} resolves to {target}, outside the worktree {worktree}"


def denial_message(tool_name: str, reason: str, worktree: Path) -> str:
    """What the agent is told when its tool call is denied."""
    return (
        f"wta denied this {tool_name}: {reason}. This feature's work belongs in its own git "
        f"worktree, {worktree}: write files only inside it, and carry on with the feature there."
    )
