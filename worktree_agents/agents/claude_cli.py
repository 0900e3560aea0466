"""Finding the Claude Code CLI and asking its version, without importing claude-agent-sdk
(importing it takes about a second): the plan checks and the pre-flight use this before
any agent starts, and the claude backend finds its CLI the same way.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

# claude-agent-sdk's MINIMUM_CLAUDE_CODE_VERSION; tests/test_preflight.py checks they agree.
MINIMUM_VERSION = (2, 0, 0)
VERSION_TIMEOUT_S = 10.0
_VERSION = re.compile(r"(\d{1,9})\.(\d{1,9})\.(\d{1,9})")


class CliNotFound(Exception):
    """No usable CLI where the profile says, or anywhere the SDK looks."""


def bundled_cli() -> Path | None:
    """The CLI bundled in claude-agent-sdk's platform wheel, found without importing it."""
    spec = importlib.util.find_spec("claude_agent_sdk")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "_bundled" / "claude"


def configured_cli(cli_path: str, plan_dir: Path) -> Path:
    """Where a profile's `cli_path` points: a bare name on PATH, else a path relative to the
    plan's directory. It may not exist."""
    given = Path(cli_path).expanduser()
    found = shutil.which(cli_path) if len(given.parts) == 1 else None
    return Path(found) if found else plan_dir / given


def is_runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def locate_cli(cli_path: str | None, plan_dir: Path) -> Path:
    """The real Claude Code CLI, in the SDK's order; CliNotFound says what to do."""
    if cli_path:
        path = configured_cli(cli_path, plan_dir)
        if is_runnable(path):
            return path
        raise CliNotFound(
            f"the claude CLI was not found at {path}: fix cli_path in the profile, or remove "
            "it to use the CLI bundled with claude-agent-sdk"
        )
    home = Path.home()
    on_path = shutil.which("claude")
    candidates: list[Path | None] = [
        bundled_cli(),
        *([Path(on_path)] if on_path else []),
        home / ".npm-global/bin/claude",
        Path("/usr/local/bin/claude"),
        home / ".local/bin/claude",
        home / "node_modules/.bin/claude",
        home / ".yarn/bin/claude",
        home / ".claude/local/claude",
    ]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate
    raise CliNotFound(
        "the claude CLI was not found: install claude-agent-sdk from a platform wheel (it "
        "bundles the CLI) or Claude Code itself, or set cli_path in the profile"
    )


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.search(text)
    if match is None:
        return None
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def version_problem(cli: Path, env: Mapping[str, str]) -> str | None:
    """Run `cli --version` once: None when it is a Claude Code that wta supports, else what
    is wrong, as a phrase ending in the fix."""
    command = f"`{cli} --version`"
    try:
        done = subprocess.run(
            [str(cli), "--version"],
            env=dict(env),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=VERSION_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return (
            f"{command} did not answer within {VERSION_TIMEOUT_S:g}s: check that cli_path "
            "runs Claude Code"
        )
    except OSError as exc:
        return f"cannot run {cli}: {exc.strerror or exc}: fix cli_path in the profile"
    said = (done.stdout.strip() or done.stderr.strip()).splitlines()
    first = said[0] if said else "nothing"
    version = parse_version(done.stdout) if done.returncode == 0 else None
    if version is None:
        how = "printed no version" if done.returncode == 0 else f"exited {done.returncode}"
        return f"{command} {how} ({first}): check that cli_path runs Claude Code"
    if version < MINIMUM_VERSION:
        need = ".".join(str(n) for n in MINIMUM_VERSION)
        have = ".".join(str(n) for n in version)
        return (
            f"the claude CLI at {cli} is version {have}, and wta needs {need} or later: update "
            "it (`claude update`), or remove cli_path to use the CLI bundled with "
            "claude-agent-sdk"
        )
    return None
