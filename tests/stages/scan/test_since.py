"""``--since``: a duration before now, a date (its start in UTC) or an ISO time with or without seconds and offset."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aimon.errors import UsageError
from aimon.stages.scan.stage import parse_since


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-24", datetime(2026, 11, 24, tzinfo=UTC)),
        ("2026-11-24T10:00:00Z", datetime(2026, 11, 24, 10, tzinfo=UTC)),
        ("2026-11-24T10:00:00+02:00", datetime(2026, 11, 24, 8, tzinfo=UTC)),
        ("2026-11-24T10:00+02:00", datetime(2026, 11, 24, 8, tzinfo=UTC)),
        ("2026-11-24 10:30", datetime(2026, 11, 24, 10, 30, tzinfo=UTC)),
        ("2026-11-24T10:00:00.250-0130", datetime(2026, 11, 24, 11, 30, 0, 250000, tzinfo=UTC)),
    ],
)
def test_dates_and_iso_times(text: str, moment: datetime) -> None:
    assert parse_since(text) == pytest.approx(moment.timestamp())


@pytest.mark.parametrize("text", ["2026-02-30", "yesterday", "2026-11", "10:00"])
def test_anything_else_is_a_usage_error_that_shows_the_forms(text: str) -> None:
    with pytest.raises(UsageError, match="a date like 2026-11-24, or an ISO time like 2026-11-24T10:00:00\\+02:00"):
        parse_since(text)


def test_the_command_line_takes_a_date(isolated, cli) -> None:  # type: ignore[no-untyped-def]
    log = isolated / "app.log"
    log.write_text('{"timestamp":"2026-11-24T10:00:00Z","level":"ERROR","fields":{"message":"boom"},"target":"shop"}\n')
    result = cli("scan", str(log), "--since", "2026-11-24", "--json")
    assert result.exit_code == 0 and result.json()["lines"] == 1
    assert cli("scan", str(log), "--since", "2026-11-25", "--json").json()["groups"] == []
