from __future__ import annotations

import json
import os
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aimon.state.db import iso, open_db, parse_iso, utcnow

FAKE_KEY = "sk-test-PLANTEDPLANTEDPLANTED1234"
FAKE_WEBHOOK = "https://discord.com/api/webhooks/123456/PLANTEDwebhookTOKENabc"
FAKE_TOKEN = "ghp_PLANTEDgithubTOKEN0123456789abcdef"


def db(tmp_path: Path) -> sqlite3.Connection:
    return open_db(tmp_path / "state.db")


def add_fingerprint(
    conn: sqlite3.Connection,
    fingerprint: str,
    *,
    count: int = 1,
    last_seen: str = "2026-03-01T10:00:00.000000Z",
    state: str = "active",
    template: str = "db timeout after <num> ms",
) -> None:
    conn.execute(
        "INSERT INTO fingerprints (fingerprint, algo, level, error_code, target, template, sample, first_seen, last_seen, count, state, created_at)"
        " VALUES (?, 1, 'ERROR', 'DB_TIMEOUT', 'app::db', ?, 'db timeout after 30 ms', '2026-03-01T09:00:00.000000Z', ?, ?, ?, ?)",
        (fingerprint, template, last_seen, count, state, iso(utcnow())),
    )


def test_status_json_has_exact_keys_and_never_shows_secrets(cli: Any, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"OPENAI_API_KEY={FAKE_KEY}\nDISCORD_WEBHOOK_URL={FAKE_WEBHOOK}\nGITHUB_TOKEN={FAKE_TOKEN}\nAIMON_LOKI_PASSWORD=hunter2hunter2\n"
        "AIMON_LOKI_URL=https://aimon:url-pass-77@loki.example.com\nAIMON_LLM_BASE_URL=http://u:llm-pass-88@127.0.0.1:8000/v1\n"
    )
    conn = db(tmp_path)
    add_fingerprint(conn, "aaaa000000000001")
    # a template keeps what the fingerprinter did not mask
    add_fingerprint(conn, "bbbb000000000002", template="login failed password=s3cr3t-pa55w0rd")
    conn.execute(
        "INSERT INTO detections (id, fingerprint, kind, window_start, window_end, count, created_at) VALUES (1, 'aaaa000000000001', 'new', 'a', 'b', 1, 'c')"
    )
    # a stage recorded an error quoting the webhook URL (requests puts URLs in its messages)
    conn.execute(
        "INSERT INTO deliveries (detection_id, fingerprint, channel, status, attempts, last_error, created_at, updated_at)"
        " VALUES (1, 'aaaa000000000001', 'discord', 'failed', 3, ?, 'x', 'y')",
        (f"404 Client Error: Not Found for url: {FAKE_WEBHOOK}?wait=true",),
    )
    conn.close()
    for args in (("status", "--json"), ("status",)):
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        for secret in (
            FAKE_KEY,
            FAKE_WEBHOOK,
            "PLANTEDwebhookTOKENabc",
            FAKE_TOKEN,
            "hunter2hunter2",
            "s3cr3t-pa55w0rd",
            "url-pass-77",
            "llm-pass-88",
        ):
            assert secret not in result.stdout
            assert secret not in result.stderr
    doc = cli("status", "--json").json()
    assert list(doc) == [
        "generated_at",
        "sources",
        "deliveries",
        "fingerprints",
        "llm",
        "autofix",
        "last_run",
        "lock",
        "config",
    ]
    assert list(doc["deliveries"]) == ["pending", "failed", "sent", "problems"]
    assert list(doc["fingerprints"]) == ["total", "by_state", "recent", "frequent"]
    assert list(doc["llm"]) == ["month", "spend_usd", "budget_usd", "calls", "tokens_in", "tokens_out"]
    assert list(doc["autofix"]) == ["pulls", "refusals"]
    assert doc["config"]["OPENAI_API_KEY"] == "set (hidden)"
    assert doc["config"]["DISCORD_WEBHOOK_URL"] == "set (hidden)"
    assert doc["config"]["AIMON_LOKI_PASSWORD"] == "set (hidden)"
    assert doc["config"]["AIMON_TICK_BUDGET"] == "50.0"
    assert doc["config"]["AIMON_LOKI_URL"] == "https://***@loki.example.com"  # a password written into a URL
    assert doc["deliveries"]["failed"] == {"discord": 1}
    problem = doc["deliveries"]["problems"][0]
    assert (problem["channel"], problem["status"], problem["attempts"]) == ("discord", "failed", 3)
    assert problem["last_error"].startswith("404 Client Error: Not Found for url: ***")
    assert doc["last_run"] is None
    assert {row["template"] for row in doc["fingerprints"]["recent"]} == {
        "db timeout after <num> ms",
        "login failed password=<secret:password#1>",
    }
    ignored = cli("ignore", "bbbb")
    assert ignored.exit_code == 0 and "password=<secret:password#1>" in ignored.stdout and "s3cr3t" not in ignored.stdout


