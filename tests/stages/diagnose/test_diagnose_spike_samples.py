"""A spike is diagnosed from occurrences sampled across its window, re-read from the log file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aimon.config import load_settings
from aimon.model import LogRecord
from aimon.redact import Redactor
from aimon.stages.diagnose.context import DiagnosisContext, build_context
from aimon.stages.diagnose.prompt import build_prompt
from aimon.stages.diagnose.window import spread
from aimon.state.db import open_db
from tests.stages.diagnose.diagnose_support import seed_conn, write_log

SPIKE = {"kind": "spike", "window_start": "2026-03-02T10:10:00.000000Z", "window_end": "2026-03-02T10:15:00.000000Z",
         "count": 9, "baseline": 0.5}


def line(minute: int, second: int, level: str, message: str, target: str = "shop::payments", **fields: Any) -> str:
    """One tracing JSON line logged at 10:MM:SS on 2026-03-02."""
    return json.dumps({"timestamp": f"2026-03-02T10:{minute:02d}:{second:02d}.000000Z", "level": level,
                       "fields": {"message": message, **fields}, "target": target})


def declined(minute: int, second: int, order: int, cents: int) -> str:
    return line(minute, second, "ERROR", f"payment declined for order {order}: amount {cents} cents")


def spike_log(path: Path) -> Path:
    """Three declines long before the window, nine across it (one every 30 s from 10:10:05), three after it; INFO
    lines and another group's errors in between."""
    lines = [declined(0, 1, 101, 500), declined(0, 2, 102, 510), declined(0, 3, 103, 520)]
    for step in range(9):
        minute, second = 10 + (5 + 30 * step) // 60, (5 + 30 * step) % 60
        lines.append(line(minute, second, "INFO", "checkout started", target="shop::api"))
        lines.append(declined(minute, second, 9000 + step, 1000 + 111 * step))
        lines.append(line(minute, second, "ERROR", "inventory sync failed", target="shop::inventory"))
    lines += [declined(16, 1, 201, 700), declined(16, 2, 202, 710), declined(16, 3, 203, 720)]
    return write_log(path, lines)


def context_for(tmp_path: Path, log: Path, detection: dict[str, Any], after_seed: Any = None) -> DiagnosisContext:
    settings = load_settings(environ={"AIMON_DB": str(tmp_path / "state.db")})
    conn = open_db(settings.db_path)
    seed_conn(conn, log, settings)
    row = conn.execute("SELECT * FROM fingerprints WHERE template LIKE 'payment declined%'").fetchone()
    if after_seed is not None:
        after_seed()
    return build_context(conn, settings, row, {**detection, "fingerprint": row["fingerprint"]}).redacted(Redactor())


def said(ctx: DiagnosisContext) -> list[str]:
    return [sample.split(" ERROR shop::payments: ")[0] + " " + sample.split(" ERROR shop::payments: ")[1] for sample in ctx.samples]


def test_a_spike_is_sampled_across_its_window_first_last_and_evenly_between(tmp_path: Path) -> None:
    ctx = context_for(tmp_path, spike_log(tmp_path / "app.log"), SPIKE)
    assert said(ctx) == [
        "[E1] 2026-03-02T10:10:05.000Z payment declined for order 9000: amount 1000 cents",
        "[E2] 2026-03-02T10:11:05.000Z payment declined for order 9002: amount 1222 cents",
        "[E3] 2026-03-02T10:12:05.000Z payment declined for order 9004: amount 1444 cents",
        "[E4] 2026-03-02T10:13:05.000Z payment declined for order 9006: amount 1666 cents",
        "[E5] 2026-03-02T10:14:05.000Z payment declined for order 9008: amount 1888 cents",
    ]
    assert ctx.samples_across and not [note for note in ctx.missing if note.startswith("spike samples")]
    prompt = build_prompt(ctx, 6000).user
    assert "## Sample occurrences across the spike window (oldest first)" in prompt
    assert "[E3] 2026-03-02T10:12:05.000Z ERROR shop::payments: payment declined for order 9004" in prompt


