"""The fence on shared files in whole runs: an agent that changes the repository's config,
hooks and info files fails `git_files` and everything is put back, while a feature beside
it merges under the user's identity; a change to the user's checkout while agents run is
reported (run output, `wta status`), never undone, and fails nobody."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from gitutil import git
from runutil import BASE, Spec, command_profile, features, plan_repo, start_run, wta

from worktree_agents.demo import wait_until

IDENTITY = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")
ONE_SLOT_EACH = "[run]\nmax_parallel = 2\n[guardrails]\nmax_attempts = 1\n"

HOSTILE = """\
import os, pathlib, subprocess, sys, time
feature, marker = os.environ["WTA_FEATURE_ID"], pathlib.Path(sys.argv[1])
def git(*args):
    return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()
def wait_for(condition):
    for _ in range(600):
        if condition():
            return
        time.sleep(0.1)
    sys.exit("gave up waiting")
if feature == "normal":
    pathlib.Path("normal.txt").write_text("normal\\n")
    sys.exit(0)
# once the normal feature's agent is done, so that only this agent runs while they change
wait_for(lambda: git("rev-parse", "-q", "--verify", "refs/wta/attempts/normal/1"))
common = pathlib.Path(git("rev-parse", "--path-format=absolute", "--git-common-dir"))
hooks = common / "hooks"
git("config", "core.hooksPath", "/tmp/x")
git("config", "user.email", "evil@x")
(hooks / "pre-commit").write_text("#!/bin/sh\\nexit 0\\n")
(hooks / "pre-commit").chmod(0o755)
(hooks / "update.sample").chmod(0o600)
(hooks / "pre-push.sample").rename(hooks / "pre-push")
(common / "info" / "exclude").write_text("secret.txt\\n")
pathlib.Path("hostile.txt").write_text("x\\n")
marker.write_text("planted\\n")
trailers = "--format=%(trailers:key=Wta-Feature,valueonly)"
wait_for(lambda: "normal" in git("log", trailers, "wta/integration").split())
"""


def shared_files(repo: Path) -> dict[str, tuple[int, bytes]]:
    """config, hooks/ and info/ of the repository: mode and bytes of each file."""
    common = repo / ".git"
    found = {"config": common / "config"}
    found |= {str(p.relative_to(common)): p for p in common.glob("hooks/**/*")}
    found |= {str(p.relative_to(common)): p for p in common.glob("info/**/*")}
    return {rel: (path.stat().st_mode, path.read_bytes()) for rel, path in found.items()}


def test_an_agent_that_changes_config_and_hooks_fails_and_everything_is_put_back(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    isolated_git: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    marker = tmp_path / "planted"
    script = tmp_path / "agent.py"
    script.write_text(HOSTILE)
    until_planted = wait_until(f"test -e {marker}", "the planted files")
    specs = [Spec("hostile", {}), Spec("normal", {}, acceptance=[until_planted])]
    agent = command_profile(script, str(marker))
    repo = plan_repo(tmp_path, specs, BASE, ONE_SLOT_EACH, agent=agent)
    for name in IDENTITY:  # the user's identity is in their config, not in the environment
        monkeypatch.delenv(name)
    (isolated_git / ".gitconfig").write_text("[user]\n\tname = Me\n\temail = me@home.invalid\n")
    before = shared_files(repo)

    assert wta(repo, "run") == 1

    got = features(capsys, repo)
    assert {f: (got[f]["state"], got[f]["reason"], got[f]["detail"]) for f in got} == {
        "hostile": (
            "failed",
            "guardrail",
            "the agent changed the repository's config, hooks/pre-commit (added), hooks/pre-push"
            " (added), hooks/pre-push.sample (removed), hooks/update.sample (mode changed) and"
            " info/exclude; wta put them back",
        ),
        "normal": ("merged", None, None),
    }
    assert shared_files(repo) == before
    # the merge was made while the agent's user.email was in the repository's config
    log = git(repo, "log", "--format=%an <%ae> / %cn <%ce>", "main..wta/integration")
    kept = git(repo, "log", "-1", "--format=%an <%ae> / %cn <%ce>", "refs/wta/attempts/normal/1")
    assert (log, kept) == ("Me <me@home.invalid> / Me <me@home.invalid>",) * 2


PLANTER = """\
import pathlib, subprocess, sys, time
where = ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"]
common = pathlib.Path(subprocess.run(where, capture_output=True, text=True).stdout.strip())
(common / "hooks" / "pre-commit").write_text("#!/bin/sh\\nexit 1\\n")
subprocess.run(["git", "config", "core.hooksPath", "/tmp/x"], check=True)
pathlib.Path(sys.argv[1]).write_text("planted\\n")
time.sleep(60)
"""


def test_a_run_cancelled_while_its_agent_holds_a_planted_hook_puts_it_back(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "planted"
    script = tmp_path / "agent.py"
    script.write_text(PLANTER)
    agent = command_profile(script, str(marker))
    repo = plan_repo(tmp_path, [Spec("planter", {})], BASE, agent=agent)
    before = shared_files(repo)
    proc = start_run(repo)
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (marker.exists(), (repo / ".git" / "hooks" / "pre-commit").exists()) == (True, True)

    proc.send_signal(signal.SIGINT)

    assert proc.wait(timeout=60) == 130
    assert shared_files(repo) == before


WRITER = """\
import os, pathlib, sys, time
feature = os.environ["WTA_FEATURE_ID"]
pathlib.Path(f"{feature}.txt").write_text(feature + "\\n")
if feature == "writer":
    pathlib.Path(sys.argv[1], "notes.txt").write_text("written by an agent\\n")