def test_empty_state(cli: Any) -> None:
    doc = cli("status", "--json").json()
    assert doc["sources"] == []
    assert doc["fingerprints"] == {
        "total": 0,
        "by_state": {"active": 0, "resolved": 0, "ignored": 0},
        "recent": [],
        "frequent": [],
    }
    assert doc["deliveries"] == {"pending": {}, "failed": {}, "sent": {}, "problems": []}
    assert doc["autofix"] == {"pulls": 0, "refusals": []}
    assert doc["llm"]["spend_usd"] == 0.0 and doc["llm"]["budget_usd"] == 30.0
    text = cli("status").stdout
    assert "Last run: never" in text
    assert "Sources: nothing read yet." in text


def test_file_lag_in_bytes_and_seconds(cli: Any, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"x" * 1000)
    os.utime(log, (1_772_000_100, 1_772_000_100))
    caught_up = tmp_path / "quiet.log"
    caught_up.write_bytes(b"y" * 10)
    conn = db(tmp_path)
    stat = log.stat()
    conn.execute(
        "INSERT INTO checkpoints (source, inode, offset, size, last_ts, updated_at) VALUES (?, ?, 600, 600, ?, ?)",
        (str(log), stat.st_ino, iso(1_772_000_000), iso(utcnow())),
    )
    conn.execute(
        "INSERT INTO checkpoints (source, inode, offset, size, last_ts, updated_at) VALUES (?, ?, 10, 10, ?, ?)",
        (str(caught_up), caught_up.stat().st_ino, iso(1_700_000_000), iso(utcnow())),
    )
    conn.execute(
        "INSERT INTO checkpoints (source, offset, updated_at) VALUES (?, 5, ?)",
        (str(tmp_path / "gone.log"), iso(utcnow())),
    )
    conn.execute(
        "INSERT INTO checkpoints (source, offset, loki_ns, loki_seen, updated_at) VALUES ('loki:{job=\"app\"}', 0, ?, '[]', ?)",
        (int((utcnow() - timedelta(seconds=90)).timestamp() * 1e9), iso(utcnow())),
    )
    conn.close()
    sources = {source["source"]: source for source in cli("status", "--json").json()["sources"]}
    assert sources[str(log)]["bytes_behind"] == 400
    assert sources[str(log)]["seconds_behind"] == 100.0  # file written 100 s after the last record read
    assert sources[str(caught_up)]["bytes_behind"] == 0
    assert sources[str(caught_up)]["seconds_behind"] == 0.0
    assert sources[str(tmp_path / "gone.log")]["exists"] is False
    loki = sources['loki:{job="app"}']
    assert loki["kind"] == "loki" and loki["bytes_behind"] is None
    assert 89 <= loki["seconds_behind"] < 200
    text = cli("status").stdout
    assert "400 B" in text and "missing" in text


