from __future__ import annotations

import json
import re
import sqlite3
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worktree_agents.errors import UsageError
from worktree_agents.importers import ImportResult, import_plan, slugify
from worktree_agents.plan_load import load_plan_text

AUTOCODER_SCHEMA = (
    "CREATE TABLE features (id INTEGER PRIMARY KEY, priority INTEGER NOT NULL DEFAULT 999, "
    "category VARCHAR(100) NOT NULL, name VARCHAR(255) NOT NULL, description TEXT NOT NULL, "
    "steps JSON NOT NULL, passes BOOLEAN DEFAULT 0, in_progress BOOLEAN DEFAULT 0, "
    "dependencies JSON DEFAULT NULL)"
)
INSERT = "INSERT INTO features VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
GIVE = "Pass an Autocoder/AutoForge features.db or an Anthropic-quickstart feature_list.json."
JSON_SHAPE = (
    "An Anthropic-quickstart feature_list.json is a list of "
    "{category, description, steps, passes} objects."
)

# id, priority, category, name, description, steps, passes, in_progress, dependencies
AUTOCODER_ROWS: list[tuple[Any, ...]] = [
    (1, 1, "backend", "Database schema", "Create the tables.", '["Users", "Posts"]', 1, 0, None),
    (
        2,
        2,
        "backend",
        "User login",
        "Log in.\nPasswords are hashed.",
        '["POST /login"]',
        0,
        1,
        "[1]",
    ),
    (3, 2, "frontend", "Café & Crème: «Menü»!", "Show the menu.", "[]", 0, 0, "[1]"),
    (4, 5, "", "User login", "A second login.", '["Log in again"]', 0, 0, "[2]"),
    (5, 4, "ui", "Dashboard", "Dashboard.", "[]", 0, 0, "[2, 3]"),
    (6, 0, "reports", "Export every report as PDF, CSV and spreadsheet files", "", "[]", 0, 0, ""),
]


def make_db(
    path: Path,
    rows: list[tuple[Any, ...]],
    schema: str = AUTOCODER_SCHEMA,
    wal: bool = False,
) -> Path:
    conn = sqlite3.connect(path)
    try:
        if wal:
            conn.execute("PRAGMA journal_mode=wal")
        conn.execute(schema)
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            conn.executemany(f"INSERT INTO features VALUES ({marks})", rows)
        conn.commit()
    finally:
        conn.close()
    return path


def import_error(path: Path) -> str:
    with pytest.raises(UsageError) as caught:
        import_plan(path)
    return caught.value.message


def test_features_db_becomes_a_plan(tmp_path: Path) -> None:
    db = make_db(tmp_path / "features.db", AUTOCODER_ROWS)

    result = import_plan(db)

    assert (result.feature_count, result.done_count, result.source_format) == (6, 1, "features.db")
    assert result.toml_text.splitlines()[0] == (
        f"# Imported by `wta init --from {db}` from features.db: 6 features, 1 already passing."
    )
    assert tomllib.loads(result.toml_text) == {
        "version": 1,
        "feature": [
            {
                "id": "export-every-report-as-pdf-csv-and",
                "title": "Export every report as PDF, CSV and spreadsheet files",
                "description": "",
                "category": "reports",
                "depends_on": [],
                "priority": 0,
                "steps": [],
                "done": False,
            },
            {
                "id": "database-schema",
                "title": "Database schema",
                "description": "Create the tables.",
                "category": "backend",
                "depends_on": [],
                "priority": 1,
                "steps": ["Users", "Posts"],
                "done": True,
            },
            {
                "id": "user-login",
                "title": "User login",
                "description": "Log in.\nPasswords are hashed.",
                "category": "backend",
                "depends_on": ["database-schema"],
                "priority": 2,
                "steps": ["POST /login"],
                "done": False,
            },
            {
                "id": "cafe-creme-menu",
                "title": "Café & Crème: «Menü»!",
                "description": "Show the menu.",
                "category": "frontend",
                "depends_on": ["database-schema"],
                "priority": 2,
                "steps": [],
                "done": False,
            },
            {
                "id": "dashboard",
                "title": "Dashboard",
                "description": "Dashboard.",
                "category": "ui",
                "depends_on": ["user-login", "cafe-creme-menu"],
                "priority": 4,
                "steps": [],
                "done": False,
            },
            {
                "id": "user-login-2",
                "title": "User login",
                "description": "A second login.",
                "depends_on": ["user-login"],
                "priority": 5,
                "steps": ["Log in again"],
                "done": False,
            },
        ],
    }


