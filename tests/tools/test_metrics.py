"""The Prometheus textfile written after each run, read back with prometheus_client's own parser."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import responses
from prometheus_client.parser import text_string_to_metric_families

from aimon.state.db import iso, utcnow
from tests.run.test_run import WEBHOOK, error_line, incident_log, write_log


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the file: (name, sorted labels) → value."""
    found = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def metrics_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "textfile" / "aimon.prom"
    path.parent.mkdir()
    monkeypatch.setenv("AIMON_METRICS_FILE", str(path))
    return path


@responses.activate
def test_metrics_after_a_run(cli: Any, tmp_path: Path, metrics_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", WEBHOOK)
    responses.add(responses.POST, WEBHOOK, json={"id": "1300000000000000001", "channel_id": "42"}, status=200)
    log = incident_log(tmp_path / "app.log")
    write_log(log, ["[1,2]", '{"timestamp": broken'], mode="a")
    conn = sqlite3.connect(tmp_path / "state.db")
    from aimon.state.db import open_db

    open_db(tmp_path / "state.db").close()  # create the tables, then record two LLM calls of this month
    conn.executemany(
        "INSERT INTO llm_calls (purpose, model, prompt_hash, tokens_in, tokens_out, cost_usd, outcome, created_at)"
        " VALUES ('diagnose', 'gpt-4o-mini', 'h', ?, ?, ?, 'ok', ?)",
        [(1000, 200, 0.00027, iso(utcnow())), (3000, 100, 0.00051, iso(utcnow()))],
    )
    conn.commit()
    result = cli("run", "--log", str(log))
    assert result.exit_code == 0, result.stderr
    found = samples(metrics_file)
    assert value(found, "aimon_lines_read_total") == 26
    assert value(found, "aimon_bytes_read_total") == log.stat().st_size
    assert value(found, "aimon_malformed_lines_total") == 2
    assert value(found, "aimon_detections_total", kind="new") == 1
    assert value(found, "aimon_detections_total", kind="spike") == 0
    assert value(found, "aimon_detections_total", kind="regression") == 0
    assert value(found, "aimon_deliveries_total", channel="discord", status="sent") == 1
    assert value(found, "aimon_llm_tokens_total", direction="in") == 4000
    assert value(found, "aimon_llm_tokens_total", direction="out") == 300
    assert value(found, "aimon_llm_cost_usd_total") == pytest.approx(0.00078)
    assert value(found, "aimon_llm_spend_month_usd") == pytest.approx(0.00078)
    assert value(found, "aimon_llm_budget_month_usd") == 30
    for stage in ("scan", "diagnose", "notify", "open_issue", "autofix"):
        assert value(found, "aimon_stage_duration_seconds", stage=stage) >= 0
        assert value(found, "aimon_stage_failed", stage=stage) == 0
    assert value(found, "aimon_last_run_exit_code") == 0
    finished = value(found, "aimon_last_run_timestamp_seconds")
    assert abs(finished - utcnow().timestamp()) < 60
    assert value(found, "aimon_last_success_timestamp_seconds") == finished
    assert os.listdir(metrics_file.parent) == ["aimon.prom"]  # written by rename: no temporary file left

    # totals keep counting across runs
    write_log(log, [error_line("db timeout after 5 ms", seconds_ago=0)], mode="a")
    assert cli("run", "--log", str(log)).exit_code == 0
    assert value(samples(metrics_file), "aimon_lines_read_total") == 27


@responses.activate
def test_a_failed_run_keeps_the_last_success_time(
    cli: Any, tmp_path: Path, metrics_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = incident_log(tmp_path / "app.log")
    assert cli("run", "--log", str(log)).exit_code == 0
    success = value(samples(metrics_file), "aimon_last_success_timestamp_seconds")
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", WEBHOOK)
    responses.add(responses.POST, WEBHOOK, json={"message": "Unknown Webhook", "code": 10015}, status=404)
    write_log(log, [error_line("payment declined", code="PAYMENT_DECLINED", seconds_ago=0)], mode="a")
    assert cli("run", "--log", str(log)).exit_code == 1
    found = samples(metrics_file)
    assert value(found, "aimon_last_run_exit_code") == 1
    assert value(found, "aimon_stage_failed", stage="notify") == 1
    assert value(found, "aimon_stage_failed", stage="scan") == 0
    assert value(found, "aimon_last_success_timestamp_seconds") == success
    assert value(found, "aimon_last_run_timestamp_seconds") >= success
    assert value(found, "aimon_deliveries_pending", channel="discord") >= 1


def test_an_unwritable_metrics_file_is_reported_not_fatal(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIMON_METRICS_FILE", str(tmp_path / "no-such-folder" / "aimon.prom"))
    result = cli("run", "--log", str(incident_log(tmp_path / "app.log")))
    assert result.exit_code == 0
    assert "AIMON_METRICS_FILE=" in result.stderr and "cannot write it" in result.stderr


def test_no_metrics_file_without_the_setting_or_under_dry_run(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = incident_log(tmp_path / "app.log")
    assert cli("run", "--log", str(log)).exit_code == 0
    assert not list(tmp_path.glob("*.prom"))
    monkeypatch.setenv("AIMON_METRICS_FILE", str(tmp_path / "aimon.prom"))
    assert cli("run", "--dry-run", "--log", str(log)).exit_code == 0
    assert not (tmp_path / "aimon.prom").exists()
