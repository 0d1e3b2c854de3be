"""The outbox on its own: idempotent enqueue, leases, bounded backoff, the summary ``aimon status`` shows."""

from __future__ import annotations

from datetime import timedelta

from aimon.stages import delivery as outbox
from aimon.state.db import iso, transaction
from tests.stages.delivery_support import FP, T0, connect, seed


def test_backoff_doubles_from_a_minute_and_is_capped_at_an_hour() -> None:
    assert [outbox.backoff(n) for n in range(1, 9)] == [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_enqueue_is_idempotent_per_detection_and_channel() -> None:
    seed()
    seed(fingerprint="b" * 16)
    conn = connect()
    assert outbox.enqueue_discord(conn, T0) == 2
    assert outbox.enqueue_discord(conn, T0) == 0
    seed(fingerprint="c" * 16)
    assert outbox.enqueue_discord(conn, T0) == 1
    assert [row.detection_id for row in outbox.due(conn, ["discord"], T0)] == [1, 2, 3]


def test_github_rows_ask_for_an_issue_first_and_comments_after() -> None:
    seed()
    seed(kind="spike")
    seed(fingerprint="b" * 16)
    conn = connect()
    assert outbox.enqueue_github(conn, T0) == 3
    assert outbox.enqueue_github(conn, T0) == 0
    channels = [(row["fingerprint"], row["channel"]) for row in conn.execute("SELECT * FROM deliveries ORDER BY id")]
    assert channels == [(FP, "github-issue"), (FP, "github-comment"), ("b" * 16, "github-issue")]

    with transaction(conn):  # the first issue was skipped (below the severity): a later detection asks again
        outbox.mark_skipped(conn, [3], "severity low is below AIMON_ISSUE_MIN_SEVERITY=medium", T0)
    seed(fingerprint="b" * 16, kind="spike")
    outbox.enqueue_github(conn, T0)
    assert conn.execute("SELECT channel FROM deliveries WHERE id = 4").fetchone()[0] == "github-issue"


def test_a_claim_is_exclusive_until_its_lease_runs_out() -> None:
    seed()
    conn, other = connect(), connect()
    outbox.enqueue_discord(conn, T0)
    assert outbox.claim(conn, [1], T0) == [1]
    assert outbox.claim(other, [1], T0) == []
    assert outbox.due(other, ["discord"], T0) == []
    later = T0 + timedelta(seconds=outbox.LEASE)
    assert outbox.claim(other, [1], later) == [1]


def test_failures_back_off_then_fail_for_good_and_the_summary_shows_them() -> None:
    seed()
    seed(fingerprint="b" * 16)
    conn = connect()
    outbox.enqueue_discord(conn, T0)
    at = T0
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        with transaction(conn):
            outbox.mark_failed(conn, [1], "Discord: HTTP 500", at)
        row = conn.execute("SELECT status, attempts, next_attempt_at FROM deliveries WHERE id = 1").fetchone()
        if attempt < outbox.MAX_ATTEMPTS:
            assert tuple(row) == ("pending", attempt, iso(at + timedelta(seconds=outbox.backoff(attempt))))
        else:
            assert tuple(row) == ("failed", attempt, None)
        at += timedelta(hours=1)
    summary = outbox.pending_and_failed(conn)
    assert summary["counts"] == {"discord": {"pending": 1, "failed": 1}}
    assert [row["delivery"] for row in summary["pending"]] == [2]
    assert summary["failed"] == [
        {"delivery": 1, "detection": 1, "fingerprint": FP, "channel": "discord", "status": "failed", "attempts": 8,
         "next_attempt_at": None, "error": "Discord: HTTP 500"}
    ]


def test_a_deferral_is_not_a_failure() -> None:
    seed()
    conn = connect()
    outbox.enqueue_discord(conn, T0)
    with transaction(conn):
        outbox.defer(conn, [1], T0 + timedelta(minutes=5), "Discord: rate limited for 300.0s", T0)
    row = conn.execute("SELECT status, attempts, next_attempt_at, last_error FROM deliveries").fetchone()
    assert tuple(row) == ("pending", 0, iso(T0 + timedelta(minutes=5)), "Discord: rate limited for 300.0s")
    assert outbox.due(conn, ["discord"], T0 + timedelta(minutes=4)) == []
    assert len(outbox.due(conn, ["discord"], T0 + timedelta(minutes=5))) == 1


def test_an_incident_carries_the_severity_from_diagnosis_catalog_or_default(isolated) -> None:
    from aimon.config import load_settings

    (isolated / "aimon.toml").write_text('[catalog.E_DB_POOL]\nseverity = "low"\n')
    settings = load_settings()
    seed()
    seed(fingerprint="b" * 16, error_code="E_OTHER")
    conn = connect()
    assert outbox.load_incident(conn, settings, 1).severity == "low"
    assert outbox.load_incident(conn, settings, 2).severity == "medium"
    conn.execute(
        "INSERT INTO diagnoses (fingerprint, source, result, created_at) VALUES (?, 'heuristic', ?, ?)",
        (FP, '{"title": "Pool", "severity": "critical"}', iso(T0)),
    )
    incident = outbox.load_incident(conn, settings, 1)
    assert (incident.severity, incident.title, incident.request_id) == ("critical", "Pool", "req-7f3a")
