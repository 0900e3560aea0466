"""The text helpers used in messages: show, shorten, first_line, last_line."""

from __future__ import annotations

import pytest

from worktree_agents.text import DETAIL_MAX, first_line, last_line, shorten, show


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("auth", "'auth'"),
        (12, "12"),
        (None, "None"),
        ("x" * 38, "'" + "x" * 38 + "'"),  # 40 characters: whole
        ("x" * 39, "'" + "x" * 36 + "..."),  # 41: cut to 40
        (["a", 1], "['a', 1]"),
    ],
)
def test_show(value: object, shown: str) -> None:
    assert show(value) == shown


@pytest.mark.parametrize(
    ("text", "limit", "short"),
    [("abc", 3, "abc"), ("abcd", 3, "ab…"), ("", 1, ""), ("ab", 1, "…")],
)
def test_shorten(text: str, limit: int, short: str) -> None:
    assert shorten(text, limit) == short


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("one", "one", "one"),
        ("\n  first  \n\n middle \n  last \n\n", "first", "last"),
        ("", "", None),
        (" \n\t\n", "", None),
        ("y" * (DETAIL_MAX + 5), "y" * (DETAIL_MAX - 1) + "…", "y" * (DETAIL_MAX - 1) + "…"),
    ],
)
def test_first_and_last_line(text: str, first: str, last: str | None) -> None:
    assert (first_line(text), last_line(text)) == (first, last)


def test_first_line_of_nothing_and_with_a_limit() -> None:
    assert (first_line(None), first_line("abcdef\nx", 4), last_line("x\nabcdef", 4)) == (
        "",
        "abc…",
        "abc…",
    )
