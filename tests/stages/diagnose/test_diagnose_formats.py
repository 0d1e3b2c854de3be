"""The offline diagnosis of an event does not depend on how the service's subscriber wrote it (issue 18, point 4).

The samples in ``tests/data/formats`` are one incident each, written by the tracing JSON formatter and by the text
formatter (thread ids, file:line); :mod:`tests.stages.diagnose.formats` writes the same events in every other set-up.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimon.config import load_settings
from aimon.runtime import Context
from aimon.stages.diagnose import heuristics
from aimon.stages.diagnose.context import build_context
from aimon.stages.diagnose.prompt import build_prompt
from aimon.stages.diagnose.stage import run_diagnose
from aimon.stages.scan.stage import run_scan
from aimon.state.db import open_db
from tests.stages.diagnose.formats import FORMATS, Event, Format, Stderr, Value, write

DATA = Path(__file__).resolve().parents[2] / "data" / "formats"
COMPARED = ("title", "category", "severity", "root_cause")

UPSTREAM = ("Upstream service failing (5xx) in shop::payments::client", "upstream", "medium",
            "A dependency answered with a server error: it is down, overloaded or deploying, or a proxy in between cannot reach it. "
            "This service is the messenger, unless its own requests trigger the failures.")
AFTER_PANIC = ("Panic: .unwrap() on an Err — File or directory not found: /etc/shop.toml (the panic just before it in the same thread) in shop",
               "configuration", "high",
               "This error follows a panic in the same thread (tokio-runtime-worker) at src/main.rs:55: the panic is the cause. "
               "The code calls .unwrap() on a Result that was Err, so a recoverable error became a panic (the request fails, and the "
               "task or thread dies). The error inside: A path the service opens does not exist in this environment: a missing "
               "config/certificate/template file, a wrong working directory, or a volume not mounted. Here the path is /etc/shop.toml.")


def cli_diagnoses(cli: Any, log: Path, db: Path) -> dict[str, tuple[str, ...]]:
    """``aimon scan LOG`` then ``aimon diagnose --json`` on their own state file: {error message: compared fields}."""
    env = {"AIMON_DB": str(db)}
    scanned = cli("scan", str(log), "--json", env=env)
    assert scanned.exit_code == 0, scanned.stderr
    diagnosed = cli("diagnose", "--json", env=env)
    assert diagnosed.exit_code == 0, diagnosed.stderr
    conn = open_db(db)
    try:
        messages = dict(conn.execute("SELECT f.fingerprint, o.record FROM fingerprints f JOIN occurrences o ON o.fingerprint = f.fingerprint"))
    finally:
        conn.close()
    # The text reader keeps a bare (Display) field in the message: the words before it name the error in both readings.
    return {json.loads(messages[item["fingerprint"]])["message"].split(" error")[0]: tuple(item["result"][key] for key in COMPARED)
            for item in diagnosed.json()["diagnosed"]}


@pytest.mark.parametrize("incident", ["upstream-503", "panic-thread"])
def test_the_same_incident_as_json_and_as_text_gets_the_same_diagnoses_through_the_cli(tmp_path: Path, cli: Any, incident: str) -> None:
    readings = {}
    for fmt in ("json", "text"):
        log = tmp_path / f"{incident}.{fmt}.log"
        shutil.copy(DATA / log.name, log)
        readings[fmt] = cli_diagnoses(cli, log, tmp_path / f"{fmt}.db")
    assert sorted(readings["json"].values()) == sorted(readings["text"].values())
    if incident == "upstream-503":
        assert readings["json"]["charge request failed"] == UPSTREAM
    else:
        assert readings["json"]["worker thread panicked; shutting down"] == AFTER_PANIC


def context_for(tmp_path: Path, log: Path, message: str) -> Any:
    conf = load_settings(environ={"AIMON_DB": str(tmp_path / "ctx.db")})
    conn = open_db(conf.db_path)
    run_scan(Context(settings=conf, db=conn), paths=[str(log)], since=None)
    row = conn.execute("SELECT f.* FROM fingerprints f JOIN occurrences o ON o.fingerprint = f.fingerprint "
                       "WHERE json_extract(o.record, '$.message') = ?", (message,)).fetchone()
    return build_context(conn, conf, row, {"kind": "new"})


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_an_error_right_after_a_panic_in_its_thread_is_read_with_that_panic_and_not_other_requests(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / f"panic-thread.{fmt}.log"
    shutil.copy(DATA / log.name, log)
    ctx = context_for(tmp_path, log, "worker thread panicked; shutting down")
    assert ctx.panic is not None
    assert (ctx.panic.thread, ctx.panic.location) == ("tokio-runtime-worker", "src/main.rs:55")
    assert ctx.panic.lines == [
        "[P1] 2026-03-02T10:15:00.003Z PANIC called `Result::unwrap()` on an `Err` value: Custom { kind: NotFound, error: \"config file "
        "/etc/shop.toml\" } (src/main.rs:55)",
        "[P1 F1] shop::main::{{closure}} at ./src/main.rs:55",
    ]
    assert ctx.before == [] and ctx.clues == []  # the other requests' lines are neither shown nor evidence
    user = build_prompt(ctx, 6000).user
    assert "## Panic the same thread wrote just before the error (thread tokio-runtime-worker)\n[P1] " in user
    assert "query failed" not in user and "slow cache" not in user
    result = heuristics.diagnose(ctx)
    assert (result.title, result.category, result.severity, result.root_cause) == AFTER_PANIC
    assert result.evidence[1] == ctx.panic.lines[0]
    assert not any("query failed" in line for line in result.evidence)


def incident(events: list[Event | Stderr], tmp_path: Path, name: str, fmt: Format) -> set[tuple[str, ...]]:
    """Scan and diagnose ``events`` written in ``fmt``: the compared fields of every diagnosis."""
    log = tmp_path / f"{name}.log"
    log.write_text(write(events, fmt), encoding="utf-8")
    conf = load_settings(environ={"AIMON_DB": str(tmp_path / f"{name}.db")})
    conn = open_db(conf.db_path)
    try:
        ctx = Context(settings=conf, db=conn)
        run_scan(ctx, paths=[str(log)], since=None)
        return {tuple(item.result[key] for key in COMPARED) for item in run_diagnose(ctx).diagnosed}
    finally:
        conn.close()


def _span(rid: str) -> tuple[str, tuple[tuple[str, Value], ...]]:
    return ("request", (("method", Value("POST")), ("uri", Value("/api/orders")), ("request_id", Value(rid, True))))


# Real failure texts, each as services log them: a key and the value (Display values hold spaces).
CAUSES = [
    ("error", "operation timed out"),
    ("error", "error trying to connect: tcp connect error: Connection refused (os error 111)"),
    ("error", "HTTP status server error (503 Service Unavailable) for url (https://rates.example.com/v1/eur)"),
    ("response", "503 Service Unavailable"),
    ("classification", "Status code: 503 Service Unavailable"),
    ("source", "error returned from database: deadlock detected"),
    ("detail", "failed to lookup address information: Name or service not known"),
]
GENERIC = ["request failed", "charge request failed", "response failed", "job failed"]


@st.composite
def incidents(draw: st.DrawFn) -> list[Event | Stderr]:
    """A request whose earlier WARN names one cause and whose ERROR names (in a field or its message) another, or none."""
    rid = "req-" + draw(st.text("0123456789abcdef", min_size=16, max_size=16))
    early_key, early = draw(st.sampled_from(CAUSES))
    late = draw(st.one_of(st.none(), st.sampled_from(CAUSES)))
    display = draw(st.booleans())
    fields: list[tuple[str, Value]] = [("error_code", Value(draw(st.sampled_from(["UPSTREAM_5XX", "E1042", "DB_ERROR"]))))]
    message = draw(st.sampled_from(GENERIC))
    if late is not None and draw(st.booleans()):
        message = f"{message}: {late[1]}"
    elif late is not None:
        fields.insert(draw(st.integers(0, 1)), (late[0], Value(late[1], display)))
    if draw(st.booleans()):
        fields.append(("latency", Value(f"{draw(st.integers(1, 9000))} ms", True)))
    span = _span(rid)
    return [
        Event(0, "INFO", "tower_http::trace::on_request", "started processing request", (), (span,), "src/http.rs", 40),
        Event(5, "ERROR", "shop::api", "unrelated", (("error", Value("deadline has elapsed", True)),), (_span("req-other"),), "src/api.rs", 9, thread_id=3),
        Event(10, "WARN", "shop::client", "call failed, retrying", ((early_key, Value(early, True)),), (span,), "src/client.rs", 77),
        Event(20, "ERROR", "shop::client", message, tuple(fields), (span,), "src/client.rs", 91),
        Event(25, "INFO", "tower_http::trace::on_response", "finished processing request", (("status", Value(502)),), (span,), "src/http.rs", 52),
    ]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=incidents())
def test_property_every_format_of_the_same_events_gets_the_same_diagnoses(tmp_path_factory: pytest.TempPathFactory,
                                                                                    events: list[Event | Stderr]) -> None:
    tmp = tmp_path_factory.mktemp("formats")
    readings = {name: incident(events, tmp, name, fmt) for name, fmt in FORMATS.items()}
    assert all(reading == readings["json"] for reading in readings.values()), readings


def panic_then_error(thread: str) -> list[Event | Stderr]:
    """Other requests' errors, then a panic in a worker and the error its panic hook logs."""
    return [
        Event(0, "ERROR", "shop", "query failed", (("error", Value("timed out waiting for a connection from pool after 5000ms", True)),),
              (_span("req-a"),), "src/main.rs", 23, "main", 1),
        Event(1, "ERROR", "shop", "upstream failed", (("status", Value(502)),), (_span("req-b"),), "src/main.rs", 33, "main", 1),
        Stderr([f"thread '{thread}' (14022) panicked at src/jobs.rs:12:9:", "attempt to subtract with overflow",
                "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"]),
        Event(3, "ERROR", "shop::jobs", "worker thread panicked; shutting down", (), (), "src/jobs.rs", 30),
        Event(4, "INFO", "shop", "started processing request", (), (_span("req-c"),), "src/main.rs", 19, "main", 1),
    ]


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_diagnoses_the_error_after_a_panic_from_it(tmp_path: Path, name: str) -> None:
    found = {d[:3] for d in incident(panic_then_error("tokio-runtime-worker"), tmp_path, name, FORMATS[name])}
    assert ("Panic: arithmetic overflow at src/jobs.rs:12 (the panic just before it in the same thread) in shop::jobs", "panic", "high") in found


def test_a_panic_of_another_named_thread_is_not_the_cause(tmp_path: Path) -> None:
    found = incident(panic_then_error("db-migrator"), tmp_path, "json", FORMATS["json"])
    worker = [d for d in found if d[0].startswith("Unrecognised error: worker thread panicked")]
    # Nothing names the cause: the earlier errors belong to other requests, the panic to another thread.
    assert [d[1:3] for d in worker] == [("unknown", "medium")]
