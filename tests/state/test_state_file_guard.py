"""A state file aimon cannot use stops the command with exit 2 and advice, before anything is written to it; a
read-only command never creates or migrates one."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from aimon.errors import StateUnusable
from aimon.state.db import open_db

ADVICE = "is not a usable aimon state file"


def files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.parametrize("command", [["status"], ["scan", "app.log"], ["run", "--log", "app.log"], ["diagnose"]])
def test_a_file_that_is_not_sqlite_exits_2_with_advice_and_stays_as_it_was(isolated: Path, cli: Any, command: list[str]) -> None:
    (isolated / "app.log").write_text("")
    state = isolated / "state.db"
    state.write_bytes(b"\x00garbage\xff" * 500)
    before = state.read_bytes()

    result = cli(*command)

    assert result.exit_code == 2
    assert f"state file {state} {ADVICE} (it is not an SQLite database); nothing was written to it." in result.stderr
    assert f"mv {state} {state}.broken" in result.stderr
    assert "Traceback" not in result.stderr
    assert state.read_bytes() == before
    assert "state.db-wal" not in files(isolated) and "state.db-shm" not in files(isolated)


def test_a_truncated_state_file_exits_2_and_says_what_is_lost(isolated: Path, cli: Any) -> None:
    state = isolated / "state.db"
    conn = open_db(state)
    conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    conn.close()
    state.write_bytes(state.read_bytes()[:200])  # the header survives, the pages do not
    before = state.read_bytes()

    result = cli("status", "--json")

    assert result.exit_code == 2
    envelope = result.envelope()
    assert envelope["ok"] is False and ADVICE in envelope["error"]
    assert "GitHub issues are not duplicated" in result.stderr
    assert state.read_bytes() == before


def test_a_state_file_from_a_newer_aimon_is_refused_untouched(isolated: Path, cli: Any) -> None:
    state = isolated / "state.db"
    open_db(state).close()
    raw = sqlite3.connect(state)
    raw.execute("INSERT INTO _migrations (name, applied_at) VALUES ('999_future.sql', '2031-01-01T00:00:00Z')")
    raw.commit()
    raw.close()
    before = state.read_bytes()

    for command in (["status"], ["run"], ["ignore", "abc"]):
        result = cli(*command)
        assert result.exit_code == 2, command
        assert f"state file {state} was written by a newer aimon (it has migration 999_future.sql" in result.stderr
    assert state.read_bytes() == before
    with pytest.raises(StateUnusable):
        open_db(state, dry_run=True)


def test_status_never_creates_a_state_file(isolated: Path, cli: Any) -> None:
    result = cli("status", "--json")
    assert result.exit_code == 0
    assert not (isolated / "state.db").exists()
    assert files(isolated) == []


def test_status_reads_an_older_state_file_without_migrating_it(isolated: Path, cli: Any) -> None:
    state = isolated / "state.db"
    open_db(state).close()
    raw = sqlite3.connect(state)
    # As an aimon from before the autofix migration left it.
    raw.executescript("DROP TABLE autofix_attempts; DROP TABLE pulls; DELETE FROM _migrations WHERE name = '004_autofix.sql';")
    raw.commit()
    applied = [row[0] for row in raw.execute("SELECT name FROM _migrations ORDER BY name")]
    raw.close()

    assert cli("status").exit_code == 0

    raw = sqlite3.connect(state)
    assert [row[0] for row in raw.execute("SELECT name FROM _migrations ORDER BY name")] == applied
    raw.close()


def test_another_programs_sqlite_database_is_refused_untouched(isolated: Path, cli: Any) -> None:
    state = isolated / "state.db"
    raw = sqlite3.connect(state)
    raw.executescript("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE meta (k TEXT);")
    raw.close()
    before = state.read_bytes()
    result = cli("run", "--log", str(isolated / "app.log"))
    assert result.exit_code == 2
    assert f"state file {state} is another program's SQLite database (tables: meta, users), not aimon's" in result.stderr
    assert state.read_bytes() == before and not (isolated / "state.db-wal").exists()


def test_an_empty_file_is_a_new_state_file(isolated: Path, cli: Any) -> None:
    (isolated / "state.db").write_bytes(b"")
    (isolated / "app.log").write_text("")
    assert cli("run", "--log", str(isolated / "app.log")).exit_code == 0
