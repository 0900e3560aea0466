"""A small block-style YAML emitter for the workflows wta writes (ciworkflow.py).

Hand-written rather than a dependency: wta emits a handful of shapes (mappings, lists,
strings, integers, booleans), and what matters is that a person reads the result easily
and that no value is ever misread. A string is written plain only when no YAML reader
(1.1 or 1.2) could take it for anything else; every other string is double-quoted with
escapes. `Raw` marks text wta writes itself and wants verbatim (`on`, `${{ ... }}`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import TypeAlias

# Starts with a letter, holds nothing YAML gives a meaning to (no ": ", " #", flow
# indicators at the start); the words below (in any case: Yes, YES) are booleans or null
# in YAML 1.1 or 1.2.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9 _./(),@$\"'=+-]*")
_RESERVED = frozenset(["y", "yes", "n", "no", "true", "false", "on", "off", "null"])


class Raw(str):
    """Text written as is: a key or value wta spells itself (`on`, `${{ !cancelled() }}`)."""


class Comment(str):
    """A mapping key that is written as a `# ...` line before the next key (value ignored)."""


Node: TypeAlias = str | int | bool | Sequence["Node"] | Mapping[str, "Node"] | None


def scalar(value: str | int | bool) -> str:
    """`value` as a YAML scalar that every reader reads back as exactly `value`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Raw):
        return str(value)
    plain = (
        _PLAIN.fullmatch(value) is not None
        and not value.endswith(" ")
        and value.lower() not in _RESERVED
    )
    return value if plain else _quoted(value)


def _quoted(value: str) -> str:
    out = ['"']
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif unicodedata.category(char)[0] in "CZ" and char != " ":
            code = ord(char)  # controls, line and paragraph separators, BOM, surrogates
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def emit(mapping: Mapping[str, Node], indent: int = 0) -> list[str]:
    """The lines of `mapping` in block style, indented by `indent` spaces."""
    pad = " " * indent
    lines: list[str] = []
    for key, value in mapping.items():
        if isinstance(key, Comment):
            lines.extend(f"{pad}# {line}".rstrip() for line in key.splitlines())
            continue
        head = f"{pad}{scalar(key)}:"
        if value is None:
            lines.append(head)
        elif isinstance(value, Mapping):
            lines.append(head if value else f"{head} {{}}")
            lines.extend(emit(value, indent + 2))
        elif isinstance(value, str | int | bool):
            lines.append(f"{head} {scalar(value)}")
        else:
            lines.append(head if value else f"{head} []")
            lines.extend(_items(value, indent + 2))
    return lines


def _items(items: Sequence[Node], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for item in items:
        if isinstance(item, Mapping):
            body = emit(item, indent + 2)
            lines.append(f"{pad}- {body[0].lstrip()}")
            lines.extend(body[1:])
        elif isinstance(item, str | int | bool):
            lines.append(f"{pad}- {scalar(item)}")
        else:
            raise TypeError(f"a list item must be a scalar or a mapping, not {type(item)}")
    return lines
