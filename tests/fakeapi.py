"""A fake Anthropic Messages API on 127.0.0.1, for running the real Claude Code CLI offline.

Point the CLI at it with ``ANTHROPIC_BASE_URL=<fake>.url``. Each conversation follows a script:
a list of turns, each either text or one or more ``tool_use`` blocks, with the usage the CLI
prices. The turn to answer is the number of assistant messages already in the request, so
the answer is a function of the request alone: a retried request gets the same answer, and
several CLIs can share one server. Which script a conversation follows is chosen by the
name of its working directory (the CLI tells the model ``Primary working directory: <path>``),
and a tool input may be a function of that path: the CLI's Write and Edit want absolute paths.

Requests that are not the conversation (no tools offered: titles, summaries, quota checks)
get a short text reply and never consume the script. `errors` are HTTP errors to answer the
first conversation requests with, in order, whichever conversation sends them (a rate limit,
a spent quota); each consumes neither the script nor a turn. Everything received is kept in
``requests`` (POST /v1/messages bodies) and ``log`` (every request, with how it was answered).
The server shuts itself down after ``lifetime_s`` even if the context is never left.

Standard library only.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

WORKING_DIRECTORY = re.compile(r"(?:^|\s)(?:Primary )?[Ww]orking directory: (/[^\n]*)")
SIDE_REPLY = "ok"
DEFAULT_LIFETIME_S = 120.0

# The input of a tool_use block: literal, or computed from the conversation's working directory.
ToolInput = Mapping[str, Any] | Callable[[str], Mapping[str, Any]]


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 100
    output_tokens: int = 50
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
        }


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: ToolInput

    def resolve(self, cwd: str) -> dict[str, Any]:
        value = self.input(cwd) if callable(self.input) else self.input
        return dict(value)


@dataclass(frozen=True)
class Turn:
    """One assistant message: a text, or tool_use blocks (optionally after a text)."""

    text: str | None = None
    tools: Sequence[ToolUse] = ()
    usage: Usage = field(default_factory=Usage)

    @property
    def stop_reason(self) -> str:
        return "tool_use" if self.tools else "end_turn"


def text(reply: str, usage: Usage | None = None) -> Turn:
    return Turn(text=reply, usage=usage or Usage())


def tools(*uses: ToolUse, usage: Usage | None = None) -> Turn:
    return Turn(tools=uses, usage=usage or Usage())


def write(relpath: str, content: str, usage: Usage | None = None) -> Turn:
    """A turn that writes `content` to `<working directory>/<relpath>` with the Write tool."""
    use = ToolUse("Write", lambda cwd: {"file_path": f"{cwd}/{relpath}", "content": content})
    return tools(use, usage=usage)


def bash(command: str, usage: Usage | None = None) -> Turn:
    return tools(ToolUse("Bash", {"command": command, "description": "run it"}), usage=usage)


Script = Sequence[Turn]


@dataclass(frozen=True)
class ApiError:
    """An error answer: `{"type": "error", "error": {"type": ..., "message": ...}}`.

    With `until` (a Unix time) it answers every conversation request until then, as a spent
    quota does, however often the CLI retries; without, it answers one request."""

    status: int
    type: str
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)
    until: float | None = None


def rate_limited(
    message: str = "Number of request tokens has exceeded your rate limit",
) -> ApiError:
    """A 429 that the CLI does not retry itself (`x-should-retry: false`)."""
    return ApiError(429, "rate_limit_error", message, {"x-should-retry": "false"})


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    body: Any
    kind: str  # "turn N", "side", "past-end", "no-cwd", "error N" (HTTP status), "other"


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [str(b.get("text", "")) for b in content if isinstance(b, dict)]
    return []


def working_directory(body: Mapping[str, Any]) -> str | None:
    """The agent's working directory, as the CLI tells the model.

    Claude Code 2.1.332 says `Primary working directory: <path>` in an "# Environment"
    section: a system-reminder at the start of the first user message for claude-*-4-5
    models, a `"role": "system"` message for the newer ones its aliases resolve to. Older
    versions said `Working directory: <path>` in the system prompt. All three places are
    searched, and no other message (a tool result could quote anything).
    """
    texts = _texts(body.get("system"))
    messages = body.get("messages")
    if isinstance(messages, list):
        firsts = [m for m in messages[:1] if isinstance(m, dict)]
        systems = [m for m in messages if isinstance(m, dict) and m.get("role") == "system"]
        for message in systems + firsts:
            texts += _texts(message.get("content"))
    for chunk in texts:
        match = WORKING_DIRECTORY.search(chunk)
        if match:
            return match.group(1).strip()
    return None


def assistant_turns(body: Mapping[str, Any]) -> int:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 0
    return sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")


def is_conversation(body: Mapping[str, Any]) -> bool:
    """The agent's own loop offers tools; side requests (titles, summaries, quota) don't."""
    return bool(body.get("tools"))


class FakeAnthropic:
    """Context manager: a threaded fake API server; `.url`, `.requests`, `.log`."""

    def __init__(
        self,
        script: Script | Mapping[str, Script],
        *,
        lifetime_s: float = DEFAULT_LIFETIME_S,
        errors: Sequence[ApiError] = (),
    ) -> None:
        self._scripts = script
        self._errors = list(errors)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.requests: list[dict[str, Any]] = []
        self.log: list[Logged] = []
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._serve, name="fakeapi", daemon=True)
        self._timer = threading.Timer(lifetime_s, self._server.shutdown)
        self._timer.daemon = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timer.cancel()
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)

    # --- what the handler asks -------------------------------------------------------

    def record(self, entry: Logged) -> None:
        with self._lock:
            self.log.append(entry)
            if entry.path.split("?")[0] == "/v1/messages" and entry.method == "POST":
                self.requests.append(entry.body)

    def next_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}_fake{next(self._ids):06d}"

    def script_for(self, cwd: str) -> Script | None:
        if isinstance(self._scripts, Mapping):
            name = cwd.rstrip("/").rsplit("/", 1)[-1]
            return self._scripts.get(name)
        return self._scripts

    def conversation_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [b for b in self.requests if isinstance(b, dict) and is_conversation(b)]

    def side_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [b for b in self.requests if isinstance(b, dict) and not is_conversation(b)]

    def error_for(self, body: Mapping[str, Any]) -> ApiError | None:
        """The next scripted error, if this is a conversation request and any are left."""
        if not is_conversation(body):
            return None
        with self._lock:
            while self._errors:
                error = self._errors[0]
                if error.until is None:
                    return self._errors.pop(0)
                if time.time() < error.until:
                    return error
                self._errors.pop(0)
            return None

    def reply_for(self, body: Mapping[str, Any]) -> tuple[str, Turn, str]:
        """(kind, turn, cwd) for a messages request."""
        cwd = working_directory(body)
        if not is_conversation(body):
            return "side", Turn(text=SIDE_REPLY, usage=Usage(0, 0)), cwd or ""
        if cwd is None:  # never resolve a path against "": that would write under /
            return "no-cwd", Turn(text="(no working directory found)", usage=Usage(0, 0)), ""
        script = self.script_for(cwd)
        index = assistant_turns(body)
        if script is None or index >= len(script):
            return "past-end", Turn(text="(the script has ended)", usage=Usage(0, 0)), cwd
        return f"turn {index + 1}", script[index], cwd


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-stream (a killed CLI) is no error; anything else is."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


def _handler_for(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        api = fake

    return Handler


class _Handler(BaseHTTPRequestHandler):
    api: FakeAnthropic
    timeout = 10  # seconds a silent client may hold a handler thread
    server_version = "fakeapi/1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest's output clean; `api.log` has it all

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", self.api.next_id("req"))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self) -> None:
        self.api.record(Logged("HEAD", self.path, None, "other"))
        self._json(200, {})

    def do_GET(self) -> None:
        self.api.record(Logged("GET", self.path, None, "other"))
        path = urlsplit(self.path).path
        if path == "/v1/models":
            self._json(200, {"data": [], "has_more": False, "first_id": None, "last_id": None})
        else:
            self._not_found()

    def do_POST(self) -> None:
        body = self._body()
        path = urlsplit(self.path).path
        if path == "/v1/messages/count_tokens":
            self.api.record(Logged("POST", self.path, body, "other"))
            self._json(200, {"input_tokens": 1})
            return
        if path != "/v1/messages" or not isinstance(body, dict):
            self.api.record(Logged("POST", self.path, body, "other"))
            self._not_found()
            return
        if (error := self.api.error_for(body)) is not None:
            self.api.record(Logged("POST", self.path, body, f"error {error.status}"))
            payload = {"type": "error", "error": {"type": error.type, "message": error.message}}
            self._json(error.status, payload, error.headers)
            return
        kind, turn, cwd = self.api.reply_for(body)
        self.api.record(Logged("POST", self.path, body, kind))
        model = str(body.get("model") or "claude-sonnet-4-5")
        blocks = self._blocks(turn, cwd)
        if body.get("stream"):
            self._stream(model, blocks, turn)
        else:
            self._json(200, self._message(model, blocks, turn.stop_reason, turn.usage.as_dict()))

    def _not_found(self) -> None:
        self._json(
            404,
            {"type": "error", "error": {"type": "not_found_error", "message": "not found"}},
        )

    def _blocks(self, turn: Turn, cwd: str) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if turn.text is not None:
            blocks.append({"type": "text", "text": turn.text})
        for use in turn.tools:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": self.api.next_id("toolu"),
                    "name": use.name,
                    "input": use.resolve(cwd),
                }
            )
        return blocks

    def _message(
        self, model: str, content: list[dict[str, Any]], stop: str | None, usage: dict[str, int]
    ) -> dict[str, Any]:
        return {
            "id": self.api.next_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }

    def _stream(self, model: str, blocks: list[dict[str, Any]], turn: Turn) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.send_header("request-id", self.api.next_id("req"))
        self.end_headers()
        start_usage = {**turn.usage.as_dict(), "output_tokens": 0}
        self._event("message_start", {"message": self._message(model, [], None, start_usage)})
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                empty: dict[str, Any] = {"type": "text", "text": ""}
                delta: dict[str, Any] = {"type": "text_delta", "text": block["text"]}
            else:
                empty = {**block, "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            self._event("content_block_start", {"index": index, "content_block": empty})
            self._event("content_block_delta", {"index": index, "delta": delta})
            self._event("content_block_stop", {"index": index})
        self._event(
            "message_delta",
            {
                "delta": {"stop_reason": turn.stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": turn.usage.output_tokens},
            },
        )
        self._event("message_stop", {})
        self.wfile.flush()
        self.close_connection = True

    def _event(self, name: str, data: dict[str, Any]) -> None:
        payload = json.dumps({"type": name, **data})
        self.wfile.write(f"event: {name}\ndata: {payload}\n\n".encode())
