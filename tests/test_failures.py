"""Every failure's wording, in one table: the reason, the line people see, and the feedback
a retry's prompt carries."""

from __future__ import annotations

import pytest

from worktree_agents import failures
from worktree_agents.agents.base import AgentResult
from worktree_agents.domain import FailureReason, FeatureId, GuardrailRule
from worktree_agents.errors import AgentError, GitError
from worktree_agents.failures import Failure, Finding
from worktree_agents.guardrails import Violation
from worktree_agents.merge import ConflictReport
from worktree_agents.process import KillReason
from worktree_agents.verify import CheckReport, CheckRun

FAILED = CheckRun("pytest -q", False, 1, None, 2.0, "E   assert 1 == 2\n")
NPM = CheckRun("npm ci", False, 1, None, 30.0, "npm ERR! missing lockfile\n")
KILLED = CheckRun("sleep 99", False, None, KillReason.TIMEOUT, 9.0, "")
REPORT = ConflictReport(
    paths=("a.py", "b.py"),
    hunks="--- a.py\n<<<<<<< wta/integration\nx\n=======\ny\n>>>>>>> f\n",
    touched_by=(FeatureId("e"),),
    messages=("CONFLICT (content): Merge conflict in a.py",),
)
LINES = Violation(GuardrailRule.MAX_CHANGED_LINES, "changed 9 lines; the limit is 5")

CASES: list[tuple[str, Failure, Failure]] = [
    (
        "agent_failed",
        failures.agent_failed(
            AgentResult(ok=False, reason=FailureReason.TIMEOUT, detail="timed out", duration_s=1)
        ),
        Failure(
            reason=FailureReason.TIMEOUT,
            detail="timed out",
            feedback="The agent stopped with an error: timed out",
        ),
    ),
    (
        "agent_failed without a reason",
        failures.agent_failed(AgentResult(ok=False, reason=None, detail=None, duration_s=1)),
        Failure(
            reason=FailureReason.AGENT_ERROR,
            detail="the agent failed",
            feedback="The agent stopped with an error: the agent failed",
        ),
    ),
    (
        "fenced",
        failures.fenced(
            [
                Finding(rule=GuardrailRule.STASH, detail="stash changed", advice="No stash."),
                Finding(rule=GuardrailRule.BRANCH, detail="left the branch", advice="Stay."),
            ]
        ),
        Failure(
            reason=FailureReason.GUARDRAIL,
            detail="stash changed; left the branch",
            feedback="stash changed; left the branch. No stash. Stay.",
        ),
    ),
    (
        "no_changes",
        failures.no_changes(),
        Failure(
            reason=FailureReason.NO_CHANGES,
            detail="the agent finished without changing any file",
            feedback="the agent finished without changing any file; make the change.",
        ),
    ),
    (
        "guardrails_broken",
        failures.guardrails_broken([LINES]),
        Failure(
            reason=FailureReason.GUARDRAIL,
            detail="changed 9 lines; the limit is 5",
            feedback="The change was rejected by the plan's guardrails:\n"
            "- changed 9 lines; the limit is 5\n"
            "Make a smaller change that stays within these limits and leaves protected paths"
            " alone.",
        ),
    ),
    (
        "checks_failed",
        failures.checks_failed(CheckReport(False, (FAILED,)), FAILED),
        Failure(
            reason=FailureReason.VERIFY_FAILED,
            detail="`pytest -q` exited 1",
            feedback="The check `pytest -q` failed with exit code 1. The end of its output:\n"
            "E   assert 1 == 2",
        ),
    ),
    (
        "checks_failed, killed",
        failures.checks_failed(CheckReport(False, (KILLED,)), KILLED),
        Failure(
            reason=FailureReason.VERIFY_FAILED,
            detail="`sleep 99` was stopped (timeout)",
            feedback="The check `sleep 99` timed out and was killed. It printed nothing.",
        ),
    ),
    (
        "setup_failed",
        failures.setup_failed(CheckReport(False, (NPM,)), NPM),
        Failure(
            reason=FailureReason.SETUP_FAILED,
            detail="setup `npm ci` exited 1",
            feedback="Preparing the worktree failed before the agent started. The setup command"
            " `npm ci` failed with exit code 1. The end of its output:\nnpm ERR! missing lockfile",
        ),
    ),
    (
        "merge_verify_failed",
        failures.merge_verify_failed("on the merged result: `make` exited 2"),
        Failure(
            reason=FailureReason.MERGE_VERIFY_FAILED,
            detail="on the merged result: `make` exited 2",
            feedback="on the merged result: `make` exited 2",
        ),
    ),
    (
        "conflicted",
        failures.conflicted(REPORT),
        Failure(
            reason=FailureReason.CONFLICT,
            detail="conflict in a.py, b.py (also changed by e)",
            feedback="Merging onto the integration branch conflicted in a.py, b.py (also"
            " changed by e).\n\n--- a.py\n<<<<<<< wta/integration\nx\n=======\ny\n>>>>>>> f\n",
            conflict_paths=("a.py", "b.py"),
        ),
    ),
    (
        "dependencies_conflict",
        failures.dependencies_conflict(("c.py",)),
        Failure(
            reason=FailureReason.CONFLICT,
            detail="its dependencies' branches conflict in c.py",
            feedback="its dependencies' branches conflict in c.py",
            conflict_paths=("c.py",),
        ),
    ),
    (
        "crashed",
        failures.crashed(KeyError("gone")),
        Failure(
            reason=FailureReason.CRASHED, detail="KeyError: 'gone'", feedback="KeyError: 'gone'"
        ),
    ),
    (
        "crashed in git",
        failures.crashed(GitError(["status"], 128, "fatal: broken\n")),
        Failure(
            reason=FailureReason.CRASHED,
            detail="`git status` exited 128: fatal: broken",
            feedback="`git status` exited 128: fatal: broken",
        ),
    ),
    (
        "crashed starting the agent",
        failures.crashed(AgentError("the aider backend is not available yet")),
        Failure(
            reason=FailureReason.AGENT_ERROR,
            detail="the aider backend is not available yet",
            feedback="the aider backend is not available yet",
        ),
    ),
]


@pytest.mark.parametrize(("got", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_failure_wording(got: Failure, want: Failure) -> None:
    assert got == want


def test_a_crash_report_holds_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        report = failures.crash_report(exc)
    lines = report.splitlines()
    assert (lines[0], lines[1], lines[-1]) == (
        "[wta] the attempt failed unexpectedly:",
        "Traceback (most recent call last):",
        "ValueError: boom",
    )
