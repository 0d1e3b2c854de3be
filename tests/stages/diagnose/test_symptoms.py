"""Symptoms fold into causes: an error that only reports its request's failure is counted on the root error's group.

The folding happens where detections are made (the scan); these tests read what the diagnose stage and the alerts get.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimon.config import load_settings
from aimon.logs.parsing import iter_records
from aimon.model import LogRecord
from aimon.runtime import Context
from aimon.stages.scan.aggregate import Aggregator, FoldingBatch
from aimon.state.db import open_db
from aimon.state.groups import symptoms_of
from tests.stages.diagnose.diagnose_support import event, seed, write_log


def storm(requests: int, start: int = 0) -> list[str]:
    """The axum/tower shape: a WARN, the handler's root error, then tower-http's on_failure for the 503."""
    lines = []
    for n in range(start, start + requests):
        rid = f"req-{n:04d}"
        lines.append(event(n % 60, "INFO", "started processing request", rid=rid, target="tower_http::trace::on_request"))
        lines.append(event(n % 60, "WARN", "acquire slow: pool size 10, 10 in use", rid=rid, target="sqlx::pool::inner"))
        lines.append(event(n % 60, "ERROR", "timed out waiting for a connection from the pool after 5000ms", rid=rid,
                           code="DB_POOL_TIMEOUT", target="shop::handlers::orders", file="src/handlers/orders.rs", line=26))
        lines.append(event(n % 60, "ERROR", "response failed", rid=rid, target="tower_http::trace::on_failure",
                           classification="Status code: 503 Service Unavailable", latency="5000 ms"))
    return lines


def groups_of(conn: sqlite3.Connection) -> dict[str, int]:
    return {row[0]: row[1] for row in conn.execute("SELECT target, count FROM fingerprints ORDER BY target")}


def symptom_rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute("SELECT f.target, s.kind, s.count FROM symptoms s JOIN fingerprints f USING (fingerprint)"
                                               " ORDER BY f.target, s.kind")]


def toml(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "aimon.toml"
    path.write_text(text, encoding="utf-8")
    return {"AIMON_CONFIG": str(path)}


def test_a_storm_of_failed_responses_is_one_group_with_its_symptoms_counted(tmp_path: Path) -> None:
    seed(tmp_path / "state.db", write_log(tmp_path / "app.log", storm(40)))
    with open_db(tmp_path / "state.db") as conn:
        assert groups_of(conn) == {"shop::handlers::orders": 40}
        assert symptom_rows(conn) == [("shop::handlers::orders", "failed-response", 40)]
        assert [row[0] for row in conn.execute("SELECT kind FROM detections")] == ["new"]
        [fp] = [row[0] for row in conn.execute("SELECT fingerprint FROM fingerprints")]
        [found] = symptoms_of(conn, fp)
    assert found.label == "+40 failed responses" and found.sample == "response failed"


def test_the_storm_costs_one_diagnosis(tmp_path: Path, cli: Any) -> None:
    seed(tmp_path / "state.db", write_log(tmp_path / "app.log", storm(25)))
    [item] = cli("diagnose", "--json").json()["diagnosed"]
    assert item["result"]["title"].startswith("Database connection pool exhausted")


def test_a_failed_response_with_no_root_in_its_request_stays_a_group(tmp_path: Path) -> None:
    lines = [event(1, "ERROR", "response failed", rid="lonely", target="tower_http::trace::on_failure", classification="Status code: 500"),
             event(2, "ERROR", "response failed", target="tower_http::trace::on_failure", classification="Status code: 500")]
    seed(tmp_path / "state.db", write_log(tmp_path / "app.log", lines))
    with open_db(tmp_path / "state.db") as conn:
        assert groups_of(conn) == {"tower_http::trace::on_failure": 2}
        assert symptom_rows(conn) == []


def test_a_later_error_of_the_same_request_is_a_symptom_unless_configured_off(tmp_path: Path) -> None:
    lines = [event(1, "ERROR", "payment provider refused the connection", rid="r1", target="shop::payments"),
             event(2, "ERROR", "checkout failed", rid="r1", target="shop::checkout"),
             event(3, "ERROR", "payment provider refused the connection", rid="r1", target="shop::payments"),  # a retry: itself
             event(4, "ERROR", "checkout failed", rid="r2", target="shop::checkout")]  # another request: a root
    seed(tmp_path / "state.db", write_log(tmp_path / "app.log", lines))
    with open_db(tmp_path / "state.db") as conn:
        assert groups_of(conn) == {"shop::checkout": 1, "shop::payments": 2}
        assert symptom_rows(conn) == [("shop::payments", "later-error", 1)]
    env = toml(tmp_path, "[symptoms]\nsame_request = false\n")
    seed(tmp_path / "off.db", write_log(tmp_path / "app.log", lines), **env)
    with open_db(tmp_path / "off.db") as conn:
        assert groups_of(conn) == {"shop::checkout": 2, "shop::payments": 2} and symptom_rows(conn) == []


def test_folding_can_be_switched_off(tmp_path: Path) -> None:
    seed(tmp_path / "state.db", write_log(tmp_path / "app.log", storm(3)), **toml(tmp_path, "[symptoms]\nenabled = false\n"))
    with open_db(tmp_path / "state.db") as conn:
        assert groups_of(conn) == {"shop::handlers::orders": 3, "tower_http::trace::on_failure": 3}


def test_a_symptom_read_in_the_next_tick_still_finds_its_root(tmp_path: Path) -> None:
    lines = storm(2)
    log = write_log(tmp_path / "app.log", lines[:-1])  # the tick ends between the root error and its response report
    seed(tmp_path / "state.db", log)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(lines[-1] + "\n")
    seed(tmp_path / "state.db", log)
    with open_db(tmp_path / "state.db") as conn:
        assert groups_of(conn) == {"shop::handlers::orders": 2}
        assert symptom_rows(conn) == [("shop::handlers::orders", "failed-response", 2)]


def test_a_commit_that_fails_records_no_symptom_and_the_retry_counts_each_once(tmp_path: Path) -> None:
    settings = load_settings(environ={"AIMON_DB": str(tmp_path / "state.db")})
    conn = open_db(settings.db_path)
    records = _records(storm(3))

    def crash(_conn: sqlite3.Connection) -> None:
        raise RuntimeError("killed while writing the checkpoint")

    for attempt in (crash, None):
        aggregator = Aggregator(Context(settings=settings, db=conn))
        for offset, record in records:
            aggregator.add("app.log", offset, record)
        if attempt is crash:
            with pytest.raises(RuntimeError):
                aggregator.commit(attempt)
            assert conn.execute("SELECT COUNT(*) FROM symptoms").fetchone()[0] == 0
            assert conn.execute("SELECT COUNT(*) FROM request_roots").fetchone()[0] == 0
        else:
            aggregator.commit(None)
    assert symptom_rows(conn) == [("shop::handlers::orders", "failed-response", 3)]


def _records(lines: list[str]) -> list[tuple[int, LogRecord]]:
    encoded, position = [], 0
    for line in lines:
        data = (line + "\n").encode()
        encoded.append((position, data))
        position += len(data)
    return [(off, rec) for off, rec in iter_records(encoded, "auto", ()) if isinstance(rec, LogRecord)]


def _fold(batches: list[FoldingBatch]) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    first = batches[0]
    for later in batches[1:]:
        first.merge(later)
    first.release()
    return ({fp: group.count for fp, group in first.groups.items()}, {key: value[0] for key, value in first.symptoms.items()})


@pytest.mark.parametrize("lines", [storm(4), [*storm(2), event(9, "ERROR", "response failed", rid="x", target="tower_http::trace::on_failure")]])
def test_the_fold_is_the_same_wherever_a_parallel_read_cuts_the_file(tmp_path: Path, lines: list[str]) -> None:
    settings = load_settings(environ={"AIMON_DB": str(tmp_path / "state.db")})
    aggregator = Aggregator(Context(settings=settings, db=open_db(settings.db_path)))
    records = _records(lines)

    def batch_of(part: list[tuple[int, LogRecord]]) -> FoldingBatch:
        batch = aggregator.new_batch()
        for offset, record in part:
            batch.add("app.log", offset, record)
        return batch

    whole = _fold([batch_of(records)])
    assert sum(whole[1].values()) == 4 if len(lines) == 16 else 2
    for cut in range(1, len(records)):
        assert _fold([batch_of(records[:cut]), batch_of(records[cut:])]) == whole, cut


def test_the_alert_and_the_issue_show_the_symptoms_and_the_suggestion(tmp_path: Path, cli: Any) -> None:
    from aimon.remotes.egress import Egress
    from aimon.stages.delivery import load_incident
    from aimon.stages.issues.text import issue_body
    from aimon.stages.notify.payload import alert_payload

    [root] = seed(tmp_path / "state.db", write_log(tmp_path / "app.log", storm(12))).values()
    cli("diagnose")
    with open_db(tmp_path / "state.db") as conn:
        conn.execute("INSERT INTO issues (fingerprint, number, url, state, labels) VALUES (?, 7, 'https://x/7', 'open', '[]')", (root,))
    more = [event(5, "ERROR", "timed out waiting for a connection from the reporting pool", rid="other", code="DB_POOL_TIMEOUT",
                  target="shop::reports", file="src/reports.rs", line=9)]
    seed(tmp_path / "state.db", write_log(tmp_path / "more.log", more))
    cli("diagnose")
    settings = load_settings(environ={"AIMON_DB": str(tmp_path / "state.db")})
    with open_db(settings.db_path) as conn:
        first, second = (load_incident(conn, settings, row[0]) for row in conn.execute("SELECT id FROM detections ORDER BY id"))
        second_body = issue_body(conn, settings, second, Egress.of(settings).redactor())
        body = issue_body(conn, settings, first, Egress.of(settings).redactor())
    assert first.symptoms == ("+12 failed responses",)
    fields = {f["name"]: f["value"] for f in alert_payload(first, "", {"parse": []}, Egress.of(settings))["embeds"][0]["fields"]}
    assert fields["Count"].startswith("12 total") and fields["Count"].endswith("(+12 failed responses)")
    assert "| Occurrences | 12 (+12 failed responses) |" in body
    [line] = second.looks_like
    assert line.startswith("Looks like #7 (diagnosed ")
    assert line.endswith("same error code DB_POOL_TIMEOUT) — a similar error, suggested only: not this error's diagnosis")
    description = alert_payload(second, "", {"parse": []}, Egress.of(settings))["embeds"][0]["description"]
    assert "*Looks like #7 (diagnosed" in description
    assert "### Similar past errors (suggestions)\n- Looks like #7 (diagnosed" in second_body
    assert (second.diagnosis or {}).get("source") == "heuristic" and (second.diagnosis or {}).get("memory_of") is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["r1", "r2", "r3", None]), st.sampled_from(["root-a", "root-b", "report", "info"])), max_size=24),
       st.lists(st.integers(min_value=0, max_value=24), max_size=3), st.booleans())
def test_the_fold_is_the_same_however_a_parallel_read_cuts_the_records(tmp_path: Path, plan: list[tuple[str | None, str]], cuts: list[int],
                                                                         same_request: bool) -> None:
    texts = {"root-a": ("ERROR", "shop::orders", "order store failed"), "root-b": ("ERROR", "shop::cart", "cart load failed"),
             "report": ("ERROR", "tower_http::trace::on_failure", "response failed"), "info": ("INFO", "shop::api", "started")}
    lines = [event(n % 60, texts[kind][0], texts[kind][2], rid=rid, target=texts[kind][1]) for n, (rid, kind) in enumerate(plan)]
    env = toml(tmp_path, f"[symptoms]\nsame_request = {str(same_request).lower()}\n")
    settings_ = load_settings(environ={"AIMON_DB": str(tmp_path / "state.db"), **env})
    aggregator = Aggregator(Context(settings=settings_, db=open_db(settings_.db_path)))
    records = _records(lines)

    def batch_of(part: list[tuple[int, LogRecord]]) -> FoldingBatch:
        batch = aggregator.new_batch()
        for offset, record in part:
            batch.add("app.log", offset, record)
        return batch

    bounds = sorted({min(cut, len(records)) for cut in cuts} | {0, len(records)})
    parts = [records[a:b] for a, b in itertools.pairwise(bounds)] or [[]]
    whole = _fold([batch_of(records)])
    assert _fold([batch_of(part) for part in parts]) == whole
    assert sum(whole[0].values()) + sum(whole[1].values()) == sum(1 for _rid, kind in plan if kind != "info")  # each error counted once
