#!/usr/bin/env python3
"""Benchmark of ``aimon diagnose`` on realistic incidents: prompt size, cost, and LLM calls for known errors.

Builds five incidents of a Rust web service in a temporary directory — a connection pool exhaustion, an ``unwrap()``
panic with a backtrace, an upstream 503 storm, a database unique violation and a TLS failure — as tracing JSON logs
(plus the panic on stderr) next to a checkout of the service's source, runs the real ``scan`` and ``diagnose`` stages
with the LLM pointed at the OpenAI-compatible fake server of the test suite, and measures:

* prompt tokens per diagnosis (estimated as characters / 4 over the system and user messages; the JSON schema the
  request also carries is counted separately) — target: median ≤ 4,000;
* cost per diagnosis at gpt-4o-mini list prices (input incl. the schema, output = the answer's size) — target ≤ $0.001;
* LLM calls per 1,000 further occurrences of the already diagnosed errors (scanned and diagnosed again) — target: 0.

Prints a table and exits 1 when a target is missed.  Usage: ``python scripts/bench_diagnose.py``
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aimon.config import load_settings  # noqa: E402
from aimon.remotes.llm import cost_usd  # noqa: E402
from aimon.runtime import Context  # noqa: E402
from aimon.stages.diagnose.prompt import estimate_tokens  # noqa: E402
from aimon.stages.diagnose.stage import run_diagnose  # noqa: E402
from aimon.stages.scan.stage import run_scan  # noqa: E402
from aimon.state.db import open_db  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402

TARGET_MEDIAN_TOKENS = 4000
TARGET_COST = 0.001
TARGET_KNOWN_CALLS = 0
KNOWN_OCCURRENCES = 1000

SOURCES = {
    "src/db.rs": """use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

use crate::error::AppError;

pub async fn connect(url: &str) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await
}

/// Loads a customer's open carts; called on every page view.
pub async fn open_carts(pool: &PgPool, customer_id: i64) -> Result<Vec<Cart>, AppError> {
    let mut conn = pool.acquire().await.map_err(|err| {
        tracing::error!(error = %err, "database error");
        AppError::Unavailable
    })?;
    // Recomputes totals for every cart while holding the connection.
    let carts = sqlx::query_as::<_, Cart>("SELECT * FROM carts WHERE customer_id = $1 AND state = 'open'")
        .bind(customer_id)
        .fetch_all(&mut *conn)
        .await?;
    for cart in &carts {
        crate::pricing::refresh_totals(cart).await?;
    }
    Ok(carts)
}
""",
    "src/handlers/cart.rs": """use axum::{extract::{Path, State}, Json};

use crate::{error::AppError, state::AppState};

#[derive(serde::Deserialize)]
pub struct CouponRequest {
    pub code: String,
}

pub async fn apply_coupon(
    State(state): State<AppState>,
    Path(cart_id): Path<i64>,
    Json(req): Json<CouponRequest>,
) -> Result<Json<Cart>, AppError> {
    let mut cart = state.carts.load(cart_id).await?;
    let coupon = state.coupons.get(&req.code).await.unwrap();
    cart.apply(&coupon);
    state.carts.save(&cart).await?;
    Ok(Json(cart))
}
""",
    "src/rates.rs": """use reqwest::Client;
use std::time::Duration;

use crate::error::AppError;

pub struct RatesClient {
    http: Client,
    base: String,
}

impl RatesClient {
    pub fn new(base: String) -> Self {
        let http = Client::builder().timeout(Duration::from_secs(5)).build().expect("http client");
        Self { http, base }
    }

    /// Exchange rate for a currency on a date; used to price every order in a foreign currency.
    pub async fn rate(&self, currency: &str, date: &str) -> Result<f64, AppError> {
        let url = format!("{}/v1/{}?date={}", self.base, currency, date);
        let response = self.http.get(&url).send().await?;
        let response = response.error_for_status().map_err(|err| {
            tracing::error!(error = %err, currency, "rate lookup failed");
            AppError::Upstream
        })?;
        Ok(response.json::<Rate>().await?.value)
    }
}
""",
    "src/orders.rs": """use sqlx::PgPool;

use crate::error::AppError;

pub struct NewOrder {
    pub customer_id: i64,
    pub idempotency_key: String,
    pub total_cents: i64,
}

/// Creates an order. Mobile clients retry on timeouts with the same idempotency key.
pub async fn create_order(pool: &PgPool, req: NewOrder) -> Result<Order, AppError> {
    let order = sqlx::query_as::<_, Order>(
        "INSERT INTO orders (customer_id, idempotency_key, total_cents) VALUES ($1, $2, $3) RETURNING *",
    )
    .bind(req.customer_id)
    .bind(&req.idempotency_key)
    .bind(req.total_cents)
    .fetch_one(pool)
    .await
    .map_err(|err| {
        tracing::error!(error = %err, "failed to create order");
        AppError::from(err)
    })?;
    Ok(order)
}
""",
    "src/partner.rs": """use reqwest::Client;

