"""End to end with the real bundled Claude Code CLI, talking to the fake Anthropic Messages API
of tests/fakeapi.py on 127.0.0.1. The scripted tool_use blocks are executed for real by the
CLI in its working directory, and the CLI prices the usage the fake returns.

No network beyond 127.0.0.1: the fake is the only API, and
CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 turns off the CLI's telemetry and update checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Any, cast

import claude_agent_sdk
import pytest
from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, query
from fakeapi import FakeAnthropic, ToolUse, Turn, Usage, bash, text, tools, write
from gitutil import git, make_repo
from runutil import agent_toml, wta

CLI = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
# A model id whose list price the CLI knows: $3 per million input tokens, $15 per million
# output tokens (cache writes $3.75, cache reads $0.30; the fake reports no cache tokens).
MODEL = "claude-sonnet-4-5"
INPUT_USD_PER_MTOK = 3.0
OUTPUT_USD_PER_MTOK = 15.0

needs_cli = pytest.mark.skipif(not CLI.is_file(), reason=f"no bundled Claude Code CLI at {CLI}")


def list_price(turns: Sequence[Turn]) -> float:
    """What the CLI charges for these turns, at MODEL's list prices."""
    return sum(
        (t.usage.input_tokens * INPUT_USD_PER_MTOK + t.usage.output_tokens * OUTPUT_USD_PER_MTOK)
        / 1_000_000
        for t in turns
    )


def fake_api_env(api: FakeAnthropic, home: Path) -> dict[str, str]:
    return {
        "ANTHROPIC_BASE_URL": api.url,
        "ANTHROPIC_API_KEY": "test-key",
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "IS_SANDBOX": "1",  # as root, bypassPermissions is refused without it
    }


def real_cli_profile(api: FakeAnthropic, home: Path, **changes: object) -> dict[str, object]:
    """The default profile on the real bundled CLI, talking to `api` with `home` as HOME:
    no settings read, 5 turns, 60 s and 30 s idle, with `changes` on top."""
    profile: dict[str, object] = {
        "backend": "claude",
        "cli_path": str(CLI),
        "model": MODEL,
        "permission_mode": "bypassPermissions",
        "setting_sources": [],
        "max_turns": 5,
        "timeout": "60s",
        "idle_timeout": "30s",
        "env": fake_api_env(api, home),
    }
    return {**profile, **changes}


def claude_processes(home: Path) -> list[int]:
    """Pids of bundled-CLI processes started with HOME=`home` (each test has its own).

    Like `pgrep -f _bundled/claude`, but blind to CLIs that other tests or people run.
    """
    needle = f"HOME={home}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = b"\0" + (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"_bundled/claude" in cmdline and b"\0" + needle in environ:
            found.append(int(entry.name))
    return found


def assert_no_claude_left(home: Path, grace_s: float = 5.0) -> None:
    deadline = time.monotonic() + grace_s
    while (left := claude_processes(home)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == [], f"claude processes left running: {left}"


async def collect(prompt: str, options: ClaudeAgentOptions) -> list[Any]:
    messages: list[Any] = []
    stream = cast(AsyncGenerator[Any, None], query(prompt=prompt, options=options))
    async with contextlib.aclosing(stream):
        async for message in stream:
            messages.append(message)
    return messages


# --- the fake itself, without the CLI ---------------------------------------------------


def post(url: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def sse_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for chunk in raw.decode().strip().split("\n\n"):
        name_line, data_line = chunk.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        data = json.loads(data_line.removeprefix("data: "))
        assert data["type"] == name_line.removeprefix("event: ")
        events.append((data["type"], data))
    return events


def conversation(cwd: str, assistant_turns: int, stream: bool = True) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [{"type": "text", "text": f" - Primary working directory: {cwd}\n"}],
        }
    ]
    for _ in range(assistant_turns):
        messages += [
            {"role": "assistant", "content": [{"type": "text", "text": "..."}]},
            {"role": "user", "content": [{"type": "text", "text": "..."}]},
        ]
    body: dict[str, Any] = {
        "model": MODEL, "max_tokens": 32000, "messages": messages, "tools": [{"name": "Write"}],
    }  # fmt: skip
    if stream:
        body["stream"] = True
    return body


