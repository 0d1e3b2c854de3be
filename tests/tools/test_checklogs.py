from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from aimon.tools.checklogs import log_spec_schema
from tests.conftest import REFERENCE

CONFORMING = [
    # nested fields, request id in the event
    '{"timestamp":"2026-03-01T10:00:01.000001Z","level":"ERROR","fields":{"message":"db timeout","error_code":"DB_TIMEOUT","request_id":"r-1"},"target":"app::db","filename":"src/db.rs","line_number":42}',
    # flattened event, request id in a span of the span list
    '{"timestamp":"2026-03-01T10:00:02+02:00","level":"ERROR","message":"upstream refused","error_code":"UPSTREAM_REFUSED","target":"app","spans":[{"name":"request","request_id":"r-2"}]}',
    # request id in the current span
    '{"timestamp":"2026-03-01T10:00:03.5Z","level":"ERROR","fields":{"message":"bad input","error_code":"BAD_INPUT"},"target":"app","span":{"name":"request","request_id":"r-3"}}',
    '{"timestamp":"2026-03-01T10:00:00.000001Z","level":"INFO","fields":{"message":"server started","port":8080},"target":"app"}',
]
MIXED = [
    *CONFORMING,
    # ERROR without error_code (request id present in a span), with a secret in the message
    '{"timestamp":"2026-03-01T10:00:04.000001Z","level":"ERROR","fields":{"message":"payment failed token=sk-abcdefghijklmnopqrstuvwxyz123456"},"target":"app::pay","spans":[{"name":"request","request_id":"r-4"}]}',
    # ERROR with a malformed code and no request id
    '{"timestamp":"2026-03-01T10:00:05.000001Z","level":"ERROR","message":"flattened failure","error_code":"bad-code","target":"app"}',
    # bad timestamp and level
    '{"timestamp":"fake time","level":"info","fields":{"message":"x"}}',
    # plain text ERROR and a panic header: not JSON
    "2026-03-01T10:00:06.000001Z ERROR app: plain text failure",
    "thread 'main' panicked at src/main.rs:10:5:",
    "[1,2]",
    "",
    '{"timestamp":"2026-03-01T10:00:07.000001Z","level":"WARN","fields":{"retries":3}}',
]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def violations(doc: dict[str, Any]) -> dict[str, int]:
    return {entry["violation"]: entry["count"] for entry in doc["violations"]}


def test_shipped_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(log_spec_schema())
    validator = jsonschema.Draft202012Validator(log_spec_schema())
    for line in CONFORMING:
        assert list(validator.iter_errors(json.loads(line))) == [], line


