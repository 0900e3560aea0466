"""The pre-flight of `wta run`: what would fail every agent stops the run with exit 2 and
one message before any worktree or agent; uncommitted files the run names are a warning.
Real processes throughout: `wta` itself, the bundled Claude Code CLI, a fake `claude`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from fakecli import fake_cli
from gitutil import SCRUBBED_GIT_VARS, commit, git
from runutil import Spec, plan_repo, wta

from worktree_agents.agents.claude_cli import MINIMUM_VERSION, bundled_cli

CREDENTIALS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*CREDENTIALS, "ANTHROPIC_BASE_URL", "CLAUDE_CONFIG_DIR", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


def claude_repo(
    tmp_path: Path,
    env: Mapping[str, str],
    count: int = 1,
    scenario: str = "success",
    **agent: object,
) -> Path:
    """A plan of `count` features on the claude backend, the fake CLI's `scenario`."""
    state = tmp_path / "fake"
    state.mkdir()
    profile = {
        "backend": "claude",
        "model": "claude-haiku-4-5",
        "env": {"FAKE_CLAUDE_SCENARIO": scenario, "FAKE_CLAUDE_STATE": str(state), **env},
        **agent,
    }
    specs = [Spec(f"f{n}", {}, extra=f'title = "Feature {n}"') for n in range(1, count + 1)]
    return plan_repo(tmp_path, specs, agent=profile)


def wta_process(repo: Path, *args: str) -> tuple[int, str, str, float]:
    """`wta` as a separate process: (exit code, stdout, stderr, seconds)."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    plan = repo.parent / "plan" / "wta.toml"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "worktree_agents.cli", *args, "--plan", str(plan)],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def nothing_made(repo: Path) -> None:
    """No worktree, no branch and no ref of wta's."""
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/wta", "refs/wta") == ""


def test_no_credentials_stops_before_any_agent(tmp_path: Path) -> None:
    """The bundled CLI with no key and no login: one message, exit 2, in seconds. Before
    the pre-flight, 12 features failed twice each (21-26 s here), the reason last."""
    bundled = bundled_cli()
    assert bundled is not None and bundled.is_file()
    repo = claude_repo(tmp_path, {}, count=12)
    code, out, err, seconds = wta_process(repo, "run")
    login = "claude" if shutil.which("claude") else str(bundled)
    assert (code, out, err) == (
        2,
        "",
        "wta: error: profile 'default': Claude Code has no credentials: set ANTHROPIC_API_KEY"
        f" (in the environment or the profile's env), or log in with `{login} auth login`"
        " (no agent was started)\n",
    )
    assert seconds < 10
    nothing_made(repo)


@pytest.mark.parametrize(
    ("files", "env", "source"),
    [
        ({}, {"ANTHROPIC_AUTH_TOKEN": "t"}, "ANTHROPIC_AUTH_TOKEN"),
        ({}, {"CLAUDE_CODE_USE_BEDROCK": "1"}, "CLAUDE_CODE_USE_BEDROCK"),
        ({}, {"CLAUDE_CODE_USE_VERTEX": "true"}, "CLAUDE_CODE_USE_VERTEX"),
        ({}, {"CLAUDE_CODE_USE_BEDROCK": "0"}, None),
        ({"home/.claude/.credentials.json": '{"claudeAiOauth": {"accessToken": "x"}}'}, {},
         "the login in {home}/.claude/.credentials.json"),
        ({"cfg/.credentials.json": '{"claudeAiOauth": {"accessToken": "x"}}'},
         {"CLAUDE_CONFIG_DIR": "{tmp}/cfg"}, "the login in {tmp}/cfg/.credentials.json"),
        ({"home/.claude/.credentials.json": '{"claudeAiOauth": {"accessToken": "x"}}'},
         {"CLAUDE_CONFIG_DIR": "{tmp}/cfg"}, None),  # another config dir: not that login
        ({"home/.claude.json": '{"primaryApiKey": "k"}'}, {},
         "the API key saved in {home}/.claude.json"),
        ({"home/.claude/settings.json": '{"apiKeyHelper": "echo k"}'}, {},
         "apiKeyHelper in {home}/.claude/settings.json"),
        ({"home/.claude/settings.json": '{"env": {"ANTHROPIC_API_KEY": "k"}}'}, {},
         "ANTHROPIC_API_KEY in {home}/.claude/settings.json"),
        ({"repo/.claude/settings.local.json": '{"apiKeyHelper": "k"}'}, {},
         "apiKeyHelper in {tmp}/repo/.claude/settings.local.json"),
        ({"home/.config/anthropic/configs/default.json": "{}"}, {},
         "the Anthropic profile {home}/.config/anthropic/configs/default.json"),
        ({"home/.claude/.credentials.json": "not json"}, {}, None),
    ],
)  # fmt: skip
def test_where_credentials_come_from(
    tmp_path: Path, files: Mapping[str, str], env: Mapping[str, str], source: str | None
) -> None:
    from worktree_agents.agents.claude_auth import credential_source

    home = tmp_path / "home"
    home.mkdir()
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    fill = {"home": str(home), "tmp": str(tmp_path)}
    environ = {"HOME": str(home), **{k: v.format(**fill) for k, v in env.items()}}
    expected = source.format(**fill) if source else None
    assert credential_source(environ, tmp_path / "repo") == expected


def test_the_minimum_version_is_the_sdks() -> None:
    from claude_agent_sdk._internal.transport import subprocess_cli

    assert ".".join(map(str, MINIMUM_VERSION)) == subprocess_cli.MINIMUM_CLAUDE_CODE_VERSION


