"""Progress on a terminal: the live table (livetable.py), redrawn in place by rich a few
times a second, with the events a person must not miss printed above it as lines, so that
they stay in the scrollback."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from worktree_agents.events import (
    AttemptInterrupted,
    BaseFollowed,
    CheckoutChanged,
    Conflict,
    Event,
    FeatureFailed,
    GuardrailTripped,
    QuotaWait,
    Retry,
    RunFinished,
    RunStarted,
    Skipped,
    SlotsChanged,
    ToolDenied,
    Uncommitted,
    WorkSaved,
)
from worktree_agents.livemodel import LiveModel
from worktree_agents.livetable import LiveView
from worktree_agents.progress import describe

REFRESH_PER_SECOND = 4  # the drawing's bound: events only change the model
ALARMS = (Conflict, FeatureFailed, GuardrailTripped, ToolDenied)
WARNINGS = (
    CheckoutChanged,
    Uncommitted,
    QuotaWait,
    SlotsChanged,
    Skipped,
    Retry,
    AttemptInterrupted,
    WorkSaved,
)
# The events printed above the table, as the line `wta run` prints off a terminal: the run's
# start and end, and what went wrong or needs a look. The rest only changes the table.
SCROLLED = (RunStarted, BaseFollowed, RunFinished, *ALARMS, *WARNINGS)


def console_for(stream: TextIO, colour: bool) -> Console:
    """A console on `stream`, a terminal; without colour it writes no SGR code at all (not
    even bold), only the cursor movements of the redraw."""
    return Console(
        file=stream,
        force_terminal=True,
        color_system="standard" if colour else None,
        no_color=False,  # NO_COLOR is decided by the caller, with --color
        highlight=False,
        markup=False,
        emoji=False,
    )


class LivePrinter:
    """The live table for one command: a context manager, and the run's event callback."""

    def __init__(
        self, model: LiveModel, console: Console, clock: Callable[[], float] = time.time
    ) -> None:
        self.model = model
        self.console = console
        self.live = Live(
            LiveView(model, clock),
            console=console,
            refresh_per_second=REFRESH_PER_SECOND,
            redirect_stdout=False,  # stdout is the command's result (a table, or JSON)
            redirect_stderr=True,  # a stray warning goes above the table, not through it
        )

    def __enter__(self) -> LivePrinter:
        return self  # the table shows from the run's start: an error before it prints alone

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.live.is_started:
            self.live.stop()  # draws the final table once more, and leaves it on screen
            self.console.line()  # apart from the summary that follows

    def __call__(self, event: Event) -> None:
        self.model.apply(event)
        if isinstance(event, RunStarted):
            self.live.start(refresh=True)  # a second start (`wta merge --push` retries) is none
        if not isinstance(event, SCROLLED):
            return
        line = describe(event)
        if line is None:
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(event.ts))
        style = (
            "red" if isinstance(event, ALARMS) else "yellow" if isinstance(event, WARNINGS) else ""
        )
        self.console.print(Text(f"{stamp} {line}", style=style), soft_wrap=True)

    def settle(self, features: Sequence[Mapping[str, Any]]) -> None:
        self.model.settle(features)
