from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aimon.errors import StateError
from aimon.state.db import migrate, open_db, transaction


def test_created_on_first_use_in_wal_mode_with_every_migration(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.db"
    conn = open_db(path)
    assert path.is_file()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    names = [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names[0] == "001_core.sql"
    assert migrate(conn) == []  # idempotent


def test_dry_run_works_on_a_copy_and_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = open_db(path)
    conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    conn.close()
    before = path.read_bytes()
    copy = open_db(path, dry_run=True)
    assert copy.execute("SELECT value FROM meta WHERE key = 'k'").fetchone()[0] == "v"
    copy.execute("INSERT INTO meta (key, value) VALUES ('k2', 'v2')")
    copy.close()
    assert path.read_bytes() == before
    assert not (tmp_path / "nothing.db").exists()
    open_db(tmp_path / "nothing.db", dry_run=True).close()
    assert not (tmp_path / "nothing.db").exists()


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "state.db")
    with pytest.raises(RuntimeError), transaction(conn):
        conn.execute("INSERT INTO meta (key, value) VALUES ('a', 'b')")
        raise RuntimeError("boom")
    assert conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 0


def test_unwritable_location_is_a_clear_state_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StateError, match="AIMON_DB"):
        open_db(blocker / "state.db")


def test_integrity(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "state.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert isinstance(conn, sqlite3.Connection)


def test_dry_run_copy_creates_no_file_beside_the_state(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = open_db(path)
    conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    conn.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    copy = open_db(path, dry_run=True)
    copy.execute("INSERT INTO meta (key, value) VALUES ('k3', 'v3')")
    assert copy.execute("SELECT count(*) FROM meta").fetchone()[0] == 2
    copy.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_dry_run_copy_sees_commits_still_in_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    writer = open_db(path)
    writer.execute("INSERT INTO meta (key, value) VALUES ('in-wal', 'yes')")
    copy = open_db(path, dry_run=True)  # the writer is still open: its commit sits in the -wal file
    assert copy.execute("SELECT value FROM meta WHERE key = 'in-wal'").fetchone()[0] == "yes"
    copy.close()
    writer.close()