def test_a_cli_too_old_stops_the_run(tmp_path: Path) -> None:
    cli = fake_cli(tmp_path)
    env = {"ANTHROPIC_API_KEY": "k", "FAKE_CLAUDE_VERSION": "1.0.128"}
    repo = claude_repo(tmp_path, env, cli_path=str(cli))
    code, out, err, _ = wta_process(repo, "run")
    assert (code, out, err) == (
        2,
        "",
        f"wta: error: profile 'default': the claude CLI at {cli} is version 1.0.128, and wta"
        " needs 2.0.0 or later: update it (`claude update`), or remove cli_path to use the CLI"
        " bundled with claude-agent-sdk (no agent was started)\n",
    )
    assert not list((tmp_path / "fake").iterdir())  # never started for an agent
    nothing_made(repo)


def test_a_missing_cli_path_fails_plan_and_run(tmp_path: Path) -> None:
    repo = claude_repo(tmp_path, {"ANTHROPIC_API_KEY": "k"}, cli_path="bin/claude")
    missing = tmp_path / "plan" / "bin" / "claude"
    plan = tmp_path / "plan" / "wta.toml"
    assert wta_process(repo, "plan")[:3] == (
        2,
        "",
        f"wta: error: {plan}: 1 problem in the plan\n"
        f"  - [agent], cli_path: {missing} does not exist. Fix: point it at the Claude Code"
        " CLI, or remove it to use the CLI bundled with claude-agent-sdk\n",
    )
    assert wta_process(repo, "run")[:3] == (
        2,
        "",
        f"wta: error: profile 'default': the claude CLI was not found at {missing}: fix"
        " cli_path in the profile, or remove it to use the CLI bundled with claude-agent-sdk"
        " (no agent was started)\n",
    )
    nothing_made(repo)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that nothing listens on (bound, never listening, so no other
    test takes it meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_an_endpoint_that_does_not_answer_stops_the_run(tmp_path: Path, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    env = {"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": url}
    repo = claude_repo(tmp_path, env, cli_path=str(fake_cli(tmp_path)))
    code, out, err, seconds = wta_process(repo, "run")
    assert (code, out, err) == (
        2,
        "",
        f"wta: error: profile 'default': the API endpoint {url} (ANTHROPIC_BASE_URL in the"
        " profile's env) does not answer: connection refused; start it, or fix"
        " ANTHROPIC_BASE_URL (no agent was started)\n",
    )
    assert seconds < 10
    nothing_made(repo)


def test_an_endpoint_that_answers_lets_the_run_go(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        env = {"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": url}
        cli = str(fake_cli(tmp_path))
        repo = claude_repo(tmp_path, env, scenario="second_try", cli_path=cli)
        assert wta_process(repo, "run")[0] == 0
    assert git(repo, "show", "wta/integration:f1.txt") == "written by the fake"


def test_show_names_no_model_that_never_answered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI names its model at init, then the API refuses the key: no model answered."""
    env = {"ANTHROPIC_API_KEY": "refused"}
    repo = claude_repo(tmp_path, env, scenario="auth", cli_path=str(fake_cli(tmp_path)))
    assert wta(repo, "run") == 1
    capsys.readouterr()
    assert wta(repo, "show", "f1") == 0
    out = capsys.readouterr().out.replace(str(tmp_path), "<tmp>")
    refused = (
        "failed (agent_error): Claude Code is not logged in: set ANTHROPIC_API_KEY or log in"
        " with `claude auth login`"
    )
    attempts = [
        f"attempt {n}: {refused}\n"
        "  model asked for: claude-haiku-4-5\n"
        f"  log: <tmp>/repo/.git/wta/attempts/f1/{n}/log.txt\n"
        for n in (1, 2)
    ]
    assert out == (
        "f1: Feature 1\n"
        "state: failed (agent_error)\n"
        f"detail: {refused.split(': ', 1)[1]}\n"
        "branch: wta/f1\n"
        f"base: {git(repo, 'rev-parse', 'main')}\n"
        "profile: default\n"
        "cost: $0.0000\n" + "".join(attempts)
    )


def test_a_missing_command_stops_the_run(tmp_path: Path) -> None:
    agent = {"backend": "command", "command": ["no-such-agent-cli", "{prompt_file}"]}
    repo = plan_repo(tmp_path, [Spec("f1", {})], agent=agent)
    code, out, err, _ = wta_process(repo, "run", "--json")
    assert code == 2
    assert json.loads(out)["errors"] == [
        {
            "type": "UsageError",
            "message": "profile 'default': the command 'no-such-agent-cli' is not on PATH:"
            " install it, or fix command in the profile (no agent was started)",
            "where": None,
            "field": None,
            "fix": None,
        }
    ]
    assert err == ""
    nothing_made(repo)


AGENT = """\
import pathlib, sys
pathlib.Path("done.txt").write_text("by the committed agent\\n")
"""


def test_uncommitted_agent_script_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agent = {"backend": "command", "command": [sys.executable, "agent.py", "{prompt_file}"]}
    repo = plan_repo(tmp_path, [Spec("f1", {}, acceptance=["test -f done.txt"])], agent=agent)
    commit(repo, {"agent.py": AGENT}, "the agent")
    (repo / "agent.py").write_text(AGENT.replace("committed", "edited"))
    (repo / "done.txt").write_text("left here\n")  # untracked, named by a check
    capsys.readouterr()

    assert wta(repo, "run") == 0

    lines = [line.split(" ", 1)[1] for line in capsys.readouterr().err.splitlines()]
    assert [line for line in lines if line.startswith("warning:")] == [
        "warning: agents see only committed files, and these have uncommitted changes:"
        " agent.py, done.txt"
    ]
    landed = git(repo, "show", "wta/integration:done.txt")
    assert landed == "by the committed agent"
