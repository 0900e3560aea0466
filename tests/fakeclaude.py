"""A fake `claude` CLI for the claude backend's tests.

It speaks Claude Code's stream-json protocol on stdin and stdout: it answers the SDK's
`initialize` control request, reads the user message, prints `system/init`, `assistant`,
`user` and `result` lines, calls wta's in-process MCP tools through `mcp_message`
control requests, and runs the PreToolUse hooks the SDK registered at `initialize` through
`hook_callback` control requests before a file-writing tool, as the real CLI does (the
shapes are the ones Claude Code 2.1.332 sends). FAKE_CLAUDE_SCENARIO picks the behaviour.
FAKE_CLAUDE_STATE names a directory where each run writes `record.<n>.json`: its argv,
selected environment variables, cwd and process group, the MCP tools it was offered, the
hooks' matchers and the reasons its hooks gave for denying tool calls. `--version` prints
FAKE_CLAUDE_VERSION (by default the version the shapes come from).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SESSION = "sess-1"
MODEL = "claude-fake-1"
USAGE = {
    "input_tokens": 100,
    "output_tokens": 20,
    "cache_creation_input_tokens": 10,
    "cache_read_input_tokens": 50,
}
RECORDED_ENV = (
    "CLAUDECODE",
    "EXTRA_SETTING",
    "GIT_DIR",
    "IS_SANDBOX",
    "WTA_ATTEMPT",
    "WTA_CLAUDE_PGID_FILE",
    "WTA_CLAUDE_UNSET",
    "WTA_FEATURE_ID",
)


class Fake:
    def __init__(self) -> None:
        self.state = Path(os.environ["FAKE_CLAUDE_STATE"])
        self.run = len(list(self.state.glob("record.*.json"))) + 1
        self.record: dict[str, Any] = {
            "argv": sys.argv[1:],
            "env": {n: os.environ[n] for n in RECORDED_ENV if n in os.environ},
            "cwd": os.getcwd(),
            "own_group": os.getpgid(0) == os.getpid(),
            "pid": os.getpid(),
        }
        self.requests = 0
        self.hooks: dict[str, list[dict[str, Any]]] = {}  # from the SDK's initialize request
        self.save()

    def save(self) -> None:
        path = self.state / f"record.{self.run}.json"
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(self.record, indent=1))
        partial.replace(path)  # whole, for a test that reads it while this runs

    # the wire

    def send(self, message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def read(self) -> dict[str, Any] | None:
        """The next message from the SDK that is not a control request (those are answered)."""
        while line := sys.stdin.readline():
            message = json.loads(line)
            if message.get("type") == "control_request":
                if message["request"]["subtype"] == "initialize":
                    self.hooks = message["request"].get("hooks") or {}
                    self.record["hooks"] = {
                        event: [m["matcher"] for m in matchers]
                        for event, matchers in self.hooks.items()
                    }
                    self.save()
                self.send(
                    {
                        "type": "control_response",
                        "response": {
                            "subtype": "success",
                            "request_id": message["request_id"],
                            "response": {},
                        },
                    }
                )
                continue
            return message  # type: ignore[no-any-return]
        return None

    def control(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send a control request to the SDK; return its response (`subtype` and the rest)."""
        self.requests += 1
        request_id = f"cli_{self.requests}"
        self.send({"type": "control_request", "request_id": request_id, "request": request})
        while (reply := self.read()) is not None:
            response = reply.get("response", {})
            if reply.get("type") == "control_response" and response["request_id"] == request_id:
                return response  # type: ignore[no-any-return]
        sys.exit("fake-claude: stdin closed while waiting for a control response")

    def mcp(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one JSON-RPC message to the SDK's `wta` server; return its response."""
        request = {"subtype": "mcp_message", "server_name": "wta", "message": message}
        return self.control(request)["response"]["mcp_response"]  # type: ignore[no-any-return]

    def call_tool(self, name: str, arguments: dict[str, str]) -> str:
        """Initialize the server, list its tools (recorded), call one; return its text."""
        self.mcp(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "fake-claude", "version": "0"},
                },
            }
        )
        self.mcp({"jsonrpc": "2.0", "method": "notifications/initialized"})
        listed = self.mcp({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        self.record["mcp_tools"] = sorted(t["name"] for t in listed["result"]["tools"])
        self.save()
        called = self.mcp(
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments},
            }
        )
        return "".join(part["text"] for part in called["result"]["content"])

    def pre_tool_use(self, tool_use_id: str, name: str, tool_input: dict[str, Any]) -> str | None:
        """Run the SDK's PreToolUse hooks whose matcher takes `name`: the reason of the first
        that denies the call, else None. A hook that fails decides nothing, as in the CLI."""
        for matcher in self.hooks.get("PreToolUse", []):
            if not matches(matcher.get("matcher"), name):
                continue
            for callback_id in matcher["hookCallbackIds"]:
                hook_input = {
                    "session_id": SESSION,
                    "transcript_path": "/dev/null",
                    "cwd": os.getcwd(),
                    "permission_mode": "bypassPermissions",
                    "hook_event_name": "PreToolUse",
                    "tool_name": name,
                    "tool_input": tool_input,
                    "tool_use_id": tool_use_id,
                }
                request = {
                    "subtype": "hook_callback",
                    "callback_id": callback_id,
                    "input": hook_input,
                    "tool_use_id": tool_use_id,
                }
                response = self.control(request)
                output = response.get("response", {}).get("hookSpecificOutput", {})
                if output.get("permissionDecision") == "deny":
                    return str(output.get("permissionDecisionReason", ""))
        return None

    def write(self, tool_use_id: str, path: str, content: str) -> None:
        """The Write tool, hooks first: the file is written only if no hook denies it."""
        tool_input = {"file_path": path, "content": content}
        self.assistant(tool_use(tool_use_id, "Write", tool_input))
        denied = self.pre_tool_use(tool_use_id, "Write", tool_input)
        if denied is not None:
            self.record.setdefault("denied", []).append(denied)
            self.save()
            self.tool_result(tool_use_id, f"PreToolUse:Write hook error: {denied}", is_error=True)
            return
        Path(path).write_text(content)
        self.tool_result(tool_use_id, f"File created successfully at: {path}")

    # Claude Code's messages

    def init(self) -> None:
        self.send(
            {
                "type": "system",
                "subtype": "init",
                "session_id": SESSION,
                "model": MODEL,
                "cwd": os.getcwd(),
                "tools": ["Bash", "Edit", "Write", "mcp__wta__feature_done"],
                "mcp_servers": [{"name": "wta", "status": "connected"}],
                "claude_code_version": "2.1.999",
            }
        )

    def assistant(
        self,
        *content: dict[str, Any],
        error: str | None = None,
        message_id: str = "msg_1",
        model: str = MODEL,
        usage: dict[str, int] = USAGE,
    ) -> None:
        message: dict[str, Any] = {
            "type": "assistant",
            "message": {
                "id": message_id,
                "role": "assistant",
                "model": "<synthetic>" if error else model,
                "content": list(content),
                "usage": usage,
            },
            "parent_tool_use_id": None,
            "session_id": SESSION,
        }
        if error:
            message["error"] = error
        self.send(message)

    def tool_result(self, tool_use_id: str, text: str, is_error: bool = False) -> None:
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id, "content": text}
        if is_error:
            block["is_error"] = True
        self.send(
            {
                "type": "user",
                "message": {"role": "user", "content": [block]},
                "parent_tool_use_id": None,
                "session_id": SESSION,
            }
        )

    def result(
        self,
        subtype: str,
        *,
        turns: int,
        cost: float,
        text: str | None = None,
        is_error: bool = False,
        **extra: Any,
    ) -> None:
        self.send(
            {
                "type": "result",
                "subtype": subtype,
                "is_error": is_error,
                "duration_ms": 12,
                "duration_api_ms": 8,
                "num_turns": turns,
                "session_id": SESSION,
                "total_cost_usd": cost,
                "usage": USAGE,
                "result": text,
                **extra,
            }
        )

    def finish(self, code: int) -> None:
        """Wait for the SDK to close stdin after the result, as the CLI does; then exit."""
        while self.read() is not None:
            pass
        sys.exit(code)


