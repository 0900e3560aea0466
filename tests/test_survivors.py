"""Processes an agent leaves running beyond its process group (a setsid child, a daemon that
double-forked) end with its attempt: when it finishes, times out, or the run is cancelled,
and, after a run killed by SIGKILL, at the start of the next run."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from gitutil import SCRUBBED_GIT_VARS, git
from runutil import BASE, Spec, command_profile, features, plan_repo, start_run, wta

from worktree_agents import procfs

# Each feature's agent does what its id says, writes the pid of what it left running to
# <pids>/<feature>.pid, and with "linger" in its id its first attempt sleeps until killed.
AGENT = """\
import os, subprocess, sys, time
feature, pids = os.environ["WTA_FEATURE_ID"], sys.argv[1]
open(feature + ".txt", "w").write(feature + "\\n")
quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
pid = None
if feature.startswith("setsid"):  # a child in a session (and group) of its own
    pid = subprocess.Popen(["sleep", "60"], start_new_session=True, **quiet).pid
elif feature.startswith("daemon"):  # fork, setsid, fork again: reparented at once
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.write(w, str(os.getpid()).encode())
            os.execvp("sleep", ["sleep", "60"])
        os._exit(0)
    os.close(w)
    pid = int(os.read(r, 32))
    os.wait()
if pid is not None:
    open(os.path.join(pids, feature + ".tmp"), "w").write(str(pid))
    os.replace(os.path.join(pids, feature + ".tmp"), os.path.join(pids, feature + ".pid"))
if "linger" in feature and os.environ["WTA_ATTEMPT"] == "1":
    time.sleep(60)
"""


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie is dead, whoever collects it)."""
    proc = procfs.read(pid)
    return proc is not None and not proc.zombie


def survivor_repo(tmp_path: Path, ids: list[str], settings: str = "") -> tuple[Path, Path]:
    script, pids = tmp_path / "agent.py", tmp_path / "pids"
    script.write_text(AGENT)
    pids.mkdir()
    specs = [Spec(fid, {}) for fid in ids]
    repo = plan_repo(tmp_path, specs, BASE, settings, agent=command_profile(script, str(pids)))
    return repo, pids


def log_of(repo: Path, fid: str) -> list[str]:
    return (repo / ".git" / "wta" / "attempts" / fid / "1" / "log.txt").read_text().splitlines()


def header(tmp_path: Path, fid: str) -> str:
    argv = [sys.executable, str(tmp_path / "agent.py"), str(tmp_path / "pids")]
    return f"[wta] {fid} attempt 1: {shlex.join(argv)}"


def killed_note(pid: int) -> str:
    return (
        f"[wta] killed 1 process that the agent left running outside its process group (pid {pid})"
    )


def test_a_setsid_child_and_a_daemon_end_with_their_finished_attempts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, pids = survivor_repo(tmp_path, ["setsid", "daemon", "plain"])

    assert wta(repo, "run") == 0

    left = {fid: int((pids / f"{fid}.pid").read_text()) for fid in ("setsid", "daemon")}
    assert {fid: running(pid) for fid, pid in left.items()} == {"setsid": False, "daemon": False}
    got = features(capsys, repo)
    assert {fid: (f["state"], f["reason"]) for fid, f in got.items()} == {
        "setsid": ("merged", None),
        "daemon": ("merged", None),
        "plain": ("merged", None),
    }
    assert {fid: log_of(repo, fid) for fid in got} == {
        "setsid": [header(tmp_path, "setsid"), killed_note(left["setsid"])],
        "daemon": [header(tmp_path, "daemon"), killed_note(left["daemon"])],
        "plain": [header(tmp_path, "plain")],
    }
    assert git(repo, "ls-tree", "--name-only", "wta/integration").split() == [
        "README.md",
        "daemon.txt",
        "plain.txt",
        "setsid.txt",
        "src",
    ]