def test_fake_api_streams_the_script_by_turn_and_answers_side_requests() -> None:
    script = [write("hello.py", "print(1)\n", Usage(1000, 500)), text("done", Usage(10, 5))]
    with FakeAnthropic({"wt1": script}) as api:
        status, kind, raw = post(f"{api.url}/v1/messages?beta=true", conversation("/w/wt1", 0))
        assert (status, kind) == (200, "text/event-stream")
        events = sse_events(raw)
        assert [name for name, _ in events] == [
            "message_start", "content_block_start", "content_block_delta", "content_block_stop",
            "message_delta", "message_stop",
        ]  # fmt: skip
        assert events[0][1]["message"]["model"] == MODEL
        assert events[0][1]["message"]["usage"]["input_tokens"] == 1000
        assert events[1][1]["content_block"]["name"] == "Write"
        assert json.loads(events[2][1]["delta"]["partial_json"]) == {
            "file_path": "/w/wt1/hello.py", "content": "print(1)\n",
        }  # fmt: skip
        assert events[4][1]["delta"]["stop_reason"] == "tool_use"
        assert events[4][1]["usage"] == {"output_tokens": 500}

        # a side request (no tools) gets a short text and does not move the script
        side = {"model": "claude-haiku-4-5", "max_tokens": 1, "stream": True, "messages": []}
        status, _, raw = post(f"{api.url}/v1/messages", side)
        assert status == 200
        assert sse_events(raw)[2][1]["delta"] == {"type": "text_delta", "text": "ok"}

        # the turn is the number of assistant messages so far; without stream, plain JSON
        status, kind, raw = post(f"{api.url}/v1/messages", conversation("/w/wt1", 1, False))
        reply = json.loads(raw)
        assert (status, kind, reply["content"]) == (
            200, "application/json", [{"type": "text", "text": "done"}],
        )  # fmt: skip
        assert (reply["stop_reason"], reply["usage"]["output_tokens"]) == ("end_turn", 5)

        # past the script's end, or a working directory with no script: a harmless text
        for body in (conversation("/w/wt1", 2), conversation("/w/other", 0)):
            assert post(f"{api.url}/v1/messages", body)[0] == 200
        status, _, raw = post(f"{api.url}/v1/nothing", {})
        assert status == 404
        assert json.loads(raw)["error"]["type"] == "not_found_error"
        assert post(f"{api.url}/v1/messages/count_tokens", {"messages": []})[0] == 200

    assert [e.kind for e in api.log] == [
        "turn 1", "side", "turn 2", "past-end", "past-end", "other", "other",
    ]  # fmt: skip
    assert len(api.requests) == 5  # the POST /v1/messages bodies
    assert [len(b) for b in (api.conversation_requests(), api.side_requests())] == [4, 1]


HELLO = "def greet() -> str:\n    return 'hello'\n\n\nprint(greet())\n"
HELLO_EDITED = HELLO.replace("'hello'", "'hello, world'")


