"""Convert a foreign feature list into the text of a wta.toml plan: an Autocoder/AutoForge
`features.db` (SQLite) or an Anthropic-quickstart `feature_list.json`."""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import networkx as nx
import tomli_w

from worktree_agents.errors import UsageError
from worktree_agents.text import cut_at_word, plural, show

DB_FORMAT = "features.db"
JSON_FORMAT = "feature_list.json"
MAX_SLUG = 40
MAX_TITLE = 72

_SQLITE_HEADER = b"SQLite format 3\x00"
_GIVE_A_LIST = (
    "Pass an Autocoder/AutoForge features.db or an Anthropic-quickstart feature_list.json."
)
_GIVE_A_DB = "Pass an Autocoder/AutoForge features.db."
_JSON_SHAPE = (
    "An Anthropic-quickstart feature_list.json is a list of "
    "{category, description, steps, passes} objects."
)
_REQUIRED_COLUMNS = ("id", "priority", "category", "name", "description", "steps", "passes")
# `dependencies` is optional: Autocoder databases made before it existed lack the column.
_SELECT = "SELECT id, priority, category, name, description, steps, passes, {} FROM features"
_SELECT_WITH_DEPS = _SELECT.format("dependencies")
_SELECT_WITHOUT_DEPS = _SELECT.format("NULL")

_T = TypeVar("_T")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
# a period that ends no sentence: "e.g.", "i.e.", "U.S.", "vs."
_ABBREVIATION = re.compile(r"(?:\b\w\.\w\.|\b(?:[Vv]s|cf|approx|incl|etc)\.)$")


@dataclass(frozen=True)
class ImportResult:
    toml_text: str
    feature_count: int
    done_count: int
    source_format: str  # DB_FORMAT or JSON_FORMAT


@dataclass(frozen=True)
class _Feature:
    """One feature as read from the source, before its id becomes a slug."""

    key: int  # the row's id (features.db) or the item's 1-based position (feature_list.json)
    title: str
    description: str
    category: str
    depends_on: tuple[int, ...]
    priority: int
    steps: tuple[str, ...]
    done: bool


def import_plan(path: Path) -> ImportResult:
    """Read `path`, detecting its format by content, and return the equivalent plan text."""
    data = _read_bytes(path)
    if data.startswith(_SQLITE_HEADER):
        source_format, features = DB_FORMAT, _read_db(path, data)
    else:
        source_format, features = JSON_FORMAT, _read_json(path, data)
    if not features:
        raise UsageError(f"{path}: holds no features. Nothing to import; add features first.")
    done_count = sum(feature.done for feature in features)
    header = (
        f"# Imported by `wta init --from {_printable(str(path))}` from {source_format}: "
        f"{plural(len(features), 'feature')}, {done_count} already passing.\n"
    )
    return ImportResult(
        toml_text=header + _plan_text(features, source_format),
        feature_count=len(features),
        done_count=done_count,
        source_format=source_format,
    )


