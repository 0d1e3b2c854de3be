"""``AIMON_SOURCE=loki`` end to end: the real CLI reads a Loki-compatible server on 127.0.0.1 into the state file."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import aimon.logs.loki as loki_source
from tests.fakes.loki_server import FakeLoki

QUERY = '{job="app"} |~ "(?i)error|panic"'
KEY = f"loki:{QUERY}"


@pytest.fixture
def loki(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLoki]:
    server = FakeLoki()
    monkeypatch.setenv("AIMON_SOURCE", "loki")
    monkeypatch.setenv("AIMON_LOKI_URL", server.url)
    monkeypatch.setenv("AIMON_LOKI_QUERY", QUERY)
    monkeypatch.setattr(loki_source, "PAGE_LIMIT", 7)  # small pages: every test crosses page boundaries
    monkeypatch.setattr(loki_source, "BACKOFF_SECONDS", 0.01)
    yield server
    server.close()


def event(ns: int, message: str, code: str = "DB_TIMEOUT", level: str = "ERROR") -> str:
    stamp = datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(
        {"timestamp": stamp, "level": level, "fields": {"message": message, "error_code": code}, "target": "app::db"}
    )


def ago(seconds: float) -> int:
    return time.time_ns() - int(seconds * 1e9)


def db(tmp_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.row_factory = sqlite3.Row
    return conn


def counts(tmp_path: Path) -> dict[str, int]:
    """Occurrences recorded per error code (over every fingerprint of that code)."""
    rows = db(tmp_path).execute("SELECT coalesce(error_code, level), sum(count) FROM fingerprints GROUP BY 1")
    return {row[0]: row[1] for row in rows}


def test_pages_and_ticks_read_every_line_exactly_once(cli: Any, loki: FakeLoki, tmp_path: Path) -> None:
    same = ago(120)
    # 16 lines at one nanosecond (more than two pages), in two streams, plus lines around them
    loki.push({"job": "app", "host": "a"}, [(same - 5, event(same - 5, "db timeout after 1 ms"))])
    loki.push({"job": "app", "host": "a"}, [(same, event(same, f"db timeout after {i} ms")) for i in range(10)])
    loki.push({"job": "app", "host": "b"}, [(same, event(same, f"db timeout after {i} ms")) for i in range(6)])
    loki.push({"job": "app", "host": "a"}, [(same + 9, event(same + 9, "pool exhausted", code="POOL_EXHAUSTED"))])
    loki.push(
        {"job": "app", "host": "a"}, [(same + 10, "[1,2]")]
    )  # error-free JSON scalar: malformed (and no "error": filtered)
    loki.push({"job": "app", "host": "a"}, [(same + 11, '["error"]')])  # malformed, passes the filter
    loki.push(
        {"job": "app", "host": "a"}, [(same + 12, json.dumps({"level": "INFO", "fields": {"message": "all fine"}}))]
    )
    loki.push({"job": "other"}, [(same, event(same, "not ours", code="OTHER"))])
    first = cli("scan", "--json")
    assert first.exit_code == 0, first.stderr
    doc = first.json()
    assert doc["lines"] == 1 + 16 + 1 + 1  # the INFO line and "[1,2]" do not match the query's line filter
    assert doc["malformed"] == 1
    assert counts(tmp_path) == {"DB_TIMEOUT": 17, "POOL_EXHAUSTED": 1}
    assert all(request.params["direction"] == "forward" for request in loki.requests)
    assert {request.params["limit"] for request in loki.requests} >= {"7"}

    # the next tick: nothing new → nothing read; then a late line at the checkpoint's timestamp and newer ones
    assert cli("scan", "--json").json()["lines"] == 0
    row = db(tmp_path).execute("SELECT loki_ns, loki_seen FROM checkpoints WHERE source = ?", (KEY,)).fetchone()
    assert row["loki_ns"] == same + 11 and len(json.loads(row["loki_seen"])) == 1
    loki.push({"job": "app", "host": "c"}, [(same + 11, event(same + 11, "db timeout after 9 ms"))])
    loki.push(
        {"job": "app", "host": "a"},
        [(ago(60) + i, event(ago(60), f"pool exhausted {i}", code="POOL_EXHAUSTED")) for i in range(9)],
    )
    third = cli("scan", "--json").json()
    assert third["lines"] == 10
    assert counts(tmp_path) == {"DB_TIMEOUT": 18, "POOL_EXHAUSTED": 10}
    assert cli("scan", "--json").json()["lines"] == 0


def test_lines_younger_than_the_settle_delay_wait_for_the_next_tick(cli: Any, loki: FakeLoki, tmp_path: Path) -> None:
    loki.push({"job": "app"}, [(ago(30), event(ago(30), "db timeout after 1 ms"))])
    loki.push({"job": "app"}, [(ago(-60), event(ago(-60), "db timeout after 2 ms"))])  # a clock ahead of ours
    assert cli("scan", "--json").json()["lines"] == 1
    end = int(loki.requests[-1].params["end"])
    assert time.time_ns() - end >= int(loki_source.SETTLE_SECONDS * 1e9) - int(2e9)


def test_tenant_and_basic_auth_from_settings(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeLoki(tenant="team-a", username="aimon", password="pw-PLANTED-123")
    try:
        monkeypatch.setenv("AIMON_SOURCE", "loki")
        monkeypatch.setenv("AIMON_LOKI_URL", server.url)
        monkeypatch.setenv("AIMON_LOKI_QUERY", QUERY)
        monkeypatch.setenv("AIMON_LOKI_TENANT", "team-a")
        monkeypatch.setenv("AIMON_LOKI_USERNAME", "aimon")
        monkeypatch.setenv("AIMON_LOKI_PASSWORD", "pw-PLANTED-123")
        server.push({"job": "app"}, [(ago(20), event(ago(20), "db timeout after 1 ms"))])
        result = cli("scan", "--json")
        assert result.exit_code == 0, result.stderr
        assert result.json()["lines"] == 1
        headers = server.requests[0].headers
        assert headers["x-scope-orgid"] == "team-a"
        assert headers["authorization"] == "Basic YWltb246cHctUExBTlRFRC0xMjM="
        monkeypatch.setenv("AIMON_LOKI_PASSWORD", "wrong-PLANTED")
        refused = cli("scan")
        assert refused.exit_code == 1
        assert "refused the request (401" in refused.stderr
        assert "PLANTED" not in refused.stderr + refused.stdout
        status = cli("status", "--json")
        assert "PLANTED" not in status.stdout
        assert status.json()["config"]["AIMON_LOKI_PASSWORD"] == "set (hidden)"
    finally:
        server.close()


def test_loki_errors_and_timeouts_leave_the_checkpoint_and_lose_nothing(
    cli: Any, loki: FakeLoki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ago(200)
    loki.push({"job": "app"}, [(base + i, event(base + i, f"db timeout after {i} ms")) for i in range(20)])
    assert cli("scan").exit_code == 0
    before = db(tmp_path).execute("SELECT loki_ns, loki_seen FROM checkpoints").fetchall()
    loki.push(
        {"job": "app"},
        [(base + 100 + i, event(base + 100 + i, f"pool exhausted {i}", code="POOL_EXHAUSTED")) for i in range(5)],
    )

    loki.fail(500, times=3)  # the first request and both retries
    failed = cli("scan")
    assert failed.exit_code == 1
    assert "HTTP 500" in failed.stderr and "next tick retries" in failed.stderr
    assert [tuple(row) for row in db(tmp_path).execute("SELECT loki_ns, loki_seen FROM checkpoints")] == [
        tuple(row) for row in before
    ]

    monkeypatch.setattr(loki_source, "TIMEOUT", (1.0, 0.1))
    loki.fail(200, delay=0.3, times=3)
    timed_out = cli("scan")
    assert timed_out.exit_code == 1
    assert "timed out" in timed_out.stderr
    assert counts(tmp_path) == {"DB_TIMEOUT": 20}

    assert cli("scan", "--json").json()["lines"] == 5
    assert counts(tmp_path) == {"DB_TIMEOUT": 20, "POOL_EXHAUSTED": 5}


def test_a_failure_after_some_pages_keeps_what_was_committed(cli: Any, loki: FakeLoki, tmp_path: Path) -> None:
    base = ago(300)
    loki.push({"job": "app"}, [(base + i, event(base + i, f"db timeout after {i} ms")) for i in range(30)])

    original = loki.query_range
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 3:
            loki.fail(502, times=3)  # from the fourth request on: Loki goes down mid-scan
        return original(*args, **kwargs)

    loki.query_range = flaky  # type: ignore[method-assign]
    assert cli("scan").exit_code == 1
    assert counts(tmp_path) == {"DB_TIMEOUT": 21}  # three pages of 7 were committed with their checkpoint
    loki.query_range = original  # type: ignore[method-assign]
    assert cli("scan", "--json").json()["lines"] == 9
    assert counts(tmp_path) == {"DB_TIMEOUT": 30}


def test_since_is_read_only_triage(cli: Any, loki: FakeLoki, tmp_path: Path) -> None:
    loki.push({"job": "app"}, [(ago(7200), event(ago(7200), "db timeout after 1 ms"))])
    loki.push({"job": "app"}, [(ago(600), event(ago(600), "pool exhausted", code="POOL_EXHAUSTED"))])
    result = cli("scan", "--since", "30m", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["lines"] == 1
    assert [group["error_code"] for group in doc["groups"]] == ["POOL_EXHAUSTED"]
    start = int(loki.requests[0].params["start"])
    assert abs(start - ago(1800)) < 60 * 10**9
    assert not (tmp_path / "state.db").exists()  # a triage writes nothing, not even a new state file
    # the first incremental read looks back one hour
    assert cli("scan", "--json").json()["lines"] == 1


def test_missing_url_is_a_config_error(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMON_SOURCE", "loki")
    result = cli("scan")
    assert result.exit_code == 2
    assert "AIMON_LOKI_URL" in result.stderr


def test_aimon_run_reads_loki_and_chains_the_stages(cli: Any, loki: FakeLoki, tmp_path: Path) -> None:
    loki.push({"job": "app"}, [(ago(40) + i, event(ago(40), f"db timeout after {i} ms")) for i in range(12)])
    result = cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert {name: stage["status"] for name, stage in doc["stages"].items()} == dict.fromkeys(
        ["scan", "diagnose", "notify", "open_issue", "autofix"], "ok"
    )
    assert doc["stages"]["scan"]["result"]["lines"] == 12
    assert doc["detections"] == {"new": 1}
    assert len(doc["stages"]["diagnose"]["result"]["diagnosed"]) == 1
    # Loki down: the scan stage fails, the others still run, the exit code says so
    loki.fail(503, times=3)
    failed = cli("run", "--json")
    assert failed.exit_code == 1
    stages = failed.json()["stages"]
    assert stages["scan"]["status"] == "failed" and "RemoteError: Loki at" in stages["scan"]["error"]
    assert [stages[name]["status"] for name in ("diagnose", "notify", "open_issue", "autofix")] == ["ok"] * 4
    assert cli("status", "--json").json()["sources"][0]["source"] == KEY
