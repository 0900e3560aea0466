"""Tests for verify.py: real shell commands, in order, stopping at the first failure."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from pathlib import Path

import pytest

from worktree_agents.process import KillReason
from worktree_agents.verify import CheckReport, CheckRun, run_checks


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A small, secret-free environment, so nothing in the output gets redacted."""
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LC_ALL": "C"}


def run(
    commands: list[str], cwd: Path, env: dict[str, str], *, timeout_s: float = 10.0
) -> tuple[CheckReport, list[str]]:
    """Run the checks; return the report with durations zeroed, and the callbacks seen."""
    seen: list[str] = []
    report = asyncio.run(
        run_checks(
            commands,
            cwd=cwd,
            env=env,
            timeout_s=timeout_s,
            log_path=cwd / "logs" / "attempt-1.log",
            on_start=lambda command: seen.append(f"start {command}"),
            on_finish=lambda check: seen.append(f"finish {check.command} ok={check.ok}"),
        )
    )
    for check in report.runs:
        assert check.duration_s >= 0
    runs = tuple(dataclasses.replace(check, duration_s=0.0) for check in report.runs)
    return dataclasses.replace(report, runs=runs), seen


def test_passing_commands_run_in_order(tmp_path: Path, env: dict[str, str]) -> None:
    report, seen = run(["echo one", "echo two"], tmp_path, env)
    assert report == CheckReport(
        ok=True,
        runs=(
            CheckRun("echo one", True, 0, None, 0.0, "one\n"),
            CheckRun("echo two", True, 0, None, 0.0, "two\n"),
        ),
    )
    assert seen == [
        "start echo one",
        "finish echo one ok=True",
        "start echo two",
        "finish echo two ok=True",
    ]
    assert report.failed is None
    assert report.feedback() == ""


def test_a_failure_stops_the_commands_after_it(tmp_path: Path, env: dict[str, str]) -> None:
    failing = "echo checking; echo 'assert 1 == 2' >&2; exit 3"
    report, seen = run(["echo first", failing, "touch third-ran"], tmp_path, env)
    assert report == CheckReport(
        ok=False,
        runs=(
            CheckRun("echo first", True, 0, None, 0.0, "first\n"),
            CheckRun(failing, False, 3, None, 0.0, "checking\nassert 1 == 2\n"),
        ),
    )
    assert not (tmp_path / "third-ran").exists()
    assert seen == [
        "start echo first",
        "finish echo first ok=True",
        f"start {failing}",
        f"finish {failing} ok=False",
    ]
    assert report.failed == report.runs[1]
    assert report.feedback() == (
        "The check `echo checking; echo 'assert 1 == 2' >&2; exit 3` failed with exit code 3."
        " The end of its output:\nchecking\nassert 1 == 2"
    )


def test_a_silent_failure(tmp_path: Path, env: dict[str, str]) -> None:
    report, _ = run(["false"], tmp_path, env)
    assert report == CheckReport(ok=False, runs=(CheckRun("false", False, 1, None, 0.0, ""),))
    assert report.feedback() == "The check `false` failed with exit code 1. It printed nothing."


def test_a_command_that_outlives_the_timeout_is_killed(tmp_path: Path, env: dict[str, str]) -> None:
    started = time.monotonic()
    report, _ = run(["sleep 30", "touch second-ran"], tmp_path, env, timeout_s=0.5)
    assert time.monotonic() - started < 5
    note = "[wta] timeout: no exit within 0.5s; killing the process group"
    assert report == CheckReport(
        ok=False, runs=(CheckRun("sleep 30", False, None, KillReason.TIMEOUT, 0.0, note + "\n"),)
    )
    assert not (tmp_path / "second-ran").exists()
    assert report.feedback() == (
        f"The check `sleep 30` timed out and was killed. The end of its output:\n{note}"
    )


def test_the_log_is_appended_with_a_header_per_command(tmp_path: Path, env: dict[str, str]) -> None:
    log = tmp_path / "logs" / "attempt-1.log"
    log.parent.mkdir()
    log.write_text("the agent's transcript\n", encoding="utf-8")
    run(["echo out", "echo err >&2", "echo again"], tmp_path, env)
    assert log.read_text(encoding="utf-8") == (
        "the agent's transcript\n"
        "$ echo out\n"
        "out\n"
        "$ echo err >&2\n"
        "[stderr] err\n"
        "$ echo again\n"
        "again\n"
    )


def test_commands_get_a_real_shell_in_cwd(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "x").write_text("", encoding="utf-8")
    report, _ = run(
        ["test -f x && echo yes", "test -f missing || echo no", 'echo "$HOME" | wc -c'],
        tmp_path,
        env,
    )
    width = len(str(tmp_path)) + 1
    assert report == CheckReport(
        ok=True,
        runs=(
            CheckRun("test -f x && echo yes", True, 0, None, 0.0, "yes\n"),
            CheckRun("test -f missing || echo no", True, 0, None, 0.0, "no\n"),
            CheckRun('echo "$HOME" | wc -c', True, 0, None, 0.0, f"{width}\n"),
        ),
    )


def test_no_commands_is_a_pass(tmp_path: Path, env: dict[str, str]) -> None:
    report, seen = run([], tmp_path, env)
    assert report == CheckReport(ok=True, runs=())
    assert seen == []
    assert not (tmp_path / "logs").exists()
