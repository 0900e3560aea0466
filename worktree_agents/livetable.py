"""The live table's drawing: a progress line, then one line per feature, fitted to the
terminal. A window too narrow drops whole columns (least useful first) and one too short
shows the features that matter now, so that no row ever wraps."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Span, Text

from worktree_agents.domain import FeatureState
from worktree_agents.livemodel import ENDED, IN_FLIGHT, LiveModel, Row, Snapshot
from worktree_agents.statusview import duration_text

STATE_STYLES = {
    FeatureState.PENDING: "dim",
    FeatureState.READY: "",
    FeatureState.RUNNING: "cyan",
    FeatureState.VERIFYING: "blue",
    FeatureState.INTEGRATING: "magenta",
    FeatureState.MERGED: "green",
    FeatureState.DONE: "green",
    FeatureState.FAILED: "bold red",
    FeatureState.SKIPPED: "yellow",
}
# Which rows show first when not all fit: those at work, then those that went wrong.
RANK = {
    **dict.fromkeys(IN_FLIGHT, 0),
    FeatureState.FAILED: 1,
    FeatureState.READY: 2,
    FeatureState.SKIPPED: 3,
    FeatureState.MERGED: 4,
    FeatureState.DONE: 4,
    FeatureState.PENDING: 5,
}
GAP = 2  # the blank columns between two columns of the table
BAR_WIDTH = 24


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[Row, Snapshot, float], str]
    width: tuple[int, int]  # the fewest and the most characters it takes
    justify: str = "left"


def _attempt(row: Row, snap: Snapshot, now: float) -> str:
    if not row.attempt:
        return "-"
    # attempt numbers count across runs: past max_attempts (a retry of an earlier run's
    # failure), "3/2" would read wrong, so the number stands alone
    return (
        str(row.attempt)
        if row.attempt > snap.max_attempts
        else f"{row.attempt}/{snap.max_attempts}"
    )


def _cost(row: Row, snap: Snapshot, now: float) -> str:
    return f"{'~' if row.cost_estimated else ''}${row.cost_usd:.2f}" if row.cost_usd else "-"


def _state(row: Row, snap: Snapshot, now: float) -> str:
    return f"{row.state.value}: {row.reason}" if row.reason else row.state.value


COLUMNS = {
    "feature": Column("feature", lambda r, s, n: r.id, (4, 28)),
    "state": Column("state", _state, (11, 28)),
    "attempt": Column("try", _attempt, (3, 5), "right"),
    "elapsed": Column("time", lambda r, s, n: duration_text(r.elapsed(n)), (6, 7), "right"),
    "cost": Column("cost", _cost, (5, 8), "right"),
    "action": Column("last action", lambda r, s, n: r.action or "-", (12, 60)),
    "profile": Column("profile", lambda r, s, n: r.profile or "-", (7, 14)),
    "model": Column("model", lambda r, s, n: r.model or "-", (5, 20)),
}
ORDER = ("feature", "state", "profile", "model", "attempt", "elapsed", "cost", "action")
FLEXIBLE = (("action", 12), ("state", 7), ("feature", 4))  # with the fewest they keep
STABLE = ("feature", "profile", "model")
DROP_FIRST = ("model", "profile", "cost", "action", "attempt", "elapsed")


class LiveView:
    """A rich renderable drawn afresh from the model at each refresh."""

    def __init__(self, model: LiveModel, clock: Callable[[], float] = time.time) -> None:
        self.model = model
        self.clock = clock

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        snap, now = self.model.snapshot(), self.clock()
        height = options.height or options.max_height or console.height
        rows, hidden = fit_rows(snap.rows, max(1, height - 3))
        width = options.max_width
        widths = fit_columns(snap, rows, now, width)
        parts: list[Table | Group | Text] = [
            progress_line(snap, width),
            table(snap, rows, widths, now),
        ]
        if hidden:
            parts.append(Text(hidden_line(hidden), style="dim", no_wrap=True, overflow="ellipsis"))
        yield Group(*parts)


def fit_rows(rows: Sequence[Row], room: int) -> tuple[list[Row], list[Row]]:
    """The rows to show, in plan order, and those left out: all when they fit, else those
    at work first, then failures, then the latest to change (one line goes to the count
    of the rest)."""
    if len(rows) <= room:
        return list(rows), []
    room = max(1, room - 1)
    order = sorted(range(len(rows)), key=lambda i: (RANK[rows[i].state], -rows[i].changed, i))
    shown = set(order[:room])
    return [r for i, r in enumerate(rows) if i in shown], [
        r for i, r in enumerate(rows) if i not in shown
    ]


def hidden_line(hidden: Sequence[Row]) -> str:
    counts: dict[str, int] = {}
    for row in hidden:
        counts[row.state.value] = counts.get(row.state.value, 0) + 1
    what = ", ".join(f"{n} {state}" for state, n in counts.items())
    return f"... {len(hidden)} more: {what}"


def fit_columns(snap: Snapshot, rows: Sequence[Row], now: float, width: int) -> dict[str, int]:
    """The columns that fit in `width`, with the most characters each may take; the
    feature and its state always stay (cut short with an ellipsis in a very narrow
    window)."""

    def natural(name: str) -> int:
        column = COLUMNS[name]
        widest = max((len(column.cell(r, snap, now)) for r in rows), default=0)
        return max(len(column.header), min(widest, column.width[1]))

    widths = {name: natural(name) for name in ORDER}
    # Which columns fit is decided on widths that hold for the whole run (a column does not
    # come and go as states change): the ids, profiles and models as they are, the others
    # at their fewest characters.
    least = {
        n: widths[n] if n in STABLE else max(len(COLUMNS[n].header), COLUMNS[n].width[0])
        for n in ORDER
    }
    names = list(ORDER)
    for name in DROP_FIRST:
        if sum(least[n] for n in names) + GAP * (len(names) - 1) <= width:
            break
        names.remove(name)
    # what still overflows is taken from the last action, then the state, then the id
    excess = sum(widths[n] for n in names) + GAP * (len(names) - 1) - width
    for name, floor in FLEXIBLE:
        if excess > 0 and name in names:
            cut = min(excess, max(0, widths[name] - floor))
            widths[name], excess = widths[name] - cut, excess - cut
    return {name: widths[name] for name in names}


def table(snap: Snapshot, rows: Sequence[Row], widths: dict[str, int], now: float) -> Group:
    """The header and one line per row, each cell cut or padded to its column's width.
    A line is one string, the state's colour a span on it: a frame costs a tenth of what
    a rich Table's does."""
    gap = " " * GAP
    header = gap.join(_cell(COLUMNS[n].header, w, COLUMNS[n].justify) for n, w in widths.items())
    lines = [Text(header, style="bold", no_wrap=True, overflow="ellipsis")]
    state = widths["feature"] + GAP  # the state is the second column, and always shown
    for row in rows:
        cells = (
            _cell(COLUMNS[n].cell(row, snap, now), w, COLUMNS[n].justify) for n, w in widths.items()
        )
        span = Span(state, state + widths["state"], STATE_STYLES[row.state])
        lines.append(Text(gap.join(cells), spans=[span], no_wrap=True, overflow="ellipsis"))
    return Group(*lines)


