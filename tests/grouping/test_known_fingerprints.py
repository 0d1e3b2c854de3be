"""Fingerprints already reported keep their ids: the demo's and those of the three Rust shapes (tracing JSON, text,
panics), pinned in ``data/known-fingerprints.json``; and INFO traffic never moves an error into another group."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from aimon.config import load_settings
from aimon.grouping.fingerprint import Fingerprinter
from aimon.tools.fingerprint import _records, fingerprint_stream

ROOT = Path(__file__).resolve().parents[2]
KNOWN = json.loads((Path(__file__).parent / "data" / "known-fingerprints.json").read_text(encoding="utf-8"))


def error_fingerprints(path: Path) -> list[list[str]]:
    """``[id, template]`` of every distinct error, warning and panic of a log, as a scan fingerprints them."""
    settings = load_settings(environ={"AIMON_CONFIG": str(ROOT / "scripts" / "sample" / "aimon.toml")})
    fingerprinter = Fingerprinter(settings.fingerprint_rules)
    seen: dict[str, str] = {}
    for _number, record, extra in _records(io.BytesIO(path.read_bytes()), "auto", settings):
        if "malformed" not in extra and (record.is_panic or record.level in ("ERROR", "WARN")):
            found = fingerprinter.of(record)
            seen.setdefault(found.id, found.template)
    return sorted([fingerprint, template] for fingerprint, template in seen.items())


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_fingerprints_are_unchanged(name: str) -> None:
    assert error_fingerprints(ROOT / name) == KNOWN[name]


def test_the_pinned_logs_cover_the_three_rust_shapes_and_the_demo() -> None:
    names = " ".join(KNOWN)
    assert ".json.log" in names and ".text.log" in names and "scripts/sample/app.log" in names
    assert any("unwrap()" in template for rows in KNOWN.values() for _id, template in rows)  # panics


def _event(level: str, message: str) -> str:
    fields = json.dumps({"message": message})
    return f'{{"timestamp":"2026-11-24T09:00:00.000000Z","level":"{level}","fields":{fields},"target":"shop::pay"}}\n'


def test_info_traffic_never_moves_an_error() -> None:
    errors = [_event("ERROR", "charge declined for customer alice")]
    info = [_event("INFO", f"charge declined for customer {name}") for name in ["bob", "carol", "dave", "erin"]]

    def error_rows(lines: list[str]) -> list[tuple[str, str]]:
        rows = fingerprint_stream(io.BytesIO("".join(lines).encode()), "auto", load_settings())
        return [(row["fingerprint"], row["template"]) for row in rows if row.get("level") == "ERROR"]

    alone = error_rows(errors)
    assert alone == [(alone[0][0], "charge declined for customer alice")]
    assert error_rows(errors + info) == alone == error_rows(info + errors)
    # The same lines at ERROR level are one group: the test above can fail.
    loud = [line.replace('"INFO"', '"ERROR"') for line in info]
    assert {template for _id, template in error_rows(errors + loud)} == {"charge declined for customer <*>"}