def test_a_group_whose_file_has_rotated_away_falls_back_to_the_stored_occurrences(tmp_path: Path) -> None:
    log = spike_log(tmp_path / "app.log")
    stored = said(context_for(tmp_path / "a", log, {"kind": "new", "count": 15}))

    def rotate() -> None:  # the file now holds only what was logged after the rotation
        write_log(log, [line(30, 0, "INFO", "service started", target="shop::api")])

    ctx = context_for(tmp_path / "b", log, SPIKE, after_seed=rotate)
    assert said(ctx) == stored
    assert not ctx.samples_across
    note = "spike samples: app.log no longer holds the spike window (rotated or rewritten); the stored occurrences are shown"
    assert note in ctx.missing
    assert note in build_prompt(ctx, 6000).user


def test_a_deleted_file_falls_back_to_the_stored_occurrences(tmp_path: Path) -> None:
    log = spike_log(tmp_path / "app.log")
    ctx = context_for(tmp_path, log, SPIKE, after_seed=log.unlink)
    assert [sample.split(" ")[1] for sample in ctx.samples] == ["2026-03-02T10:00:01.000Z", "2026-03-02T10:16:02.000Z",
                                                                "2026-03-02T10:16:03.000Z"]
    assert not ctx.samples_across
    assert "spike samples: app.log no longer holds the spike window (rotated or rewritten); the stored occurrences are shown" in ctx.missing


def test_a_detection_that_is_not_a_spike_keeps_the_stored_first_and_latest(tmp_path: Path) -> None:
    ctx = context_for(tmp_path, spike_log(tmp_path / "app.log"), {"kind": "new", "count": 15})
    assert said(ctx) == [
        "[E1] 2026-03-02T10:00:01.000Z payment declined for order 101: amount 500 cents",
        "[E2] 2026-03-02T10:16:02.000Z payment declined for order 202: amount 710 cents",
        "[E3] 2026-03-02T10:16:03.000Z payment declined for order 203: amount 720 cents",
    ]
    assert not ctx.samples_across
    assert "## Sample occurrences (oldest first)" in build_prompt(ctx, 6000).user


def test_records_of_a_learned_alias_count_for_their_canonical_group(tmp_path: Path) -> None:
    # No digit tells these apart: masking gives each user its own template, and grouping learns they are one.
    users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
    lines = [line(10, 5 + 5 * index, "ERROR", f"session closed for user {name}", target="shop::auth") for index, name in enumerate(users)]
    settings = load_settings(environ={"AIMON_DB": str(tmp_path / "state.db")})
    conn = open_db(settings.db_path)
    seed_conn(conn, write_log(tmp_path / "app.log", lines), settings)
    row = conn.execute("SELECT * FROM fingerprints WHERE template LIKE 'session closed%' ORDER BY count DESC").fetchone()
    assert row["count"] == len(users), "grouping merged the users into one group"
    ctx = build_context(conn, settings, row, {**SPIKE, "fingerprint": row["fingerprint"]})
    assert [sample.rsplit(" ", 1)[1] for sample in ctx.samples] == ["alice", "carol", "erin", "heidi", "judy"]


def test_a_file_out_of_time_order_is_read_from_its_start(tmp_path: Path) -> None:
    # An out-of-order line before the window: the binary search cannot be trusted, the file is read from its start.
    log = spike_log(tmp_path / "app.log")
    text = log.read_text()
    write_log(log, [line(59, 0, "INFO", "clock jumped", target="shop::api"), *text.splitlines()])
    assert said(context_for(tmp_path, log, SPIKE))[0] == "[E1] 2026-03-02T10:10:05.000Z payment declined for order 9000: amount 1000 cents"


def _record(ts: float, text: str) -> tuple[float, LogRecord]:
    return ts, LogRecord(level="ERROR", message=text, ts=ts)


@given(st.lists(st.floats(min_value=0, max_value=3600, allow_nan=False), min_size=1, max_size=60), st.integers(min_value=2, max_value=7))
def test_spread_keeps_the_first_and_the_last_and_never_repeats_one(times: list[float], count: int) -> None:
    items = [_record(ts, f"event {index}") for index, ts in enumerate(sorted(times))]
    picked = spread(items, count)
    assert len(picked) == min(count, len(items))  # every message differs: none is left out
    assert picked[0] is items[0][1] and picked[-1] is items[-1][1]
    assert len({id(record) for record in picked}) == len(picked)
    assert [record.ts for record in picked] == sorted(record.ts for record in picked if record.ts is not None)


def test_spread_leaves_out_a_pick_that_says_what_an_earlier_one_said() -> None:
    items = [_record(0, "same"), _record(10, "other"), _record(20, "third"), _record(30, "same")]
    assert [record.message for record in spread(items, 3)] == ["same", "other"]
