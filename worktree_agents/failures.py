"""Why an attempt failed, worded once: the reason, one line for people, and the feedback a
retry's prompt carries. Pure functions of what each step found."""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass

from worktree_agents.agents.base import AgentResult
from worktree_agents.domain import FailureReason, GuardrailRule
from worktree_agents.errors import AgentError, WtaError
from worktree_agents.guardrails import Violation, format_feedback
from worktree_agents.merge import ConflictReport
from worktree_agents.verify import CheckReport, CheckRun


@dataclass(frozen=True, kw_only=True)
class Failure:
    reason: FailureReason
    detail: str  # one line, for people
    feedback: str  # for the agent's next attempt
    conflict_paths: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Finding:
    """What a fence check around an agent found it had done outside its own work."""

    rule: GuardrailRule
    detail: str
    advice: str  # what the agent should do instead, for the retry


def agent_failed(result: AgentResult) -> Failure:
    detail = result.detail or "the agent failed"
    return Failure(
        reason=result.reason or FailureReason.AGENT_ERROR,
        detail=detail,
        feedback=f"The agent stopped with an error: {detail}",
    )


def fenced(findings: Sequence[Finding]) -> Failure:
    detail = "; ".join(f.detail for f in findings)
    advice = " ".join(f.advice for f in findings)
    return Failure(reason=FailureReason.GUARDRAIL, detail=detail, feedback=f"{detail}. {advice}")


def no_changes() -> Failure:
    detail = "the agent finished without changing any file"
    return Failure(
        reason=FailureReason.NO_CHANGES, detail=detail, feedback=detail + "; make the change."
    )


def guardrails_broken(violations: Sequence[Violation]) -> Failure:
    return Failure(
        reason=FailureReason.GUARDRAIL,
        detail="; ".join(v.detail for v in violations),
        feedback=format_feedback(violations),
    )


def check_detail(run: CheckRun) -> str:
    if run.killed_for is not None:
        return f"`{run.command}` was stopped ({run.killed_for})"
    return f"`{run.command}` exited {run.exit_code}"


def checks_failed(report: CheckReport, run: CheckRun) -> Failure:
    return Failure(
        reason=FailureReason.VERIFY_FAILED, detail=check_detail(run), feedback=report.feedback()
    )


def setup_failed(report: CheckReport, run: CheckRun) -> Failure:
    """A `[run] setup` command failed in the new worktree, so the agent never started."""
    feedback = report.feedback("setup command")
    return Failure(
        reason=FailureReason.SETUP_FAILED,
        detail="setup " + check_detail(run),
        feedback=f"Preparing the worktree failed before the agent started. {feedback}",
    )


def merge_verify_failed(detail: str) -> Failure:
    return Failure(reason=FailureReason.MERGE_VERIFY_FAILED, detail=detail, feedback=detail)


def conflicted(report: ConflictReport) -> Failure:
    paths = ", ".join(report.paths)
    by = f" (also changed by {', '.join(report.touched_by)})" if report.touched_by else ""
    where = f"Merging onto the integration branch conflicted in {paths}{by}."
    return Failure(
        reason=FailureReason.CONFLICT,
        detail=f"conflict in {paths}{by}",
        feedback=f"{where}\n\n{report.hunks}",
        conflict_paths=report.paths,
    )


def dependencies_conflict(paths: tuple[str, ...]) -> Failure:
    detail = f"its dependencies' branches conflict in {', '.join(paths)}"
    return Failure(
        reason=FailureReason.CONFLICT, detail=detail, feedback=detail, conflict_paths=paths
    )


def crashed(exc: Exception) -> Failure:
    reason = FailureReason.AGENT_ERROR if isinstance(exc, AgentError) else FailureReason.CRASHED
    detail = exc.message if isinstance(exc, WtaError) else f"{type(exc).__name__}: {exc}"
    return Failure(reason=reason, detail=detail, feedback=detail)


def crash_report(exc: Exception) -> str:
    """What an attempt's log gets when the attempt fails unexpectedly."""
    return "[wta] the attempt failed unexpectedly:\n" + "".join(traceback.format_exception(exc))