else:  # "quiet" runs until the writer's agent has finished
    deadline = time.monotonic() + 60
    while not pathlib.Path(sys.argv[1], "notes.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
"""


def warnings(err: str) -> list[str]:
    """The warning lines of a run's progress output, without their clock times."""
    lines = [line.split(" ", 1)[1] for line in err.splitlines()]
    return [line for line in lines if line.startswith("warning:")]


def status_of(repo: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], object]:
    """`wta status` as text (times masked) and `--json`'s checkout changes."""
    capsys.readouterr()
    assert wta(repo, "status") == 0
    text = re.sub(r"\d+\.\ds$", "<time>", capsys.readouterr().out, flags=re.MULTILINE)
    assert wta(repo, "status", "--json") == 0
    run = json.loads(capsys.readouterr().out)["data"]["run"]
    changes = [{**c, "at": type(c["at"]).__name__} for c in run["checkout_changes"]]
    return text.split("\n"), changes


def test_an_agent_writing_into_the_users_checkout_is_reported_and_left_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "agent.py"
    script.write_text(WRITER)
    repo = tmp_path / "repo"
    agent = command_profile(script, str(repo))
    specs = [Spec("writer", {}), Spec("quiet", {})]
    plan_repo(tmp_path, specs, BASE, ONE_SLOT_EACH, agent=agent)
    capsys.readouterr()

    assert wta(repo, "run") == 0

    notes = repo / "notes.txt"
    warning = (
        f"warning: your checkout changed while quiet, writer ran (wta left it as it is): {notes}"
    )
    assert warnings(capsys.readouterr().err) == [warning]
    assert notes.read_text() == "written by an agent\n"
    text, changes = status_of(repo, capsys)
    head = git(repo, "rev-parse", "--short=12", "wta/integration")
    assert text == [
        "FEATURE  STATE   REASON  BRANCH      TRIES  COST   TIME",
        "writer   merged  -       wta/writer  1      $0.00  <time>",
        "quiet    merged  -       wta/quiet   1      $0.00  <time>",
        "",
        "2 merged, 0 failed, 0 skipped, 0 pending of 2; cost $0.00;"
        f" integration wta/integration at {head}",
        warning,
        "",
    ]
    assert changes == [{"at": "float", "paths": [str(notes)], "features": ["quiet", "writer"]}]


WAITER = """\
import pathlib, sys, time
pathlib.Path("waited.txt").write_text("x\\n")
pathlib.Path(sys.argv[1], "started").write_text("")
deadline = time.monotonic() + 60
while not pathlib.Path(sys.argv[1], "edited").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
"""


def test_the_users_own_edit_during_a_run_is_reported_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "agent.py"
    script.write_text(WAITER)
    agent = command_profile(script, str(tmp_path))
    repo = plan_repo(tmp_path, [Spec("waiter", {})], BASE, agent=agent)
    readme = repo / "README.md"

    def edit() -> None:  # the user, at work in their checkout while the agent runs
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        readme.write_text("my own edit\n")
        (tmp_path / "edited").write_text("")

    user = threading.Thread(target=edit)
    user.start()
    capsys.readouterr()
    try:
        assert wta(repo, "run") == 0
    finally:
        user.join()

    warning = f"warning: your checkout changed while waiter ran (wta left it as it is): {readme}"
    assert warnings(capsys.readouterr().err) == [warning]
    assert (readme.read_text(), git(repo, "status", "--porcelain")) == (
        "my own edit\n",
        "M README.md",
    )
    assert features(capsys, repo)["waiter"]["state"] == "merged"
    text, changes = status_of(repo, capsys)
    assert text[-2:] == [warning, ""]
    assert changes == [{"at": "float", "paths": [str(readme)], "features": ["waiter"]}]
