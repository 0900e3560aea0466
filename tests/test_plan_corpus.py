"""Every broken plan under fixtures/plans/bad/ exits 2 with exactly its expected message."""

from __future__ import annotations

from pathlib import Path

import pytest

from worktree_agents.cli import main

BAD = Path(__file__).parent.parent / "fixtures" / "plans" / "bad"
CASES = sorted(BAD.glob("*.toml"))


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert all(case.with_suffix(".expected").is_file() for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_plan(case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "wta.toml"
    plan.write_bytes(case.read_bytes())
    before = sorted(p.name for p in tmp_path.iterdir())

    code = main(["plan", "--plan", str(plan)])

    out, err = capsys.readouterr()
    expected = case.with_suffix(".expected").read_text(encoding="utf-8")
    assert (code, out, err.replace(str(plan), "{plan}")) == (2, "", expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert plan.read_bytes() == case.read_bytes()


@pytest.mark.parametrize("case", CASES[:3], ids=[c.stem for c in CASES[:3]])
def test_bad_plan_json_envelope(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code = main(["plan", "--plan", str(case), "--format", "json"])

    out, err = capsys.readouterr()
    document = json.loads(out)
    assert code == 2
    assert err == ""
    assert {k: document[k] for k in ("schema", "command", "status", "exit_code", "data")} == {
        "schema": 1,
        "command": "plan",
        "status": "error",
        "exit_code": 2,
        "data": None,
    }
    expected_lines = case.with_suffix(".expected").read_text(encoding="utf-8").splitlines()[1:]
    assert [f"  - {e['message']}" for e in document["errors"]] == expected_lines
    assert all(set(e) == {"type", "message", "where", "field", "fix"} for e in document["errors"])
