"""A monitor that cannot see says so loudly: a missing log, a glob that matches nothing and a log gone silent fail the
scan (stderr, exit 1), show red in ``status`` with since-when and as ``aimon_source_up 0``; the other sources are still
read; ``run`` with nothing to watch is a configuration error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.stages.delivery_support import Clock

LINE = '{"timestamp":"2026-01-01T10:00:00Z","level":"ERROR","fields":{"message":"boom"},"target":"shop"}\n'


def test_a_glob_that_matches_nothing_fails_the_scan_and_the_rest_is_read(isolated: Path, cli: Any) -> None:
    good = isolated / "app.log"
    good.write_text(LINE)
    pattern = str(isolated / "worker-*.log")

    result = cli("scan", str(good), pattern, "--json")

    assert result.exit_code == 1
    assert result.envelope()["ok"] is False
    doc = result.json()
    assert doc["errors"] == [f"{pattern}: the pattern matches no file"]
    assert [(source["source"], source["up"]) for source in doc["sources"]] == [(pattern, False), (str(good), True)]
    assert doc["lines"] == 1 and len(doc["groups"]) == 1
    assert f"scan: {pattern}: the pattern matches no file\n" in result.stderr


def test_status_shows_a_failing_source_red_with_since_when_and_metrics_say_up_0(isolated: Path, cli: Any, clock: Clock,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    missing = isolated / "gone.log"
    good = isolated / "app.log"
    good.write_text(LINE)
    monkeypatch.setenv("AIMON_METRICS_FILE", str(isolated / "aimon.prom"))
    first_failure = clock.at
    assert cli("run", "--log", str(missing), "--log", str(good)).exit_code == 1
    clock.advance(minutes=3)
    assert cli("run", "--log", str(missing), "--log", str(good)).exit_code == 1

    sources = {source["source"]: source for source in cli("status", "--json").json()["sources"]}
    assert sources[str(missing)]["up"] is False and sources[str(missing)]["problem"] == "no such file"
    assert sources[str(missing)]["since"] == first_failure.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # since it began, not the last check
    assert sources[str(good)]["up"] is True
    text = cli("status", env={"COLUMNS": "300"}).stdout
    assert f"failing since {sources[str(missing)]['since']}: no such file" in text
    metrics = (isolated / "aimon.prom").read_text()
    assert f'aimon_source_up{{source="{missing}"}} 0.0' in metrics
    assert f'aimon_source_up{{source="{good}"}} 1.0' in metrics


def test_a_log_that_stops_growing_past_the_silence_window_is_failing(isolated: Path, cli: Any, clock: Clock,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    log = isolated / "app.log"
    log.write_text(LINE)
    monkeypatch.setenv("AIMON_SILENCE", "30m")
    assert cli("scan", str(log)).exit_code == 0
    clock.advance(minutes=20)
    assert cli("scan", str(log)).exit_code == 0  # quiet, but within the window
    clock.advance(minutes=15)

    silent = cli("scan", str(log), "--json")

    assert silent.exit_code == 1
    [source] = silent.json()["sources"]
    assert source["problem"] == "silent: no new line for 35 min (AIMON_SILENCE); is the service still running?"
    with log.open("a") as handle:
        handle.write(LINE)
    clock.advance(minutes=1)
    assert cli("scan", str(log), "--json").json()["sources"][0]["up"] is True  # it speaks again: fine again


def test_without_a_silence_window_a_quiet_log_is_fine(isolated: Path, cli: Any, clock: Clock) -> None:
    log = isolated / "app.log"
    log.write_text(LINE)
    assert cli("scan", str(log)).exit_code == 0
    clock.advance(days=3)
    assert cli("scan", str(log)).exit_code == 0


def test_run_with_nothing_to_watch_is_a_configuration_error(isolated: Path, cli: Any) -> None:
    result = cli("run")
    assert result.exit_code == 2
    assert "no log files to watch: set AIMON_LOG_PATHS" in result.stderr


def test_a_dry_run_records_no_health(isolated: Path, cli: Any) -> None:
    result = cli("scan", str(isolated / "nope.log"), "--dry-run", "--json")
    assert result.exit_code == 1 and result.json()["sources"][0]["up"] is False
    assert not (isolated / "state.db").exists()




def test_a_glob_that_matches_again_is_fine_again(isolated: Path, cli: Any) -> None:
    pattern = str(isolated / "logs" / "*.log")
    assert cli("scan", pattern).exit_code == 1
    (isolated / "logs").mkdir()
    (isolated / "logs" / "app.log").write_text(LINE)
    assert cli("scan", pattern).exit_code == 0
    sources = cli("status", "--json").json()["sources"]
    assert [(source["source"], source["up"]) for source in sources] == [(str(isolated / "logs" / "app.log"), True)]


def test_an_idle_scan_of_a_healthy_log_writes_no_health_row(isolated: Path, cli: Any, clock: Any) -> None:
    import sqlite3

    log = isolated / "app.log"
    log.write_text(LINE)
    assert cli("scan", str(log)).exit_code == 0

    def row() -> tuple[Any, ...]:
        conn = sqlite3.connect(isolated / "state.db")
        try:
            return tuple(conn.execute("SELECT * FROM source_health").fetchone())
        finally:
            conn.close()

    first = row()
    clock.advance(minutes=5)
    assert cli("scan", str(log)).exit_code == 0  # nothing new: nothing to record
    assert row() == first
    with log.open("a") as handle:
        handle.write(LINE)
    assert cli("scan", str(log)).exit_code == 0
    assert row() != first  # new bytes: its growth is recorded
