"""Tests for the SQLite state store: schema versioning, WAL, atomic claims, plan sync, reset."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from runutil import BASE, Spec, plan_repo, wta

from worktree_agents import runner
from worktree_agents.domain import CommitSha, FailureReason, FeatureId, FeatureState, RunId
from worktree_agents.errors import StoreError
from worktree_agents.records import CheckoutChange
from worktree_agents.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    AttemptOutcome,
    AttemptRecord,
    FeatureUpdate,
    RunStatus,
    Store,
)
from worktree_agents.store_open import connect

REPO_ROOT = Path(__file__).resolve().parents[1]
A, B, C = FeatureId("a"), FeatureId("b"), FeatureId("c")
RUN = RunId("run-1")


def user_version(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        return version
    finally:
        conn.close()


def test_open_creates_state_dir_and_stores_schema_version(tmp_path: Path) -> None:
    state_dir = tmp_path / "git" / "wta"
    with Store.open(state_dir) as store:
        assert store.path == state_dir / "state.db"
    assert SCHEMA_VERSION == 5
    assert user_version(state_dir / "state.db") == SCHEMA_VERSION


def test_wal_mode_is_on(tmp_path: Path) -> None:
    with Store.open(tmp_path):
        pass
    conn = sqlite3.connect(tmp_path / "state.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


def test_a_connection_syncs_normal_in_wal_mode(tmp_path: Path) -> None:
    conn = connect(tmp_path / "state.db", MIGRATIONS)
    try:
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        conn.close()
    assert (journal, synchronous) == ("wal", 1)  # 1 is NORMAL (FULL is 2)


def test_reopening_keeps_data(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.sync_features([A, B], done=())
        store.start_run(RUN, pid=42, host="box", plan_path="wta.toml", options_json="{}")
    with Store.open(tmp_path) as store:
        assert store.states() == {A: FeatureState.PENDING, B: FeatureState.PENDING}
        run = store.latest_run()
    assert run is not None
    assert (run.id, run.pid, run.host, run.status, run.finished_at) == (
        RUN,
        42,
        "box",
        RunStatus.RUNNING,
        None,
    )


def test_newer_schema_is_rejected(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError) as info:
        Store.open(tmp_path)
    assert info.value.message == (
        f"state was written by a newer wta (schema version 99, this wta knows {SCHEMA_VERSION}); "
        f"upgrade wta or remove {db}"
    )


def test_a_file_that_is_not_sqlite_is_rejected(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.write_text("this is a text file, not a database\n" * 40)
    with pytest.raises(StoreError) as info:
        Store.open(tmp_path)
    assert info.value.message == f"{db} is not an SQLite database; move it aside or remove it"


def test_sync_features_inserts_in_plan_order_and_applies_done(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.sync_features([A, B, C], done={B})
        records = store.all_features()
        assert [(f.id, f.plan_index, f.state, f.detail, f.done_in_plan) for f in records] == [
            (A, 0, FeatureState.PENDING, None, False),
            (B, 1, FeatureState.MERGED, "done in plan", True),
            (C, 2, FeatureState.PENDING, None, False),
        ]
        # c leaves the plan (its row stays), a moves last, b is no longer done.
        store.sync_features([B, A], done={A})
        assert store.states() == {B: FeatureState.PENDING, A: FeatureState.MERGED}
        everything = store.all_features(include_retired=True)
        assert [(f.id, f.plan_index) for f in everything] == [(B, 0), (A, 1), (C, None)]
        assert store.get(FeatureId("nope")) is None


def test_claim_then_finish_attempt(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.sync_features([A], done=())
        attempt = store.claim(A, RUN, profile="default", model="sonnet")
        assert attempt is not None
        assert attempt == AttemptRecord(
            feature_id=A,
            n=1,
            run_id=RUN,
            started_at=attempt.started_at,
            finished_at=None,
            profile="default",
            model="sonnet",
            base_commit=None,
            head_commit=None,
            outcome=None,
            reason=None,
            detail=None,
            cost_usd=None,
            turns=None,
            session_id=None,
            log_path=None,
            cost_estimated=False,
        )
        store.annotate_attempt(A, 1, base_commit=CommitSha("b" * 40), log_path="logs/a-1.log")
        store.finish_attempt(
            A,
            1,
            outcome=AttemptOutcome.FAILED,
            reason=FailureReason.VERIFY_FAILED,
            detail="1 test failed",
            head_commit=CommitSha("c" * 40),
            cost_usd=0.25,
            turns=7,
            session_id="s-1",
        )
        [finished] = store.attempts(A)
        assert finished.finished_at is not None
        assert finished == dataclasses.replace(
            attempt,
            finished_at=finished.finished_at,
            base_commit=CommitSha("b" * 40),
            log_path="logs/a-1.log",
            head_commit=CommitSha("c" * 40),
            outcome=AttemptOutcome.FAILED,
            reason=FailureReason.VERIFY_FAILED,
            detail="1 test failed",
            cost_usd=0.25,
            turns=7,
            session_id="s-1",
        )
        feature = store.get(A)
        assert feature is not None
        assert (feature.state, feature.attempts, feature.claimed_by, feature.cost_usd) == (
            FeatureState.RUNNING,
            1,
            RUN,
            0.25,
        )


def test_annotating_with_a_branch_records_it_on_the_feature_in_the_same_transaction(
    tmp_path: Path,
) -> None:
    base, other = CommitSha("b" * 40), CommitSha("d" * 40)
    with Store.open(tmp_path) as store:
        store.sync_features([A], done=())
        store.claim(A, RUN)
        claimed = store.get(A)
        store.annotate_attempt(A, 1, base_commit=base, log_path="a-1.log", branch="wta/a")
        annotated = store.get(A)
        with pytest.raises(StoreError, match="no attempt 2 of feature 'a'"):
            store.annotate_attempt(A, 2, base_commit=other, branch="wta/other")
        after_error = store.get(A)
        [attempt] = store.attempts(A)
    assert claimed is not None and annotated is not None
    expected = dataclasses.replace(
        claimed, branch="wta/a", base_commit=base, updated_at=annotated.updated_at
    )
    assert (annotated, after_error) == (expected, expected)  # the failed one changed nothing
    assert (attempt.base_commit, attempt.log_path) == (base, "a-1.log")


def test_claim_of_a_merged_feature_returns_none(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.sync_features([A], done={A})
        assert store.claim(A, RUN) is None
        assert store.claim(FeatureId("unknown"), RUN) is None
        feature = store.get(A)
        assert feature is not None
        assert (feature.state, feature.attempts) == (FeatureState.MERGED, 0)


def test_claim_is_atomic_across_threads(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.sync_features([A], done=())
    barrier = threading.Barrier(8)
    results: list[AttemptRecord | None] = []
    lock = threading.Lock()

    def race(i: int) -> None:
        with Store.open(tmp_path) as own:
            barrier.wait()
            got = own.claim(A, RunId(f"thread-{i}"))
        with lock:
            results.append(got)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r is not None]
    assert (len(results), len(winners)) == (8, 1)
    with Store.open(tmp_path) as store:
        feature = store.get(A)
        assert feature is not None
        assert (feature.state, feature.attempts, feature.claimed_by) == (
            FeatureState.RUNNING,
            1,
            winners[0].run_id,
        )
        assert [a.run_id for a in store.attempts(A)] == [winners[0].run_id]


CLAIM_SCRIPT = """
import sys, time
from pathlib import Path
from worktree_agents.store import Store
state_dir, name = Path(sys.argv[1]), sys.argv[2]
with Store.open(state_dir) as store:
    (state_dir / f"ready-{name}").touch()
    while not (state_dir / "go").exists():
        time.sleep(0.002)
    print("won" if store.claim("a", name) else "lost")
