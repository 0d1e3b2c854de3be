"""A big read writes only the request roots that survive pruning, and the state file ends the same as when it wrote
them all."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimon.config import load_settings
from aimon.model import LogRecord
from aimon.runtime import Context
from aimon.stages.scan.aggregate import ROOT_HORIZON, Aggregator
from aimon.state.db import open_db

T0 = 1_780_000_000.0


def _error(rid: str, ts: float | None) -> LogRecord:
    return LogRecord(level="ERROR", message=f"payment failed for {rid}", ts=ts, target="shop::pay", request_id=rid)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.none(), st.floats(0, 3 * ROOT_HORIZON)), min_size=1, max_size=30),
       st.lists(st.floats(0, 3 * ROOT_HORIZON), max_size=5))
def test_the_roots_kept_are_those_pruning_keeps(tmp_path: Path, times: list[float | None], earlier: list[float]) -> None:
    db = tmp_path / f"state-{len(times)}-{len(earlier)}-{abs(hash((tuple(times), tuple(earlier))))}.db"
    conn = open_db(db)
    ctx = Context(settings=load_settings(environ={"AIMON_DB": str(db)}), db=conn)
    old = [(f"old{index}", T0 + ts) for index, ts in enumerate(earlier)]  # a tick before: already in the table
    conn.executemany("INSERT INTO request_roots (request_id, fingerprint, ts) VALUES (?, 'x', ?)", old)
    aggregator = Aggregator(ctx)
    for index, ts in enumerate(times):
        aggregator.add("app.log", index, _error(f"r{index}", None if ts is None else T0 + ts))
    aggregator.commit(None)
    kept = {row[0] for row in conn.execute("SELECT request_id FROM request_roots")}
    stamped = [*((f"r{index}", T0 + ts) for index, ts in enumerate(times) if ts is not None), *old]
    newest = max((ts for _rid, ts in stamped), default=None)
    expected = set() if newest is None else {rid for rid, ts in stamped if ts >= newest - ROOT_HORIZON}
    assert kept == expected
    conn.close()
