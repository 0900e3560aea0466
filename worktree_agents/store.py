"""The state store: features, attempts and runs in SQLite (WAL) under <git-common-dir>/wta/.

Each process opens its own Store; one Store may be shared by threads (a lock guards it).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from worktree_agents.domain import (
    CommitSha,
    FailureReason,
    FeatureId,
    FeatureState,
    RunId,
    RunStatus,
)
from worktree_agents.errors import StoreError
from worktree_agents.records import (
    AttemptOutcome,
    AttemptRecord,
    CheckoutChange,
    FeatureRecord,
    FeatureUpdate,
    RunRecord,
    attempt_from_row,
    feature_from_row,
    run_from_row,
)
from worktree_agents.store_open import BUSY_TIMEOUT_S as BUSY_TIMEOUT_S
from worktree_agents.store_open import connect

__all__ = [
    "AttemptOutcome",
    "AttemptRecord",
    "FeatureRecord",
    "FeatureUpdate",
    "RunRecord",
    "RunStatus",
    "Store",
]

DB_NAME = "state.db"
DONE_IN_PLAN = "done in plan"  # the detail shown for a feature the plan marks done

# MIGRATIONS[n] takes a database from user_version n to n + 1. Append; never edit.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            started_at REAL NOT NULL,
            finished_at REAL,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            status TEXT NOT NULL,
            plan_path TEXT NOT NULL,
            options_json TEXT NOT NULL
        )""",
        """CREATE TABLE features (
            id TEXT PRIMARY KEY,
            plan_index INTEGER,
            state TEXT NOT NULL,
            reason TEXT,
            detail TEXT,
            branch TEXT,
            base_commit TEXT,
            commit_sha TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            profile TEXT,
            model TEXT,
            cost_usd REAL NOT NULL DEFAULT 0,
            turns INTEGER,
            duration_s REAL,
            files_changed INTEGER,
            insertions INTEGER,
            deletions INTEGER,
            conflict_paths_json TEXT,
            skipped_because TEXT,
            summary TEXT,
            claimed_by TEXT,
            updated_at REAL NOT NULL
        )""",
        """CREATE TABLE attempts (
            feature_id TEXT NOT NULL REFERENCES features(id),
            n INTEGER NOT NULL,
            run_id TEXT NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL,
            profile TEXT,
            model TEXT,
            base_commit TEXT,
            head_commit TEXT,
            outcome TEXT,
            reason TEXT,
            detail TEXT,
            cost_usd REAL,
            turns INTEGER,
            session_id TEXT,
            log_path TEXT,
            PRIMARY KEY (feature_id, n)
        )""",
    ),
    ("ALTER TABLE runs ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0",),
    (  # `done = true` in the plan had been kept only as the detail "done in plan"
        "ALTER TABLE features ADD COLUMN done_in_plan INTEGER NOT NULL DEFAULT 0",
        "UPDATE features SET done_in_plan = 1 WHERE state = 'merged' AND detail = 'done in plan'",
    ),
    ("ALTER TABLE runs ADD COLUMN checkout_changes TEXT NOT NULL DEFAULT ''",),  # JSON lines
    (  # interrupted attempts are not tries; a killed agent's cost is estimated from its usage
        "ALTER TABLE features ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE features ADD COLUMN cost_estimated INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE attempts ADD COLUMN cost_estimated INTEGER NOT NULL DEFAULT 0",
        "UPDATE features SET interrupted = (SELECT COUNT(*) FROM attempts"
        " WHERE feature_id = features.id AND outcome = 'interrupted')",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


class Store:
    """The SQLite state store. Open one per process with `Store.open(state_dir)`."""

    def __init__(self, db_path: Path, conn: sqlite3.Connection) -> None:
        self.path = db_path
        self._conn = conn
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the state directory {state_dir}: {exc}") from exc
        db_path = state_dir / DB_NAME
        return cls(db_path, connect(db_path, MIGRATIONS))

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StoreError(f"state store {self.path}: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction: committed on success, rolled back on any error."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"state store {self.path}: {exc}") from exc

    # features

    def sync_features(
        self, ids_in_plan_order: Sequence[FeatureId], done: Collection[FeatureId]
    ) -> None:
        """Match the store to the plan: add new features, renumber, apply `done = true`.

        A feature that left the plan keeps its rows, with plan_index NULL. A feature the plan
        marks done becomes merged ("done in plan"); one no longer marked done goes back to pending.
        """
        now = time.time()
        with self._write() as conn:
            conn.execute("UPDATE features SET plan_index = NULL")
            for index, fid in enumerate(ids_in_plan_order):
                row = conn.execute(
                    "SELECT state, done_in_plan FROM features WHERE id = ?", (fid,)
                ).fetchone()
                if row is None:
                    conn.execute(
                        "INSERT INTO features (id, plan_index, state, updated_at)"
                        " VALUES (?, ?, ?, ?)",
                        (fid, index, FeatureState.PENDING, now),
                    )
                else:
                    conn.execute("UPDATE features SET plan_index = ? WHERE id = ?", (index, fid))
                if fid in done and (row is None or row["state"] != FeatureState.MERGED):
                    self._set(conn, fid, FeatureState.MERGED, None, DONE_IN_PLAN, {}, now)
                    self._update(conn, fid, {"done_in_plan": 1})
                elif fid not in done and row is not None and row["done_in_plan"]:
                    self._set(conn, fid, FeatureState.PENDING, None, None, {}, now)
                    self._update(conn, fid, {"done_in_plan": 0})

    def get(self, feature_id: FeatureId) -> FeatureRecord | None:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM features WHERE id = ?", (feature_id,)).fetchone()
        return None if row is None else feature_from_row(row)

    def all_features(self, *, include_retired: bool = False) -> list[FeatureRecord]:
        """Features in plan order; with include_retired, those that left the plan follow, by id."""
        where = "" if include_retired else "WHERE plan_index IS NOT NULL"
        query = f"SELECT * FROM features {where} ORDER BY plan_index IS NULL, plan_index, id"  # noqa: S608
        with self._read() as conn:
            rows = conn.execute(query).fetchall()
        return [feature_from_row(r) for r in rows]

    def states(self) -> dict[FeatureId, FeatureState]:
        """The state of every feature in the plan."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, state FROM features WHERE plan_index IS NOT NULL ORDER BY plan_index"
            ).fetchall()
        return {FeatureId(r["id"]): FeatureState(r["state"]) for r in rows}

    def set_state(
        self,
        feature_id: FeatureId,
        state: FeatureState,
        *,
        reason: FailureReason | None = None,
        detail: str | None = None,
        changes: FeatureUpdate | None = None,
    ) -> None:
        """Move a feature to `state`. reason and detail are always replaced (None clears them)."""
        columns = changes.columns() if changes else {}
        with self._write() as conn:
            self._set(conn, feature_id, state, reason, detail, columns, time.time())

    def update_feature(self, feature_id: FeatureId, changes: FeatureUpdate) -> None:
        columns = changes.columns()
        if not columns:
            return
        with self._write() as conn:
            self._update(conn, feature_id, {**columns, "updated_at": time.time()})

    def _set(
        self,
        conn: sqlite3.Connection,
        feature_id: FeatureId,
        state: FeatureState,
        reason: FailureReason | None,
        detail: str | None,
        columns: dict[str, object],
        now: float,
    ) -> None:
        base = {"state": state, "reason": reason, "detail": detail, "updated_at": now}
        self._update(conn, feature_id, {**columns, **base})

    def _update(
        self, conn: sqlite3.Connection, feature_id: FeatureId, columns: dict[str, object]
    ) -> None:
        # Column names come from FeatureUpdate's fields and this module, never from callers.
        assignments = ", ".join(f"{name} = ?" for name in columns)
        cursor = conn.execute(
            f"UPDATE features SET {assignments} WHERE id = ?",  # noqa: S608
            (*columns.values(), feature_id),
        )
        if cursor.rowcount == 0:
            raise StoreError(f"unknown feature {feature_id!r} in the state store {self.path}")

    def reset(
        self, feature_ids: Collection[FeatureId], to: FeatureState = FeatureState.PENDING
    ) -> None:
        """Put features back to `to`, clearing reason, detail, skipped_because, conflicts and claim.

        The attempts counter is kept, so attempt numbers stay unique.
        """
        now = time.time()
        with self._write() as conn:
            for fid in feature_ids:
                self._update(
                    conn,
                    fid,
                    {
                        "state": to,
                        "reason": None,
                        "detail": None,
                        "skipped_because": None,
                        "conflict_paths_json": None,
                        "claimed_by": None,
                        "updated_at": now,
                    },
                )

    # attempts

    def claim(
        self,
        feature_id: FeatureId,
        run_id: RunId,
        from_states: Collection[FeatureState] = (FeatureState.PENDING, FeatureState.READY),
        *,
        profile: str | None = None,
        model: str | None = None,
        base_commit: CommitSha | None = None,
        log_path: str | None = None,
    ) -> AttemptRecord | None:
        """Atomically start a new attempt: None if the feature is not in one of `from_states`.

        `model` is the model the attempt asks for, kept on the attempt; the feature's model
        is the one that answered, recorded from the agent's result only."""
        now = time.time()
        with self._write() as conn:
            row = conn.execute(
                "SELECT state, attempts FROM features WHERE id = ?", (feature_id,)
            ).fetchone()
            if row is None or FeatureState(row["state"]) not in from_states:
                return None
            n: int = row["attempts"] + 1
            conn.execute(
                "UPDATE features SET state = ?, reason = NULL, detail = NULL, claimed_by = ?,"
                " attempts = ?, profile = COALESCE(?, profile), updated_at = ? WHERE id = ?",
                (FeatureState.RUNNING, run_id, n, profile, now, feature_id),
            )
            conn.execute(
                "INSERT INTO attempts (feature_id, n, run_id, started_at, profile, model,"
                " base_commit, log_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (feature_id, n, run_id, now, profile, model, base_commit, log_path),
            )
            attempt = conn.execute(
                "SELECT * FROM attempts WHERE feature_id = ? AND n = ?", (feature_id, n)
            ).fetchone()
        return attempt_from_row(attempt)

    def annotate_attempt(
        self,
        feature_id: FeatureId,
        n: int,
        *,
        base_commit: CommitSha | None = None,
        log_path: str | None = None,
        branch: str | None = None,
    ) -> None:
        """Record what is known only after the claim (the worktree's base, the log file).
        With `branch`, the feature's branch and base are recorded too, in one transaction."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE attempts SET base_commit = COALESCE(?, base_commit),"
                " log_path = COALESCE(?, log_path) WHERE feature_id = ? AND n = ?",
                (base_commit, log_path, feature_id, n),
            )
            self._require_attempt(cursor, feature_id, n)
            if branch is not None:
                columns = FeatureUpdate(branch=branch, base_commit=base_commit).columns()
                self._update(conn, feature_id, {**columns, "updated_at": time.time()})

    def finish_attempt(
        self,
        feature_id: FeatureId,
        n: int,
        *,
        outcome: AttemptOutcome,
        reason: FailureReason | None = None,
        detail: str | None = None,
        head_commit: CommitSha | None = None,
        cost_usd: float | None = None,
        turns: int | None = None,
        session_id: str | None = None,
        cost_estimated: bool = False,
    ) -> None:
        """Close an attempt. Its cost is added to the feature's total (`cost_estimated`: it is an
        estimate), an interrupted one to its count; the feature's state is not changed."""
        estimated = cost_estimated and bool(cost_usd)
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE attempts SET finished_at = ?, outcome = ?, reason = ?, detail = ?,"
                " head_commit = ?, cost_usd = ?, turns = ?, session_id = ?, cost_estimated = ?"
                " WHERE feature_id = ? AND n = ?",
                (time.time(), outcome, reason, detail, head_commit, cost_usd, turns, session_id,
                 estimated, feature_id, n),
            )  # fmt: skip
            self._require_attempt(cursor, feature_id, n)
            conn.execute(
                "UPDATE features SET cost_usd = cost_usd + ?, interrupted = interrupted + ?,"
                " cost_estimated = MAX(cost_estimated, ?) WHERE id = ?",
                (cost_usd or 0.0, outcome is AttemptOutcome.INTERRUPTED, estimated, feature_id),
            )

    def _require_attempt(self, cursor: sqlite3.Cursor, feature_id: FeatureId, n: int) -> None:
        if cursor.rowcount == 0:
            raise StoreError(
                f"no attempt {n} of feature {feature_id!r} in the state store {self.path}"
            )

    def attempts(self, feature_id: FeatureId) -> list[AttemptRecord]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM attempts WHERE feature_id = ? ORDER BY n", (feature_id,)
            ).fetchall()
        return [attempt_from_row(r) for r in rows]

    # runs

    def start_run(
        self, run_id: RunId, pid: int, host: str, plan_path: str, options_json: str
    ) -> RunRecord:
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO runs (id, started_at, pid, host, status, plan_path, options_json)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, now, pid, host, RunStatus.RUNNING, plan_path, options_json),
            )
        return RunRecord(
            run_id, now, None, pid, host, RunStatus.RUNNING, plan_path, options_json, 0.0
        )

    def finish_run(self, run_id: RunId, status: RunStatus, cost_usd: float = 0.0) -> None:
        """Close a run; `cost_usd` is what its agents spent (earlier runs not included)."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, cost_usd = ? WHERE id = ?",
                (time.time(), status, cost_usd, run_id),
            )
            if cursor.rowcount == 0:
                raise StoreError(f"unknown run {run_id!r} in the state store {self.path}")

    def add_checkout_change(self, run_id: RunId, change: CheckoutChange) -> None:
        """Add to a run's record a change to the user's checkout seen while agents ran."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE runs SET checkout_changes = checkout_changes || ? WHERE id = ?",
                (change.as_line(), run_id),
            )
            if cursor.rowcount == 0:
                raise StoreError(f"unknown run {run_id!r} in the state store {self.path}")

    def runs(self) -> list[RunRecord]:
        """Every recorded run, oldest first."""
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM runs ORDER BY started_at, rowid").fetchall()
        return [run_from_row(r) for r in rows]

    def latest_run(self) -> RunRecord | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1"
            ).fetchone()
        return None if row is None else run_from_row(row)
