"""Whether Claude Code will have credentials, answered from the environment and the files
the CLI reads, with no network call and without starting it (`claude auth status` looks up
DNS and rewrites `~/.claude.json`).

What Claude Code 2.1.332 accepts, read from its bundle and checked with a temporary HOME:
- variables: ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN, CLAUDE_CODE_OAUTH_TOKEN and the
  file-descriptor forms; a cloud provider chosen by a CLAUDE_CODE_USE_* variable (the
  provider has credentials of its own, which only the provider can check);
- `claude auth login`: `<config dir>/.credentials.json` (`claudeAiOauth`), where the config
  dir is CLAUDE_CONFIG_DIR, else `~/.claude`; on macOS, the Keychain instead;
- a console API key saved in `.claude.json` (`primaryApiKey`): `~/.claude.json`, or
  `$CLAUDE_CONFIG_DIR/.claude.json`;
- `apiKeyHelper`, or one of the variables under `env`, in a settings file: the user's
  `settings.json` in the config dir, the managed settings, the project's `.claude/`;
- the Anthropic profile store: `configs/<profile>.json` under ANTHROPIC_CONFIG_DIR, else
  `~/.config/anthropic`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

CREDENTIAL_VARS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR",
    "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR",
)
PROVIDER_VARS = (
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",
    "CLAUDE_CODE_USE_ANTHROPIC_AWS",
    "CLAUDE_CODE_USE_ANTHROPIC_GOOGLE_CLOUD",
    "CLAUDE_CODE_USE_MANTLE",
    "CLAUDE_CODE_USE_GATEWAY",
)
_TRUE = frozenset({"1", "true", "yes", "on"})  # how the CLI reads a boolean variable
MANAGED_SETTINGS = (
    Path("/etc/claude-code/managed-settings.json"),
    Path("/Library/Application Support/ClaudeCode/managed-settings.json"),
)


def _from_vars(env: Mapping[str, Any], where: str) -> str | None:
    for name in CREDENTIAL_VARS:
        if str(env.get(name) or "").strip():
            return f"{name}{where}"
    for name in PROVIDER_VARS:
        if str(env.get(name) or "").strip().lower() in _TRUE:
            return f"{name}{where}"
    return None


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _config_dir(env: Mapping[str, str], home: Path) -> Path:
    configured = env.get("CLAUDE_CONFIG_DIR")
    return Path(configured).expanduser() if configured else home / ".claude"


def _settings_files(env: Mapping[str, str], home: Path, project: Path) -> Iterator[Path]:
    yield _config_dir(env, home) / "settings.json"
    yield from MANAGED_SETTINGS
    yield project / ".claude" / "settings.json"
    yield project / ".claude" / "settings.local.json"


def _from_files(env: Mapping[str, str], home: Path, project: Path) -> str | None:
    config = _config_dir(env, home)
    login = config / ".credentials.json"
    if _json(login).get("claudeAiOauth"):
        return f"the login in {login}"
    state = config / ".claude.json" if env.get("CLAUDE_CONFIG_DIR") else home / ".claude.json"
    if _json(state).get("primaryApiKey"):
        return f"the API key saved in {state}"
    for path in _settings_files(env, home, project):
        settings = _json(path)
        if settings.get("apiKeyHelper"):
            return f"apiKeyHelper in {path}"
        variables = settings.get("env")
        found = _from_vars(variables, f" in {path}") if isinstance(variables, dict) else None
        if found:
            return found
    store = Path(env.get("ANTHROPIC_CONFIG_DIR") or home / ".config" / "anthropic")
    active = env.get("ANTHROPIC_PROFILE") or _active_profile(store)
    if (store / "configs" / f"{active}.json").is_file():
        return f"the Anthropic profile {store / 'configs' / active}.json"
    return None


def _active_profile(store: Path) -> str:
    try:
        return (store / "active_config").read_text(encoding="utf-8").strip() or "default"
    except OSError:
        return "default"


def credential_source(env: Mapping[str, str], project: Path) -> str | None:
    """Where Claude Code, started with `env`, would take its credentials from; None when it
    has none. On macOS a login lives in the Keychain, which cannot be read without asking
    the user, so there it is assumed."""
    found = _from_vars(env, "")
    if found:
        return found
    home = Path(env["HOME"]).expanduser() if env.get("HOME") else Path.home()
    found = _from_files(env, home, project)
    if found is None and sys.platform == "darwin":
        return "the macOS Keychain (not checked)"
    return found
