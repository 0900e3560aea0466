"""The live table's model and drawing, from events as a run emits them, drawn on a console
of a given size: whole screens compared."""

from __future__ import annotations

import io
import time
from collections.abc import Sequence

import pytest
from rich.console import Console

from worktree_agents.domain import (
    CommitSha,
    FailureReason,
    FeatureId,
    FeatureState,
    RunId,
    RunStatus,
)
from worktree_agents.events import (
    AgentFinished,
    AgentStarted,
    Conflict,
    Event,
    FeatureFailed,
    FeatureReady,
    Merged,
    MergeStarted,
    RunFinished,
    RunStarted,
    Skipped,
    ToolUsed,
    VerifyFinished,
    VerifyStarted,
)
from worktree_agents.livemodel import LiveModel
from worktree_agents.liveprinter import LivePrinter
from worktree_agents.livetable import LiveView
from worktree_agents.plan_load import load_plan_text
from worktree_agents.watch import ColorMode, wants_colour

PLAN = """
[agent]
backend = "patch"
dir = "patches"

[agents.big]
backend = "patch"
dir = "patches"
model = "opus"

[verify]
commands = ["make test"]

[guardrails]
run_budget_usd = 2.5

[[feature]]
id = "api"

[[feature]]
id = "ui"
agent = "big"
acceptance = ["make ui"]

[[feature]]
id = "docs"
depends_on = ["ui"]

[[feature]]
id = "cli"
"""
RUN = RunId("r1")
T0 = 1_800_000_000.0
IDS = tuple(FeatureId(f) for f in ("api", "ui", "docs", "cli"))


def model(no_merge: bool = False) -> LiveModel:
    return LiveModel(load_plan_text(PLAN, "wta.toml"), no_merge=no_merge)


def feed(live: LiveModel, events: Sequence[Event]) -> LiveModel:
    for event in events:
        live.apply(event)
    return live


def draw(live: LiveModel, width: int = 100, height: int = 30, now: float = T0 + 60) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, height=height, color_system=None)
    console.print(LiveView(live, clock=lambda: now))
    return trimmed(out.getvalue())


def trimmed(screen: str) -> str:
    """The screen without the blanks that pad each line to the table's width."""
    return "".join(line.rstrip() + "\n" for line in screen.splitlines())


def started(fid: str, at: float, attempt: int = 1, profile: str = "default") -> AgentStarted:
    model = "opus" if profile == "big" else None
    return AgentStarted(
        run_id=RUN,
        ts=at,
        feature_id=FeatureId(fid),
        attempt=attempt,
        profile=profile,
        backend="patch",
        model=model,
    )


def finished(fid: str, at: float, cost: float | None, ok: bool = True) -> AgentFinished:
    reason = None if ok else FailureReason.TIMEOUT
    return AgentFinished(
        run_id=RUN,
        ts=at,
        feature_id=FeatureId(fid),
        attempt=1,
        ok=ok,
        reason=reason,
        cost_usd=cost,
        turns=3,
        duration_s=1.0,
    )


def check(fid: str, at: float, command: str, ok: bool | None = None) -> Event:
    if ok is None:
        return VerifyStarted(
            run_id=RUN, ts=at, feature_id=FeatureId(fid), command=command, stage="feature"
        )
    return VerifyFinished(
        run_id=RUN,
        ts=at,
        feature_id=FeatureId(fid),
        command=command,
        stage="feature",
        ok=ok,
        exit_code=0 if ok else 1,
        duration_s=0.5,
    )


