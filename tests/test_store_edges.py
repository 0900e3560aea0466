"""The state store at its edges: threads, closing, opening against locks and obstacles, a
migration that fails, the plan's `done` flag coming and going, and missing rows named."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from worktree_agents.domain import FeatureId, FeatureState, RunId, RunStatus
from worktree_agents.errors import StoreError
from worktree_agents.store import (
    BUSY_TIMEOUT_S,
    MIGRATIONS,
    SCHEMA_VERSION,
    AttemptOutcome,
    Store,
)

A, B = FeatureId("a"), FeatureId("b")


def test_a_store_opened_in_one_thread_serves_another(tmp_path: Path) -> None:
    seen: list[object] = []
    with Store.open(tmp_path) as store:

        def work() -> None:
            store.sync_features([A], done=())
            seen.append(store.states())

        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
    assert seen == [{A: FeatureState.PENDING}]


def test_a_closed_store_says_so_and_closes_again_quietly(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.close()
    store.close()
    with pytest.raises(StoreError) as caught:
        store.states()
    assert caught.value.message == (
        f"state store {tmp_path / 'state.db'}: Cannot operate on a closed database."
    )


def test_a_state_dir_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x\n")
    where = tmp_path / "file" / "wta"
    with pytest.raises(StoreError) as caught:
        Store.open(where)
    assert caught.value.message == (
        f"cannot create the state directory {where}: [Errno 20] Not a directory: '{where}'"
    )


def test_an_error_that_waiting_cannot_cure_fails_at_once(tmp_path: Path) -> None:
    (tmp_path / "state.db-wal").mkdir()  # WAL mode cannot make its file
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        Store.open(tmp_path)
    assert caught.value.message == (
        f"cannot open the state store {tmp_path / 'state.db'}: disk I/O error"
    )
    assert time.monotonic() - started < BUSY_TIMEOUT_S / 2  # not retried as if busy


def test_a_first_open_waits_for_a_writer_that_holds_the_database(tmp_path: Path) -> None:
    # switching to WAL gets SQLITE_BUSY at once, busy_timeout or not, while another
    # connection is writing: the store retries until that writer is done
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE scratch (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO scratch VALUES (1)")
    done_writing = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    done_writing.start()
    try:
        with Store.open(tmp_path) as store:
            store.sync_features([A], done=())
            assert store.states() == {A: FeatureState.PENDING}
    finally:
        done_writing.join()
        other.close()
    assert journal_mode(tmp_path / "state.db") == "wal"


def test_a_migration_rereads_the_version_under_the_write_lock(tmp_path: Path) -> None:
    # another wta, newer, upgrades the database between this one's first look and its lock
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    newer = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    newer.execute("BEGIN IMMEDIATE")
    newer.execute("PRAGMA user_version = 99")
    upgraded = threading.Timer(0.3, lambda: newer.execute("COMMIT"))
    upgraded.start()
    try:
        with pytest.raises(StoreError) as caught:
            Store.open(tmp_path)
    finally:
        upgraded.join()
        newer.close()
    assert caught.value.message == (
        f"state was written by a newer wta (schema version 99, this wta knows {SCHEMA_VERSION}); "
        f"upgrade wta or remove {db}"
    )


def journal_mode(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        mode: str = conn.execute("PRAGMA journal_mode").fetchone()[0]
        return mode
    finally:
        conn.close()


def test_a_failed_migration_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("ALTER TABLE runs ADD COLUMN cost_usd REAL")  # what migration 2 adds
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    with pytest.raises(StoreError) as caught:
        Store.open(tmp_path)

    assert (
        caught.value.message == f"cannot open the state store {db}: duplicate column name: cost_usd"
    )
    conn = sqlite3.connect(db)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        columns = [row[1] for row in conn.execute("PRAGMA table_info(features)")]
    finally:
        conn.close()
    assert (version, "done_in_plan" in columns) == (1, False)


def test_done_in_the_plan_comes_and_goes_but_a_real_merge_stays(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.sync_features([A, B], done=())
        store.set_state(B, FeatureState.MERGED, detail="merged by a run")
        store.sync_features([A, B], done={A, B})
        assert [(f.id, f.state, f.detail, f.done_in_plan) for f in store.all_features()] == [
            (A, FeatureState.MERGED, "done in plan", True),
            (B, FeatureState.MERGED, "merged by a run", False),
        ]
        store.sync_features([A, B], done=())
        assert [(f.id, f.state, f.detail, f.done_in_plan) for f in store.all_features()] == [
            (A, FeatureState.PENDING, None, False),
            (B, FeatureState.MERGED, "merged by a run", False),
        ]


def test_features_that_left_the_plan_are_listed_only_on_request(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.sync_features([A, B], done=())
        store.sync_features([B], done=())
        assert [f.id for f in store.all_features()] == [B]
        assert [f.id for f in store.all_features(include_retired=True)] == [B, A]
        assert store.states() == {B: FeatureState.PENDING}


def test_missing_rows_are_named(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        db = tmp_path / "state.db"
        store.sync_features([A], done=())
        failures: list[Callable[[], object]] = [
            lambda: store.annotate_attempt(A, 3, log_path="x.log"),
            lambda: store.finish_attempt(A, 3, outcome=AttemptOutcome.OK),
            lambda: store.finish_run(RunId("nope"), RunStatus.SUCCESS),
            lambda: store.set_state(B, FeatureState.FAILED),
        ]
        messages = []
        for failure in failures:
            with pytest.raises(StoreError) as caught:
                failure()
            messages.append(caught.value.message)
    assert messages == [
        f"no attempt 3 of feature 'a' in the state store {db}",
        f"no attempt 3 of feature 'a' in the state store {db}",
        f"unknown run 'nope' in the state store {db}",
        f"unknown feature 'b' in the state store {db}",
    ]


def test_a_directory_in_place_of_the_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "state.db").mkdir()

    with pytest.raises(StoreError) as caught:
        Store.open(tmp_path)

    assert caught.value.message == (
        f"cannot open the state store {tmp_path / 'state.db'}: unable to open database file"
    )
