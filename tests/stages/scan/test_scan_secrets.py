"""What scan keeps and shows of an error is redacted: templates and samples, in the state file and in --json."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

PLANTED = "correcthorsebatterystaple"


def test_template_and_sample_never_hold_a_secret(cli, isolated: Path) -> None:
    log = isolated / "app.log"
    line = {
        "timestamp": "2026-11-24T09:00:00.000001Z",
        "level": "ERROR",
        "fields": {"message": f"login failed for db url postgres://app:{PLANTED}@db:5432/shop password={PLANTED}"},
        "target": "shop::db",
    }
    log.write_text(json.dumps(line) + "\n")
    result = cli("scan", str(log), "--json")
    assert result.exit_code == 0
    assert PLANTED not in result.stdout
    assert result.json()["groups"][0]["count"] == 1
    conn = sqlite3.connect(isolated / "state.db")
    rows = conn.execute("SELECT template, sample FROM fingerprints").fetchall()
    assert len(rows) == 1
    assert all(PLANTED not in text for text in rows[0])