def test_features_db_keys_come_in_plan_order(tmp_path: Path) -> None:
    db = make_db(tmp_path / "features.db", AUTOCODER_ROWS[:2])

    text = import_plan(db).toml_text

    assert text == (
        f"# Imported by `wta init --from {db}` from features.db: "
        "2 features, 1 already passing.\n"
        "version = 1\n"
        "\n"
        "# features.db id 1\n"
        "[[feature]]\n"
        'id = "database-schema"\n'
        'title = "Database schema"\n'
        'description = "Create the tables."\n'
        'category = "backend"\n'
        "depends_on = []\n"
        "priority = 1\n"
        "steps = [\n"
        '    "Users",\n'
        '    "Posts",\n'
        "]\n"
        "done = true\n"
        "\n"
        "# features.db id 2\n"
        "[[feature]]\n"
        'id = "user-login"\n'
        'title = "User login"\n'
        'description = """\n'
        "Log in.\n"
        'Passwords are hashed."""\n'
        'category = "backend"\n'
        "depends_on = [\n"
        '    "database-schema",\n'
        "]\n"
        "priority = 2\n"
        "steps = [\n"
        '    "POST /login",\n'
        "]\n"
        "done = false\n"
    )


def test_features_db_without_dependencies_column_and_with_loose_values(tmp_path: Path) -> None:
    # Older Autocoder databases have no `dependencies` column; NULLs and JSON null are lenient.
    schema = (
        "CREATE TABLE features (id INTEGER PRIMARY KEY, priority INTEGER, category TEXT, "
        "name TEXT, description TEXT, steps TEXT, passes BOOLEAN, extra TEXT)"
    )
    rows = [
        (7, 3, None, "", "Sign up. Then confirm by mail.", "null", None, "x"),
        (8, 3, "  ", "   ", None, "", 2, "y"),
    ]
    db = make_db(tmp_path / "old.db", rows, schema=schema)

    result = import_plan(db)

    assert result.toml_text.splitlines()[0] == (
        f"# Imported by `wta init --from {db}` from features.db: 2 features, 1 already passing."
    )
    assert tomllib.loads(result.toml_text) == {
        "version": 1,
        "feature": [
            {
                "id": "sign-up",
                "title": "Sign up",
                "description": "Sign up. Then confirm by mail.",
                "depends_on": [],
                "priority": 3,
                "steps": [],
                "done": False,
            },
            {
                "id": "feature-8",
                "title": "Feature 8",
                "description": "",
                "depends_on": [],
                "priority": 3,
                "steps": [],
                "done": True,
            },
        ],
    }


