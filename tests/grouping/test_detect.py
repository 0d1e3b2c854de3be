"""Detections: new, spike (window vs baseline, minimum count, warm-up), regression; ignored groups; log-time replay."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aimon.grouping import fingerprint
from aimon.grouping.detect import cached_fingerprinter
from aimon.grouping.fingerprint import Fingerprinter
from aimon.model import LogRecord

T0 = 1_767_261_600  # 2026-01-01T10:00:00Z, a window boundary


def lines(per_minute: dict[int, int], message: str = "upstream timed out", start: int = T0) -> str:
    """``per_minute[m]`` ERROR lines in minute ``m`` after ``start``."""
    out = []
    for minute, count in sorted(per_minute.items()):
        for i in range(count):
            ts = start + minute * 60 + i * (59 / max(count, 1))
            stamp = f"{_iso(ts)}"
            out.append(json.dumps({"timestamp": stamp, "level": "ERROR", "fields": {"message": message}, "target": "api"}) + "\n")
    return "".join(out)


def _iso(ts: float) -> str:
    import time

    whole = int(ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((ts - whole) * 1e6):06d}Z"


def scan(cli: Any, log: Path) -> dict[str, Any]:
    result = cli("scan", str(log), "--json")
    assert result.exit_code == 0, result.stderr
    return result.json()


def detections(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT kind, window_start, window_end, count, baseline FROM detections ORDER BY id"))


def sql(db: Path, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(statement, args))


BASELINE_THEN_BURST = {**{minute: 1 for minute in range(60)}, **{minute: 6 for minute in range(60, 65)}}


def test_spike_over_the_baseline_after_warm_up(cli: Any, isolated: Path) -> None:
    log, db = isolated / "app.log", isolated / "state.db"
    log.write_text(lines(BASELINE_THEN_BURST))
    scan(cli, log)
    assert detections(db) == [
        ("new", "2026-01-01T10:00:00.000000Z", _iso(T0 + 64 * 60 + 5 * 59 / 6), 90, None),
        ("spike", "2026-01-01T11:00:00.000000Z", "2026-01-01T11:05:00.000000Z", 30, 5.0),
    ]


def test_replaying_in_pieces_gives_the_same_detections(cli: Any, isolated: Path, monkeypatch: Any) -> None:
    whole, pieces = isolated / "whole.log", isolated / "pieces.log"
    text = lines(BASELINE_THEN_BURST)
    whole.write_text(text)
    scan(cli, whole)
    once = [row[:3] for row in detections(isolated / "state.db") if row[0] == "spike"]
    monkeypatch.setenv("AIMON_DB", str(isolated / "other.db"))
    cut = [0, len(text) // 3, len(text) // 2, len(text) - 500, len(text)]
    for start, end in itertools.pairwise(cut):
        start, end = text.rfind("\n", 0, start) + 1, text.rfind("\n", 0, end) + 1
        with open(pieces, "a") as handle:
            handle.write(text[start:end])
        scan(cli, pieces)
    assert [row[:3] for row in detections(isolated / "other.db") if row[0] == "spike"] == once
    assert sql(isolated / "other.db", "SELECT count FROM fingerprints") == [(90,)]


def test_a_slow_trickle_never_fires(cli: Any, isolated: Path) -> None:
    log, db = isolated / "app.log", isolated / "state.db"
    log.write_text(lines({minute: 3 for minute in range(180)}))
    scan(cli, log)
    assert [row[0] for row in detections(db)] == ["new"]


def test_a_new_error_bursting_during_warm_up_is_new_not_a_spike(cli: Any, isolated: Path) -> None:
    log, db = isolated / "app.log", isolated / "state.db"
    log.write_text(lines({minute: 40 for minute in range(10)}))
    scan(cli, log)
    assert [row[0] for row in detections(db)] == ["new"]


def test_a_burst_below_the_minimum_count_is_not_a_spike(cli: Any, isolated: Path) -> None:
    log, db = isolated / "app.log", isolated / "state.db"
    log.write_text(lines({0: 1, 60: 9}))
    scan(cli, log)
    assert [row[0] for row in detections(db)] == ["new"]


def test_thresholds_come_from_aimon_toml(cli: Any, isolated: Path) -> None:
    (isolated / "aimon.toml").write_text("[thresholds]\nspike_min_count = 5\nspike_warmup_minutes = 0\n")
    log, db = isolated / "app.log", isolated / "state.db"
    log.write_text(lines({0: 1, 60: 9}))
    scan(cli, log)
    assert [row[:4] for row in detections(db)][1] == ("spike", "2026-01-01T11:00:00.000000Z", "2026-01-01T11:05:00.000000Z", 9)


def test_ignored_groups_are_counted_but_never_detected(cli: Any, isolated: Path) -> None:
    log, db = isolated / "app.log", isolated / "state.db"
    log.write_text(lines({0: 1}))
    scan(cli, log)
    sql(db, "UPDATE fingerprints SET state = 'ignored'")
    with open(log, "a") as handle:
        handle.write(lines({minute: 1 for minute in range(1, 60)} | {minute: 6 for minute in range(60, 65)}))
    scan(cli, log)
    assert [row[0] for row in detections(db)] == ["new"]
    assert sql(db, "SELECT count, state FROM fingerprints") == [(90, "ignored")]


def test_an_expired_ignore_counts_as_active(cli: Any, isolated: Path) -> None:
    log, db = isolated / "app.log", isolated / "state.db"
    log.write_text(lines({0: 1}))
    scan(cli, log)
    sql(db, "UPDATE fingerprints SET state = 'ignored', state_until = '2020-01-01T00:00:00.000000Z'")
    with open(log, "a") as handle:
        handle.write(lines({minute: 1 for minute in range(1, 60)} | {minute: 6 for minute in range(60, 65)}))
    scan(cli, log)
    assert [row[0] for row in detections(db)] == ["new", "spike"]


def test_seen_again_after_resolved_is_a_regression(cli: Any, isolated: Path) -> None:
    log, db = isolated / "app.log", isolated / "state.db"
    log.write_text(lines({0: 2}))
    scan(cli, log)
    sql(db, "UPDATE fingerprints SET state = 'resolved', resolved_at = '2026-01-01T10:30:00.000000Z'")
    with open(log, "a") as handle:
        handle.write(lines({10: 1}))  # logged before it was resolved (a late replay): not a regression
    scan(cli, log)
    assert [row[0] for row in detections(db)] == ["new"]
    with open(log, "a") as handle:
        handle.write(lines({45: 2}))
    data = scan(cli, log)
    assert [(d["kind"], d["window_start"], d["count"]) for d in data["detections"]] == [
        ("regression", "2026-01-01T10:45:00.000000Z", 2)
    ]
    assert sql(db, "SELECT state, count FROM fingerprints") == [("active", 5)]


def test_first_and_latest_occurrences_are_kept(cli: Any, isolated: Path) -> None:
    log, db = isolated / "app.log", isolated / "state.db"
    for part in range(4):
        with open(log, "a") as handle:
            handle.write(lines({part * 3 + i: 1 for i in range(3)}))
        scan(cli, log)
    minutes = [int(row[0][14:16]) for row in sql(db, "SELECT ts FROM occurrences ORDER BY id")]
    assert minutes == [0, 1, 2, 9, 10, 11]


def test_counts_older_than_the_baseline_are_pruned(cli: Any, isolated: Path) -> None:
    log, db = isolated / "app.log", isolated / "state.db"
    log.write_text(lines({0: 1, 200: 1}))
    scan(cli, log)
    assert [row[0] - T0 // 60 for row in sql(db, "SELECT minute FROM counts")] == [200]


# ------------------------------------------------------------------------------------------- the fingerprint cache


WORDS = st.sampled_from(["failed", "to", "connect", "order", "user", "timeout", "after", "retry", "0x1f", "v2", "id=7", "ipv6", "aa2"])
TOKENS = st.one_of(WORDS, st.integers(0, 10**9).map(str), st.from_regex(r"[a-z]{1,4}[0-9]{1,5}", fullmatch=True),
                   st.from_regex(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(:[0-9]{2,5})?", fullmatch=True))
_DIGITS = "0123456789"


@settings(max_examples=200, deadline=None)
@given(st.lists(TOKENS, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_the_scan_fingerprint_cache_gives_what_the_fingerprinter_gives(tokens: list[str], rnd: Any) -> None:
    """The scan caches fingerprints with numbers folded in the key (the speed of a scan relies on it): every record
    must still get exactly what ``Fingerprinter.of`` gives it."""
    fingerprinter = Fingerprinter()
    cached = cached_fingerprinter(fingerprinter, getattr(fingerprint, "fold_digits", None))
    message = " ".join(tokens)
    variant = "".join(rnd.choice(_DIGITS) if char in _DIGITS else char for char in message)
    for text in (message, variant, message):
        record = LogRecord(level="ERROR", message=text, target="api", error_code="E1")
        direct = fingerprinter.of(record)
        assert cached(record) == (direct.id, direct.template, direct.algo, "event\x1fE1\x1fapi", direct.template)
