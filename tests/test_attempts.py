"""Attempt numbers count per feature across runs: in the progress lines, the events, and the
store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gitutil import SCRUBBED_GIT_VARS, git
from runutil import BASE, Spec, command_repo, features, plan_repo, wta

from worktree_agents.domain import FeatureId
from worktree_agents.store import MIGRATIONS, Store


def run_events(repo: Path) -> list[list[dict[str, object]]]:
    """The events of every run, oldest run first."""
    logs = (repo / ".git" / "wta" / "runs").glob("*.jsonl")
    runs = [[json.loads(line) for line in log.read_text().splitlines()] for log in logs]
    return sorted(runs, key=lambda events: float(events[0]["ts"]))


def progress(err: str) -> list[str]:
    """The progress lines without their clock times."""
    return [line[9:] for line in err.splitlines()]


def attempt_lines(err: str) -> list[str]:
    """The progress lines that name an attempt of `a` (started, retried, interrupted)."""
    return [line for line in progress(err) if line.startswith(("a: attempt", "a: retrying"))]


def test_attempt_numbers_go_on_counting_in_a_later_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = Spec("a", {"a.txt": "a\n"}, acceptance=["false"])
    repo = plan_repo(tmp_path, [failing], BASE, "[guardrails]\nmax_attempts = 2\n")
    assert wta(repo, "run") == 1
    capsys.readouterr()

    assert wta(repo, "run", "--retry-failed") == 1

    assert attempt_lines(capsys.readouterr().err) == [
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


# Attempt 2 of `a` waits to be interrupted; every other attempt writes a file and ends.
WAITS = """\
import os, pathlib, time
attempt = os.environ["WTA_ATTEMPT"]
pathlib.Path(os.environ["WTA_FEATURE_ID"] + ".txt").write_text(attempt + "\\n")
if os.environ["WTA_FEATURE_ID"] == "a" and attempt == "2":
    (pathlib.Path(__file__).parent / "waiting").write_text("")
    time.sleep(60)
"""


def interrupted_run(tmp_path: Path) -> tuple[Path, int, str, str]:
    """A run of `a` (its check fails) and `b` after it, stopped by SIGINT during a's second
    attempt: the repository, the exit code, stdout and the progress lines."""
    specs = [Spec("a", {}, acceptance=["false"]), Spec("b", {}, depends_on=["a"])]
    repo = command_repo(tmp_path, specs, settings="[guardrails]\nmax_attempts = 2\n")
    (tmp_path / "agent.py").write_text(WAITS)
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    plan = tmp_path / "plan" / "wta.toml"
    with subprocess.Popen(
        [sys.executable, "-m", "worktree_agents.cli", "run", "--plan", str(plan)],
        cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        deadline = time.monotonic() + 60
        while not (tmp_path / "waiting").exists() and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    return repo, proc.returncode, out, err


def test_an_interrupted_attempt_is_not_a_try(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, code, out, err = interrupted_run(tmp_path)

    integration = "wta/integration at " + git(repo, "rev-parse", "--short=12", "wta/integration")
    assert (code, out) == (
        130,
        "FEATURE  STATE    REASON  BRANCH  TRIES               COST   TIME\n"
        "a        pending  -       wta/a   1 (+1 interrupted)  $0.00  -\n"
        "b        pending  -       -       0                   $0.00  -\n"
        "\n"
        f"0 merged, 0 failed, 0 skipped, 2 pending of 2; cost $0.00; integration {integration}\n"
        "interrupted (restarted by the next run): a\n"
        "not started: b\n"
        "interrupted: the state is saved; run `wta run` again to finish the plan\n",
    )
    assert attempt_lines(err) == [
        "a: attempt 1 started (command, profile default)",
        "a: retrying as attempt 2 on profile default after verify_failed",
        "a: attempt 2 started (command, profile default)",
        "a: attempt 2 interrupted (not a try)",
    ]
    got = features(capsys, repo)["a"]
    assert (got["state"], got["attempts"], got["interrupted"]) == ("pending", 1, 1)
    capsys.readouterr()
    assert wta(repo, "show", "a") == 0
    shown = capsys.readouterr().out.splitlines()
    assert [line for line in shown if line.startswith("attempt")] == [
        "attempt 1: failed (verify_failed): `false` exited 1",
        "attempt 2: interrupted (not counted as a try): the run was interrupted (Ctrl-C or"
        " SIGTERM) during this attempt",
    ]

    # the next run has one try left of max_attempts = 2: attempt 3
    assert wta(repo, "run") == 1

    assert attempt_lines(capsys.readouterr().err) == [
        "a: attempt 3 started (command, profile default)",
    ]
    got = features(capsys, repo)["a"]
    assert (got["state"], got["attempts"], got["interrupted"]) == ("failed", 2, 1)


def test_migration_5_counts_the_interrupted_attempts_already_recorded(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "state.db")
    for statements in MIGRATIONS[:4]:
        for statement in statements:
            conn.execute(statement)
    conn.execute(
        "INSERT INTO features (id, state, attempts, updated_at) VALUES ('a', 'pending', 3, 1)"
    )
    for n, outcome in ((1, "failed"), (2, "interrupted"), (3, "interrupted")):
        conn.execute(
            "INSERT INTO attempts (feature_id, n, run_id, started_at, outcome, cost_usd)"
            " VALUES ('a', ?, 'r1', 1.0, ?, 0.5)",
            (n, outcome),
        )
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()

    with Store.open(tmp_path) as store:
        feature = store.get(FeatureId("a"))
        attempts = store.attempts(FeatureId("a"))

    assert feature is not None
    assert (feature.attempts, feature.interrupted, feature.cost_estimated) == (3, 2, False)
    assert [a.cost_estimated for a in attempts] == [False, False, False]
