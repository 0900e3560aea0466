"""The workflow emitter: every string reads back as itself, under YAML 1.2 and 1.1 readers
(ruamel's pure-Python loader reads `on` and `yes` as booleans, as YAML 1.1 does), and
block-style output has the shape a person expects."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML

from worktree_agents.yamlemit import Comment, Node, Raw, emit, scalar

READERS = {"1.2": YAML(typ="safe"), "1.1": YAML(typ="safe", pure=True)}
TRICKY = [
    "on", "On", "ON", "off", "yes", "Yes", "no", "y", "N", "true", "False", "null", "Null",
    "~", "", " ", " lead", "trail ", "1e3", "1E3", "0x1f", "0o17", "017", "1_000", "1:20",
    ".5", ".inf", "-.inf", ".NaN", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "12",
    "-1", "+1", "a: b", "a:b", "a #b", "#a", "- a", "-a", "? a", "[a]", "{a}", "a, b",
    "&a", "*a", "!a", "!!str", "|", ">", "'a'", '"a"', "%a", "@a", "`a`", "a\nb", "a\tb",
    "\\", "a\\nb", "é", "日本", "a\u2028b", "a\u0085b", "\ufeffa", "a\x00b", "a\x7fb",
    "${{ x }}", "<<", "=", "2fa.login", "v1.2", "wta run-feature 2fa.login --push origin",
]  # fmt: skip


def read(reader: YAML, text: str) -> Any:
    return reader.load(text)


@pytest.mark.parametrize("version", sorted(READERS))
@pytest.mark.parametrize("value", TRICKY)
def test_a_tricky_string_reads_back_as_itself(version: str, value: str) -> None:
    text = "\n".join(emit({value: value, "list": [value], "map": {"k": value}})) + "\n"
    assert read(READERS[version], text) == {value: value, "list": [value], "map": {"k": value}}


@given(st.text(max_size=30))
def test_any_string_reads_back_as_itself(value: str) -> None:
    text = f"k: {scalar(value)}\n"
    for reader in READERS.values():
        assert read(reader, text) == {"k": value}


def test_plain_where_nothing_can_be_misread_and_quoted_elsewhere() -> None:
    values = ["run-feature", "on", "1e3", "a: b", 'python -m pip install "$X"', "a, b", "é"]
    assert [scalar(v) for v in values] == [
        "run-feature",
        '"on"',
        '"1e3"',
        '"a: b"',
        'python -m pip install "$X"',
        "a, b",
        '"é"',
    ]
    assert [scalar(True), scalar(False), scalar(360), scalar(Raw("${{ x }}"))] == [
        "true",
        "false",
        "360",
        "${{ x }}",
    ]


def test_block_style_with_comments_lists_of_mappings_and_empty_values() -> None:
    document: dict[str, Node] = {
        Comment("first line\nsecond line"): None,
        Raw("on"): {"workflow_dispatch": None},
        "jobs": {
            "a": {
                "needs": ["x", "z"],
                "steps": [{"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}}],
                "empty": {},
                "none": [],
            }
        },
    }
    assert emit(document) == [
        "# first line",
        "# second line",
        "on:",
        "  workflow_dispatch:",
        "jobs:",
        "  a:",
        "    needs:",
        "      - x",
        "      - z",
        "    steps:",
        "      - uses: actions/checkout@v4",
        "        with:",
        "          fetch-depth: 0",
        "    empty: {}",
        "    none: []",
    ]


def test_a_list_in_a_list_is_refused() -> None:
    with pytest.raises(TypeError, match="a list item must be a scalar or a mapping"):
        emit({"k": [["nested"]]})