def slugify(text: str, taken: set[str], key: int | None = None) -> str:
    """A readable feature id for `text`, not in `taken`; the id is added to `taken`.

    The id matches `[a-z0-9][a-z0-9-]*`, is at most MAX_SLUG characters long, and so is
    always a valid git ref component. Text with nothing to keep becomes `feature-<key>`, the
    source's own id (else `feature-<n>`, the first free n).
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    base = _cut(re.sub(r"[^a-z0-9]+", "-", ascii_only).strip("-"), MAX_SLUG)
    if not base and key is not None:
        base = _cut(f"feature-{key}", MAX_SLUG)
    if base:
        slug, n = base, 2
        while slug in taken:
            suffix = f"-{n}"
            slug = _cut(base, MAX_SLUG - len(suffix)) + suffix
            n += 1
    else:
        n = 1
        while f"feature-{n}" in taken:
            n += 1
        slug = f"feature-{n}"
    taken.add(slug)
    return slug


def _cut(slug: str, limit: int) -> str:
    """`slug` cut to `limit` characters, at a `-` unless that would lose over half of it."""
    if len(slug) <= limit:
        return slug
    boundary = slug.rfind("-", 0, limit + 1)
    return slug[:boundary] if boundary >= limit // 2 else slug[:limit].rstrip("-")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file. {_GIVE_A_LIST}") from None
    except IsADirectoryError:
        raise UsageError(
            f"{path}: is a directory. Pass the features.db or feature_list.json inside it."
        ) from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise UsageError(
            f"{path}: cannot be read ({reason}). Check the path and its permissions."
        ) from None


def _read_db(path: Path, header: bytes) -> list[_Feature]:
    uri = path.resolve().as_uri() + "?mode=ro"  # as_uri escapes `?` and `#` in the path
    # Byte 18 is 2 in WAL mode. A read-only connection there leaves -wal and -shm files
    # behind; with no WAL file to read, immutable=1 reads the main file and creates nothing.
    if header[18:19] == b"\x02" and not Path(f"{path}-wal").exists():
        uri += "&immutable=1"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            query = conn.execute("SELECT name FROM pragma_table_info('features')")
            columns = {str(name).lower() for (name,) in query}
            if not columns:
                raise UsageError(
                    f"{path}: SQLite database without a 'features' table. {_GIVE_A_DB}"
                )
            missing = [column for column in _REQUIRED_COLUMNS if column not in columns]
            if missing:
                raise UsageError(
                    f"{path}: table 'features' lacks the column(s) {', '.join(missing)}. "
                    f"{_GIVE_A_DB}"
                )
            select = _SELECT_WITH_DEPS if "dependencies" in columns else _SELECT_WITHOUT_DEPS
            rows: list[tuple[Any, ...]] = conn.execute(select).fetchall()
    except sqlite3.Error as error:
        raise UsageError(
            f"{path}: an SQLite file that cannot be read ({error}). "
            "Check that it is a complete, uncorrupted features.db."
        ) from None
    features = sorted((_db_feature(path, row) for row in rows), key=lambda f: (f.priority, f.key))
    known = {feature.key for feature in features}
    for feature in features:
        for dependency in feature.depends_on:
            if dependency not in known:
                raise UsageError(
                    f"{path}: feature id {feature.key} depends on id {dependency}, which is not "
                    f"in the table. Remove {dependency} from its dependencies and import again."
                )
    _refuse_cycles(path, features)
    return features


def _refuse_cycles(path: Path, features: list[_Feature]) -> None:
    """A cycle in the source's dependencies, named by the source's own ids: the plan would be
    rejected for it, but against a file not written yet and in ids the user never saw."""
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(feature.key for feature in features)
    graph.add_edges_from((f.key, d) for f in features for d in f.depends_on)
    try:
        edges = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    ids = [str(a) for a, _ in edges] + [str(edges[0][0])]
    if len(edges) == 1:
        raise UsageError(
            f"{path}: feature id {ids[0]} depends on itself. Remove {ids[0]} from its"
            " dependencies and import again."
        )
    raise UsageError(
        f"{path}: the dependencies form a cycle: id {' -> id '.join(ids)} (each depends on the"
        " next). Remove one of these dependencies and import again."
    )


def _db_feature(path: Path, row: tuple[Any, ...]) -> _Feature:
    key, priority, category, name, description, steps, passes, dependencies = row
    if not _is_int(key):
        raise _bad_value(f"{path}: a row", "id", "an integer", key)
    where = f"{path}: feature id {key}"
    if not _is_int(priority):
        raise _bad_value(where, "priority", "an integer", priority)
    if passes is not None and not _is_int(passes):
        raise _bad_value(where, "passes", "a boolean", passes)
    description_text = "" if description is None else str(description)
    return _Feature(
        key=key,
        title=_title(str(name or "")) or _summary(description_text) or f"Feature {key}",
        description=description_text,
        category=_one_line(str(category or "")),
        depends_on=tuple(dict.fromkeys(_json_list(where, "dependencies", dependencies, int))),
        priority=priority,
        steps=_json_list(where, "steps", steps, str),
        done=bool(passes),
    )


def _json_list(where: str, column: str, raw: object, kind: type[_T]) -> tuple[_T, ...]:
    """Parse a JSON-list column; NULL, an empty string and JSON `null` mean an empty list."""
    expected = "a JSON list of strings" if kind is str else "a JSON list of feature ids"
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return ()
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise _bad_value(where, column, expected, raw) from None
    if value is None:
        return ()
    if not isinstance(value, list) or not all(_is_kind(item, kind) for item in value):
        raise _bad_value(where, column, expected, raw)
    return tuple(value)


def _read_json(path: Path, data: bytes) -> list[_Feature]:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise UsageError(
            f"{path}: neither an SQLite database nor JSON (not UTF-8 text). {_GIVE_A_LIST}"
        ) from None
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{path}: neither an SQLite database nor valid JSON ({error.msg} at line "
            f"{error.lineno}, column {error.colno}). {_GIVE_A_LIST}"
        ) from None
    if not isinstance(document, list):
        raise UsageError(f"{path}: JSON, but not a list of features. {_JSON_SHAPE}")
    return [_json_feature(path, n, item) for n, item in enumerate(document, start=1)]


def _json_feature(path: Path, position: int, item: object) -> _Feature:
    where = f"{path}: item {position}"
    if not isinstance(item, dict):
        raise UsageError(f"{where} is not an object. {_JSON_SHAPE}")
    description = item.get("description")
    category = item.get("category") or ""
    steps = item.get("steps") or []
    passes = item.get("passes", False)
    if not isinstance(description, str):
        raise _bad_value(where, "description", "a string", description)
    if not isinstance(category, str):
        raise _bad_value(where, "category", "a string", category)
    if not isinstance(steps, list) or not all(isinstance(step, str) for step in steps):
        raise _bad_value(where, "steps", "a list of strings", steps)
    if not isinstance(passes, bool):
        raise _bad_value(where, "passes", "true or false", passes)
    description = _valid_utf8(description)
    return _Feature(
        key=position,
        title=_summary(description) or f"Feature {position}",
        description=description,
        category=_one_line(_valid_utf8(category)),
        depends_on=(),
        priority=position,
        steps=tuple(_valid_utf8(step) for step in steps),
        done=passes,
    )


def _plan_text(features: list[_Feature], source_format: str) -> str:
    """The plan's TOML, each feature under a comment naming its id in the source (the plan
    has no key for it)."""
    document = _plan_document(features)
    source_id = "id" if source_format == DB_FORMAT else "item"
    parts = [tomli_w.dumps({"version": document["version"]})]
    for feature, table in zip(features, document["feature"], strict=True):
        feature_toml = tomli_w.dumps({"feature": [table]}, multiline_strings=True)
        parts.append(f"\n# {source_format} {source_id} {feature.key}\n{feature_toml}")
    return "".join(parts)


def _plan_document(features: list[_Feature]) -> dict[str, Any]:
    """The plan as a dict, with each feature's keys in the order the file shows them."""
    taken: set[str] = set()
    slugs = {feature.key: slugify(feature.title, taken, feature.key) for feature in features}
    tables: list[dict[str, Any]] = []
    for feature in features:
        table: dict[str, Any] = {
            "id": slugs[feature.key],
            "title": feature.title,
            "description": feature.description,
        }
        if feature.category:
            table["category"] = feature.category
        table["depends_on"] = [slugs[key] for key in feature.depends_on]
        table["priority"] = feature.priority
        table["steps"] = list(feature.steps)
        table["done"] = feature.done
        tables.append(table)
    return {"version": 1, "feature": tables}


def _summary(text: str) -> str:
    """The first sentence of the first non-blank line, without its final period, shortened."""
    line = next((_one_line(raw) for raw in text.splitlines() if raw.strip()), "")
    ends = (m.end() for m in _SENTENCE_END.finditer(line))
    end = next((e for e in ends if not _ABBREVIATION.search(line, 0, e)), len(line))
    return _title(line[:end].rstrip(".") or line)


def _title(text: str) -> str:
    """`text` as a title: one line, at most MAX_TITLE characters, cut at a word."""
    return cut_at_word(_one_line(text), MAX_TITLE)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _valid_utf8(text: str) -> str:
    """`text` with lone surrogates (which JSON `\\ud800` escapes can produce) replaced."""
    return re.sub("[\ud800-\udfff]", "\ufffd", text)


def _printable(text: str) -> str:
    """`text` made safe for a one-line TOML comment."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_kind(value: object, kind: type[Any]) -> bool:
    return _is_int(value) if kind is int else isinstance(value, kind)


def _bad_value(where: str, field: str, expected: str, value: object) -> UsageError:
    return UsageError(
        f"{where}: '{field}' is not {expected} (found {show(value)}). Fix it and import again."
    )