A_RUN: list[Event] = [
    RunStarted(run_id=RUN, ts=T0, plan_path="wta.toml", parallel=2, features=IDS),
    FeatureReady(run_id=RUN, ts=T0, feature_id=FeatureId("api")),
    FeatureReady(run_id=RUN, ts=T0, feature_id=FeatureId("ui")),
    started("api", T0 + 1),
    started("ui", T0 + 2, profile="big"),
    ToolUsed(
        run_id=RUN,
        ts=T0 + 3,
        feature_id=FeatureId("ui"),
        attempt=1,
        tool="Bash",
        summary="npm test",
    ),
    finished("api", T0 + 10, 0.125),
    check("api", T0 + 11, "make test"),
    check("api", T0 + 12, "make test", ok=True),
    MergeStarted(run_id=RUN, ts=T0 + 13, feature_id=FeatureId("api")),
    Merged(
        run_id=RUN,
        ts=T0 + 14,
        feature_id=FeatureId("api"),
        commit=CommitSha("a" * 40),
        integration_head=CommitSha("a" * 40),
    ),
    FeatureReady(run_id=RUN, ts=T0 + 14, feature_id=FeatureId("cli")),
    started("cli", T0 + 15),
    finished("cli", T0 + 20, None, ok=False),
    FeatureFailed(
        run_id=RUN,
        ts=T0 + 21,
        feature_id=FeatureId("cli"),
        reason=FailureReason.TIMEOUT,
        detail="timed out",
    ),
]


def test_a_run_in_progress_one_row_per_feature() -> None:
    assert draw(feed(model(), A_RUN)) == (
        "━━━━━━━━━━━━             2/4, 1 merged, 1 failed  cost $0.12 of $2.50  slots 1/2\n"
        "feature  state            profile  model  try   time   cost  last action\n"
        "api      merged           default  -      1/2  13.0s  $0.12  merged as aaaaaaaaaa\n"
        "ui       running          big      opus   1/2  58.0s      -  Bash: npm test\n"
        "docs     pending          default  -        -      -      -  -\n"
        "cli      failed: timeout  default  -      1/2   6.0s      -  agent failed (timeout)\n"
    )


def test_a_narrow_window_drops_columns_least_useful_first() -> None:
    live = feed(model(), A_RUN)
    assert draw(live, width=60) == (
        "2/4, 1 merged, 1 failed  cost $0.12 of $2.50  slots 1/2\n"
        "feature  state            try   time   cost  last action\n"
        "api      merged           1/2  13.0s  $0.12  merged as aaaa…\n"
        "ui       running          1/2  58.0s      -  Bash: npm test\n"
        "docs     pending            -      -      -  -\n"
        "cli      failed: timeout  1/2   6.0s      -  agent failed (…\n"
    )
    assert draw(live, width=30) == (
        "2/4, 1 merged, 1 failed  cost…\n"
        "feature  state            time\n"
        "api      merged          13.0s\n"
        "ui       running         58.0s\n"
        "docs     pending             -\n"
        "cli      failed: timeo…   6.0s\n"
    )


def test_a_short_window_shows_the_features_at_work_and_counts_the_rest() -> None:
    live = feed(model(), A_RUN)
    assert draw(live, height=6) == (
        "━━━━━━━━━━━━             2/4, 1 merged, 1 failed  cost $0.12 of $2.50  slots 1/2\n"
        "feature  state            profile  model  try   time  cost  last action\n"
        "ui       running          big      opus   1/2  58.0s     -  Bash: npm test\n"
        "cli      failed: timeout  default  -      1/2   6.0s     -  agent failed (timeout)\n"
        "... 2 more: 1 merged, 1 pending\n"
    )


def test_the_end_of_a_run_and_what_the_store_says() -> None:
    live = feed(model(), A_RUN)
    live.apply(
        Skipped(run_id=RUN, ts=T0 + 30, feature_id=FeatureId("docs"), because=FeatureId("ui"))
    )
    live.apply(
        RunFinished(
            run_id=RUN,
            ts=T0 + 31,
            status=RunStatus.PARTIAL,
            merged=1,
            failed=2,
            skipped=1,
            cost_usd=0.125,
            duration_s=31.0,
        )
    )
    store = {"api": "merged", "ui": "failed", "docs": "skipped", "cli": "failed"}
    live.settle([{"id": fid, "state": state, "reason": None} for fid, state in store.items()])
    assert draw(live) == (
        "━━━━━━━━━━━━━━━━━━━━━━━━ 4/4, 1 merged, 2 failed, 1 skipped  cost $0.12 of $2.50\n"
        "feature  state              profile  model  try   time   cost  last action\n"
        "api      merged             default  -      1/2  13.0s  $0.12  merged as aaaaaaaaaa\n"
        "ui       failed             big      opus   1/2  58.0s      -  Bash: npm test\n"
        "docs     skipped: after ui  default  -        -      -      -  -\n"
        "cli      failed: timeout    default  -      1/2   6.0s      -  agent failed (timeout)\n"
    )


