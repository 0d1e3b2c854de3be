"""``aimon scan`` through the real entry point: exact JSON, exact rows, read-only triage, usage errors."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from aimon.config import load_settings
from aimon.logs.reader import seek_time
from aimon.runtime import Context
from aimon.stages.scan.stage import run_scan
from aimon.state.db import open_db

PAY = '{"timestamp":"2026-01-01T10:00:%02d.000000Z","level":"ERROR","fields":{"message":"card declined for order %d","error_code":"PAY_DECLINED"},"target":"shop::pay","span":{"request_id":"req-%d","name":"request"},"spans":[{"request_id":"req-%d","name":"request"}]}\n'
INFO = '{"timestamp":"2026-01-01T10:00:%02d.000000Z","level":"INFO","fields":{"message":"order %d created"},"target":"shop::orders"}\n'
PANIC = "thread 'tokio-runtime-worker' panicked at src/orders.rs:131:17:\ncalled `Option::unwrap()` on a `None` value\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"


def sample(path: Path) -> None:
    path.write_text(
        INFO % (1, 1) + PAY % (2, 2, 2, 2) + INFO % (3, 3) + PANIC + PAY % (5, 5, 5, 5) + "[1,2]\n", encoding="utf-8"
    )


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return [tuple(row) for row in conn.execute(sql)]


def test_scan_json_exact(cli: Any, isolated: Path) -> None:
    log = isolated / "app.log"
    sample(log)
    result = cli("scan", str(log), "--json")
    assert result.exit_code == 0 and result.stderr == ""
    data = result.json()
    pay, panic = "PAY_DECLINED", None
    groups = {group["level"]: group for group in data["groups"]}
    assert data["lines"] == 8 and data["malformed"] == 1
    assert data["malformed_reasons"] == {"JSON array where an object belongs": 1}
    assert [group["level"] for group in data["groups"]] == ["ERROR", "PANIC"]  # newest last seen first
    assert {key: value for key, value in groups["ERROR"].items() if key != "fingerprint"} == {
        "level": "ERROR",
        "error_code": pay,
        "template": "card declined for order <*>",
        "count": 2,
        "first_seen": "2026-01-01T10:00:02.000000Z",
        "last_seen": "2026-01-01T10:00:05.000000Z",
        "sample": "card declined for order 2",
    }
    assert {key: value for key, value in groups["PANIC"].items() if key != "fingerprint"} == {
        "level": "PANIC",
        "error_code": panic,
        "template": "called `Option::unwrap()` on a `None` value",
        "count": 1,
        "first_seen": "2026-01-01T10:00:03.000000Z",  # a panic takes the time of the line before it
        "last_seen": "2026-01-01T10:00:03.000000Z",
        "sample": "called `Option::unwrap()` on a `None` value",
    }
    fingerprints = {group["level"]: group["fingerprint"] for group in data["groups"]}
    assert [(d["id"], d["fingerprint"], d["kind"], d["window_start"], d["window_end"], d["count"], d["baseline"]) for d in data["detections"]] == [
        (1, fingerprints["ERROR"], "new", "2026-01-01T10:00:02.000000Z", "2026-01-01T10:00:05.000000Z", 2, None),
        (2, fingerprints["PANIC"], "new", "2026-01-01T10:00:03.000000Z", "2026-01-01T10:00:03.000000Z", 1, None),
    ]
    [source] = data["sources"]
    assert source == {"source": str(log), "note": None, "lines": 8, "bytes": log.stat().st_size, "up": True, "problem": None,
                      "since": source["since"]}
    assert data["since"] is None and data["errors"] == []


def test_scan_rows_exact(cli: Any, isolated: Path) -> None:
    log, db = isolated / "app.log", isolated / "state.db"
    sample(log)
    cli("scan", str(log), "--json")
    error_fp, panic_fp = (row[0] for row in rows(db, "SELECT fingerprint FROM fingerprints ORDER BY is_panic"))
    assert rows(db, "SELECT algo, level, error_code, target, template, sample, file, line, is_panic, first_seen, last_seen, count, state FROM fingerprints ORDER BY is_panic") == [
        (1, "ERROR", "PAY_DECLINED", "shop::pay", "card declined for order <*>", "card declined for order 2", None, None, 0,
         "2026-01-01T10:00:02.000000Z", "2026-01-01T10:00:05.000000Z", 2, "active"),
        (1, "PANIC", None, None, "called `Option::unwrap()` on a `None` value", "called `Option::unwrap()` on a `None` value",
         "src/orders.rs", 131, 1, "2026-01-01T10:00:03.000000Z", "2026-01-01T10:00:03.000000Z", 1, "active"),
    ]
    minute = int(time.mktime(time.strptime("2026-01-01 10:00", "%Y-%m-%d %H:%M")) - time.timezone) // 60
    assert rows(db, "SELECT fingerprint, minute, n FROM counts ORDER BY fingerprint") == sorted(
        [(error_fp, minute, 2), (panic_fp, minute, 1)]
    )
    text = log.read_text()
    offsets = [text.index(PAY % (2, 2, 2, 2)), text.index(PAY % (5, 5, 5, 5)), text.index("thread ")]
    assert rows(db, "SELECT fingerprint, ts, source, offset, request_id FROM occurrences ORDER BY offset") == [
        (error_fp, "2026-01-01T10:00:02.000000Z", str(log), offsets[0], "req-2"),
        (panic_fp, "2026-01-01T10:00:03.000000Z", str(log), offsets[2], None),
        (error_fp, "2026-01-01T10:00:05.000000Z", str(log), offsets[1], "req-5"),
    ]
    record = json.loads(rows(db, "SELECT record FROM occurrences ORDER BY offset")[1][0])
    assert (record["level"], record["file"], record["line"], record["thread"]) == ("PANIC", "src/orders.rs", 131, "tokio-runtime-worker")
    st = log.stat()
    assert rows(db, "SELECT source, inode, device, offset, size, last_ts FROM checkpoints") == [
        (str(log), st.st_ino, st.st_dev, st.st_size, st.st_size, "2026-01-01T10:00:05.000000Z")
    ]


def test_nothing_new_writes_nothing(cli: Any, isolated: Path) -> None:
    log, db = isolated / "app.log", isolated / "state.db"
    sample(log)
    cli("scan", str(log))
    before = rows(db, "SELECT * FROM checkpoints") + rows(db, "SELECT * FROM detections")
    data = cli("scan", str(log), "--json").json()
    assert (data["lines"], data["malformed"], data["groups"], data["detections"]) == (0, 0, [], [])
    assert rows(db, "SELECT * FROM checkpoints") + rows(db, "SELECT * FROM detections") == before


def test_text_output_summary_and_table(cli: Any, isolated: Path) -> None:
    log = isolated / "app.log"
    sample(log)
    result = cli("scan", str(log), env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert result.stdout.startswith("Read 8 lines (1 malformed): 2 error groups, detections: 2 new.\n")
    assert "card declined for order <*>" in result.stdout and "PANIC" in result.stdout
    assert cli("scan", str(log)).stdout == "Read 0 lines: 0 error groups, detections: none.\n"


def triage_files(folder: Path) -> None:
    """app.log (recent), app.log.1 (an hour ago), app.log.2.gz (yesterday, too old for the window)."""
    now = time.time()

    def line(ts: float, message: str, level: str = "ERROR") -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".000000Z"
        return json.dumps({"timestamp": stamp, "level": level, "fields": {"message": message}, "target": "t"}) + "\n"

    (folder / "app.log").write_text(line(now - 600, "db timeout after 30s") + line(now - 60, "db timeout after 31s"))
    (folder / "app.log.1").write_text(line(now - 7200, "disk full") + line(now - 3000, "cache miss storm"))
    with gzip.open(folder / "app.log.2.gz", "wt") as handle:
        handle.write(line(now - 90000, "ancient"))
    old = now - 86000
    os.utime(folder / "app.log.2.gz", (old, old))
    os.utime(folder / "app.log.1", (now - 3000, now - 3000))


def test_since_is_read_only_and_includes_overlapping_rotated_siblings(cli: Any, isolated: Path) -> None:
    triage_files(isolated)
    log, db = isolated / "app.log", isolated / "state.db"
    cli("scan", str(log))  # an incremental scan first: its state must not move
    tables = ("checkpoints", "fingerprints", "detections", "counts", "occurrences", "meta")
    before = {table: rows(db, f"SELECT * FROM {table}") for table in tables}
    data = cli("scan", str(log), "--since", "2h", "--json").json()
    assert [(group["template"], group["count"]) for group in data["groups"]] == [("db timeout after <*>", 2), ("cache miss storm", 1)]
    assert data["detections"] == [] and data["since"] == "2h"
    assert data["sources"][0]["files"] == [
        {"path": str(log), "why": "the file named"},
        {"path": str(isolated / "app.log.1"), "why": "numbered rotation of app.log, its first line is one the checkpoint has read"},
    ]
    assert data["sources"][0]["skipped"] == [{"path": str(isolated / "app.log.2.gz"), "why": "last written before the window"}]
    assert {table: rows(db, f"SELECT * FROM {table}") for table in tables} == before
    text = cli("scan", str(log), "--since", "2h", env={"COLUMNS": "200"})
    assert "Read 4 lines since 2h: 2 error groups." in text.stdout  # lines read, the older ones included
    assert text.stdout.index("db timeout after <*>") < text.stdout.index("cache miss storm")


def test_since_reads_gz_siblings_in_the_window(cli: Any, isolated: Path) -> None:
    triage_files(isolated)
    data = cli("scan", str(isolated / "app.log"), "--since", "2d", "--json").json()
    assert sorted(group["template"] for group in data["groups"]) == ["ancient", "cache miss storm", "db timeout after <*>", "disk full"]


def test_since_finds_its_window_by_binary_search(isolated: Path) -> None:
    log = isolated / "big.log"
    start = 1_767_225_600  # 2026-01-01
    with open(log, "w") as handle:
        for i in range(40_000):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + i)) + ".000000Z"
            handle.write(f'{{"timestamp":"{stamp}","level":"INFO","fields":{{"message":"line {i}"}},"target":"t"}}\n')
    text = log.read_bytes()
    since = start + 30_000
    offset = seek_time(log, since)
    first_in_window = text.index(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(since)).encode())
    first_line = text.rindex(b"\n", 0, first_in_window) + 1
    assert 0 < offset <= first_line
    assert first_line - offset <= 2 * 64 * 1024  # it sought; it did not read from the start
    assert text[offset - 1 : offset] == b"\n"
    assert seek_time(log, start - 10) == 0


@pytest.mark.parametrize("since", ["yesterday", "1x", "2026-13-01"])
def test_since_that_cannot_be_read_exits_2(cli: Any, isolated: Path, since: str) -> None:
    sample(isolated / "app.log")
    result = cli("scan", "app.log", "--since", since)
    assert result.exit_code == 2
    assert f"--since {since!r}: use a duration like 30m, 1h or 2d, a date like 2026-11-24, or an ISO time" in result.stderr


def test_no_paths_and_no_setting_exits_2(cli: Any) -> None:
    result = cli("scan", "--json")
    assert result.exit_code == 2
    message = "no log files to scan: pass paths (aimon scan /var/log/app.log) or set AIMON_LOG_PATHS."
    assert message in result.stderr
    assert result.envelope()["error"] == message and result.json() is None  # --json: the error is the one document


def test_min_level_warn_makes_warnings_groups(cli: Any, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = isolated / "app.log"
    log.write_text('{"timestamp":"2026-01-01T00:00:00Z","level":"WARN","fields":{"message":"slow"},"target":"t"}\n')
    assert cli("scan", str(log), "--json").json()["groups"] == []
    monkeypatch.setenv("AIMON_MIN_LEVEL", "warn")
    (isolated / "state.db").unlink()
    assert [group["level"] for group in cli("scan", str(log), "--json").json()["groups"]] == ["WARN"]


def test_lowercase_levels_beyond_the_sample_are_found(cli: Any, isolated: Path) -> None:
    log = isolated / "app.log"
    filler = '{"timestamp":"2026-01-01T00:00:00Z","level":"info","fields":{"message":"fine"},"target":"t"}\n' * 5000
    error = '{"timestamp":"2026-01-01T00:00:01Z","level":"error","fields":{"message":"broken"},"target":"t"}\n'
    log.write_text(error + filler + error)  # past the part parsed in full, only the markers would look
    data = cli("scan", str(log), "--json").json()
    assert [(group["template"], group["count"]) for group in data["groups"]] == [("broken", 2)]


def test_progress_is_reported_when_asked(isolated: Path) -> None:
    log = isolated / "app.log"
    sample(log)
    settings = load_settings()
    calls: list[tuple[str, int, int]] = []
    ctx = Context(settings=settings, db=open_db(settings.db_path), progress=lambda *args: calls.append(args))
    result = run_scan(ctx, [str(log)], None)
    assert result.lines == 8
    assert calls == [("app.log", log.stat().st_size, log.stat().st_size)]


def test_an_idle_tick_prints_one_plain_line(isolated: Path) -> None:
    from aimon.cli.render.scan import plain

    log = isolated / "app.log"
    sample(log)
    settings = load_settings()
    ctx = Context(settings=settings, db=open_db(settings.db_path))
    assert plain(run_scan(ctx, [str(log)], None)) is None  # groups to show: the table needs rich
    assert plain(run_scan(ctx, [str(log)], None)) == "Read 0 lines: 0 error groups, detections: none."


LOGIN = '{"timestamp":"2026-01-01T10:%02d:00.000000Z","level":"ERROR","fields":{"message":"login failed for user %s"},"target":"shop::auth"}\n'


def test_groups_merged_by_this_scan_are_listed_once(cli: Any, isolated: Path) -> None:
    # Three users are not enough to learn that the name varies; the fourth makes all four one error.
    log = isolated / "app.log"
    log.write_text("".join(LOGIN % (i, user) for i, user in enumerate(["alice", "bob", "carol"])), encoding="utf-8")
    first = cli("scan", str(log), "--json").json()
    assert len(first["groups"]) == 3
    with log.open("a", encoding="utf-8") as out:
        out.write("".join(LOGIN % (10 + i, user) for i, user in enumerate(["alice", "bob", "carol", "dave"])))
    second = cli("scan", str(log), "--json").json()
    canonical = rows(isolated / "state.db", "SELECT DISTINCT fingerprint FROM fingerprint_aliases")
    assert len(canonical) == 1
    assert [(group["fingerprint"], group["count"]) for group in second["groups"]] == [(canonical[0][0], 4)]
    assert rows(isolated / "state.db", f"SELECT count FROM fingerprints WHERE fingerprint = '{canonical[0][0]}'") == [(7,)]
