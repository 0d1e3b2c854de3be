"""Stage commands run by hand share the run lock with cron's `aimon run`, so no line is ever counted by both."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from filelock import FileLock

import aimon.run
from aimon.run import lock_path


def _log(path: Path) -> None:
    line = {"timestamp": "2026-11-24T09:00:00Z", "level": "ERROR", "fields": {"message": "boom"}, "target": "t"}
    path.write_text(json.dumps(line) + "\n")


def _fingerprints(isolated: Path) -> int:
    return sqlite3.connect(isolated / "state.db").execute("SELECT count(*) FROM fingerprints").fetchone()[0]


def test_a_hand_run_stage_waits_for_a_held_lock_then_fails_clearly(cli, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _log(isolated / "app.log")
    monkeypatch.setenv("AIMON_TICK_BUDGET", "1ms")  # the wait is the budget plus the grace
    monkeypatch.setattr(aimon.run, "STAGE_LOCK_GRACE", 0.2)
    holder = FileLock(lock_path(isolated / "state.db"), blocking=False)
    holder.acquire()
    try:
        result = cli("scan", str(isolated / "app.log"), "--json")
    finally:
        holder.release()
    assert result.exit_code == 1
    assert "another aimon run held" in result.stderr
    doc = result.envelope()  # under --json the error is the one document on stdout, with no result
    assert doc["ok"] is False and doc["result"] is None and "another aimon run held" in doc["error"]
    assert not (isolated / "state.db").exists()


def test_a_hand_run_stage_takes_and_releases_a_free_lock(cli, isolated: Path) -> None:
    _log(isolated / "app.log")
    result = cli("scan", str(isolated / "app.log"), "--json")
    assert result.exit_code == 0
    assert _fingerprints(isolated) == 1
    probe = FileLock(lock_path(isolated / "state.db"), blocking=False)
    probe.acquire()  # released afterwards: raises Timeout otherwise
    probe.release()


def test_read_only_triage_takes_no_lock(cli, isolated: Path) -> None:
    _log(isolated / "app.log")
    holder = FileLock(lock_path(isolated / "state.db"), blocking=False)
    holder.acquire()
    try:
        result = cli("scan", str(isolated / "app.log"), "--since", "2026-11-24T08:00:00Z", "--json")
    finally:
        holder.release()
    assert result.exit_code == 0
    assert result.json()["groups"][0]["count"] == 1


def test_two_names_for_one_state_file_share_one_lock(tmp_path: Path) -> None:
    real = tmp_path / "real" / "state.db"
    real.parent.mkdir()
    (tmp_path / "alias").symlink_to(real.parent)
    assert lock_path(tmp_path / "alias" / "state.db") == lock_path(real) == real.parent / "state.db.lock"