use crate::error::AppError;

/// Pushes the day's shipments to the logistics partner every five minutes.
pub async fn sync_shipments(http: &Client, shipments: &[Shipment]) -> Result<(), AppError> {
    let response = http
        .post("https://partner.example.com/api/v2/sync")
        .json(shipments)
        .send()
        .await
        .map_err(|err| {
            tracing::error!(error = %err, count = shipments.len(), "partner sync failed");
            AppError::Upstream
        })?;
    response.error_for_status()?;
    Ok(())
}
""",
}


class Clock:
    """Log time that moves forward by a few milliseconds per line."""

    def __init__(self) -> None:
        self.ms = 0

    def stamp(self, step_ms: int = 7) -> str:
        self.ms += step_ms
        seconds, ms = divmod(self.ms, 1000)
        minutes, seconds = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        return f"2026-03-02T{10 + hours:02d}:{minutes:02d}:{seconds:02d}.{ms:03d}123Z"


def line(clock: Clock, level: str, message: str, target: str, *, rid: str | None = None, uri: str = "/", file: str | None = None,
         number: int | None = None, step: int = 7, **fields: Any) -> str:
    obj: dict[str, Any] = {"timestamp": clock.stamp(step), "level": level, "fields": {"message": message, **fields}, "target": target}
    if file:
        obj["filename"], obj["line_number"] = file, number
    if rid:
        span = {"method": "GET" if "cart" in uri else "POST", "uri": uri, "request_id": rid, "name": "http_request"}
        obj["span"], obj["spans"] = span, [span]
        obj["threadName"] = "tokio-runtime-worker"
    return json.dumps(obj)


def request(clock: Clock, n: int, uri: str, steps: list[tuple[str, str, str, dict[str, Any]]], status: int, latency: int) -> list[str]:
    rid = f"{n:08x}-4b1e-4c2a-9f3d-{n * 7919:012x}"
    out = [line(clock, "INFO", "started processing request", "tower_http::trace::on_request", rid=rid, uri=uri)]
    for level, message, target, fields in steps:
        out.append(line(clock, level, message, target, rid=rid, uri=uri, **fields))
    out.append(line(clock, "INFO", "finished processing request", "tower_http::trace::on_response", rid=rid, uri=uri,
                    status=status, latency=f"{latency} ms"))
    return out


def healthy(clock: Clock, n: int) -> list[str]:
    return request(clock, 500_000 + n, f"/api/products/{n % 97}", [("DEBUG", "loaded product", "shop::catalog", {"product_id": n % 97})], 200, 12)


def pool_exhaustion(clock: Clock, n: int) -> list[str]:
    steps = [
        ("DEBUG", "loading open carts", "shop::handlers::cart", {"customer_id": 4000 + n}),
        ("WARN", "slow statement", "sqlx::query", {"elapsed": "2.31s", "rows_returned": 14, "summary": "SELECT * FROM carts WHERE customer_id = $1 …"}),
        ("ERROR", "database error", "shop::db", {"error": "pool timed out while waiting for an open connection", "file": "src/db.rs", "number": 17}),
    ]
    return _request_with_located_error(clock, n, "/api/cart", steps, 503, 30004)


def _request_with_located_error(clock: Clock, n: int, uri: str, steps: list[tuple[str, str, str, dict[str, Any]]], status: int,
                                latency: int) -> list[str]:
    rid = f"{n:08x}-4b1e-4c2a-9f3d-{n * 7919:012x}"
    out = [line(clock, "INFO", "started processing request", "tower_http::trace::on_request", rid=rid, uri=uri)]
    for level, message, target, fields in steps:
        extra = dict(fields)
        file, number = extra.pop("file", None), extra.pop("number", None)
        out.append(line(clock, level, message, target, rid=rid, uri=uri, file=file, number=number, **extra))
    out.append(line(clock, "INFO", "finished processing request", "tower_http::trace::on_response", rid=rid, uri=uri,
                    status=status, latency=f"{latency} ms"))
    return out


def unwrap_panic(clock: Clock, n: int) -> list[str]:
    rid = f"{n:08x}-4b1e-4c2a-9f3d-{n * 7919:012x}"
    uri = f"/api/cart/{n}/coupon"
    return [
        line(clock, "INFO", "started processing request", "tower_http::trace::on_request", rid=rid, uri=uri),
        line(clock, "DEBUG", "loaded cart", "shop::handlers::cart", rid=rid, uri=uri, cart_id=n, items=3),
        line(clock, "DEBUG", "coupon lookup", "shop::coupons", rid=rid, uri=uri, code="SPRING-26", found=False),
        "thread 'tokio-runtime-worker' panicked at src/handlers/cart.rs:16:56:",
        "called `Option::unwrap()` on a `None` value",
        "stack backtrace:",
        "   0: rust_begin_unwind",
        "             at /rustc/3f5fd8dd41153bc5fdca9427e9e05be2c767ba23/library/std/src/panicking.rs:652:5",
        "   1: core::panicking::panic_fmt",
        "             at /rustc/3f5fd8dd41153bc5fdca9427e9e05be2c767ba23/library/core/src/panicking.rs:72:14",
        "   2: core::panicking::panic",
        "             at /rustc/3f5fd8dd41153bc5fdca9427e9e05be2c767ba23/library/core/src/panicking.rs:146:5",
        "   3: core::option::unwrap_failed",
        "             at /rustc/3f5fd8dd41153bc5fdca9427e9e05be2c767ba23/library/core/src/option.rs:1985:5",
        "   4: shop::handlers::cart::apply_coupon::{{closure}}",
        "             at ./src/handlers/cart.rs:16:56",
        "   5: <axum::handler::HandlerService<H,T,S> as tower_service::Service<http::request::Request<B>>>::call::{{closure}}",
        "             at /home/build/.cargo/registry/src/index.crates.io-6f17d22bba15001f/axum-0.7.5/src/handler/service.rs:179:52",
        "   6: shop::main::{{closure}}",
        "             at ./src/main.rs:58:5",
        "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.",
    ]


def upstream_503(clock: Clock, n: int) -> list[str]:
    steps = [
        ("DEBUG", "pricing order", "shop::orders", {"currency": "EUR", "items": 2}),
        ("WARN", "rates request failed, retrying", "shop::rates", {"attempt": 1, "status": 503}),
        ("ERROR", "rate lookup failed", "shop::rates", {"currency": "EUR", "file": "src/rates.rs", "number": 22,
         "error": f"HTTP status server error (503 Service Unavailable) for url (https://rates.example.com/v1/EUR?date=2026-03-02&req={n})"}),
    ]
    return _request_with_located_error(clock, n, "/api/orders/quote", steps, 502, 612)


def unique_violation(clock: Clock, n: int) -> list[str]:
    steps = [
        ("DEBUG", "creating order", "shop::orders", {"customer_id": 7000 + n, "items": 4}),
        ("ERROR", "failed to create order", "shop::orders", {"file": "src/orders.rs", "number": 22,
         "error": 'error returned from database: duplicate key value violates unique constraint "orders_idempotency_key_key"'}),
    ]
    return _request_with_located_error(clock, n, "/api/orders", steps, 500, 41)


def tls_failure(clock: Clock, n: int) -> list[str]:
    return [
        line(clock, "INFO", "shipment sync started", "shop::partner", batch=n, count=12 + n % 5),
        line(clock, "ERROR", "partner sync failed", "shop::partner", file="src/partner.rs", number=13, count=12 + n % 5,
             error="error sending request for url (https://partner.example.com/api/v2/sync): error trying to connect: "
                   "invalid peer certificate: Expired"),
    ]


INCIDENTS = {
    "pool exhaustion": pool_exhaustion,
    "unwrap panic + backtrace": unwrap_panic,
    "upstream 503 storm": upstream_503,
    "DB unique violation": unique_violation,
    "TLS failure": tls_failure,
}


def incident_log(clock: Clock, rounds: int, start: int) -> list[str]:
    """Each incident ``rounds`` times, interleaved with healthy traffic (the 503 storm five times as often)."""
    out: list[str] = []
    n = start
    for round_ in range(rounds):
        for name, make in INCIDENTS.items():
            for _ in range(5 if name == "upstream 503 storm" else 1):
                n += 1
                out.extend(healthy(clock, n))
                out.extend(make(clock, n))
        out.extend(healthy(clock, n + round_))
    # A closing line so that a panic at the very end is complete (scan waits for the line after a panic block).
    out.append(line(clock, "INFO", "metrics flushed", "shop::metrics"))
    return out


def answer(title: str) -> dict[str, Any]:
    """A realistic model answer (its size is what the output-token estimate uses)."""
    return {
        "title": title,
        "summary": "Requests to the cart page fail with 503 because no database connection becomes free within 30 s; "
                   "it started at 10:00 and affects every customer with several open carts.",
        "root_cause": "open_carts holds a pooled connection while refresh_totals awaits the pricing service for every cart, so five "
                      "concurrent page views exhaust the pool of five; the slow statement warnings show each request holding it for seconds.",
        "evidence": ["[T3] WARN sqlx::query: slow statement elapsed=2.31s", "[src/db.rs:17] let mut conn = pool.acquire().await",
                     "[src/db.rs:25] crate::pricing::refresh_totals(cart).await?"],
        "suggested_fix": "Release the connection before calling the pricing service (fetch the carts, drop conn, then refresh totals), "
                         "and size max_connections for the peak concurrency.",
        "severity": "high",
        "category": "resource-exhaustion",
        "auto_fixable": False,
        "auto_fixable_reason": "Restructuring when the connection is released needs a design decision.",
        "confidence": 0.78,
        "insufficient_evidence": False,
    }


def main() -> int:
    server = FakeOpenAI()
    try:
        return bench(server)
    finally:
        server.close()


def bench(server: FakeOpenAI) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        repo = base / "repo"
        for rel, text in SOURCES.items():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(text, encoding="utf-8")
        log = base / "app.log"
        clock = Clock()
        log.write_text("\n".join(incident_log(clock, rounds=3, start=0)) + "\n", encoding="utf-8")
        settings = load_settings(environ={"AIMON_DB": str(base / "state.db"), "AIMON_REPO_DIR": str(repo), "OPENAI_API_KEY": "sk-bench",
                                          "AIMON_LLM_BASE_URL": server.base_url, "AIMON_CONFIG": ""})
        conn = open_db(settings.db_path)
        ctx = Context(settings=settings, db=conn)
        run_scan(ctx, paths=[str(log)], since=None)
        groups = conn.execute("SELECT COUNT(*) FROM fingerprints").fetchone()[0]
        for _ in range(groups):
            server.reply(answer("Connection pool exhausted while carts are re-priced"), prompt_tokens=0, completion_tokens=0)
        run_diagnose(ctx, limit=50)
        rows = _measure(server, conn)

        # Already known errors: 1,000 more occurrences, scanned and diagnosed again.
        before = len(server.requests)
        known: list[str] = []
        n = 10_000
        while sum(1 for text in known if '"level": "ERROR"' in text or "panicked at" in text) < KNOWN_OCCURRENCES:
            n += 1
            make = list(INCIDENTS.values())[n % len(INCIDENTS)]
            known.extend(make(clock, n))
        known.append(line(clock, "INFO", "metrics flushed", "shop::metrics"))
        occurrences = sum(1 for text in known if '"level": "ERROR"' in text or "panicked at" in text)
        with log.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(known) + "\n")
        run_scan(ctx, paths=[str(log)], since=None)
        again = run_diagnose(ctx, limit=50)
        known_calls = (len(server.requests) - before) * 1000 / occurrences
        conn.close()
    return _report(rows, known_calls, occurrences, again.diagnosed)


def _measure(server: FakeOpenAI, conn: Any) -> list[dict[str, Any]]:
    rows = []
    templates = dict(conn.execute("SELECT fingerprint, template FROM fingerprints").fetchall())
    for request in server.requests:
        messages = request.body["messages"]
        fp = messages[1]["content"].split("Diagnose the error group ", 1)[1].split(".", 1)[0]
        prompt = sum(estimate_tokens(m["content"]) for m in messages)
        schema = estimate_tokens(json.dumps(request.body["response_format"]))
        output = estimate_tokens(json.dumps(answer("Connection pool exhausted while carts are re-priced")))
        rows.append({"fingerprint": fp, "incident": str(templates.get(fp, "?"))[:60], "prompt": prompt, "schema": schema, "output": output,
                     "cost": cost_usd("gpt-4o-mini", prompt + schema, output)})
    return rows


def _report(rows: list[dict[str, Any]], known_calls: float, occurrences: int, rediagnosed: list[Any]) -> int:
    print(f"{'error group (template)':<62} {'prompt tok':>10} {'+schema':>8} {'out tok':>8} {'cost $':>10}")
    for row in rows:
        print(f"{row['incident']:<62} {row['prompt']:>10} {row['schema']:>8} {row['output']:>8} {row['cost']:>10.6f}")
    median_tokens = statistics.median(row["prompt"] for row in rows) if rows else 0
    worst_cost = max((row["cost"] for row in rows), default=0.0)
    mean_cost = statistics.mean(row["cost"] for row in rows) if rows else 0.0
    checks = [
        ("diagnoses through the LLM", f"{len(rows)}", len(rows) >= len(INCIDENTS)),
        ("median prompt tokens (chars/4)", f"{median_tokens:.0f} (target <= {TARGET_MEDIAN_TOKENS})", median_tokens <= TARGET_MEDIAN_TOKENS),
        ("cost per diagnosis, gpt-4o-mini", f"mean ${mean_cost:.6f}, max ${worst_cost:.6f} (target <= ${TARGET_COST})", worst_cost <= TARGET_COST),
        (f"LLM calls per 1,000 known occurrences ({occurrences} read)", f"{known_calls:g} (target {TARGET_KNOWN_CALLS})",
         known_calls <= TARGET_KNOWN_CALLS and not rediagnosed),
    ]
    print()
    failed = False
    for name, value, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")
        failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
