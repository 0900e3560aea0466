"""The user's stash survives an agent that drops an entry and is then cancelled (Ctrl-C).

The stash guard once restored entries only when the agent ended normally, so an agent
that dropped one and was cancelled, or raised, lost it for good.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from gitutil import git
from runutil import Spec, plan_repo, start_run

# wta's hook refuses the agent's `git stash drop`; this agent gets past it, as a determined
# one can, so the restore is what is tested.
AGENT = """\
import pathlib, subprocess, sys, time
subprocess.run(["git", "-c", "core.hooksPath=/dev/null", "stash", "drop", "-q"], check=True)
pathlib.Path(sys.argv[1]).write_text("dropped\\n")
time.sleep(60)
"""


def test_a_cancelled_agent_that_dropped_a_stash_entry_gets_it_put_back(tmp_path: Path) -> None:
    repo = plan_repo(tmp_path, [Spec("thief", {})])
    marker = tmp_path / "dropped"
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    plan = tmp_path / "plan" / "wta.toml"
    text = plan.read_text().replace(
        'backend = "patch"',
        f'backend = "command"\ncommand = ["{sys.executable}", "{script}", "{marker}"]',
    )
    plan.write_text("\n".join(line for line in text.splitlines() if not line.startswith("dir =")))
    (repo / "README.md").write_text("my work in progress\n")
    git(repo, "stash", "push", "-q", "-m", "my wip")
    before = git(repo, "stash", "list", "--format=%H %gs")
    proc = start_run(repo)
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (marker.exists(), git(repo, "stash", "list")) == (True, "")  # the agent dropped it

    proc.send_signal(signal.SIGINT)

    assert proc.wait(timeout=60) == 130
    assert git(repo, "stash", "list", "--format=%H %gs") == before