def test_survivors_of_a_timed_out_attempt_are_killed_and_it_still_fails_as_a_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ["setsid_linger", "daemon_linger", "plain"]
    repo, pids = survivor_repo(tmp_path, ids, "[guardrails]\nmax_attempts = 1\n")
    plan = tmp_path / "plan" / "wta.toml"
    plan.write_text(plan.read_text().replace("[agent]\n", '[agent]\ntimeout = "1s"\n'))

    assert wta(repo, "run") == 1

    left = {
        fid: int((pids / f"{fid}.pid").read_text()) for fid in ("setsid_linger", "daemon_linger")
    }
    assert [running(pid) for pid in left.values()] == [False, False]
    got = features(capsys, repo)
    assert {fid: (f["state"], f["reason"], f["detail"]) for fid, f in got.items()} == {
        "setsid_linger": ("failed", "timeout", "timed out after 1s"),
        "daemon_linger": ("failed", "timeout", "timed out after 1s"),
        "plain": ("merged", None, None),
    }
    for fid, pid in left.items():
        assert log_of(repo, fid) == [
            header(tmp_path, fid),
            "[wta] timeout: no exit within 1s; killing the process group",
            killed_note(pid),
        ]


def wait_for(condition: Callable[[], bool], within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert condition()


def test_survivors_end_when_the_run_is_cancelled(tmp_path: Path) -> None:
    repo, pids = survivor_repo(tmp_path, ["setsid_linger", "daemon_linger", "plain"])
    proc = start_run(repo)

    def ready() -> bool:
        ls = ["git", "ls-tree", "--name-only", "wta/integration"]
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
        done = subprocess.run(ls, cwd=repo, env=env, capture_output=True, text=True, check=False)
        merged = done.stdout.split()
        files = [pids / "setsid_linger.pid", pids / "daemon_linger.pid"]
        return "plain.txt" in merged and all(f.exists() for f in files)

    wait_for(ready)
    left = {
        fid: int((pids / f"{fid}.pid").read_text()) for fid in ("setsid_linger", "daemon_linger")
    }
    assert [running(pid) for pid in left.values()] == [True, True]

    proc.send_signal(signal.SIGINT)

    assert proc.wait(timeout=60) == 130
    assert [running(pid) for pid in left.values()] == [False, False]
    for fid, pid in left.items():
        assert log_of(repo, fid) == [
            header(tmp_path, fid),
            "[wta] cancelled; killing the process group",
            killed_note(pid),
        ]


def test_the_next_run_kills_what_an_agent_of_a_killed_run_left_running(tmp_path: Path) -> None:
    repo, pids = survivor_repo(tmp_path, ["setsid_linger", "plain"])
    proc = start_run(repo)
    record = repo / ".git" / "wta" / "attempts" / "setsid_linger" / "1" / "processes"
    # the agent may leave its child before wta has recorded it (a loaded machine): both
    wait_for(lambda: (pids / "setsid_linger.pid").exists() and record.exists())
    os.kill(proc.pid, signal.SIGKILL)  # wta only: its agent and the agent's child live on
    proc.wait()
    child = int((pids / "setsid_linger.pid").read_text())
    agent = int(record.read_text().split()[0])
    assert [running(agent), running(child)] == [True, True]

    assert wta(repo, "run") == 0

    assert [running(agent), running(child)] == [False, False]
    assert log_of(repo, "setsid_linger") == [header(tmp_path, "setsid_linger"), killed_note(child)]


def test_what_setup_and_a_check_leave_running_ends_with_the_attempt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # setup and the check (run on the feature, then on the merge) each leave a daemon behind
    left = "setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $! >> {}"
    setup, check = (left.format(tmp_path / "pids" / f"{name}.pid") for name in ("setup", "check"))
    settings = f"[run]\nsetup = [{json.dumps(setup)}]\n[verify]\ncommands = [{json.dumps(check)}]\n"
    repo, pids = survivor_repo(tmp_path, ["plain"], settings)

    assert wta(repo, "run") == 0

    text = (pids / "setup.pid").read_text() + (pids / "check.pid").read_text()
    daemons = sorted(map(int, text.split()))
    assert [running(pid) for pid in daemons] == [False, False, False]
    assert features(capsys, repo)["plain"]["state"] == "merged"
    # each is named as killed: at the end, or (on a loaded machine, the setup's daemon) by an
    # earlier sweep of the attempt's processes, or (a check's, on a loaded machine, still in
    # the check's group when the check's shell exited) with that group
    notes = [line for line in log_of(repo, "plain") if line.startswith("[wta] ")]
    pattern = r"(left running.*|left processes behind) \(pids? ([\d, ]+)\)(; killing them)?$"
    found = [re.search(pattern, line) for line in notes]
    # (one that left the group as it was killed is named twice: with the group, then alone)
    named = sorted({int(p) for m in found if m for p in m.group(2).split(", ")})
    assert named == daemons