def test_wal_database_is_read_without_changing_anything(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    db = make_db(source / "features.db", AUTOCODER_ROWS[:1], wal=True)
    before = db.read_bytes()

    result = import_plan(db)

    assert result.feature_count == 1
    assert db.read_bytes() == before
    assert sorted(p.name for p in source.iterdir()) == ["features.db"]


def test_path_with_uri_characters(tmp_path: Path) -> None:
    db = make_db(tmp_path / "my db #1?.sqlite", AUTOCODER_ROWS[:1])

    assert import_plan(db).toml_text.splitlines()[0] == (
        f"# Imported by `wta init --from {db}` from features.db: 1 feature, 1 already passing."
    )


def test_feature_list_json_becomes_a_plan(tmp_path: Path) -> None:
    long = (
        "As a signed-in user I can export every one of my monthly reports to a PDF file "
        "from the reports page"
    )
    items = [
        {
            "category": "functional",
            "description": "User can log in with email. The session lasts a day.",
            "steps": ["Open /login", "Submit the form"],
            "passes": True,
        },
        {"category": "style", "description": long, "steps": [], "passes": False},
        {
            "category": "",
            "description": "\n  Dark mode toggle\nworks on every page.",
            "steps": ["Click the toggle"],
            "passes": False,
            "extra": 1,
        },
        {"category": "functional", "description": "User can log in with email!", "passes": False},
        {"description": "¿¿¿", "steps": [], "passes": False},
    ]
    path = tmp_path / "feature_list.json"
    path.write_text(json.dumps(items), encoding="utf-8")

    result = import_plan(path)

    assert (result.feature_count, result.done_count, result.source_format) == (
        5,
        1,
        "feature_list.json",
    )
    assert result.toml_text.splitlines()[0] == (
        f"# Imported by `wta init --from {path}` from feature_list.json: "
        "5 features, 1 already passing."
    )
    assert tomllib.loads(result.toml_text) == {
        "version": 1,
        "feature": [
            {
                "id": "user-can-log-in-with-email",
                "title": "User can log in with email",
                "description": "User can log in with email. The session lasts a day.",
                "category": "functional",
                "depends_on": [],
                "priority": 1,
                "steps": ["Open /login", "Submit the form"],
                "done": True,
            },
            {
                "id": "as-a-signed-in-user-i-can-export-every",
                "title": "As a signed-in user I can export every one of my monthly reports to a…",
                "description": long,
                "category": "style",
                "depends_on": [],
                "priority": 2,
                "steps": [],
                "done": False,
            },
            {
                "id": "dark-mode-toggle",
                "title": "Dark mode toggle",
                "description": "\n  Dark mode toggle\nworks on every page.",
                "depends_on": [],
                "priority": 3,
                "steps": ["Click the toggle"],
                "done": False,
            },
            {
                "id": "user-can-log-in-with-email-2",
                "title": "User can log in with email!",
                "description": "User can log in with email!",
                "category": "functional",
                "depends_on": [],
                "priority": 4,
                "steps": [],
                "done": False,
            },
            {
                "id": "feature-5",  # item 5 of the list: the source's own id
                "title": "¿¿¿",
                "description": "¿¿¿",
                "depends_on": [],
                "priority": 5,
                "steps": [],
                "done": False,
            },
        ],
    }


def test_json_with_bom_and_lone_surrogate(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(b'\xef\xbb\xbf[{"description": "Bad \\ud800 text", "passes": false}]')

    assert tomllib.loads(import_plan(path).toml_text) == {
        "version": 1,
        "feature": [
            {
                "id": "bad-text",
                "title": "Bad \ufffd text",
                "description": "Bad \ufffd text",
                "depends_on": [],
                "priority": 1,
                "steps": [],
                "done": False,
            }
        ],
    }


def test_imported_features_db_loads_as_a_valid_plan(tmp_path: Path) -> None:
    db = make_db(tmp_path / "features.db", AUTOCODER_ROWS)

    plan = load_plan_text(import_plan(db).toml_text, "wta.toml")

    assert [(f.id, f.depends_on, f.done, f.priority) for f in plan.features] == [
        ("export-every-report-as-pdf-csv-and", [], False, 0),
        ("database-schema", [], True, 1),
        ("user-login", ["database-schema"], False, 2),
        ("cafe-creme-menu", ["database-schema"], False, 2),
        ("dashboard", ["user-login", "cafe-creme-menu"], False, 4),
        ("user-login-2", ["user-login"], False, 5),
    ]


def test_imported_feature_list_loads_as_a_valid_plan(tmp_path: Path) -> None:
    path = tmp_path / "feature_list.json"
    items = [
        {"category": "a", "description": "Same thing.", "steps": ["x"], "passes": True},
        {"category": "b", "description": "Same thing.", "steps": [], "passes": False},
    ]
    path.write_text(json.dumps(items), encoding="utf-8")

    plan = load_plan_text(import_plan(path).toml_text, "wta.toml")

    assert [(f.id, f.title, f.depends_on, f.done, f.priority) for f in plan.features] == [
        ("same-thing", "Same thing", [], True, 1),
        ("same-thing-2", "Same thing", [], False, 2),
    ]


def test_import_result_is_frozen() -> None:
    result = ImportResult("version = 1\n", 0, 0, "features.db")
    with pytest.raises(AttributeError):
        result.feature_count = 1  # type: ignore[misc]


# --- errors: every message compared whole ---------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.db"
    assert import_error(path) == f"{path}: no such file. {GIVE}"


def test_directory(tmp_path: Path) -> None:
    assert import_error(tmp_path) == (
        f"{tmp_path}: is a directory. Pass the features.db or feature_list.json inside it."
    )


def test_unreadable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("[]", encoding="utf-8")
    path = tmp_path / "file" / "features.db"
    assert import_error(path) == (
        f"{path}: cannot be read (Not a directory). Check the path and its permissions."
    )


def test_neither_format_binary(tmp_path: Path) -> None:
    path = tmp_path / "features.db"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert import_error(path) == (
        f"{path}: neither an SQLite database nor JSON (not UTF-8 text). {GIVE}"
    )


def test_neither_format_text(tmp_path: Path) -> None:
    path = tmp_path / "feature_list.json"
    path.write_text('[\n  {"description": "x",}\n]', encoding="utf-8")
    assert import_error(path) == (
        f"{path}: neither an SQLite database nor valid JSON (Expecting property name enclosed "
        f"in double quotes at line 2, column 23). {GIVE}"
    )


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "feature_list.json"
    path.write_bytes(b"")
    assert import_error(path) == (
        f"{path}: neither an SQLite database nor valid JSON (Expecting value at line 1, "
        f"column 1). {GIVE}"
    )


def test_json_not_a_list(tmp_path: Path) -> None:
    path = tmp_path / "feature_list.json"
    path.write_text('{"features": []}', encoding="utf-8")
    assert import_error(path) == f"{path}: JSON, but not a list of features. {JSON_SHAPE}"


def test_json_item_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "feature_list.json"
    path.write_text('[{"description": "ok"}, "login"]', encoding="utf-8")
    assert import_error(path) == f"{path}: item 2 is not an object. {JSON_SHAPE}"


@pytest.mark.parametrize(
    ("item", "field", "expected", "found"),
    [
        ({"category": "x"}, "description", "a string", "None"),
        ({"description": "x", "category": 3}, "category", "a string", "3"),
        ({"description": "x", "steps": "a, b"}, "steps", "a list of strings", "'a, b'"),
        ({"description": "x", "steps": ["a", 1]}, "steps", "a list of strings", "['a', 1]"),
        ({"description": "x", "passes": "yes"}, "passes", "true or false", "'yes'"),
    ],
)
def test_json_item_bad_field(
    tmp_path: Path, item: dict[str, Any], field: str, expected: str, found: str
) -> None:
    path = tmp_path / "feature_list.json"
    path.write_text(json.dumps([item]), encoding="utf-8")
    assert import_error(path) == (
        f"{path}: item 1: '{field}' is not {expected} (found {found}). Fix it and import again."
    )


def test_empty_json_list(tmp_path: Path) -> None:
    path = tmp_path / "feature_list.json"
    path.write_text("[]", encoding="utf-8")
    assert (
        import_error(path) == f"{path}: holds no features. Nothing to import; add features first."
    )


def test_empty_features_table(tmp_path: Path) -> None:
    db = make_db(tmp_path / "features.db", [])
    assert import_error(db) == f"{db}: holds no features. Nothing to import; add features first."


def test_db_without_features_table(tmp_path: Path) -> None:
    db = make_db(tmp_path / "features.db", [], schema="CREATE TABLE tasks (id INTEGER)")
    assert import_error(db) == (
        f"{db}: SQLite database without a 'features' table. Pass an Autocoder/AutoForge "
        "features.db."
    )


def test_db_missing_columns(tmp_path: Path) -> None:
    schema = "CREATE TABLE features (id INTEGER, Name TEXT, description TEXT, passes BOOLEAN)"
    db = make_db(tmp_path / "features.db", [], schema=schema)
    assert import_error(db) == (
        f"{db}: table 'features' lacks the column(s) priority, category, steps. "
        "Pass an Autocoder/AutoForge features.db."
    )


def test_corrupt_db(tmp_path: Path) -> None:
    path = tmp_path / "features.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 84 + b"garbage" * 100)
    assert import_error(path) == (
        f"{path}: an SQLite file that cannot be read (file is not a database). "
        "Check that it is a complete, uncorrupted features.db."
    )


@pytest.mark.parametrize(
    ("steps", "dependencies", "field", "expected", "found"),
    [
        ("[not json", None, "steps", "a JSON list of strings", "'[not json'"),
        ('{"a": 1}', None, "steps", "a JSON list of strings", "'{\"a\": 1}'"),
        ('["ok", 2]', None, "steps", "a JSON list of strings", "'[\"ok\", 2]'"),
        ("[]", "[1,", "dependencies", "a JSON list of feature ids", "'[1,'"),
        ("[]", '["1"]', "dependencies", "a JSON list of feature ids", "'[\"1\"]'"),
        ("[]", "[true]", "dependencies", "a JSON list of feature ids", "'[true]'"),
        ("[]", "7", "dependencies", "a JSON list of feature ids", "7"),
        (
            '["' + "x" * 50 + '"',
            None,
            "steps",
            "a JSON list of strings",
            "'[\"" + "x" * 34 + "...",
        ),
    ],
)
def test_db_malformed_json_column(
    tmp_path: Path, steps: str, dependencies: str | None, field: str, expected: str, found: str
) -> None:
    rows = [
        (1, 1, "c", "A", "d", "[]", 0, 0, None),
        (4, 2, "c", "B", "d", steps, 0, 0, dependencies),
    ]
    db = make_db(tmp_path / "features.db", rows)
    assert import_error(db) == (
        f"{db}: feature id 4: '{field}' is not {expected} (found {found}). Fix it and import again."
    )


def test_db_non_integer_priority(tmp_path: Path) -> None:
    schema = (
        "CREATE TABLE features (id INTEGER PRIMARY KEY, priority, category TEXT, name TEXT, "
        "description TEXT, steps TEXT, passes BOOLEAN)"
    )
    db = make_db(tmp_path / "features.db", [(3, "high", "c", "A", "d", "[]", 0)], schema=schema)
    assert import_error(db) == (
        f"{db}: feature id 3: 'priority' is not an integer (found 'high'). Fix it and import again."
    )


def test_db_dependency_on_missing_row(tmp_path: Path) -> None:
    rows = [(1, 1, "c", "A", "d", "[]", 0, 0, None), (2, 2, "c", "B", "d", "[]", 0, 0, "[1, 99]")]
    db = make_db(tmp_path / "features.db", rows)
    assert import_error(db) == (
        f"{db}: feature id 2 depends on id 99, which is not in the table. "
        "Remove 99 from its dependencies and import again."
    )


# --- slugify -----------------------------------------------------------------------------------

SLUG = re.compile(r"[a-z0-9][a-z0-9._-]*")


@pytest.mark.parametrize(
    ("text", "taken", "expected"),
    [
        ("User authentication", set(), "user-authentication"),
        ("  --Hello,   World!!--  ", set(), "hello-world"),
        ("Crème brûlée à la carte", set(), "creme-brulee-a-la-carte"),
        ("Straße", set(), "strasse"),
        ("\ufb01le \uff21\uff30\uff29", set(), "file-api"),
        ("v1.2_beta..lock", set(), "v1-2-beta-lock"),
        ("日本語", set(), "feature-1"),
        ("", {"feature-1", "feature-2"}, "feature-3"),
        ("Login", {"login"}, "login-2"),
        ("Login", {"login", "login-2", "login-3"}, "login-4"),
        ("a" * 50, set(), "a" * 40),
        ("word " * 10, set(), "word-word-word-word-word-word-word-word"),
        ("ab " + "c" * 45, set(), "ab-" + "c" * 37),
        ("x" * 40, {"x" * 40}, "x" * 38 + "-2"),
        (
            "alpha beta gamma delta epsilon zeta eta",
            set(),
            "alpha-beta-gamma-delta-epsilon-zeta-eta",
        ),
        (
            "alpha beta gamma delta epsilon zeta eta",
            {"alpha-beta-gamma-delta-epsilon-zeta-eta"},
            "alpha-beta-gamma-delta-epsilon-zeta-2",
        ),
    ],
)
def test_slugify(text: str, taken: set[str], expected: str) -> None:
    before = set(taken)
    assert slugify(text, taken) == expected
    assert taken == before | {expected}


def is_valid_id(slug: str) -> bool:
    return (
        SLUG.fullmatch(slug) is not None
        and len(slug) <= 40
        and ".." not in slug
        and not slug.endswith((".lock", "."))
    )


@given(
    text=st.text(),
    taken=st.sets(st.from_regex(r"[a-z0-9][a-z0-9-]{0,12}", fullmatch=True), max_size=20),
    clash=st.booleans(),
)
def test_slugify_always_gives_a_fresh_valid_id(text: str, taken: set[str], clash: bool) -> None:
    if clash:  # make the natural slug (and the fallback) already taken
        taken |= {slugify(text, set()), "feature-1"}
    before = set(taken)

    slug = slugify(text, taken)

    assert is_valid_id(slug)
    assert slug not in before
    assert taken == before | {slug}