"""


def test_claim_is_atomic_across_processes(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.sync_features([A], done=())
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    names = [f"proc-{i}" for i in range(4)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIM_SCRIPT, str(tmp_path), name],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"ready-{n}").exists() for n in names):
        assert time.monotonic() < deadline, "claim workers did not start"
        assert all(p.poll() is None for p in procs), "a claim worker exited early"
        time.sleep(0.005)
    (tmp_path / "go").touch()
    outputs = [p.communicate(timeout=30)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    assert sorted(outputs) == ["lost", "lost", "lost", "won"]
    with Store.open(tmp_path) as store:
        feature = store.get(A)
        assert feature is not None
        winner = names[outputs.index("won")]
        assert (feature.attempts, feature.claimed_by) == (1, winner)
        assert [a.run_id for a in store.attempts(A)] == [winner]


def test_set_state_and_update_feature(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.sync_features([A, B], done=())
        store.update_feature(A, FeatureUpdate(branch="wta/a", files_changed=3))
        store.set_state(
            A,
            FeatureState.FAILED,
            reason=FailureReason.CONFLICT,
            detail="conflict in app.py",
            changes=FeatureUpdate(conflict_paths=("app.py", "lib.py")),
        )
        store.set_state(B, FeatureState.SKIPPED, changes=FeatureUpdate(skipped_because=A))
        a, b = store.all_features()
        assert (a.state, a.reason, a.detail, a.branch, a.files_changed, a.conflict_paths) == (
            FeatureState.FAILED,
            FailureReason.CONFLICT,
            "conflict in app.py",
            "wta/a",
            3,
            ("app.py", "lib.py"),
        )
        assert (b.state, b.skipped_because) == (FeatureState.SKIPPED, A)
        with pytest.raises(StoreError) as info:
            store.set_state(FeatureId("ghost"), FeatureState.READY)
        assert info.value.message == f"unknown feature 'ghost' in the state store {store.path}"


def test_reset_clears_failure_and_keeps_attempt_count(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.sync_features([A, B], done=())
        assert store.claim(A, RUN) is not None
        store.set_state(
            A,
            FeatureState.FAILED,
            reason=FailureReason.CONFLICT,
            detail="conflict",
            changes=FeatureUpdate(conflict_paths=("x.py",), branch="wta/a"),
        )
        store.set_state(B, FeatureState.SKIPPED, changes=FeatureUpdate(skipped_because=A))
        store.reset([A, B])
        a, b = store.all_features()
        assert (a.state, a.reason, a.detail, a.conflict_paths, a.claimed_by, a.attempts) == (
            FeatureState.PENDING,
            None,
            None,
            (),
            None,
            1,
        )
        assert a.branch == "wta/a"
        assert (b.state, b.skipped_because) == (FeatureState.PENDING, None)
        second = store.claim(A, RunId("run-2"))
        assert second is not None
        assert second.n == 2


def test_runs(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        assert store.latest_run() is None
        first = store.start_run(RunId("r1"), pid=1, host="h", plan_path="p", options_json="{}")
        store.finish_run(RunId("r1"), RunStatus.PARTIAL)
        second = store.start_run(RunId("r2"), pid=2, host="h", plan_path="p", options_json="{}")
        assert store.latest_run() == second
        store.finish_run(RunId("r2"), RunStatus.SUCCESS)
        latest = store.latest_run()
        assert latest is not None
        assert latest.finished_at is not None
        assert latest == dataclasses.replace(
            second, status=RunStatus.SUCCESS, finished_at=latest.finished_at
        )
        assert first.status == RunStatus.RUNNING


def test_a_version_1_database_is_migrated(tmp_path: Path) -> None:
    from worktree_agents.store import MIGRATIONS

    state_dir = tmp_path / "wta"
    state_dir.mkdir()
    conn = sqlite3.connect(state_dir / "state.db")
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO runs (id, started_at, pid, host, status, plan_path, options_json)"
        " VALUES ('r1', 1.0, 7, 'h', 'success', 'wta.toml', '{}')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    with Store.open(state_dir) as store:
        run = store.latest_run()

    assert user_version(state_dir / "state.db") == SCHEMA_VERSION
    assert run is not None
    assert (run.id, run.status, run.cost_usd) == ("r1", "success", 0.0)


def test_migration_3_moves_done_in_plan_from_the_detail_to_its_own_column(tmp_path: Path) -> None:
    from worktree_agents.store import MIGRATIONS

    state_dir = tmp_path / "wta"
    state_dir.mkdir()
    conn = sqlite3.connect(state_dir / "state.db")
    for statements in MIGRATIONS[:2]:
        for statement in statements:
            conn.execute(statement)
    rows = [
        ("a", 0, "merged", "done in plan"),  # marked done in the plan
        ("b", 1, "merged", "found on the integration branch after an interrupted run"),
        ("c", 2, "failed", "done in plan"),  # only the words, not the state: not done
    ]
    conn.executemany(
        "INSERT INTO features (id, plan_index, state, detail, updated_at) VALUES (?, ?, ?, ?, 1)",
        rows,
    )
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()

    with Store.open(state_dir) as store:
        got = [(f.id, f.done_in_plan) for f in store.all_features()]
        store.sync_features([A, B, C], done=())  # no longer done in the plan: back to pending
        states = store.states()

    assert got == [("a", True), ("b", False), ("c", False)]
    assert states == {A: FeatureState.PENDING, B: FeatureState.MERGED, C: FeatureState.FAILED}


def test_checkout_changes_are_kept_on_their_run_in_order(tmp_path: Path) -> None:
    first = CheckoutChange(1.5, ("/home/me/repo/notes.txt", "/home/me/repo: HEAD"), (A, B))
    second = CheckoutChange(2.5, ("/home/me/repo/notes.txt",), (C,))
    with Store.open(tmp_path) as store:
        store.start_run(RUN, pid=1, host="h", plan_path="p", options_json="{}")
        store.add_checkout_change(RUN, first)
        store.add_checkout_change(RUN, second)
        with pytest.raises(StoreError) as info:
            store.add_checkout_change(RunId("nope"), first)
        latest = store.latest_run()

    assert latest is not None
    assert latest.checkout_changes == (first, second)
    assert info.value.message == f"unknown run 'nope' in the state store {tmp_path / 'state.db'}"


def test_migration_4_gives_earlier_runs_no_checkout_changes(tmp_path: Path) -> None:
    from worktree_agents.store import MIGRATIONS

    conn = sqlite3.connect(tmp_path / "state.db")
    for statements in MIGRATIONS[:3]:
        for statement in statements:
            conn.execute(statement)
    conn.execute(
        "INSERT INTO runs (id, started_at, pid, host, status, plan_path, options_json)"
        " VALUES ('r1', 1.0, 7, 'h', 'success', 'wta.toml', '{}')"
    )
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()

    with Store.open(tmp_path) as store:
        run = store.latest_run()
        store.add_checkout_change(RunId("r1"), CheckoutChange(3.0, ("/r/x",), (A,)))
        again = store.latest_run()

    assert user_version(tmp_path / "state.db") == SCHEMA_VERSION
    assert run is not None
    assert again is not None
    assert run.checkout_changes == ()
    assert again.checkout_changes == (CheckoutChange(3.0, ("/r/x",), (A,)),)


def test_a_run_id_drawn_twice_in_one_second_is_drawn_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run ids are the start second and four random hex digits: two runs in one second may
    draw the same; the second run draws again instead of failing on the store's key."""
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"}), Spec("b", {"b.txt": "b\n"})], BASE)
    drawn = iter(["20261130-120000-abcd", "20261130-120000-abcd", "20261130-120000-beef"])
    monkeypatch.setattr(runner, "new_run_id", lambda: RunId(next(drawn)))

    assert wta(repo, "run", "--only", "a") == 0
    assert wta(repo, "run") == 0

    with Store.open(repo / ".git" / "wta") as store:
        assert [r.id for r in store.runs()] == ["20261130-120000-abcd", "20261130-120000-beef"]
