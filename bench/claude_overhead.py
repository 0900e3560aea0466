"""What wta adds on top of the Claude Code CLI, per agent.

Usage: python bench/claude_overhead.py [--repeat 5]

Both sides run the real bundled Claude Code CLI against the fake Anthropic API of
tests/fakeapi.py on 127.0.0.1, with the same two-turn script (Write a file, then say
done), so the model's time is the same tiny constant on both sides:

- baseline: `claude_agent_sdk.query()` called directly in a git repository, as a
  program that drives the SDK by hand would;
- wta: `wta run` of a one-feature plan on the claude backend, in a subprocess.

It prints, best and median of R alternating runs: the baseline; wta's agent phase
(the `agent_finished` event's duration: launcher, MCP server, option building, message
handling and the kill check around the same CLI run); and the whole `wta run` (interpreter
start, plan, lock, store, worktree, commit, diff, merge). The overhead per agent is the
agent phase minus the baseline; the rest is per feature, not per agent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import claude_agent_sdk  # noqa: E402
from claude_agent_sdk import ClaudeAgentOptions, query  # noqa: E402
from fakeapi import FakeAnthropic, Usage, text, write  # noqa: E402

CLI = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
MODEL = "claude-sonnet-4-5"
SCRIPT = [write("hello.py", "print('hello')\n", Usage(1000, 100)), text("done", Usage(200, 20))]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
}


def api_env(url: str, home: Path) -> dict[str, str]:
    return {
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": "bench-key",
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "IS_SANDBOX": "1",
    }


def make_repo(path: Path) -> None:
    path.mkdir(parents=True)
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True, env=env)
    (path / "README.md").write_text("# bench\n")
    subprocess.run(["git", "add", "-A"], cwd=path, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=path, check=True, env=env)


async def drive(cwd: Path, env: dict[str, str]) -> None:
    options = ClaudeAgentOptions(
        cwd=str(cwd),
        cli_path=str(CLI),
        model=MODEL,
        system_prompt={"type": "preset", "preset": "claude_code"},
        permission_mode="bypassPermissions",
        setting_sources=["project"],
        max_turns=5,
        env=env,
    )
    async for _ in query(prompt="Create hello.py.", options=options):
        pass


def baseline(work: Path, url: str) -> float:
    repo = work / "feat"  # the fake picks its script by the directory's name
    make_repo(repo)
    home = work / "home-raw"
    home.mkdir()
    started = time.perf_counter()
    asyncio.run(drive(repo, api_env(url, home)))
    elapsed = time.perf_counter() - started
    assert (repo / "hello.py").read_text() == "print('hello')\n"
    return elapsed


def with_wta(work: Path, url: str) -> tuple[float, float]:
    """(agent phase, whole `wta run`) in seconds."""
    repo = work / "repo"
    make_repo(repo)
    home = work / "home-wta"
    home.mkdir()
    env_lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in api_env(url, home).items())
    plan = work / "wta.toml"
    plan.write_text(
        f"""[agent]
backend = "claude"
cli_path = {json.dumps(str(CLI))}
model = "{MODEL}"
max_turns = 5

[agent.env]
{env_lines}

[[feature]]
id = "feat"
title = "Say hello"
"""
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "worktree_agents.cli", "run", "--plan", str(plan), "--json"],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    whole = time.perf_counter() - started
    envelope = json.loads(done.stdout)
    if envelope["exit_code"] != 0:
        raise SystemExit(f"wta run failed: {done.stdout}\n{done.stderr}")
    log = repo / ".git" / "wta" / "runs" / f"{envelope['data']['run_id']}.jsonl"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    agent = next(e["duration_s"] for e in events if e["kind"] == "agent_finished")
    return float(agent), whole


def describe(name: str, values: list[float]) -> str:
    return f"{name:<34} best {min(values):6.3f} s   median {statistics.median(values):6.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not CLI.exists():
        raise SystemExit(f"no bundled Claude Code CLI at {CLI}")
    raw: list[float] = []
    agent: list[float] = []
    whole: list[float] = []
    with FakeAnthropic({"feat": SCRIPT}, lifetime_s=600) as api:
        for i in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                if i % 2 == 0:  # alternate the order, to spread the machine's noise
                    raw.append(baseline(work / "a", api.url))
                    a, w = with_wta(work / "b", api.url)
                else:
                    a, w = with_wta(work / "b", api.url)
                    raw.append(baseline(work / "a", api.url))
                agent.append(a)
                whole.append(w)
    base = statistics.median(raw)
    print(f"runs: {args.repeat}, the same two-turn script through the real CLI on both sides")
    print(describe("query() directly (baseline)", raw))
    print(describe("wta agent phase", agent))
    print(describe("whole `wta run`, one feature", whole))
    print(
        f"per-agent overhead (median agent phase - median baseline): "
        f"{statistics.median(agent) - base:+.3f} s, ratio {statistics.median(agent) / base:.2f}"
    )
    print(
        f"whole run over baseline: {statistics.median(whole) - base:+.3f} s,"
        f" ratio {statistics.median(whole) / base:.2f}"
    )


if __name__ == "__main__":
    main()