def test_recent_and_frequent_fingerprints_llm_spend_refusals_and_last_run(cli: Any, tmp_path: Path) -> None:
    conn = db(tmp_path)
    add_fingerprint(conn, "aaaa000000000001", count=50, last_seen="2026-03-01T08:00:00.000000Z")
    add_fingerprint(conn, "bbbb000000000002", count=2, last_seen="2026-03-01T11:00:00.000000Z")
    add_fingerprint(conn, "cccc000000000003", count=7, last_seen="2026-03-01T10:00:00.000000Z", state="ignored")
    now = utcnow()
    for created, cost in ((now, 0.25), (now, 0.5), (now.replace(day=1) - timedelta(days=3), 9.0)):
        conn.execute(
            "INSERT INTO llm_calls (purpose, model, prompt_hash, tokens_in, tokens_out, cost_usd, outcome, created_at)"
            " VALUES ('diagnose', 'gpt-4o-mini', 'h', 1000, 200, ?, 'ok', ?)",
            (cost, iso(created)),
        )
    conn.execute(
        "INSERT INTO autofix_attempts (fingerprint, outcome, reason, created_at) VALUES ('aaaa000000000001', 'refused', 'patch touches Cargo.toml', 'x')"
    )
    conn.execute(
        "INSERT INTO autofix_attempts (fingerprint, outcome, reason, created_at) VALUES ('aaaa000000000001', 'deferred', 'waiting', 'y')"
    )
    conn.execute(
        "INSERT INTO runs (command, started_at, finished_at, exit_code, summary) VALUES ('run', 'a', 'b', 1, ?)",
        (
            json.dumps(
                {
                    "stages": {
                        "scan": {"status": "ok"},
                        "notify": {"status": "failed", "error": "RemoteGone: webhook 404"},
                    }
                }
            ),
        ),
    )
    conn.close()
    doc = cli("status", "--json").json()
    assert [row["fingerprint"] for row in doc["fingerprints"]["recent"]] == [
        "bbbb000000000002",
        "cccc000000000003",
        "aaaa000000000001",
    ]
    assert [row["fingerprint"] for row in doc["fingerprints"]["frequent"]] == [
        "aaaa000000000001",
        "cccc000000000003",
        "bbbb000000000002",
    ]
    assert doc["fingerprints"]["by_state"] == {"active": 2, "resolved": 0, "ignored": 1}
    assert doc["llm"]["spend_usd"] == 0.75 and doc["llm"]["calls"] == 2 and doc["llm"]["tokens_in"] == 2000
    assert doc["autofix"]["refusals"] == [
        {
            "fingerprint": "aaaa000000000001",
            "outcome": "refused",
            "rule": None,
            "reason": "patch touches Cargo.toml",
            "created_at": "x",
        }
    ]
    assert doc["last_run"]["outcome"] == "failed" and doc["last_run"]["exit_code"] == 1
    text = cli("status").stdout
    assert "Last run: failed" in text
    assert "notify: failed RemoteGone: webhook 404" in text
    assert "LLM spend" in text and "$0.75 of $30.00" in text
    assert "patch touches Cargo.toml" in text


