"""``aimon status`` shows who holds the run lock and for how long, and a tick that was killed mid-way: the lock's
holder file names a process that is gone, and the run it started never finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from aimon.lock import holder_path, lock_path, try_lock
from aimon.state import runs
from aimon.state.db import iso, open_db, transaction, utcnow

KILLED_HOLDER = """
import os, signal, sys
from pathlib import Path
from aimon.lock import try_lock
with try_lock(Path(sys.argv[1]), holder="run"):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_live_holder_is_shown_with_its_pid_command_and_age(isolated: Path, cli: Any) -> None:
    with try_lock(lock_path(isolated / "state.db"), holder="run") as held:
        assert held
        result = cli("status", "--json")
        text = cli("status")
    lock = result.json()["lock"]
    assert (lock["pid"], lock["command"], lock["alive"]) == (os.getpid(), "run", True)
    assert lock["age_s"] >= 0
    assert f"Run lock: held by pid {os.getpid()} (aimon run) since {lock['since']}" in text.stdout
    assert not holder_path(lock_path(isolated / "state.db")).exists()  # let go: nobody holds it
    assert cli("status", "--json").json()["lock"] is None


def test_a_run_killed_mid_tick_is_visible(isolated: Path, cli: Any) -> None:
    state = isolated / "state.db"
    conn = open_db(state)
    with transaction(conn):
        runs.begin(conn, iso(utcnow()) or "")
    conn.close()
    child = subprocess.run([sys.executable, "-c", KILLED_HOLDER, str(lock_path(state))], capture_output=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert child.returncode == -signal.SIGKILL

    doc = cli("status", "--json").json()
    text = cli("status").stdout

    assert doc["lock"]["alive"] is False and doc["lock"]["command"] == "run"
    assert doc["last_run"]["outcome"] == "unfinished" and doc["last_run"]["finished_at"] is None
    assert "never finished (killed, or the machine stopped); the next tick takes over its work" in text
    assert f"Run lock: pid {doc['lock']['pid']} (aimon run) took it at" in text and "is gone without letting go" in text


def test_a_finished_run_leaves_no_holder_behind(isolated: Path, cli: Any) -> None:
    log = isolated / "app.log"
    log.write_text("")
    assert cli("run", "--log", str(log)).exit_code == 0
    assert not holder_path(lock_path(isolated / "state.db")).exists()
    doc = cli("status", "--json").json()
    assert doc["lock"] is None and doc["last_run"]["outcome"] == "ok"
