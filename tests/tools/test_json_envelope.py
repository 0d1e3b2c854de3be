"""``--json``: every command prints exactly one envelope; ``fingerprint --jsonl`` streams; exit codes are named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aimon.cli.output import ExitCode, envelope
from aimon.errors import ConfigError, StateError, UsageError


def test_the_exit_codes_have_names_and_the_errors_carry_them() -> None:
    assert (ExitCode.OK, ExitCode.STAGE_FAILED, ExitCode.USAGE) == (0, 1, 2)
    assert ExitCode.FAIL_ON == 3  # the --fail-on gate's own verdict, told apart from a failed stage
    assert UsageError.exit_code is ConfigError.exit_code is ExitCode.USAGE
    assert StateError.exit_code is ExitCode.STAGE_FAILED


def test_the_envelope_says_the_command_and_whether_it_went_well() -> None:
    assert envelope("scan", 0, {"lines": 3}) == {"aimon": 1, "command": "scan", "ok": True, "result": {"lines": 3}}
    assert envelope("run", 1, None, error="boom") == {"aimon": 1, "command": "run", "ok": False, "result": None, "error": "boom"}


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (("status",), "status"),
        (("notify", "--dry-run"), "notify"),
        (("open-issue", "--dry-run"), "open-issue"),
        (("autofix",), "autofix"),
        (("diagnose", "--dry-run"), "diagnose"),
    ],
)
def test_every_command_prints_one_envelope_named_after_it(cli: Any, args: tuple[str, ...], command: str) -> None:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert list(doc) == ["aimon", "command", "ok", "result"]
    assert (doc["aimon"], doc["command"], doc["ok"]) == (1, command, True)
    assert isinstance(doc["result"], dict)


def test_check_logs_and_scan_wrap_their_own_document(cli: Any, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text('{"timestamp": "2026-03-01T10:00:00Z", "level": "INFO", "fields": {"message": "ok"}, "target": "t"}\n')
    checked = cli("check-logs", str(log), "--json")
    assert checked.envelope()["command"] == "check-logs" and checked.json()["lines"] == 1
    scanned = cli("scan", str(log), "--json")
    assert scanned.envelope()["command"] == "scan" and scanned.json()["lines"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("check-logs", "missing.log"), "missing.log: no such file."),
        (("run", "--fail-on", "everything"), "--fail-on 'everything': use new, spike or any"),
        (("resolve", "ffff"), "no fingerprint starts with 'ffff'"),
        (("fingerprint", "--format", "xml"), "--format 'xml': use auto, json or text"),
        (("fingerprint", "missing.log"), "missing.log: No such file or directory"),
    ],
)
def test_a_usage_error_is_an_envelope_with_ok_false_and_the_message(cli: Any, args: tuple[str, ...], message: str) -> None:
    result = cli(*args, "--json")
    assert result.exit_code == ExitCode.USAGE
    doc = result.envelope()
    assert doc["ok"] is False and doc["result"] is None
    assert message in doc["error"]
    assert f"aimon: {doc['error']}" in result.stderr  # said on stderr as well, as without --json


def test_a_usage_error_without_json_prints_nothing_on_stdout(cli: Any) -> None:
    result = cli("run", "--fail-on", "everything")
    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""
    assert "--fail-on 'everything'" in result.stderr


def test_a_failed_run_is_ok_false_with_its_result(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.run.test_run import incident_log

    monkeypatch.setenv("AIMON_AUTOFIX", "pr")  # without a token or a repository: autofix fails, the rest runs
    result = cli("run", "--log", str(incident_log(tmp_path / "app.log")), "--json")
    assert result.exit_code == ExitCode.STAGE_FAILED
    doc = result.envelope()
    assert doc["ok"] is False and "error" not in doc
    assert doc["result"]["exit_code"] == 1 and doc["result"]["stages"]["autofix"]["status"] == "failed"


def test_fingerprint_json_is_one_envelope_and_jsonl_a_stream(cli: Any) -> None:
    lines = "user 42 not found\ndisk full\nuser 7 not found\n"
    streamed = cli("fingerprint", "-", "--format", "text", "--jsonl", input=lines)
    assert streamed.exit_code == 0, streamed.stderr
    rows = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert [row["line"] for row in rows] == [1, 2, 3]
    whole = cli("fingerprint", "-", "--format", "text", "--json", input=lines)
    assert whole.json() == rows
    both = cli("fingerprint", "-", "--json", "--jsonl", input=lines)
    assert both.exit_code == ExitCode.USAGE and "--jsonl" in both.envelope()["error"]
