"""The `--json` envelopes of status, run and demo: the whole schema is pinned here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitutil import git
from runutil import Spec, plan_repo, wta

from worktree_agents.cli import main

FEATURE_SCHEMA: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "title": str,
    "state": str,
    "reason": (str, type(None)),
    "detail": (str, type(None)),
    "branch": (str, type(None)),
    "base_commit": (str, type(None)),
    "commit": (str, type(None)),
    "attempts": int,
    "interrupted": int,
    "profile": (str, type(None)),
    "model": (str, type(None)),
    "cost_usd": float,
    "cost_estimated": bool,
    "turns": (int, type(None)),
    "duration_s": (float, type(None)),
    "files_changed": (int, type(None)),
    "insertions": (int, type(None)),
    "deletions": (int, type(None)),
    "conflict_paths": list,
    "skipped_because": (str, type(None)),
    "summary": (str, type(None)),
}
TOTALS_KEYS = [
    "features",
    "merged",
    "done",
    "failed",
    "skipped",
    "pending",
    "running",
    "cost_usd",
    "duration_s",
]


def check_schema(data: dict[str, object]) -> None:
    assert list(data)[:4] == ["integration", "run", "totals", "features"]
    assert list(data["integration"]) == ["branch", "base", "base_commit", "head"]  # type: ignore[call-overload]
    assert list(data["totals"]) == TOTALS_KEYS  # type: ignore[call-overload]
    for feature in data["features"]:  # type: ignore[attr-defined]
        assert list(feature) == list(FEATURE_SCHEMA)
        for key, kind in FEATURE_SCHEMA.items():
            assert isinstance(feature[key], kind), (key, feature[key])


def test_status_json_before_and_after_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [
        Spec("one", {"one.txt": "1\n"}),
        Spec("two", {"two.txt": "2\n"}, acceptance=["false"]),
        Spec("three", {"three.txt": "3\n"}, depends_on=["two"]),
    ]
    repo = plan_repo(tmp_path, specs, settings="[guardrails]\nmax_attempts = 1\n")
    capsys.readouterr()
    assert wta(repo, "status", "--json") == 0
    before = json.loads(capsys.readouterr().out)
    assert before == {
        "schema": 1,
        "command": "status",
        "status": "success",
        "exit_code": 0,
        "data": {
            "integration": {
                "branch": "wta/integration",
                "base": None,
                "base_commit": None,
                "head": None,
            },
            "run": None,
            "totals": {
                "features": 3,
                "merged": 0,
                "done": 0,
                "failed": 0,
                "skipped": 0,
                "pending": 3,
                "running": 0,
                "cost_usd": 0.0,
                "duration_s": None,
            },
            "features": [
                {
                    **dict.fromkeys(FEATURE_SCHEMA),
                    "id": fid,
                    "title": fid,
                    "state": "pending",
                    "attempts": 0,
                    "interrupted": 0,
                    "profile": "default",
                    "cost_usd": 0.0,
                    "cost_estimated": False,
                    "conflict_paths": [],
                }
                for fid in ("one", "two", "three")
            ],
        },
        "errors": [],
    }
    check_schema(before["data"])

    assert wta(repo, "run", "--json") == 1
    run = json.loads(capsys.readouterr().out)
    assert [run[k] for k in ("schema", "command", "status", "exit_code", "errors")] == [
        1,
        "run",
        "partial",
        1,
        [],
    ]
    check_schema(run["data"])
    assert list(run["data"])[4:] == [
        "run_id",
        "selected",
        "not_started",
        "stopped_by",
        "interrupted",
        "push",
    ]
    main_tip = git(repo, "rev-parse", "main")
    one = run["data"]["features"][0]
    assert {
        k: one[k]
        for k in (
            "state",
            "branch",
            "base_commit",
            "attempts",
            "files_changed",
            "insertions",
            "deletions",
            "summary",
        )
    } == {
        "state": "merged",
        "branch": "wta/one",
        "base_commit": main_tip,
        "attempts": 1,
        "files_changed": 1,
        "insertions": 1,
        "deletions": 0,
        "summary": "applied one.patch",
    }
    assert one["commit"] == git(repo, "rev-parse", "wta/integration")
    assert run["data"]["integration"] == {
        "branch": "wta/integration",
        "base": "main",
        "base_commit": main_tip,
        "head": one["commit"],
    }
    totals = run["data"]["totals"]
    assert {k: totals[k] for k in ("features", "merged", "failed", "skipped", "pending")} == {
        "features": 3,
        "merged": 1,
        "failed": 1,
        "skipped": 1,
        "pending": 0,
    }
    assert wta(repo, "status", "--json") == 0
    after = json.loads(capsys.readouterr().out)
    assert after["data"]["features"] == run["data"]["features"]


def test_demo_ends_as_designed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "demo"

    assert main(["demo", "--dir", str(target), "--json"]) == 0

    document = json.loads(capsys.readouterr().out)
    check_schema(document["data"])
    outcome = {
        f["id"]: (f["state"], f["reason"], f["skipped_because"])
        for f in document["data"]["features"]
    }
    assert outcome == {
        "greeting": ("merged", None, None),
        "greeting-cli": ("merged", None, None),
        "storage": ("merged", None, None),
        "storage-json": ("merged", None, None),
        "storage-csv": ("merged", None, None),
        "storage-export": ("merged", None, None),
        "banner-en": ("merged", None, None),
        "banner-fr": ("failed", "conflict", None),
        "banner-fr-docs": ("skipped", None, "banner-fr"),
    }
    assert git(target, "show", "wta/integration:app/banner.py").splitlines()[0] == (
        'BANNER = "Welcome, friend"'
    )
    assert git(target, "status", "--porcelain") == ""
    assert git(target, "rev-parse", "--abbrev-ref", "HEAD") == "main"
