"""What would make every agent of a profile fail, checked once before any agent starts:
- claude: the CLI is present, runs, and is a version wta supports (`--version`, once per
  path); it will have credentials (no network call: agents/claude_auth.py); an endpoint
  set in ANTHROPIC_BASE_URL answers a TCP connect;
- command: the command's executable exists.
Each problem is one line naming the profile and the fix.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from worktree_agents.agents.claude_auth import credential_source
from worktree_agents.agents.claude_cli import CliNotFound, locate_cli, version_problem
from worktree_agents.agents.command import PLACEHOLDER
from worktree_agents.domain import FeatureId
from worktree_agents.plan import Plan, ResolvedProfile

CONNECT_TIMEOUT_S = 3.0
BASE_URL_VAR = "ANTHROPIC_BASE_URL"
NO_CREDENTIALS = (
    "Claude Code has no credentials: set ANTHROPIC_API_KEY (in the environment or the "
    "profile's env), or log in with `{cli} auth login`"
)


def profiles_used(
    plan: Plan, features: Iterable[FeatureId], override: str | None
) -> list[ResolvedProfile]:
    """The profiles the features' attempts may run on: the first attempt's, and those it
    escalates to (only when a feature may be attempted more than once)."""
    names: dict[str, None] = {}
    for fid in features:
        name: str | None = plan.profile_for(plan.by_id[fid], override)
        while name is not None and name not in names:
            names[name] = None
            more = plan.guardrails.max_attempts > 1
            name = plan.resolve_profile(name).escalate_to if more else None
    return [plan.resolve_profile(name) for name in names]


def agent_env(profile: ResolvedProfile) -> dict[str, str]:
    """The environment the profile's agent starts with, as far as these checks care."""
    return {**os.environ, **profile.env}


class AgentChecks:
    """The checks for one run: each CLI's version and each endpoint are asked only once."""

    def __init__(self, plan_dir: Path, repo_root: Path) -> None:
        self.plan_dir = plan_dir
        self.repo_root = repo_root
        self._versions: dict[Path, str | None] = {}
        self._endpoints: dict[str, str | None] = {}

    def problems(self, profiles: Iterable[ResolvedProfile]) -> list[str]:
        found: list[str] = []
        for profile in profiles:
            check = self._claude if profile.backend == "claude" else self._command
            found += [f"profile {profile.name!r}: {p}" for p in check(profile)]
        return found

    def _claude(self, profile: ResolvedProfile) -> Iterator[str]:
        env = agent_env(profile)
        try:
            cli = locate_cli(profile.cli_path, self.plan_dir)
        except CliNotFound as exc:
            yield str(exc)
            return
        if cli not in self._versions:
            self._versions[cli] = version_problem(cli, env)
        wrong = self._versions[cli]
        if wrong is not None:
            yield wrong
            return
        if credential_source(env, self.repo_root) is None:
            yield NO_CREDENTIALS.format(cli="claude" if shutil.which("claude") else cli)
        url = env.get(BASE_URL_VAR, "").strip()
        if url:
            if url not in self._endpoints:
                self._endpoints[url] = endpoint_problem(url, env)
            where = "the profile's env" if BASE_URL_VAR in profile.env else "the environment"
            why = self._endpoints[url]
            if why is not None:
                yield (
                    f"the API endpoint {url} ({BASE_URL_VAR} in {where}) does not answer: {why};"
                    f" start it, or fix {BASE_URL_VAR}"
                )

    def _command(self, profile: ResolvedProfile) -> Iterator[str]:
        if profile.backend != "command" or not profile.command:
            return
        program = profile.command[0]
        if PLACEHOLDER.search(program):
            return  # known only when the attempt starts
        env = agent_env(profile)
        if "/" not in program:
            if shutil.which(program, path=env.get("PATH")) is None:
                yield (
                    f"the command {program!r} is not on PATH: install it, or fix command in"
                    " the profile"
                )
            return
        # Agents run in their worktree, a checkout of the repository.
        path = Path(program).expanduser()
        path = path if path.is_absolute() else self.repo_root / path
        if not (path.is_file() and os.access(path, os.X_OK)):
            yield (
                f"the command {program!r} is not an executable file ({path}): fix command in"
                " the profile, or make the file executable and commit it"
            )


def _proxy(scheme: str, host: str, env: Mapping[str, str]) -> str | None:
    """The proxy the CLI would connect through for `host`, from the usual variables."""
    bypass = env.get("NO_PROXY") or env.get("no_proxy") or ""
    for entry in (e.strip().lstrip(".") for e in bypass.split(",")):
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return None
    names = ("https_proxy", "HTTPS_PROXY") if scheme == "https" else ("http_proxy", "HTTP_PROXY")
    for name in (*names, "all_proxy", "ALL_PROXY"):
        if env.get(name):
            return env[name]
    return None


def endpoint_problem(url: str, env: Mapping[str, str]) -> str | None:
    """None when the endpoint (or the proxy in front of it) answers a TCP connect within
    CONNECT_TIMEOUT_S, else why not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it is not an http:// or https:// URL"
    proxy = _proxy(parts.scheme, parts.hostname, env)
    target = urlsplit(proxy if "://" in (proxy or "") else f"http://{proxy}") if proxy else parts
    host = target.hostname or parts.hostname
    try:
        port = target.port or (443 if target.scheme == "https" else 80)
    except ValueError:
        return "its port is not a number"
    why = _connect(host, port)
    return why if why is None or proxy is None else f"{why} (through the proxy {proxy})"


def _connect(host: str, port: int) -> str | None:
    """A TCP connect in a thread, so that a slow name lookup is bounded by the timeout too."""
    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
                outcome.append(None)
        except OSError as exc:
            outcome.append(str(exc.strerror or exc).lower())

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT_S + 0.5)
    if not outcome:
        return f"no answer within {CONNECT_TIMEOUT_S:g}s"
    return outcome[0]