def matches(matcher: str | None, name: str) -> bool:
    """Claude Code's hook matchers: none or `*` take every tool, names joined by `|` take
    those names, anything else is a regular expression."""
    if not matcher or matcher == "*":
        return True
    if re.fullmatch(r"[A-Za-z0-9_|]+", matcher):
        return name in matcher.split("|")
    return re.search(matcher, name) is not None


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(tool_id: str, name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


def success(fake: Fake) -> None:
    fake.assistant(text(f"I will add login. Token: {os.environ.get('FAKE_SECRET_TOKEN')}"))
    fake.assistant(tool_use("tu_1", "Bash", {"command": "pytest -q", "description": "Test"}))
    fake.tool_result("tu_1", "3 passed")
    summary = {"summary": "Added login with hashed passwords"}
    fake.assistant(tool_use("tu_2", "mcp__wta__feature_done", summary))
    fake.tool_result("tu_2", fake.call_tool("feature_done", summary))
    fake.result("success", turns=3, cost=0.0123, text="All done.\nLogin works.")
    fake.finish(0)


def blocked(fake: Fake) -> None:
    reason = {"reason": "The spec names no database.\nI cannot choose one."}
    fake.assistant(tool_use("tu_1", "mcp__wta__report_blocked", reason))
    fake.tool_result("tu_1", fake.call_tool("report_blocked", reason))
    fake.result("success", turns=1, cost=0.002, text="Blocked.")
    fake.finish(0)


def max_turns(fake: Fake) -> None:
    fake.assistant(text("Working on it."))
    errors = ["Reached maximum number of turns (5)"]
    fake.result("error_max_turns", turns=5, cost=0.5, is_error=True, errors=errors)
    fake.finish(1)


def budget(fake: Fake) -> None:
    fake.assistant(text("Working on it."))
    errors = ["Reached maximum budget ($5)"]
    fake.result("error_max_budget_usd", turns=7, cost=5.12, is_error=True, errors=errors)
    fake.finish(1)


def auth(fake: Fake) -> None:
    message = "Invalid API key · Please run /login"
    fake.assistant(text(message), error="authentication_failed")
    fake.result("success", turns=1, cost=0.0, text=message, is_error=True)
    fake.finish(1)


def rate_limited(fake: Fake) -> None:
    message = "API Error: Request rejected (429) · rate limited"
    fake.assistant(text(message), error="rate_limit")
    fake.result("success", turns=1, cost=0.001, text=message, is_error=True, api_error_status=429)
    fake.finish(1)


def unreachable(fake: Fake) -> None:
    message = "API Error: Connection refused (ECONNREFUSED)"
    fake.assistant(text(message), error="unknown")
    fake.result("success", turns=1, cost=0.0, text=message, is_error=True)
    fake.finish(1)


def rate_limit_once(fake: Fake) -> None:
    if fake.run == 1:
        rate_limited(fake)
    fake.assistant(text("Done."))
    fake.result("success", turns=2, cost=0.02, text="Done.")
    fake.finish(0)


def crash(fake: Fake) -> None:
    print("Error: something broke inside\n    at main (cli.js:1:1)", file=sys.stderr)
    print("Error: the last line", file=sys.stderr, flush=True)
    time.sleep(0.1)  # so that the transcript's order does not depend on which pipe is read first
    fake.assistant(text("Starting."))
    sys.exit(3)


def hang(fake: Fake) -> None:
    child = subprocess.Popen(["sleep", "60"])  # a grandchild of wta, in the CLI's group
    fake.record["grandchild"] = child.pid
    fake.save()
    fake.assistant(text("Thinking."))
    time.sleep(60)


def spend_then_hang(fake: Fake) -> None:
    """Two messages of claude-sonnet-4-5, the first sent once per content block as the CLI
    does (its usage growing), then a hang: the usage is all that says what was spent."""
    sonnet = "claude-sonnet-4-5"
    first = {"input_tokens": 2000, "output_tokens": 1, "cache_read_input_tokens": 10000}
    fake.assistant(text("Reading."), message_id="msg_a", model=sonnet, usage=first)
    tool = tool_use("tu_1", "Bash", {"command": "sleep 60"})
    grown = {**first, "output_tokens": 300}
    fake.assistant(tool, message_id="msg_a", model=sonnet, usage=grown)
    second = {"input_tokens": 1000, "output_tokens": 100, "cache_creation_input_tokens": 4000}
    fake.assistant(text("Waiting."), message_id="msg_b", model=sonnet, usage=second)
    time.sleep(60)


def setsid_child(fake: Fake) -> None:
    """Leaves a child running in a session of its own (out of the CLI's group), then succeeds."""
    devnull = subprocess.DEVNULL
    child = subprocess.Popen(
        ["sleep", "60"], stdin=devnull, stdout=devnull, stderr=devnull, start_new_session=True
    )
    fake.record["setsid_child"] = child.pid
    fake.save()
    Path(f"{os.environ['WTA_FEATURE_ID']}.txt").write_text("written by the fake\n")
    fake.result("success", turns=1, cost=0.01, text="Done.")
    fake.finish(0)


def garbage(fake: Fake) -> None:
    print("{this is not json", flush=True)
    fake.finish(0)


def second_try(fake: Fake) -> None:
    """Attempt 1 changes nothing (wta then fails it as no_changes); later attempts write a file."""
    if os.environ.get("WTA_ATTEMPT") != "1":
        Path(f"{os.environ['WTA_FEATURE_ID']}.txt").write_text("written by the fake\n")
        fake.assistant(tool_use("tu_1", "Write", {"file_path": "x.txt", "content": "..."}))
        fake.tool_result("tu_1", "ok")
    fake.result("success", turns=2, cost=0.01, text="Done.")
    fake.finish(0)


def fenced(fake: Fake) -> None:
    """A Write outside the worktree (FAKE_CLAUDE_OUTSIDE), then one inside it."""
    fake.write("tu_1", os.environ["FAKE_CLAUDE_OUTSIDE"], "escaped\n")
    fake.write("tu_2", os.path.join(os.getcwd(), "inside.txt"), "inside\n")
    fake.result("success", turns=3, cost=0.01, text="Wrote inside.txt.")
    fake.finish(0)


def chatty(fake: Fake) -> None:
    """Far more transcript than a small log cap holds."""
    for n in range(400):
        fake.assistant(text(f"Thinking aloud, message {n:04d}: " + "la " * 30))
    fake.result("success", turns=400, cost=0.01, text="Done.")
    fake.finish(0)


def claimed_number(fake: Fake) -> int:
    """This run's number among the runs of one state directory, race-free (mkdir is atomic),
    for scenarios whose CLIs start at the same time."""
    n = 1
    while True:
        try:
            (fake.state / f"claim.{n}").mkdir()
            return n
        except FileExistsError:
            n += 1


def write_feature_file(fake: Fake) -> None:
    """Writes `<feature>.txt` and succeeds, after FAKE_CLAUDE_SLEEP seconds (0 by default)."""
    time.sleep(float(os.environ.get("FAKE_CLAUDE_SLEEP", "0")))
    Path(f"{os.environ['WTA_FEATURE_ID']}.txt").write_text("written by the fake\n")
    fake.assistant(text("Done."))
    fake.result("success", turns=1, cost=0.01, text="Done.")
    fake.finish(0)


def quota_once(fake: Fake) -> None:
    """The first run hits a subscription's usage limit, as Claude Code reports it: a rejected
    rate_limit_event resetting FAKE_CLAUDE_RESET_S seconds from now, then a 429 result. Later
    runs write the feature's file."""
    if claimed_number(fake) > 1:
        write_feature_file(fake)
    resets_at = int(time.time() + float(os.environ["FAKE_CLAUDE_RESET_S"]))
    info = {"status": "rejected", "resetsAt": resets_at, "rateLimitType": "five_hour"}
    event = {"type": "rate_limit_event", "rate_limit_info": info, "uuid": "rl-1"}
    fake.send({**event, "session_id": SESSION})
    message = "You've hit your limit"
    fake.assistant(text(message), error="rate_limit")
    fake.result("success", turns=1, cost=0.0, text=message, is_error=True, api_error_status=429)
    fake.finish(1)


def rate_limited_first(fake: Fake) -> None:
    """The first FAKE_CLAUDE_LIMITED runs are rate limited (429, no reset time); later runs
    write the feature's file."""
    if claimed_number(fake) <= int(os.environ["FAKE_CLAUDE_LIMITED"]):
        rate_limited(fake)
    write_feature_file(fake)


SCENARIOS = {
    "write_feature_file": write_feature_file,
    "quota_once": quota_once,
    "rate_limited_first": rate_limited_first,
    "fenced": fenced,
    "chatty": chatty,
    "second_try": second_try,
    "success": success,
    "blocked": blocked,
    "max_turns": max_turns,
    "budget": budget,
    "auth": auth,
    "rate_limited": rate_limited,
    "unreachable": unreachable,
    "rate_limit_once": rate_limit_once,
    "crash": crash,
    "hang": hang,
    "garbage": garbage,
    "setsid_child": setsid_child,
    "spend_then_hang": spend_then_hang,
}


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # wta's pre-flight asks, before any agent starts
        print(os.environ.get("FAKE_CLAUDE_VERSION", "2.1.332") + " (Claude Code)")
        return
    fake = Fake()
    scenario = os.environ["FAKE_CLAUDE_SCENARIO"]
    if scenario == "success":  # before the handshake, so it is logged before the messages
        print("fake-claude: a warning on stderr", file=sys.stderr, flush=True)
    user = fake.read()  # the user message, after the SDK's initialize
    if user is None:
        sys.exit("fake-claude: no user message")
    fake.record["prompt"] = user["message"]["content"]
    fake.save()
    fake.init()
    SCENARIOS[scenario](fake)


if __name__ == "__main__":
    main()
