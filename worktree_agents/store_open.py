"""Opening the state store's SQLite database: WAL mode, a busy timeout, and the schema
migrated to the version this wta knows (the migrations themselves are in store.py)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from worktree_agents.errors import StoreError

BUSY_TIMEOUT_S = 10.0


def connect(db_path: Path, migrations: Sequence[Sequence[str]]) -> sqlite3.Connection:
    """Open the store's database in WAL mode, migrated to the last of `migrations`."""
    try:
        conn = sqlite3.connect(
            db_path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S
        )
    except sqlite3.Error as exc:  # say, a directory where the database should be
        raise StoreError(f"cannot open the state store {db_path}: {exc}") from exc
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        _enable_wal(conn)
        # In WAL mode NORMAL syncs at checkpoints only: a commit survives a crash of wta
        # (SIGKILL included) but may be lost with the machine's power. That is enough: the
        # refs are the truth, and recovery rebuilds what the store lost from them.
        conn.execute("PRAGMA synchronous = NORMAL")
        _migrate(conn, db_path, migrations)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if exc.sqlite_errorcode == sqlite3.SQLITE_NOTADB:
            raise StoreError(
                f"{db_path} is not an SQLite database; move it aside or remove it"
            ) from exc
        raise StoreError(f"cannot open the state store {db_path}: {exc}") from exc
    except StoreError:
        conn.close()
        raise
    return conn


def _enable_wal(conn: sqlite3.Connection) -> None:
    # Switching a new database to WAL ignores busy_timeout when first opens race: retry here.
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
            continue
        if mode != "wal":
            raise StoreError(f"cannot switch the state store to WAL mode (journal mode {mode!r})")
        return


def _migrate(conn: sqlite3.Connection, db_path: Path, migrations: Sequence[Sequence[str]]) -> None:
    # migrations[n] takes a database from user_version n to n + 1
    if _user_version(conn, db_path, len(migrations)) == len(migrations):
        return  # the common case takes no write lock, so `wta status` never waits on a run
    conn.execute("BEGIN IMMEDIATE")  # re-read under the write lock: two first opens may race
    try:
        version = _user_version(conn, db_path, len(migrations))
        for statements in migrations[version:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {len(migrations)}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _user_version(conn: sqlite3.Connection, db_path: Path, known: int) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > known:
        raise StoreError(
            f"state was written by a newer wta (schema version {version}, this wta knows "
            f"{known}); upgrade wta or remove {db_path}"
        )
    return version
