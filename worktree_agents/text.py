"""Small text helpers for messages: a value shown in a plan error, a line cut to a limit, a
count with its noun, the first or last line of some output, a cost, and the warning for a
changed checkout."""

from __future__ import annotations

from collections.abc import Sequence

DETAIL_MAX = 300  # a failure's one-line detail, as kept in results and shown in `wta status`
SHOW_MAX = 40


def show(value: object) -> str:
    """`value` as Python writes it, cut to SHOW_MAX characters: for a value in an error."""
    text = repr(value)
    return text if len(text) <= SHOW_MAX else text[: SHOW_MAX - 3] + "..."


def shorten(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its start and an ellipsis, in `limit`."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`count` and its noun: "1 feature", "2 features" (`nouns` for an irregular plural)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def cut_at_word(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else cut at the last word boundary (unless
    that loses over half of it) with "…" added, in `limit` characters."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def first_line(text: str | None, limit: int = DETAIL_MAX) -> str:
    """The first non-empty line of `text`, stripped and shortened to `limit` ("" if none)."""
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    return shorten(line, limit)


def last_line(text: str, limit: int = DETAIL_MAX) -> str | None:
    """The last non-empty line of `text`, stripped and shortened to `limit` (None if none)."""
    line = next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), None)
    return None if line is None else shorten(line, limit)


def money(cost_usd: float, estimated: bool, places: int = 4) -> str:
    """A cost, "~$0.0123" when it is an estimate (from the token usage of a killed agent)."""
    return f"{'~' if estimated else ''}${cost_usd:.{places}f}"


def checkout_warning(paths: Sequence[str], features: Sequence[str]) -> str:
    """The warning for a change to the user's checkout while agents ran."""
    return (
        f"warning: your checkout changed while {', '.join(features)} ran"
        f" (wta left it as it is): {', '.join(paths)}"
    )