def test_ignore_for_a_while_and_resolve_by_unique_prefix(cli: Any, tmp_path: Path) -> None:
    conn = db(tmp_path)
    add_fingerprint(conn, "3fa9c20000000001")
    add_fingerprint(conn, "3fb0000000000002")
    conn.close()
    result = cli("ignore", "3fa9", "--for", "24h", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert (doc["fingerprint"], doc["previous_state"], doc["state"]) == ("3fa9c20000000001", "active", "ignored")
    until = parse_iso(doc["until"])
    assert until is not None and timedelta(hours=23) < until - utcnow() <= timedelta(hours=24)
    conn = db(tmp_path)
    row = conn.execute(
        "SELECT state, state_until, resolved_at FROM fingerprints WHERE fingerprint = '3fa9c20000000001'"
    ).fetchone()
    assert (row["state"], row["state_until"], row["resolved_at"]) == ("ignored", doc["until"], None)
    assert "now ignored until" in cli("ignore", "3FA9C2").stdout  # for good this time; prefixes are case-insensitive
    assert (
        conn.execute("SELECT state_until FROM fingerprints WHERE fingerprint = '3fa9c20000000001'").fetchone()[0]
        is None
    )
    result = cli("resolve", "3fa9c2")
    assert result.exit_code == 0
    assert "was ignored, now resolved" in result.stdout
    row = conn.execute(
        "SELECT state, state_until, resolved_at FROM fingerprints WHERE fingerprint = '3fa9c20000000001'"
    ).fetchone()
    assert row["state"] == "resolved" and row["state_until"] is None and row["resolved_at"] is not None
    assert (
        conn.execute("SELECT state FROM fingerprints WHERE fingerprint = '3fb0000000000002'").fetchone()[0] == "active"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ignore", "3f"), "matches several fingerprints (3fa9c20000000001, 3fb0000000000002)"),
        (("resolve", "ffff"), "no fingerprint starts with 'ffff'"),
        (("ignore", "3fa9", "--for", "soon"), "--for 'soon'"),
        (("ignore", "3fa9", "--for", "0s"), "longer than zero"),
    ],
)
def test_unknown_ambiguous_or_bad_duration_is_a_usage_error(
    cli: Any, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    conn = db(tmp_path)
    add_fingerprint(conn, "3fa9c20000000001")
    add_fingerprint(conn, "3fb0000000000002")
    conn.close()
    result = cli(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    conn = db(tmp_path)
    assert {row[0] for row in conn.execute("SELECT state FROM fingerprints")} == {"active"}


def test_an_alias_finds_the_fingerprint_it_was_merged_into(cli: Any, tmp_path: Path) -> None:
    conn = db(tmp_path)
    add_fingerprint(conn, "aaaa000000000001")
    conn.execute(
        "INSERT INTO fingerprint_aliases (alias, fingerprint, created_at) VALUES ('dddd000000000009', 'aaaa000000000001', 'x')"
    )
    conn.close()
    assert cli("resolve", "dddd", "--json").json()["fingerprint"] == "aaaa000000000001"


def test_merged_fingerprints_are_listed_and_counted_once(cli: Any, tmp_path: Path) -> None:
    # Grouping folded 3 occurrences of the alias into its canonical row (50 + 3); the alias row stays as history.
    conn = db(tmp_path)
    add_fingerprint(conn, "aaaa000000000001", count=53, last_seen="2026-03-01T08:00:00.000000Z")
    add_fingerprint(conn, "dddd000000000009", count=3, last_seen="2026-03-01T12:00:00.000000Z")
    add_fingerprint(conn, "bbbb000000000002", count=2, last_seen="2026-03-01T11:00:00.000000Z")
    conn.execute(
        "INSERT INTO fingerprint_aliases (alias, fingerprint, created_at) VALUES ('dddd000000000009', 'aaaa000000000001', 'x')"
    )
    conn.close()
    shown = cli("status", "--json").json()["fingerprints"]
    assert shown["total"] == 2
    assert shown["by_state"] == {"active": 2, "resolved": 0, "ignored": 0}
    assert [row["fingerprint"] for row in shown["recent"]] == ["bbbb000000000002", "aaaa000000000001"]
    assert [row["fingerprint"] for row in shown["frequent"]] == ["aaaa000000000001", "bbbb000000000002"]


def test_malformed_lines_are_counted_per_source_and_shown(cli: Any, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    event = '{"timestamp":"2026-03-01T10:00:00Z","level":"ERROR","fields":{"message":"payment failed"},"target":"shop"}\n'
    log.write_text(event + '{"timestamp":"2026-03-01T10:00:01Z","level":"ERROR","fields":{"message":"cut\n'
                   + '{"timestamp":"2026-03-01T10:00:02Z","level":"BOGUS","fields":{"message":"x"}}\n' + event)
    assert cli("scan", str(log)).exit_code == 0
    assert cli("scan", str(log)).exit_code == 0  # nothing new: counted once
    [source] = cli("status", "--json").json()["sources"]
    assert source["malformed"] == {"count": 2, "last_at": source["malformed"]["last_at"], "reasons": {
        "JSON event with an unreadable level": 1, "invalid JSON (unexpected end of data)": 1}}
    with log.open("a") as handle:
        handle.write("[1, 2]\n")
    assert cli("scan", str(log)).exit_code == 0
    [source] = cli("status", "--json").json()["sources"]
    assert source["malformed"]["count"] == 3 and source["malformed"]["reasons"]["JSON array where an object belongs"] == 1
    text = cli("status").stdout
    assert f"Malformed lines skipped in {log}" in text and "JSON event with an unreadable level (1)" in text
