"""Attempt numbers count per feature across runs: in the progress lines, the events, and the
store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runutil import BASE, Spec, features, plan_repo, wta


def run_events(repo: Path) -> list[list[dict[str, object]]]:
    """The events of every run, oldest run first."""
    logs = (repo / ".git" / "wta" / "runs").glob("*.jsonl")
    runs = [[json.loads(line) for line in log.read_text().splitlines()] for log in logs]
    return sorted(runs, key=lambda events: float(events[0]["ts"]))  # type: ignore[arg-type]


def progress(err: str) -> list[str]:
    """The progress lines without their clock times."""
    return [line[9:] for line in err.splitlines()]


def test_attempt_numbers_go_on_counting_in_a_later_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = Spec("a", {"a.txt": "a\n"}, acceptance=["false"])
    repo = plan_repo(tmp_path, [failing], BASE, "[guardrails]\nmax_attempts = 2\n")
    assert wta(repo, "run") == 1
    capsys.readouterr()

    assert wta(repo, "run", "--retry-failed") == 1

    lines = [line for line in progress(capsys.readouterr().err) if line.startswith(("a: attempt", "a: retrying"))]
    assert lines == [
        "a: attempt 3 started (patch, profile default)",
        "a: retrying as attempt 4 on profile default after verify_failed",
        "a: attempt 4 started (patch, profile default)",
    ]
    second = run_events(repo)[1]
    numbered = [(e["kind"], e["attempt"]) for e in second if "attempt" in e]
    assert numbered == [
        ("agent_started", 3),
        ("agent_finished", 3),
        ("retry", 4),
        ("agent_started", 4),
        ("agent_finished", 4),
    ]
    got = features(capsys, repo)["a"]
    assert (got["state"], got["reason"], got["attempts"]) == ("failed", "verify_failed", 4)
