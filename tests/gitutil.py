"""Test helpers that build real git repositories with pinned identities and dates."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from worktree_agents.git import SCRUBBED_VARS

# Pinned so commit hashes are the same on every run and every machine.
PINNED_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Wta Test",
    "GIT_AUTHOR_EMAIL": "test@wta.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "Wta Test",
    "GIT_COMMITTER_EMAIL": "test@wta.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_CONFIG_NOSYSTEM": "1",
    "LC_ALL": "C",
    "LANGUAGE": "C",
}
# Test-only, on top of what wta itself removes: the tests pin HOME, identities and dates, and
# configuration passed in through the environment would override them.
TEST_CONFIG_VARS = ("GIT_CONFIG", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT")
SCRUBBED_GIT_VARS = (*SCRUBBED_VARS, *TEST_CONFIG_VARS)
DEFAULT_FILES = {
    "README.md": "# sample\n",
    "src/app.py": "def main() -> None:\n    print('hello')\n",
}


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` and return its stripped stdout; fail loudly with stderr."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    proc = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc.stdout.strip()


def write_files(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def commit(repo: Path, files: dict[str, str], message: str = "change") -> str:
    """Write `files`, commit them all, and return the new commit's sha."""
    write_files(repo, files)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--no-verify", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """Create a repository at `path` on branch `main` with one commit holding `files`."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "-b", "main")
    commit(path, files or DEFAULT_FILES, "initial commit")
    return path
