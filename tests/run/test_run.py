"""``aimon run``: the stages chained, failures isolated, one instance at a time, dry runs and the CI gate."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from filelock import FileLock

WEBHOOK = "https://discord.com/api/webhooks/111222333/PLANTED-webhook-token-abc"
STAGES = ["scan", "diagnose", "notify", "open_issue", "autofix"]


def stamp(seconds_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error_line(message: str, code: str = "DB_TIMEOUT", seconds_ago: float = 60, request_id: str = "req-x") -> str:
    return json.dumps(
        {
            "timestamp": stamp(seconds_ago),
            "level": "ERROR",
            "fields": {"message": message, "error_code": code, "request_id": request_id},
            "target": "app::db",
            "filename": "src/db.rs",
            "line_number": 42,
        }
    )


def info_line(message: str, seconds_ago: float = 60) -> str:
    return json.dumps(
        {"timestamp": stamp(seconds_ago), "level": "INFO", "fields": {"message": message}, "target": "app"}
    )


def write_log(path: Path, lines: list[str], mode: str = "w") -> Path:
    with path.open(mode, encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def incident_log(path: Path) -> Path:
    lines = [info_line(f"request {i} served", 120 - i) for i in range(20)]
    lines += [error_line(f"db timeout after {30 + i} ms", seconds_ago=100 - i, request_id=f"req-{i}") for i in range(4)]
    return write_log(path, lines)


def files_in(folder: Path) -> list[str]:
    # SQLite leaves empty -wal/-shm companions after the read-only open that copies the state into memory
    # (aimon.state.db.open_db); they hold no data. Everything else must stay as it was.
    return sorted(name for name in os.listdir(folder) if not name.endswith(("-wal", "-shm")))


def db(tmp_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.row_factory = sqlite3.Row
    return conn


def last_run(tmp_path: Path) -> sqlite3.Row:
    return db(tmp_path).execute("SELECT * FROM runs WHERE command = 'run' ORDER BY id DESC LIMIT 1").fetchone()


def test_run_chains_every_stage_and_records_the_run(cli: Any, tmp_path: Path) -> None:
    log = incident_log(tmp_path / "app.log")
    result = cli("run", "--log", str(log), "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert list(doc["stages"]) == STAGES
    assert {name: stage["status"] for name, stage in doc["stages"].items()} == dict.fromkeys(STAGES, "ok")
    assert doc["detections"] == {"new": 1}
    assert doc["stages"]["scan"]["result"]["lines"] == 24
    assert doc["stages"]["diagnose"]["result"]["diagnosed"][0]["source"] == "heuristic"
    conn = db(tmp_path)
    assert conn.execute("SELECT count(*) FROM diagnoses").fetchone()[0] == 1
    row = last_run(tmp_path)
    assert row["exit_code"] == 0 and row["finished_at"] >= row["started_at"]
    summary = json.loads(row["summary"])
    assert list(summary["stages"]) == STAGES
    scan = summary["stages"]["scan"]
    assert scan["status"] == "ok" and scan["error"] is None and scan["duration_s"] >= 0
    assert scan["counts"]["lines"] == 24 and scan["counts"]["detections"] == 1
    assert summary["detections"] == {"new": 1}
    # the next tick finds nothing new and does nothing twice
    again = cli("run", "--log", str(log), "--json").json()
    assert again["detections"] == {} and again["stages"]["scan"]["result"]["lines"] == 0
    assert conn.execute("SELECT count(*) FROM diagnoses").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
    status = cli("status", "--json").json()
    assert status["last_run"]["outcome"] == "ok"


@responses.activate
def test_a_failing_stage_does_not_stop_the_others(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", WEBHOOK)
    responses.add(responses.POST, WEBHOOK, json={"message": "Unknown Webhook", "code": 10015}, status=404)
    log = incident_log(tmp_path / "app.log")
    result = cli("run", "--log", str(log), "--json")
    assert result.exit_code == 1
    doc = result.json()
    statuses = {name: stage["status"] for name, stage in doc["stages"].items()}
    assert statuses == {"scan": "ok", "diagnose": "ok", "notify": "failed", "open_issue": "ok", "autofix": "ok"}
    assert len(responses.calls) == 1 and responses.calls[0].request.url == WEBHOOK + "?wait=true"
    error = doc["stages"]["notify"]["error"]
    assert error and "404" in error
    assert "notify failed:" in result.stderr
    for text in (result.stdout, result.stderr, last_run(tmp_path)["summary"]):
        assert "PLANTED-webhook-token" not in text
    row = last_run(tmp_path)
    assert row["exit_code"] == 1
    assert json.loads(row["summary"])["stages"]["notify"]["status"] == "failed"
    # the alert stays queued; status shows the run failed and why
    status = cli("status")
    assert "Last run: failed" in status.stdout and "notify: failed" in status.stdout


def test_an_unexpected_exception_is_recorded_without_secrets(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aimon.stages.notify.stage

    monkeypatch.setenv("DISCORD_WEBHOOK_URL", WEBHOOK)

    def broken(ctx: Any) -> Any:
        raise KeyError(f"bug while posting to {WEBHOOK}")

    monkeypatch.setattr(aimon.stages.notify.stage, "run_notify", broken)
    log = incident_log(tmp_path / "app.log")
    result = cli("run", "--log", str(log), "--json")
    assert result.exit_code == 1
    doc = result.json()
    assert doc["stages"]["notify"]["status"] == "failed"
    assert doc["stages"]["notify"]["error"].startswith("unexpected KeyError: ")
    assert doc["stages"]["open_issue"]["status"] == "ok" and doc["stages"]["autofix"]["status"] == "ok"
    assert "PLANTED" not in result.stdout + result.stderr + last_run(tmp_path)["summary"]


def test_a_configuration_error_in_one_stage_fails_that_stage_only(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIMON_AUTOFIX", "pr")  # without a token or a repository
    result = cli("run", "--log", str(incident_log(tmp_path / "app.log")), "--json")
    assert result.exit_code == 1
    doc = result.json()
    assert [name for name, stage in doc["stages"].items() if stage["status"] != "ok"] == ["autofix"]
    assert "GITHUB_TOKEN" in doc["stages"]["autofix"]["error"]


def test_a_second_run_while_one_runs_exits_0_at_once_and_does_nothing(cli: Any, tmp_path: Path) -> None:
    log = incident_log(tmp_path / "app.log")
    lock = FileLock(str(tmp_path / "state.db.lock"))
    with lock:
        result = cli("run", "--log", str(log))
        assert result.exit_code == 0
        assert result.stdout == ""
        assert result.stderr.strip().splitlines() == [
            f"another aimon run is in progress (lock {tmp_path / 'state.db.lock'}); this tick does nothing"
        ]
        assert cli("run", "--log", str(log), "--json").json() == {"skipped": result.stderr.strip(), "exit_code": 0}
    conn = db(tmp_path)
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0] == 0
    # once the lock is free, the run happens
    assert cli("run", "--log", str(log)).exit_code == 0
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_fail_on_new_gates_a_ci_job(cli: Any, tmp_path: Path) -> None:
    log = incident_log(tmp_path / "test-output.log")
    throwaway = tmp_path / "ci" / "state.db"
    result = cli("run", "--dry-run", "--log", str(log), "--fail-on", "new", "--db", str(throwaway))
    assert result.exit_code == 3  # the gate's own verdict, apart from "a stage failed" (1)
    assert "--fail-on new: this run detected 1 new (exit code 3)" in result.stdout
    assert "--fail-on new: this run detected 1 new (exit code 3)" in result.stderr
    doc = cli("run", "--dry-run", "--log", str(log), "--fail-on", "new", "--db", str(throwaway), "--json").json()
    [matched] = doc["fail_on"]["matched"]
    assert doc["fail_on"] == {"kind": "new", "message": "--fail-on new: this run detected 1 new (exit code 3)",
                              "matched": [matched], "known": 0, "expected": 0}
    assert (matched["kind"], matched["level"], matched["count"]) == ("new", "ERROR", 4)  # the incident's four lines
    assert doc["exit_code"] == 3
    spike = cli("run", "--dry-run", "--log", str(log), "--fail-on", "spike", "--db", str(throwaway))
    assert spike.exit_code == 0
    assert "--fail-on spike: no such detection in this run." in spike.stdout
    clean = write_log(tmp_path / "clean.log", [info_line(f"request {i} served") for i in range(5)])
    assert cli("run", "--dry-run", "--log", str(clean), "--fail-on", "any", "--db", str(throwaway)).exit_code == 0
    assert not throwaway.parent.exists()  # a dry run creates nothing
    bad = cli("run", "--dry-run", "--log", str(log), "--fail-on", "everything")
    assert bad.exit_code == 2


def test_a_baseline_makes_new_mean_new_against_main_and_the_verdict_goes_to_the_step_summary(cli: Any, tmp_path: Path) -> None:
    log = incident_log(tmp_path / "test-output.log")
    throwaway = tmp_path / "ci" / "state.db"
    known = cli("fingerprint", str(log), "--jsonl").stdout.splitlines()
    baseline = tmp_path / "aimon-baseline.txt"
    baseline.write_text("# errors main already has\n" + "".join(json.loads(row)["fingerprint"] + "\n" for row in known))
    summary = tmp_path / "step-summary.md"
    summary.write_text("## tests\n")

    passed = cli("run", "--dry-run", "--log", str(log), "--fail-on", "new", "--baseline", str(baseline),
                 "--summary", str(summary), "--db", str(throwaway))

    assert passed.exit_code == 0
    assert summary.read_text() == "## tests\n### aimon: no new errors (1 known from the baseline)\n"
    tripped = cli("run", "--dry-run", "--log", str(log), "--fail-on", "new", "--summary", str(summary), "--db", str(throwaway))
    assert tripped.exit_code == 3
    section = summary.read_text().split("### aimon: 1 new error(s) detected\n", 1)[1]
    assert section.startswith("\n| kind | level | error code | occurrences | fingerprint | template |\n|---|---|---|---|---|---|\n| new | ERROR |")
    assert cli("run", "--dry-run", "--log", str(log), "--baseline", str(baseline)).exit_code == 2  # only with --fail-on
    missing = cli("run", "--dry-run", "--log", str(log), "--fail-on", "new", "--baseline", str(tmp_path / "nope.txt"))
    assert missing.exit_code == 2 and "--baseline" in missing.stderr


def test_dry_run_prints_what_would_happen_and_changes_no_file(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = tmp_path / "metrics" / "aimon.prom"
    metrics.parent.mkdir()
    monkeypatch.setenv("AIMON_METRICS_FILE", str(metrics))
    log = incident_log(tmp_path / "app.log")
    assert cli("run", "--log", str(log)).exit_code == 0  # a real state file to compare with
    watched = [tmp_path / "state.db", tmp_path / "state.db.lock", metrics, log]
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in watched}
    listing = files_in(tmp_path)
    write_log(log, [error_line("payment declined", code="PAYMENT_DECLINED", seconds_ago=10)], mode="a")
    before[log] = (log.read_bytes(), log.stat().st_mtime_ns)
    result = cli("run", "--dry-run", "--log", str(log))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Dry run: nothing is sent and no state changes" in out
    assert "PAYMENT_DECLINED" in out  # the scan table
    assert "Would send" in out and r'"value": "PAYMENT\\_DECLINED"' in out  # the Discord payload (Markdown-escaped)
    assert "Detections this run: 1 new" in out
    after = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in watched}
    assert after == before
    assert files_in(tmp_path) == listing
    # and the real run that follows still sees the new error as new
    assert cli("run", "--log", str(log), "--json").json()["detections"] == {"new": 1}


def test_since_passes_through_to_a_read_only_scan(cli: Any, tmp_path: Path) -> None:
    log = incident_log(tmp_path / "app.log")
    result = cli("run", "--log", str(log), "--since", "1h", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    scan = doc["stages"]["scan"]["result"]
    assert scan["since"] == "1h" and [group["count"] for group in scan["groups"]] == [4]
    conn = db(tmp_path)
    assert conn.execute("SELECT count(*) FROM fingerprints").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0] == 0
    assert doc["detections"] == {}
    assert doc["stages"]["diagnose"]["result"]["diagnosed"] == []


def test_a_spent_tick_budget_leaves_the_work_for_the_next_tick(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aimon.clock import Deadline
    from aimon.config import load_settings
    from aimon.run import run_pipeline
    from aimon.runtime import Context
    from aimon.state.db import open_db

    log = incident_log(tmp_path / "app.log")
    settings = load_settings()
    spent = Context(settings=settings, db=open_db(settings.db_path), deadline=Deadline(0.0))
    doc = run_pipeline(spent, [str(log)], None, None).to_json()
    assert {stage["status"] for stage in doc["stages"].values()} == {"skipped"}
    assert doc["stages"]["diagnose"]["error"] == "tick budget spent; left for the next tick"
    assert doc["exit_code"] == 0
    monkeypatch.setenv("AIMON_TICK_BUDGET", "50s")
    assert cli("run", "--log", str(log), "--json").json()["detections"] == {"new": 1}


def test_ignore_and_resolve_are_reflected_in_every_stage(cli: Any, tmp_path: Path) -> None:
    log = incident_log(tmp_path / "app.log")
    assert cli("scan", str(log)).exit_code == 0
    fingerprint = db(tmp_path).execute("SELECT fingerprint FROM fingerprints").fetchone()[0]
    assert cli("ignore", fingerprint[:6]).exit_code == 0
    doc = cli("run", "--log", str(log), "--fail-on", "any", "--json").json()
    assert doc["exit_code"] == 0  # an ignored error does not gate
    assert doc["stages"]["diagnose"]["result"]["diagnosed"] == []
    assert doc["stages"]["notify"]["result"]["would_send"] == []
    assert doc["stages"]["open_issue"]["result"]["would_send"] == []
    # more of it while ignored: still silent
    write_log(log, [error_line("db timeout after 99 ms", seconds_ago=5)], mode="a")
    doc = cli("run", "--log", str(log), "--fail-on", "any", "--json").json()
    assert doc["exit_code"] == 0 and doc["detections"] == {}
    # resolved: the next sighting is a regression
    assert cli("resolve", fingerprint).exit_code == 0
    # (log time after the resolve: a line written before it is not a regression)
    write_log(log, [error_line("db timeout after 120 ms", seconds_ago=-2)], mode="a")
    doc = cli("run", "--log", str(log), "--fail-on", "any", "--json").json()
    assert doc["detections"] == {"regression": 1}
    assert doc["exit_code"] == 3
    assert doc["stages"]["diagnose"]["result"]["diagnosed"] != []  # a regression is diagnosed again


def test_old_run_records_are_pruned(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import aimon.run

    monkeypatch.setattr(aimon.run, "KEEP_RUNS", 2)
    log = incident_log(tmp_path / "app.log")
    for _ in range(4):
        assert cli("run", "--log", str(log)).exit_code == 0
    rows = db(tmp_path).execute("SELECT id, length(summary) FROM runs ORDER BY id").fetchall()
    assert [row[0] for row in rows] == [3, 4]
    assert all(row[1] < 2000 for row in rows)  # a summary stays small: a week of ticks is a few megabytes


CARGO_TEST_OUTPUT = """\
running 4 tests
thread 'tests::rejects_an_empty_cart' panicked at src/cart.rs:41:9:
a cart needs at least one item
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
test tests::parses_an_order ... ok
test tests::rejects_an_empty_cart - should panic ... ok
thread 'tests::total_overflows' panicked at src/cart.rs:88:17:
attempt to add with overflow
test tests::total_overflows - should panic ... \x1b[32mok\x1b[0m
test tests::applies_a_discount ... ok

test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
"""


def test_panics_of_should_panic_tests_that_passed_do_not_trip_the_gate(cli: Any, tmp_path: Path) -> None:
    log = tmp_path / "test-output.log"
    log.write_text(CARGO_TEST_OUTPUT)
    summary = tmp_path / "summary.md"
    result = cli("run", "--dry-run", "--log", str(log), "--fail-on", "new", "--summary", str(summary), "--json")
    assert result.exit_code == 0, result.stdout
    doc = result.json()
    assert doc["fail_on"] == {"kind": "new", "message": None, "matched": [], "known": 0, "expected": 2}
    assert summary.read_text() == "### aimon: no new errors (2 expected panic(s) of #[should_panic] tests)\n"


def test_a_panic_outside_a_passed_should_panic_test_still_trips_the_gate(cli: Any, tmp_path: Path) -> None:
    log = tmp_path / "test-output.log"
    unexpected = CARGO_TEST_OUTPUT.replace(  # the same panic site, but in a test that was not expected to panic
        "test tests::applies_a_discount ... ok\n",
        "thread 'tests::applies_a_discount' panicked at src/cart.rs:88:17:\nattempt to add with overflow\n"
        "test tests::applies_a_discount ... FAILED\n",
    ).replace("thread 'tests::rejects_an_empty_cart' panicked", "thread 'main' panicked")  # and one in no test at all
    log.write_text(unexpected)
    result = cli("run", "--dry-run", "--log", str(log), "--fail-on", "new", "--json")
    assert result.exit_code == 3
    matched = {item["template"].splitlines()[0][:40] for item in result.json()["fail_on"]["matched"]}
    assert len(matched) == 2 and result.json()["fail_on"]["expected"] == 0


def test_run_since_gates_on_the_window_against_what_the_state_knows(cli: Any, tmp_path: Path) -> None:
    log = incident_log(tmp_path / "test-output.log")
    db = tmp_path / "state.db"
    fresh = cli("run", "--since", "1h", "--log", str(log), "--fail-on", "new", "--db", str(db), "--json")
    assert fresh.exit_code == 3  # never seen by this state file: new
    [matched] = fresh.json()["fail_on"]["matched"]
    assert (matched["kind"], matched["count"], matched["level"]) == ("new", 4, "ERROR")
    assert cli("run", "--log", str(log), "--db", str(db)).exit_code == 0  # the incremental tick records it
    known = cli("run", "--since", "1h", "--log", str(log), "--fail-on", "any", "--db", str(db))
    assert known.exit_code == 0 and "--fail-on any: no such detection in this run." in known.stdout
    assert cli("resolve", matched["fingerprint"], "--db", str(db)).exit_code == 0
    before_the_fix = cli("run", "--since", "1h", "--log", str(log), "--fail-on", "any", "--db", str(db))
    assert before_the_fix.exit_code == 0  # the window's occurrences are all from before it was resolved
    write_log(log, [error_line("db timeout after 35 ms", seconds_ago=0, request_id="req-9")], mode="a")
    back = cli("run", "--since", "1h", "--log", str(log), "--fail-on", "any", "--db", str(db), "--json")
    assert back.exit_code == 3 and [item["kind"] for item in back.json()["fail_on"]["matched"]] == ["regression"]
    assert cli("run", "--since", "1h", "--log", str(log), "--fail-on", "new", "--db", str(db)).exit_code == 0


def test_a_secret_in_a_template_never_reaches_the_window_gate_summary_or_json(cli: Any, tmp_path: Path) -> None:
    """The ``--since`` window builds its groups without the state file: their templates are redacted like the ones
    an incremental scan stores, so the verdict (``--json``, and the step summary GitHub shows) carries no secret."""
    log = write_log(tmp_path / "test-output.log",
                    [error_line("login failed password=swordfishplanted", seconds_ago=30, request_id="req-1")])
    summary = tmp_path / "summary.md"
    result = cli("run", "--since", "1h", "--log", str(log), "--fail-on", "new", "--summary", str(summary),
                 "--db", str(tmp_path / "state.db"), "--json")
    assert result.exit_code == 3
    [matched] = result.json()["fail_on"]["matched"]
    assert "password=<secret:" in matched["template"]
    for text in (result.stdout, result.stderr, summary.read_text()):
        assert "swordfishplanted" not in text
