"""Prometheus metrics for node_exporter's textfile collector (``AIMON_METRICS_FILE``), written after each run.

Counters are totals over the life of the state file, so ``rate()`` works across ticks: detections, deliveries and LLM
usage are counted from their tables; lines, bytes and malformed lines read have no table, so each run adds its scan
figures to running totals in ``meta`` (:func:`accumulate`, in the transaction that closes the run). Gauges describe the
last run. The file is written with a fresh registry and ``write_to_textfile`` (a temporary file renamed over the old
one), so the collector never reads half a file. ``prometheus_client`` is imported only when the file is configured.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from aimon.errors import ConfigError
from aimon.runtime import Context
from aimon.state.db import get_meta, iso, parse_iso, set_meta, utcnow

if TYPE_CHECKING:
    from aimon.run import RunResult

SCAN_TOTALS = ("lines_read", "bytes_read", "malformed_lines")  # running totals kept in `meta`
_META_PREFIX = "metrics."


def scan_figures(result: RunResult) -> dict[str, float]:
    """Lines, bytes and malformed lines this run's scan read (0 when it did not run, or was a ``--since`` triage)."""
    figures = dict.fromkeys(SCAN_TOTALS, 0.0)
    scan = result.stage("scan")
    data = scan.result.to_json() if scan is not None and hasattr(scan.result, "to_json") else None
    if not isinstance(data, dict) or data.get("since"):
        return figures  # a triage re-reads old lines: counting them would inflate the totals
    sources = [source for source in data.get("sources") or [] if isinstance(source, dict)]
    figures["lines_read"] = float(data.get("lines") or 0)
    figures["bytes_read"] = float(sum(int(source.get("bytes") or 0) for source in sources))
    figures["malformed_lines"] = float(data.get("malformed") or 0)
    return figures