def _cell(text: str, width: int, justify: str) -> str:
    """`text` cut (with an ellipsis) or padded to `width` terminal cells."""
    size = cell_len(text)
    if size > width:
        text, size = set_cell_size(text, width - 1) + "…", width
    pad = " " * (width - size)
    return pad + text if justify == "right" else text + pad


def progress_line(snap: Snapshot, width: int) -> Table:
    """The bar of ended features out of the selected ones, the counts, the cost against
    the run budget and the slots in use, on one line."""
    total = len(snap.rows)
    ended = sum(1 for r in snap.rows if r.state in ENDED)
    counts = [f"{ended}/{total}"]
    for state in (FeatureState.MERGED, FeatureState.DONE, FeatureState.FAILED):
        if snap.count(state) or state is FeatureState.MERGED:
            counts.append(f"{snap.count(state)} {state.value}")
    if snap.count(FeatureState.SKIPPED):
        counts.append(f"{snap.count(FeatureState.SKIPPED)} skipped")
    budget = f" of ${snap.budget_usd:.2f}" if snap.budget_usd is not None else ""
    facts = [", ".join(counts), f"cost ${snap.cost_usd:.2f}{budget}"]
    if not snap.finished:
        facts.append(f"slots {snap.busy}/{snap.slots}")
    text = Text("  ".join(facts), no_wrap=True, overflow="ellipsis")
    line = Table.grid(padding=(0, 1))
    bar_width = min(BAR_WIDTH, max(0, width - len(text.plain) - 1))
    if bar_width >= 6:  # a bar too short says nothing: the counts go first
        line.add_column(width=bar_width, no_wrap=True)
        line.add_column(no_wrap=True, overflow="ellipsis")
        bar = ProgressBar(total=max(total, 1), completed=ended, width=bar_width)
        line.add_row(bar, text)
    else:
        line.add_column(no_wrap=True, overflow="ellipsis")
        line.add_row(text)
    return line
