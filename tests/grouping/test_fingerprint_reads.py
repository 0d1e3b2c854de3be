"""`aimon fingerprint` reads what `aimon scan` reads: the same records and fingerprints on every sample, a panic with
its message as one row, a text event with its continuation lines as one row at its first line."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from aimon.grouping.fingerprint import Fingerprinter
from aimon.model import LogRecord
from tests.grouping.test_fingerprint import rows

DATA = Path(__file__).resolve().parent.parent / "data"
# Real output of a small service (see its README), beside the repository where the workspace has it; the shapes
# under tests/data/shapes stand for it in every clone.
TRACING_REAL = Path(__file__).resolve().parent.parent.parent.parent / "shared" / "reference" / "tracing-real"


def reference_blocks() -> list[tuple[str, str]]:
    """Every fenced log block of the verbatim reference samples (not the Rust code), named by file and position."""
    blocks = []
    for path in sorted((DATA / "reference").glob("*.md")):
        found = re.findall(r"```([a-z]*)\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL)
        blocks += [(f"{path.stem}#{index}", text) for index, (lang, text) in enumerate(found, 1) if lang != "rust"]
    return blocks


SAMPLES: list[tuple[str, str | Path]] = [
    *((path.name, path) for path in sorted((DATA / "shapes").glob("*.log"))),
    *reference_blocks(),
    *((f"tracing-real/{path.name}", path) for path in sorted(TRACING_REAL.glob("*.log"))),
]


def scan_groups(cli: Any, log: Path, db: Path) -> dict[str, tuple[Any, ...]]:
    os.utime(log, (1e9, 1e9))  # a file written long ago: scan does not wait for more lines of a panic at its end
    result = cli("scan", str(log), "--db", str(db), "--json")
    assert result.exit_code == 0, result.stderr
    return {group["fingerprint"]: (group["level"], group["error_code"], group["template"], group["count"])
            for group in result.json()["groups"]}


def fingerprint_groups(found: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    groups: dict[str, tuple[Any, ...]] = {}
    for found_row in found:
        if found_row.get("level") in ("ERROR", "FATAL", "PANIC"):  # what scan groups at AIMON_MIN_LEVEL=ERROR
            level, code, template, count = groups.get(found_row["fingerprint"], (
                found_row["level"], found_row.get("error_code"), found_row["template"], 0))
            groups[found_row["fingerprint"]] = (level, code, template, count + 1)
    return groups


@pytest.mark.parametrize(("name", "sample"), SAMPLES, ids=[name for name, _sample in SAMPLES])
def test_fingerprint_reads_every_sample_as_scan_does(cli: Any, tmp_path: Path, name: str, sample: str | Path) -> None:
    log = tmp_path / "sample.log"
    log.write_bytes(sample.read_bytes() if isinstance(sample, Path) else sample.encode())
    expected = scan_groups(cli, log, tmp_path / "scan.db")
    assert fingerprint_groups(rows(cli("fingerprint", str(log), "--jsonl"))) == expected


def test_the_rustc_189_panic_header_and_its_message_are_one_record(cli: Any, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(
        "2026-05-04T08:12:05.340001Z  INFO main ThreadId(01) shop: src/main.rs:40: before\n"
        "thread 'main' (12490) panicked at src/main.rs:171:13:\n"
        "called `Option::unwrap()` on a `None` value\n"
        "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
        "2026-05-04T08:12:05.440001Z  INFO main ThreadId(01) shop: src/main.rs:41: after\n"
    )
    out = rows(cli("fingerprint", str(log), "--jsonl"))
    panic = Fingerprinter().of(
        LogRecord("PANIC", "called `Option::unwrap()` on a `None` value", file="src/main.rs", line=171)
    )
    assert [(row["line"], row["level"], row["template"]) for row in out] == [
        (1, "INFO", "before"),
        (2, "PANIC", "called `Option::unwrap()` on a `None` value"),
        (5, "INFO", "after"),
    ]
    assert out[1]["fingerprint"] == panic.id
    assert scan_groups(cli, log, tmp_path / "scan.db") == {
        panic.id: ("PANIC", None, "called `Option::unwrap()` on a `None` value", 1)
    }


def test_a_text_event_spanning_lines_is_one_row_at_its_first_line(cli: Any) -> None:
    text = (
        "2026-05-04T08:12:05.019872Z ERROR shop::payments: payment provider request failed for order 1183\n"
        "retry scheduled status=502\n"
        "\n"
        "2026-05-04T08:12:06.019872Z ERROR shop::db: insert failed\n"
        'HINT: retry the insert error_code="DB_UNIQUE"\n'
    )
    out = rows(cli("fingerprint", "-", "--jsonl", input=text))
    assert out == [
        {"line": 1, "fingerprint": Fingerprinter().of(LogRecord(
            "ERROR", "payment provider request failed for order 1\nretry scheduled", target="shop::payments")).id,
         "template": "payment provider request failed for order <*> retry scheduled", "level": "ERROR",
         "target": "shop::payments"},
        {"line": 4, "fingerprint": Fingerprinter().of(LogRecord(
            "ERROR", "insert failed\nHINT: retry the insert", target="shop::db", error_code="DB_UNIQUE")).id,
         "template": "insert failed HINT: retry the insert", "level": "ERROR", "error_code": "DB_UNIQUE",
         "target": "shop::db"},
    ]
    # --format text still takes every line as a plain message
    assert [row["line"] for row in rows(cli("fingerprint", "-", "--format", "text", "--jsonl", input=text))] == [1, 2, 3, 4, 5]