def accumulate(conn: sqlite3.Connection, result: RunResult) -> None:
    """Add this run's scan figures to the running totals (inside the caller's transaction)."""
    for name, value in scan_figures(result).items():
        if value:
            total = float(get_meta(conn, _META_PREFIX + name) or 0) + value
            set_meta(conn, _META_PREFIX + name, repr(total))


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def collect(ctx: Context, result: RunResult) -> list[Any]:
    """The metric families of this run and the state file (``prometheus_client`` metric family objects)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    conn = ctx.db
    tables = _tables(conn)
    families: list[Any] = []

    def counter(name: str, help_text: str, value: float) -> None:
        families.append(CounterMetricFamily(f"aimon_{name}", help_text, value=value))

    for name, help_text in (
        ("lines_read", "Log lines read by scans."),
        ("bytes_read", "Log bytes read by scans."),
        ("malformed_lines", "Log lines that could not be parsed."),
    ):
        counter(name, help_text, float(get_meta(conn, _META_PREFIX + name) or 0))

    detections = CounterMetricFamily("aimon_detections", "Detections recorded, by kind.", labels=["kind"])
    found = dict(conn.execute("SELECT kind, count(*) FROM detections GROUP BY kind").fetchall())
    for kind in ("new", "spike", "regression"):
        detections.add_metric([kind], float(found.get(kind, 0)))
    families.append(detections)

    families.extend(_deliveries(conn, tables, CounterMetricFamily, GaugeMetricFamily))
    families.extend(_llm(conn, tables, ctx, CounterMetricFamily, GaugeMetricFamily))
    families.extend(_run(conn, result, GaugeMetricFamily))
    return families


def _deliveries(conn: sqlite3.Connection, tables: set[str], counter_cls: Any, gauge_cls: Any) -> Iterator[Any]:
    done = counter_cls(
        "aimon_deliveries",
        "Deliveries that reached a final state, by channel and status.",
        labels=["channel", "status"],
    )
    pending = gauge_cls("aimon_deliveries_pending", "Deliveries waiting to be sent, by channel.", labels=["channel"])
    rows = (
        conn.execute("SELECT channel, status, count(*) FROM deliveries GROUP BY channel, status").fetchall()
        if "deliveries" in tables
        else []
    )
    for channel, status, count in rows:
        if status in ("sent", "failed"):
            done.add_metric([channel, status], float(count))
        elif status == "pending":
            pending.add_metric([channel], float(count))
    yield done
    yield pending


def _llm(conn: sqlite3.Connection, tables: set[str], ctx: Context, counter_cls: Any, gauge_cls: Any) -> Iterator[Any]:
    tokens = counter_cls("aimon_llm_tokens", "LLM tokens used, by direction.", labels=["direction"])
    cost = counter_cls("aimon_llm_cost_usd", "LLM cost in US dollars.")
    month = gauge_cls("aimon_llm_spend_month_usd", "LLM spend this calendar month (UTC), in US dollars.")
    budget = gauge_cls("aimon_llm_budget_month_usd", "Monthly LLM budget (AIMON_LLM_MONTHLY_BUDGET_USD).")
    totals = (0, 0, 0.0)
    month_cost = 0.0
    if "llm_calls" in tables:
        totals = conn.execute(
            "SELECT coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0), coalesce(sum(cost_usd), 0) FROM llm_calls"
        ).fetchone()
        start = utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        month_cost = conn.execute(
            "SELECT coalesce(sum(cost_usd), 0) FROM llm_calls WHERE created_at >= ?", (iso(start),)
        ).fetchone()[0]
    tokens.add_metric(["in"], float(totals[0]))
    tokens.add_metric(["out"], float(totals[1]))
    cost.add_metric([], float(totals[2]))
    month.add_metric([], float(month_cost))
    budget.add_metric([], float(ctx.settings.llm_monthly_budget_usd))
    yield from (tokens, cost, month, budget)


def _run(conn: sqlite3.Connection, result: RunResult, gauge_cls: Any) -> Iterable[Any]:
    durations = gauge_cls("aimon_stage_duration_seconds", "Duration of each stage in the last run.", labels=["stage"])
    failed = gauge_cls("aimon_stage_failed", "1 when the stage failed in the last run.", labels=["stage"])
    for stage in result.stages:
        durations.add_metric([stage.name], stage.duration_s)
        failed.add_metric([stage.name], 1.0 if stage.status == "failed" else 0.0)
    started, finished = parse_iso(result.started_at), parse_iso(result.finished_at)
    last = gauge_cls("aimon_last_run_timestamp_seconds", "When the last run finished (Unix time).")
    last.add_metric([], (finished or utcnow()).timestamp())
    code = gauge_cls("aimon_last_run_exit_code", "Exit code of the last run (0 ok, 1 a stage failed).")
    code.add_metric([], float(result.exit_code))
    duration = gauge_cls("aimon_run_duration_seconds", "Duration of the last run.")
    duration.add_metric([], (finished - started).total_seconds() if started and finished else 0.0)
    success = gauge_cls("aimon_last_success_timestamp_seconds", "When the last successful run finished (Unix time).")
    row = conn.execute("SELECT max(finished_at) FROM runs WHERE command = 'run' AND exit_code = 0").fetchone()
    success_at = parse_iso(row[0]) if row and row[0] else None
    success.add_metric([], success_at.timestamp() if success_at else 0.0)
    return (durations, failed, last, code, duration, success)


class _Snapshot:
    """A collector that yields metric families computed once (the registry is thrown away after one write)."""

    def __init__(self, families: list[Any]) -> None:
        self._families = families

    def collect(self) -> Iterable[Any]:
        return self._families


def write_metrics(ctx: Context, result: RunResult) -> None:
    """Write the metrics file atomically; a path that cannot be written is a :class:`ConfigError` naming it."""
    from prometheus_client import CollectorRegistry, write_to_textfile

    path = ctx.settings.metrics_file
    if path is None:
        return
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(collect(ctx, result)))
    try:
        write_to_textfile(str(path), registry)
    except OSError as exc:
        raise ConfigError(
            f"AIMON_METRICS_FILE={path}: cannot write it ({exc.strerror or exc}). Point it at a writable folder "
            "(node_exporter's --collector.textfile.directory)."
        ) from None
