"""Starting Claude Code so that wta can kill it: finding the real CLI, the launcher that
puts it in its own process group, its environment, and staggered starts.

The SDK starts the CLI inside wta's own process group. So that a timeout or a cancel can kill
the CLI's whole tree, the SDK's `cli_path` is a tiny launcher that calls setsid(), writes its
pid (the new group's id) to the file named by WTA_CLAUDE_PGID_FILE, removes the variables
named by WTA_CLAUDE_UNSET, and execs the real CLI, which keeps that pid.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from pathlib import Path

from claude_agent_sdk import CLINotFoundError

from worktree_agents.agents.base import AgentTask, agent_env
from worktree_agents.agents.claude_cli import CliNotFound, locate_cli
from worktree_agents.process import PROCESS_RECORD, kill_process_group

PGID_FILE_VAR = "WTA_CLAUDE_PGID_FILE"
UNSET_VAR = "WTA_CLAUDE_UNSET"
RECORD_VAR = "WTA_PROCESS_RECORD"

LAUNCHER = """\
#!{python} -S
# Written by wta: starts the Claude Code CLI in a new session, so that its whole process
# tree is one process group that wta can kill, then becomes the CLI (same pid).
import os
import sys

try:
    os.setsid()
except OSError:
    pass
for name in os.environ.pop({unset_var!r}, "").split(","):
    os.environ.pop(name, None)
pgid_file = os.environ.pop({pgid_var!r}, "")
if pgid_file and os.getpgid(0) == os.getpid():
    with open(pgid_file + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(pgid_file + ".tmp", pgid_file)
record = os.environ.pop({record_var!r}, "")
if record and os.getpgid(0) == os.getpid():
    try:  # best effort: a note for a later run, should this one die
        with open("/proc/self/stat") as f:
            stat = f.read()
        with open(record, "a") as f:
            f.write("%d %s\\n" % (os.getpid(), stat[stat.rfind(")") + 2 :].split()[19]))
    except (OSError, IndexError):
        pass
cli = {cli!r}
try:
    os.execve(cli, [cli] + sys.argv[1:], os.environ)
except OSError as exc:
    sys.stderr.write("wta: cannot run the claude CLI at %s: %s\\n" % (cli, exc.strerror or exc))
    sys.exit(127)
"""


def find_cli(cli_path: str | None, plan_dir: Path) -> Path:
    """The real Claude Code CLI, in the SDK's order; CLINotFoundError says what to do."""
    try:
        return locate_cli(cli_path, plan_dir)
    except CliNotFound as exc:
        raise CLINotFoundError(str(exc)) from None


def write_launcher(directory: Path, cli: Path) -> Path:
    """Write the setsid-and-exec launcher for `cli` into `directory`."""
    path = directory / "claude-launcher"
    path.write_text(
        LAUNCHER.format(
            python=sys.executable,
            unset_var=UNSET_VAR,
            pgid_var=PGID_FILE_VAR,
            record_var=RECORD_VAR,
            cli=str(cli),
        ),
        encoding="utf-8",
    )
    path.chmod(0o700)
    return path


def running_as_root() -> bool:
    return os.geteuid() == 0


def claude_env(task: AgentTask, permission_mode: str) -> dict[str, str]:
    """The CLI's environment: agent_env, IS_SANDBOX=1 where bypassPermissions needs it, and
    (for the launcher) the inherited variables that agent_env removed."""
    env = agent_env(task)
    env[RECORD_VAR] = str(task.log_path.with_name(PROCESS_RECORD))
    if permission_mode == "bypassPermissions" and running_as_root():
        env["IS_SANDBOX"] = task.profile.env.get("IS_SANDBOX", "1")
    # The SDK merges `env` over os.environ, so what agent_env removed would come back.
    env[UNSET_VAR] = ",".join(sorted(name for name in os.environ if name not in env))
    return env


class StartGate:
    """Keeps agent starts `spacing_s` apart across the process, so ten agents do not hit the
    API in the same second: each start reserves the next free slot, then sleeps until it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # loops in other threads share the slots too
        self._next = 0.0

    async def wait(self, spacing_s: float) -> None:
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next)
            self._next = at + spacing_s
        if at > now:
            await asyncio.sleep(at - now)


START_GATE = StartGate()


async def kill_cli(pgid_file: Path, log_path: Path) -> None:
    """Kill the process group the launcher recorded in `pgid_file`, if it started, and
    confirm it is gone."""
    try:
        pgid = int(pgid_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if pgid > 1 and pgid != os.getpgrp():
        await kill_process_group(pgid, log_path)