@pytest.mark.e2e
@needs_cli
def test_real_cli_writes_a_file_via_fake_api(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# sample\n"})
    home = tmp_path / "home"
    home.mkdir()
    running: list[list[int]] = []

    def edit(cwd: str) -> dict[str, str]:
        running.append(claude_processes(home))  # proves that the leftover check can see it
        return {
            "file_path": f"{cwd}/hello.py",
            "old_string": "'hello'",
            "new_string": "'hello, world'",
        }

    script = [
        write("hello.py", HELLO, Usage(1000, 500)),
        tools(ToolUse("Edit", edit), usage=Usage(2000, 200)),
        bash("echo ok > bash.txt", Usage(1500, 100)),
        text("done", Usage(400, 20)),
    ]
    started = time.monotonic()
    with FakeAnthropic(script) as api:
        options = ClaudeAgentOptions(
            cwd=str(repo),
            cli_path=str(CLI),
            model=MODEL,
            system_prompt={"type": "preset", "preset": "claude_code"},
            permission_mode="bypassPermissions",
            setting_sources=[],
            max_turns=5,
            env=fake_api_env(api, home),
        )
        try:
            messages = asyncio.run(collect("Create hello.py, then edit it.", options))
        finally:
            assert_no_claude_left(home)
    elapsed = time.monotonic() - started

    assert len(running) == 1 and len(running[0]) == 1, running
    assert (repo / "hello.py").read_text() == HELLO_EDITED
    assert (repo / "bash.txt").read_text() == "ok\n"
    # every request was the conversation itself, asked in the repository, one per turn
    kinds = [entry.kind for entry in api.log]
    assert kinds == ["turn 1", "turn 2", "turn 3", "turn 4"], kinds
    assert {(e.method, e.path) for e in api.log} == {("POST", "/v1/messages?beta=true")}
    assert all(body["stream"] is True and body["model"] == MODEL for body in api.requests)

    result = messages[-1]
    assert isinstance(result, ResultMessage)
    assert (result.subtype, result.is_error, result.num_turns) == ("success", False, 4)
    assert result.result == "done"
    # 4 turns: (1000*3 + 500*15 + 2000*3 + 200*15 + 1500*3 + 100*15 + 400*3 + 20*15) / 1e6
    #   = (10500 + 9000 + 6000 + 1500) / 1e6 = 0.027
    assert list_price(script) == pytest.approx(0.027)
    assert result.total_cost_usd == pytest.approx(list_price(script), abs=1e-12)
    assert result.usage is not None
    assert result.usage["input_tokens"] == 4900
    assert result.usage["output_tokens"] == 820
    assert elapsed < 60, f"took {elapsed:.1f}s"


# --- wta run with the claude backend --------------------------------------------------


def blob(repo: Path, spec: str) -> str:
    """The exact text of `<ref>:<path>` (the git helper strips its output)."""
    shown = subprocess.run(
        ["git", "cat-file", "blob", spec], cwd=repo, capture_output=True, text=True, check=True
    )
    return shown.stdout


def feature_script(fid: str, filename: str, content: str, usage: Usage) -> list[Turn]:
    """Write the file, report it done through wta's MCP tool, then say so."""
    return [
        write(filename, content, usage),
        tools(
            ToolUse("mcp__wta__feature_done", {"summary": f"{fid}: wrote {filename}"}),
            usage=Usage(500, 60),
        ),
        text(f"{fid} is done", Usage(300, 40)),
    ]


@pytest.mark.e2e
@needs_cli
def test_wta_run_with_the_real_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# sample\n"})
    home = tmp_path / "home"
    home.mkdir()
    hello = "print('hello from wta')\n"
    util = "def double(x: int) -> int:\n    return 2 * x\n"
    scripts = {
        "hello": feature_script("hello", "hello.py", hello, Usage(1200, 300)),
        "util": feature_script("util", "util.py", util, Usage(800, 100)),
    }
    started = time.monotonic()
    with FakeAnthropic(scripts) as api:
        agent = real_cli_profile(api, home)
        plan_dir = tmp_path / "plan"
        plan_dir.mkdir()
        (plan_dir / "wta.toml").write_text(
            f"""version = 1

[run]
max_parallel = 2

{agent_toml(agent)}
[verify]
commands = ["python3 -c 'print(1)'"]

[[feature]]
id = "hello"
title = "Say hello"
acceptance = ["python3 hello.py | grep -q 'hello from wta'"]

[[feature]]
id = "util"
title = "A doubling helper"
acceptance = ["python3 -c 'from util import double; assert double(21) == 42'"]
""",
            encoding="utf-8",
        )
        try:
            code = wta(repo, "run", "--json")
        finally:
            assert_no_claude_left(home)
    elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    envelope = json.loads(out)
    assert code == 0, out
    assert envelope["status"] == "success"

    assert blob(repo, "wta/integration:hello.py") == hello
    assert blob(repo, "wta/integration:util.py") == util
    assert blob(repo, "wta/integration:README.md") == "# sample\n"
    assert git(repo, "rev-parse", "HEAD") == git(repo, "rev-parse", "main")  # untouched

    data = envelope["data"]
    features = {f["id"]: f for f in data["features"]}
    assert [f["state"] for f in data["features"]] == ["merged", "merged"]
    for fid, script in scripts.items():
        feature = features[fid]
        assert feature["model"] == MODEL
        assert feature["turns"] == len(script)
        assert feature["cost_usd"] == pytest.approx(list_price(script), abs=1e-9)
        assert feature["summary"] == f"{fid}: wrote {fid}.py"  # through mcp__wta__feature_done
    # hello: (1200*3 + 300*15 + 500*3 + 60*15 + 300*3 + 40*15) / 1e6 = 0.012
    # util:  ( 800*3 + 100*15 + 500*3 + 60*15 + 300*3 + 40*15) / 1e6 = 0.0078
    assert features["hello"]["cost_usd"] == pytest.approx(0.012)
    assert features["util"]["cost_usd"] == pytest.approx(0.0078)
    assert data["totals"]["cost_usd"] == pytest.approx(0.0198, abs=1e-9)
    assert data["totals"]["merged"] == 2
    # the wta section is appended to Claude Code's own system prompt
    systems = [json.dumps(body["system"]) for body in api.conversation_requests()]
    assert all("Claude Code" in text for text in systems)
    assert sum("Say hello" in text for text in systems) == 3
    # only the conversations reached the fake, and each followed its own script
    assert sorted(e.kind for e in api.log) == ["turn 1"] * 2 + ["turn 2"] * 2 + ["turn 3"] * 2
    assert elapsed < 60, f"took {elapsed:.1f}s"
