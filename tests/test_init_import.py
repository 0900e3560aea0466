"""`wta init --from FILE` through the command line: titles, ids, the header, and cycles."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from gitutil import make_repo

from worktree_agents.cli import main

SCHEMA = (
    "CREATE TABLE features (id INTEGER PRIMARY KEY, priority INTEGER, category TEXT,"
    " name TEXT, description TEXT, steps TEXT, passes BOOLEAN, dependencies TEXT)"
)


def make_db(path: Path, rows: Sequence[tuple[object, ...]]) -> Path:
    conn = sqlite3.connect(path)
    try:
        conn.execute(SCHEMA)
        conn.executemany("INSERT INTO features VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.commit()
    finally:
        conn.close()
    return path


def test_import_a_feature_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo")
    source = tmp_path / "exports" / "list.json"
    source.parent.mkdir()
    long = (
        "Dashboard shows key metrics (e.g. active users, posts per day) for the last 30 days."
        " Charts are drawn client-side."
    )
    items = [
        {"category": "ui", "description": long, "steps": [], "passes": False},
        {"category": "i18n", "description": "日本語の表示", "steps": [], "passes": False},
        {"category": "i18n", "description": "Ελληνικά", "steps": [], "passes": True},
    ]
    source.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    monkeypatch.chdir(repo)

    assert main(["init", "--from", "../exports/list.json"]) == 0

    plan = repo / "wta.toml"
    assert capsys.readouterr() == (
        "imported 3 features (1 already passing) from ../exports/list.json"
        f" (feature_list.json) into {plan}\n",
        "",
    )
    assert plan.read_text(encoding="utf-8") == (
        "# Imported by `wta init --from ../exports/list.json` from feature_list.json:"
        " 3 features, 1 already passing.\n"
        "version = 1\n"
        "\n"
        "# feature_list.json item 1\n"
        "[[feature]]\n"
        'id = "dashboard-shows-key-metrics-e-g-active"\n'
        'title = "Dashboard shows key metrics (e.g. active users, posts per day) for the…"\n'
        f'description = "{long}"\n'
        'category = "ui"\n'
        "depends_on = []\n"
        "priority = 1\n"
        "steps = []\n"
        "done = false\n"
        "\n"
        "# feature_list.json item 2\n"
        "[[feature]]\n"
        'id = "feature-2"\n'
        'title = "日本語の表示"\n'
        'description = "日本語の表示"\n'
        'category = "i18n"\n'
        "depends_on = []\n"
        "priority = 2\n"
        "steps = []\n"
        "done = false\n"
        "\n"
        "# feature_list.json item 3\n"
        "[[feature]]\n"
        'id = "feature-3"\n'
        'title = "Ελληνικά"\n'
        'description = "Ελληνικά"\n'
        'category = "i18n"\n'
        "depends_on = []\n"
        "priority = 3\n"
        "steps = []\n"
        "done = true\n"
    )
    assert main(["plan"]) == 0  # the plan is valid
    assert capsys.readouterr().out.splitlines()[0] == f"{plan}: 3 features, 1 already done, 1 wave"


def test_import_keeps_database_ids_and_cuts_long_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo")
    name = "Export every report as PDF, CSV and spreadsheet files from the reports page at once"
    db = make_db(
        tmp_path / "app.sqlite",
        [
            (17, 1, "core", "日本語", "", "[]", 0, None),
            (30, 2, "core", name, "", "[]", 0, "[17]"),
        ],
    )
    monkeypatch.chdir(repo)

    assert main(["init", "--from", str(db)]) == 0

    capsys.readouterr()
    text = (repo / "wta.toml").read_text(encoding="utf-8")
    assert text.splitlines()[:5] == [
        f"# Imported by `wta init --from {db}` from features.db: 2 features, 0 already passing.",
        "version = 1",
        "",
        "# features.db id 17",
        "[[feature]]",
    ]
    assert [line for line in text.splitlines() if line.startswith(("id =", "title =", "#"))][
        1:
    ] == [
        "# features.db id 17",
        'id = "feature-17"',
        'title = "日本語"',
        "# features.db id 30",
        'id = "export-every-report-as-pdf-csv-and"',
        'title = "Export every report as PDF, CSV and spreadsheet files from the reports…"',
    ]


@pytest.mark.parametrize(
    ("dependencies", "message"),
    [
        (
            ("[3]", "[1]", "[2]"),
            "the dependencies form a cycle: id 1 -> id 3 -> id 2 -> id 1 (each depends on the"
            " next). Remove one of these dependencies and import again.",
        ),
        (
            (None, "[2]", None),
            "feature id 2 depends on itself. Remove 2 from its dependencies and import again.",
        ),
    ],
)
def test_a_cycle_in_the_database_is_reported_against_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    dependencies: tuple[str | None, ...],
    message: str,
) -> None:
    repo = make_repo(tmp_path / "repo")
    rows = [(n, n, "c", f"Step {n}", "", "[]", 0, deps) for n, deps in enumerate(dependencies, 1)]
    db = make_db(tmp_path / "features.db", rows)
    monkeypatch.chdir(repo)

    assert main(["init", "--from", str(db)]) == 2

    assert capsys.readouterr() == ("", f"wta: error: {db}: {message}\n")
    assert not (repo / "wta.toml").exists()
