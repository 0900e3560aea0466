"""A real terminal for tests: a command run in a detached tmux session of a given size, on a
server of its own (`tmux -L`), read as a person sees it with `capture-pane`."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from gitutil import SCRUBBED_GIT_VARS

SGR = re.compile(r"\x1b\[([0-9;:]*)m")
EXITED = re.compile(r"^\[wta exited (\d+)\]$", re.MULTILINE)

needs_tmux = pytest.mark.skipif(
    shutil.which("tmux") is None,
    reason="tmux is not installed: the live table is tested in a real terminal (apt install tmux)",
)


class Terminal:
    """One tmux session holding one shell script."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return proc.stdout

    def screen(self, escapes: bool = False, history: bool = False) -> str:
        """The pane as shown (with `escapes`, its colours and attributes as SGR codes; with
        `history`, the scrollback too), without the blank lines below the last text."""
        args = ["capture-pane", "-p", "-t", "wta"]
        args += ["-e"] if escapes else []
        args += ["-S", "-"] if history else []
        return self.tmux(*args).rstrip("\n") + "\n"

    def wait_for(self, ready: Callable[[str], bool], timeout: float, escapes: bool = False) -> str:
        """Poll the screen until `ready` says yes; the screen it said yes to."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen(escapes)
            if ready(screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"not seen within {timeout}s; the screen:\n{screen}")

    def exit_code(self, timeout: float = 60) -> int:
        """Wait for the command to end; its exit code."""
        screen = self.wait_for(lambda s: EXITED.search(s) is not None, timeout)
        found = EXITED.search(screen)
        assert found is not None
        return int(found.group(1))


@contextmanager
def terminal(
    tmp: Path,
    cwd: Path,
    argv: Sequence[str],
    *,
    width: int,
    height: int,
    env: Mapping[str, str] | None = None,
) -> Iterator[Terminal]:
    """`argv` run in `cwd` in a new `width`x`height` terminal, with `env` on top of this
    process's environment (less git's and NO_COLOR); the session ends with the block."""
    script = tmp / f"tty-{time.monotonic_ns()}.sh"
    exports = [f"export {k}={shlex.quote(v)}" for k, v in (env or {}).items()]
    script.write_text(
        "\n".join(
            [
                f"cd {shlex.quote(str(cwd))}",
                *exports,
                shlex.join(argv),
                'echo "[wta exited $?]"',
                "exec sleep 600",  # the pane stays for the test to read
            ]
        )
        + "\n"
    )
    dropped = {*SCRUBBED_GIT_VARS, "TMUX", "TMUX_PANE", "NO_COLOR"}
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    term = Terminal(f"wta-test-{os.getpid()}-{time.monotonic_ns()}")
    subprocess.run(
        ["tmux", "-L", term.socket, "-f", "/dev/null", "new-session", "-d", "-s", "wta",
         "-x", str(width), "-y", str(height), f"bash {shlex.quote(str(script))}"],
        env=base, check=True, timeout=10,
    )  # fmt: skip
    try:
        yield term
    finally:
        subprocess.run(
            ["tmux", "-L", term.socket, "kill-server"], capture_output=True, check=False, timeout=10
        )


def wta_argv(plan: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "worktree_agents.cli", *args, "--plan", str(plan)]


def colour_codes(screen: str) -> list[str]:
    """The SGR sequences in a screen captured with escapes, but the resets."""
    return [m.group(0) for m in SGR.finditer(screen) if m.group(1) not in ("", "0")]