def test_figures_on_a_small_mixed_file(cli: Any, tmp_path: Path) -> None:
    log = write(tmp_path / "app.log", MIXED)
    result = cli("check-logs", str(log), "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["files"] == [str(log)]
    assert doc["lines"] == 11  # the blank line is not counted
    assert doc["conforming"] == 4
    assert doc["conforming_share"] == round(4 / 11, 4)
    assert violations(doc) == {
        "not JSON (one JSON object per line expected)": 2,
        "ERROR without an error_code (in fields, or flattened)": 1,
        "error_code: not an UPPER_SNAKE_CASE code of 3 to 64 characters (e.g. DB_TIMEOUT)": 1,
        "ERROR without a request_id (in fields, flattened, or in a span)": 1,
        "timestamp: not an RFC 3339 time with a UTC offset (e.g. 2026-01-02T03:04:05.123456Z)": 1,
        "level: not one of ERROR, WARN, INFO, DEBUG, TRACE": 1,
        "not a JSON object": 1,
        "no message (fields.message, or message when the event is flattened)": 1,
    }
    # most common first, each with the first line that shows it
    assert doc["violations"][0]["example"] == {"file": str(log), "line_number": 8, "text": MIXED[7]}
    # ERROR lines: 3 conforming + 2 JSON + the text ERROR line + the panic
    assert doc["error_lines"] == 7
    assert doc["errors_without_error_code"] == 3
    assert doc["errors_without_request_id"] == 3
    assert [(e["line_number"], e["missing"]) for e in doc["error_examples"]] == [
        (5, ["error_code"]),
        (6, ["request_id"]),
        (8, ["error_code", "request_id"]),
        (9, ["error_code", "request_id"]),
    ]


def test_examples_are_redacted_and_shortened(cli: Any, tmp_path: Path) -> None:
    long_line = '{"timestamp":"bad","level":"INFO","fields":{"message":"' + "x" * 500 + ' password=hunter2hunter2"}}'
    log = write(tmp_path / "app.log", [MIXED[4], long_line])
    result = cli("check-logs", str(log), "--json")
    assert "sk-abcdefghijklmnopqrstuvwxyz123456" not in result.stdout
    doc = result.json()
    texts = [entry["example"]["text"] for entry in doc["violations"]]
    assert any("<secret:" in text for text in texts)
    assert all(len(text) <= 240 for text in texts)
    assert "hunter2" not in result.stdout


def test_text_report(cli: Any, tmp_path: Path) -> None:
    log = write(tmp_path / "app.log", MIXED)
    result = cli("check-logs", str(log))
    assert result.exit_code == 0
    assert "4 of 11 lines conform to the log specification (36.4%)" in result.stdout
    assert "7 ERROR lines: 3 without an error_code, 3 without a request_id." in result.stdout
    assert "sk-abcdefghijklmnopqrstuvwxyz123456" not in result.stdout


def test_default_files_from_settings_globs_and_gzip(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "a.log", CONFORMING)
    with gzip.open(tmp_path / "b.log.gz", "wt", encoding="utf-8") as handle:
        handle.write(MIXED[4] + "\n")
    monkeypatch.setenv("AIMON_LOG_PATHS", f"{tmp_path}/*.log,{tmp_path}/b.log.gz")
    doc = cli("check-logs", "--json").json()
    assert doc["files"] == [str(tmp_path / "a.log"), str(tmp_path / "b.log.gz")]
    assert (doc["lines"], doc["conforming"], doc["errors_without_error_code"]) == (5, 4, 1)


def test_usage_errors_exit_2(cli: Any, tmp_path: Path) -> None:
    result = cli("check-logs")
    assert result.exit_code == 2
    assert "AIMON_LOG_PATHS" in result.stderr
    result = cli("check-logs", str(tmp_path / "missing.log"))
    assert result.exit_code == 2
    assert "no such file" in result.stderr
    assert cli("check-logs", str(tmp_path / "*.nothing")).exit_code == 2


def test_empty_file_is_fine(cli: Any, tmp_path: Path) -> None:
    log = write(tmp_path / "empty.log", [])
    doc = cli("check-logs", str(log), "--json").json()
    assert (doc["lines"], doc["conforming_share"], doc["violations"]) == (0, 1.0, [])
    assert "no log lines to check" in cli("check-logs", str(log)).stdout


def test_real_tracing_output_only_fails_on_missing_codes_and_request_ids(cli: Any, tmp_path: Path) -> None:
    text = (REFERENCE / "tracing-json-samples.md").read_text(encoding="utf-8")
    section = text.split("## 1.", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    lines = [line for line in section.splitlines() if line.strip()]
    log = write(tmp_path / "yak.log", lines)
    doc = cli("check-logs", str(log), "--json").json()
    assert doc["lines"] == 16
    # the DEBUG/TRACE events without a message, and the one ERROR without code or request id
    assert violations(doc) == {
        "no message (fields.message, or message when the event is flattened)": 6,
        "ERROR without an error_code (in fields, or flattened)": 1,
        "ERROR without a request_id (in fields, flattened, or in a span)": 1,
    }
    assert (doc["error_lines"], doc["errors_without_error_code"], doc["errors_without_request_id"]) == (1, 1, 1)
