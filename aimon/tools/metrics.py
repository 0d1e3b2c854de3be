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
from dataclasses import dataclass, field
from typing import Any

from aimon.errors import ConfigError
from aimon.runtime import Context
from aimon.state import checkpoints, meta, runs, summary
from aimon.state.db import parse_iso, utcnow
from aimon.state.diagnoses import monthly_spend

SCAN_TOTALS = ("lines_read", "bytes_read", "malformed_lines")  # running totals kept in `meta`


@dataclass(frozen=True)
class StageFigures:
    """How one stage of the run went, as the gauges show it."""

    name: str
    duration_s: float
    failed: bool


@dataclass(frozen=True)
class RunFigures:
    """What the metrics file needs to know about the run that just ended (the rest it reads from the state file)."""

    started_at: str
    finished_at: str | None
    exit_code: int
    stages: tuple[StageFigures, ...] = ()
    scan: dict[str, float] = field(default_factory=lambda: dict.fromkeys(SCAN_TOTALS, 0.0))


def scan_figures(scan: Any) -> dict[str, float]:
    """Lines, bytes and malformed lines that a scan read, from its ``--json`` document (``scan``; None when it did
    not run). A ``--since`` triage counts 0: it re-reads old lines, and counting them would inflate the totals."""
    figures = dict.fromkeys(SCAN_TOTALS, 0.0)
    if not isinstance(scan, dict) or scan.get("since"):
        return figures
    sources = [source for source in scan.get("sources") or [] if isinstance(source, dict)]
    figures["lines_read"] = float(scan.get("lines") or 0)
    figures["bytes_read"] = float(sum(int(source.get("bytes") or 0) for source in sources))
    figures["malformed_lines"] = float(scan.get("malformed") or 0)
    return figures


def accumulate(conn: sqlite3.Connection, run: RunFigures) -> None:
    """Add this run's scan figures to the running totals (inside the caller's transaction)."""
    for name, value in run.scan.items():
        if value:
            meta.add_to_metric_total(conn, name, value)


def collect(ctx: Context, run: RunFigures) -> list[Any]:
    """The metric families of this run and the state file (``prometheus_client`` metric family objects)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    conn = ctx.db
    families: list[Any] = []

    def counter(name: str, help_text: str, value: float) -> None:
        families.append(CounterMetricFamily(f"aimon_{name}", help_text, value=value))

    for name, help_text in (
        ("lines_read", "Log lines read by scans."),
        ("bytes_read", "Log bytes read by scans."),
        ("malformed_lines", "Log lines that could not be parsed."),
    ):
        counter(name, help_text, meta.metric_total(conn, name))

    detections = CounterMetricFamily("aimon_detections", "Detections recorded, by kind.", labels=["kind"])
    found = summary.detection_totals(conn)
    for kind in ("new", "spike", "regression"):
        detections.add_metric([kind], float(found.get(kind, 0)))
    families.append(detections)

    up = GaugeMetricFamily("aimon_source_up", "1 when the last scan could read the source, 0 when it is failing "
                           "(missing, unreadable, a glob that matches nothing, silent).", labels=["source"])
    for health in checkpoints.all_health(conn):
        up.add_metric([health.source], 1.0 if health.up else 0.0)
    families.append(up)
    families.extend(_deliveries(conn, CounterMetricFamily, GaugeMetricFamily))
    families.extend(_llm(conn, ctx, CounterMetricFamily, GaugeMetricFamily))
    families.extend(_run(conn, run, GaugeMetricFamily))
    return families


def _deliveries(conn: sqlite3.Connection, counter_cls: Any, gauge_cls: Any) -> Iterator[Any]:
    done = counter_cls(
        "aimon_deliveries",
        "Deliveries that reached a final state, by channel and status.",
        labels=["channel", "status"],
    )
    pending = gauge_cls("aimon_deliveries_pending", "Deliveries waiting to be sent, by channel.", labels=["channel"])
    for counted in summary.delivery_counts(conn):
        if counted.status in ("sent", "failed"):
            done.add_metric([counted.channel, counted.status], float(counted.count))
        elif counted.status == "pending":
            pending.add_metric([counted.channel], float(counted.count))
    yield done
    yield pending


def _llm(conn: sqlite3.Connection, ctx: Context, counter_cls: Any, gauge_cls: Any) -> Iterator[Any]:
    tokens = counter_cls("aimon_llm_tokens", "LLM tokens used, by direction.", labels=["direction"])
    cost = counter_cls("aimon_llm_cost_usd", "LLM cost in US dollars.")
    month = gauge_cls("aimon_llm_spend_month_usd", "LLM spend this calendar month (UTC), in US dollars.")
    budget = gauge_cls("aimon_llm_budget_month_usd", "Monthly LLM budget (AIMON_LLM_MONTHLY_BUDGET_USD).")
    totals = summary.llm_usage_total(conn)
    month_cost = monthly_spend(conn) if summary.has_llm_calls(conn) else 0.0
    tokens.add_metric(["in"], float(totals.tokens_in))
    tokens.add_metric(["out"], float(totals.tokens_out))
    cost.add_metric([], float(totals.cost_usd))
    month.add_metric([], float(month_cost))
    budget.add_metric([], float(ctx.settings.llm.monthly_budget_usd))
    yield from (tokens, cost, month, budget)


def _run(conn: sqlite3.Connection, run: RunFigures, gauge_cls: Any) -> Iterable[Any]:
    durations = gauge_cls("aimon_stage_duration_seconds", "Duration of each stage in the last run.", labels=["stage"])
    failed = gauge_cls("aimon_stage_failed", "1 when the stage failed in the last run.", labels=["stage"])
    for stage in run.stages:
        durations.add_metric([stage.name], stage.duration_s)
        failed.add_metric([stage.name], 1.0 if stage.failed else 0.0)
    started, finished = parse_iso(run.started_at), parse_iso(run.finished_at)
    last = gauge_cls("aimon_last_run_timestamp_seconds", "When the last run finished (Unix time).")
    last.add_metric([], (finished or utcnow()).timestamp())
    code = gauge_cls("aimon_last_run_exit_code", "Exit code of the last run (0 ok, 1 a stage failed).")
    code.add_metric([], float(run.exit_code))
    duration = gauge_cls("aimon_run_duration_seconds", "Duration of the last run.")
    duration.add_metric([], (finished - started).total_seconds() if started and finished else 0.0)
    success = gauge_cls("aimon_last_success_timestamp_seconds", "When the last successful run finished (Unix time).")
    success_at = parse_iso(runs.last_success_at(conn))
    success.add_metric([], success_at.timestamp() if success_at else 0.0)
    return (durations, failed, last, code, duration, success)


class _Snapshot:
    """A collector that yields metric families computed once (the registry is thrown away after one write)."""

    def __init__(self, families: list[Any]) -> None:
        self._families = families

    def collect(self) -> Iterable[Any]:
        return self._families


def write_metrics(ctx: Context, run: RunFigures) -> None:
    """Write the metrics file atomically; a path that cannot be written is a :class:`ConfigError` naming it."""
    from prometheus_client import CollectorRegistry, write_to_textfile

    path = ctx.settings.metrics_file
    if path is None:
        return
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(collect(ctx, run)))
    try:
        write_to_textfile(str(path), registry)
    except OSError as exc:
        raise ConfigError(
            f"AIMON_METRICS_FILE={path}: cannot write it ({exc.strerror or exc}). Point it at a writable folder "
            "(node_exporter's --collector.textfile.directory)."
        ) from None