def test_with_no_merge_a_feature_is_done_when_its_last_check_passes() -> None:
    live = model(no_merge=True)
    events: list[Event] = [
        RunStarted(run_id=RUN, ts=T0, plan_path="wta.toml", parallel=2, features=IDS[:2]),
        started("ui", T0 + 1, profile="big"),
        finished("ui", T0 + 2, 0.5),
        check("ui", T0 + 3, "make test", ok=True),
    ]
    feed(live, events)
    states = [(r.id, r.state, r.action) for r in live.snapshot().rows]
    assert states == [
        ("api", FeatureState.PENDING, None),
        ("ui", FeatureState.VERIFYING, "check `make test` passed"),
    ]
    feed(live, [check("ui", T0 + 4, "make ui"), check("ui", T0 + 5, "make ui", ok=True)])
    states = [(r.id, r.state, r.action) for r in live.snapshot().rows]
    assert states == [
        ("api", FeatureState.PENDING, None),
        ("ui", FeatureState.DONE, "check `make ui` passed"),
    ]


def stamp(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def test_the_printer_scrolls_what_must_not_be_missed_above_the_final_table() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100, height=30, color_system=None)
    conflict = Conflict(
        run_id=RUN,
        ts=T0 + 22,
        feature_id=FeatureId("ui"),
        paths=("a.py",),
        touched_by=(FeatureId("api"),),
    )
    with LivePrinter(model(), console, clock=lambda: T0 + 60) as printer:
        for event in [*A_RUN, conflict]:
            printer(event)
    assert trimmed(out.getvalue()) == (
        f"{stamp(T0)} run r1: 4 features, 2 slots\n"
        f"{stamp(T0 + 21)} cli: failed (timeout): timed out\n"
        f"{stamp(T0 + 22)} ui: CONFLICT in a.py with api\n"
        "━━━━━━━━━━━━             2/4, 1 merged, 1 failed  cost $0.12 of $2.50  slots 1/2\n"
        "feature  state            profile  model  try   time   cost  last action\n"
        "api      merged           default  -      1/2  13.0s  $0.12  merged as aaaaaaaaaa\n"
        "ui       running          big      opus   1/2  58.0s      -  conflict in a.py\n"
        "docs     pending          default  -        -      -      -  -\n"
        "cli      failed: timeout  default  -      1/2   6.0s      -  agent failed (timeout)\n"
    )


@pytest.mark.parametrize(
    ("color", "no_color", "expected"),
    [
        (ColorMode.AUTO, None, True),
        (ColorMode.AUTO, "", True),
        (ColorMode.AUTO, "1", False),
        (ColorMode.AUTO, "0", False),  # any value but the empty one: no-color.org
        (ColorMode.ALWAYS, "1", True),
        (ColorMode.NEVER, None, False),
    ],
)
def test_colour_follows_the_option_then_no_color(
    color: ColorMode, no_color: str | None, expected: bool
) -> None:
    environ = {} if no_color is None else {"NO_COLOR": no_color}
    assert wants_colour(color, environ) is expected


def test_an_attempt_past_max_attempts_shows_its_number_alone() -> None:
    """Attempt numbers count across runs: a retry of an earlier run's failure is attempt 3
    of a plan allowing 2 per run, which "3/2" would misstate."""
    events: list[Event] = [
        RunStarted(run_id=RUN, ts=T0, plan_path="wta.toml", parallel=2, features=IDS),
        started("api", T0 + 1, attempt=3),
        started("ui", T0 + 2, attempt=2),
    ]
    rows = draw(feed(model(), events)).splitlines()[2:4]
    assert [row.split()[4] for row in rows] == ["3", "2/2"]
