"""Progress off a TTY: one plain line per event, on stderr."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from worktree_agents.events import (
    AgentFinished,
    AgentStarted,
    AttemptInterrupted,
    BaseFollowed,
    CheckoutChanged,
    Conflict,
    Event,
    FeatureFailed,
    GuardrailTripped,
    Merged,
    QuotaWait,
    Retry,
    RunFinished,
    RunStarted,
    Skipped,
    SlotsChanged,
    ToolDenied,
    Uncommitted,
    VerifyFinished,
    WorkSaved,
    WorktreeCreated,
)
from worktree_agents.text import checkout_warning as checkout_warning
from worktree_agents.text import money as money
from worktree_agents.text import plural
from worktree_agents.uncommitted import WARNING as UNCOMMITTED_WARNING


def describe(event: Event) -> str | None:
    """The line for an event, or None for events too chatty to print."""
    for line_for in (_run_line, _attempt_line, _outcome_line, _notice_line):
        line = line_for(event)
        if line is not None:
            return line
    return None


def _run_line(event: Event) -> str | None:
    """The run's own events: its start and end, the base, the slots and quota waits."""
    match event:
        case RunStarted():
            size = f"{plural(len(event.features), 'feature')}, {plural(event.parallel, 'slot')}"
            return f"run {event.run_id}: {size}"
        case BaseFollowed():
            how = "merged into" if event.how == "merge" else "fast-forwarded onto"
            base = f"{event.base} ({event.base_commit[:10]})"
            return f"integration: {base} {how} it, now at {event.integration_head[:10]}"
        case QuotaWait():
            until = time.strftime("%H:%M", time.localtime(event.until))
            if event.gave_up:
                return f"quota spent until {until}: {event.detail}"
            return f"{event.feature_id}: quota spent until {until}; waiting"
        case SlotsChanged():
            why = "rate limited" if event.reason == "rate_limit" else "no rate limit lately"
            return f"{why}: {event.slots} agents at once (was {event.was})"
        case RunFinished():
            return (
                f"run finished ({event.status}): {event.merged} merged, {event.failed} failed,"
                f" {event.skipped} skipped in {event.duration_s:.1f}s, cost ${event.cost_usd:.4f}"
            )
    return None


def _attempt_line(event: Event) -> str | None:
    """One attempt on its way: its worktree, its agent, its checks."""
    match event:
        case WorktreeCreated():
            where = f"{event.path} on {event.branch} at {event.base_commit[:10]}"
            return f"{event.feature_id}: worktree {where}"
        case AgentStarted():
            model = f", {event.model}" if event.model else ""
            how = f"{event.backend}, profile {event.profile}{model}"
            return f"{event.feature_id}: attempt {event.attempt} started ({how})"
        case ToolDenied():
            return f"{event.feature_id}: denied {event.tool}: {event.reason}"
        case AgentFinished():
            cost = f", {money(event.cost_usd, event.cost_estimated)}" if event.cost_usd else ""
            verdict = "finished" if event.ok else f"failed ({event.reason})"
            if event.rate_limited:
                verdict = "stopped by rate limits"
            return f"{event.feature_id}: agent {verdict} in {event.duration_s:.1f}s{cost}"
        case AttemptInterrupted():
            spent = f", {money(event.cost_usd, event.cost_estimated)}" if event.cost_usd else ""
            return f"{event.feature_id}: attempt {event.attempt} interrupted (not a try){spent}"
        case VerifyFinished():
            verdict = "passed" if event.ok else "FAILED"
            what = "setup" if event.stage == "setup" else f"{event.stage} check"
            return f"{event.feature_id}: {what} `{event.command}` {verdict}"
    return None


def _outcome_line(event: Event) -> str | None:
    """How a feature ended, or that it goes on: merged, conflict, failed, retry, skipped."""
    match event:
        case Merged():
            return f"{event.feature_id}: merged as {event.commit[:10]}"
        case Conflict():
            by = f" with {', '.join(event.touched_by)}" if event.touched_by else ""
            return f"{event.feature_id}: CONFLICT in {', '.join(event.paths)}{by}"
        case FeatureFailed():
            return f"{event.feature_id}: failed ({event.reason}): {event.detail}"
        case Retry():
            return (
                f"{event.feature_id}: retrying as attempt {event.attempt}"
                f" on profile {event.profile} after {event.reason}"
            )
        case Skipped():
            return f"{event.feature_id}: skipped because {event.because} did not merge"
    return None


def _notice_line(event: Event) -> str | None:
    """What the person should know: guardrails, warnings, work kept."""
    match event:
        case GuardrailTripped():
            return f"{event.feature_id or 'run'}: guardrail {event.rule}: {event.detail}"
        case CheckoutChanged():
            return checkout_warning(event.paths, event.features)
        case Uncommitted():
            return f"warning: {UNCOMMITTED_WARNING}: {', '.join(event.paths)}"
        case WorkSaved():
            return f"{event.feature_id}: kept work found on its branch as {event.ref}"
    return None


class LinePrinter:
    """Prints each event's line with a clock time."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream: TextIO | None = stream or sys.stderr

    def __call__(self, event: Event) -> None:
        line = describe(event)
        if line is None or self.stream is None:
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(event.ts))
        try:
            self.stream.write(f"{stamp} {line}\n")
            self.stream.flush()
        except OSError:  # e.g. `wta run 2>&1 | head`: progress is best effort, the run goes on
            self.stream = None
