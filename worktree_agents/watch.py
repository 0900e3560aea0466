"""How a run is watched: the live table on a terminal, else one line per event (the
default off a TTY, and with `--no-live`). Colour follows `--color` and NO_COLOR."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TextIO

from worktree_agents.domain import ColorMode as ColorMode
from worktree_agents.domain import FeatureState
from worktree_agents.events import Event
from worktree_agents.plan import Plan
from worktree_agents.progress import LinePrinter


class Progress(Protocol):
    def __call__(self, event: Event) -> None: ...

    def settle(self, features: Sequence[Mapping[str, Any]]) -> None:
        """The features as the store holds them once the run is over."""


class Lines(LinePrinter):
    """One line per event; nothing to settle."""

    def settle(self, features: Sequence[Mapping[str, Any]]) -> None:
        return None


def wants_colour(color: ColorMode, environ: Mapping[str, str]) -> bool:
    """`--color always` or `never` decides; `auto` means colour unless NO_COLOR is set to
    anything but the empty string (https://no-color.org)."""
    if color is ColorMode.AUTO:
        return environ.get("NO_COLOR", "") == ""
    return color is ColorMode.ALWAYS


def is_live_terminal(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Whether `stream` is a terminal that can redraw in place (not TERM=dumb)."""
    try:
        return stream.isatty() and environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


@contextmanager
def watching(
    plan: Plan,
    *,
    live: bool = True,
    color: ColorMode = ColorMode.AUTO,
    start_state: FeatureState = FeatureState.PENDING,
    no_merge: bool = False,
    profile: str | None = None,
) -> Iterator[Progress]:
    """The run's event callback for the time of the block: the live table when `live` and
    stderr is a terminal (left on screen at the end), else one line per event."""
    stream = sys.stderr
    if not live or not is_live_terminal(stream, os.environ):
        yield Lines(stream)
        return
    from worktree_agents.livemodel import LiveModel
    from worktree_agents.liveprinter import LivePrinter, console_for  # rich: only when drawn

    model = LiveModel(plan, start_state=start_state, no_merge=no_merge, profile=profile)
    with LivePrinter(model, console_for(stream, wants_colour(color, os.environ))) as printer:
        yield printer
