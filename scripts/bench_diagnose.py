#!/usr/bin/env python3
"""Benchmark of ``aimon diagnose`` on planted incidents: can a diagnosis be trusted, and what does it cost?

Writes a tracing JSON log (plus panics on stderr) of a Rust shop service with 39 planted incidents — each with its
expected kind (category), severity and auto-fixability and the names its diagnosis must carry — between healthy
requests, next to a checkout of the service's source, and runs the real ``scan`` and ``diagnose`` stages:

1. **offline**: no LLM. Accuracy = kind, severity and auto-fixability all as expected; "specific" = the diagnosis
   names what the error names (upstream host and status, table and constraint, path, pool and its size).
2. **LLM**, pointed at the OpenAI-compatible fake server of the test suite (answers without ``usage``, so tokens are
   estimated from the real request at 3.2 characters per token): LLM calls (one per root cause), prompt tokens per
   diagnosis (system + user; the JSON schema the request also carries is counted apart), cost at gpt-4o-mini prices.
   The set holds near twins — one error code with different causes, a primary-key violation on another table, the
   same panic message at another line — and **memory false reuse** counts diagnoses taken from another incident.
3. **recurrences**: more occurrences of every incident, and the same statements logged under another target: LLM calls
   (target 0).
4. **the demo** (``scripts/sample``): its axum/tower storm, where every 503 also logs tower-http's "response failed",
   must give one alert (detection) and one LLM call per root cause.

Prints a table; exits 1 when a target is missed.  ``python scripts/bench_diagnose.py [--small]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aimon.config import load_settings  # noqa: E402
from aimon.runtime import Context  # noqa: E402
from aimon.stages.diagnose.stage import run_diagnose  # noqa: E402
from aimon.stages.scan.stage import run_scan  # noqa: E402
from aimon.state.db import open_db  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402

TARGET_ACCURACY = 0.9
TARGET_MEDIAN_TOKENS = 2000
TARGET_COST = 0.001

SOURCES = {
    "src/handlers/cart.rs": "use axum::{extract::{Path, State}, Json};\n\npub async fn apply_coupon(State(state): State<AppState>, Path(cart_id): Path<i64>,\n"
                            "    Json(req): Json<CouponRequest>) -> Result<Json<Cart>, AppError> {\n    let mut cart = state.carts.load(cart_id).await?;\n"
                            "    // The coupon may not exist.\n" + "    tracing::debug!(cart_id, \"applying coupon\");\n" * 9
                            + "    let coupon = state.coupons.get(&req.code).await.unwrap();\n    cart.apply(&coupon);\n    Ok(Json(cart))\n}\n",
    "src/handlers/orders.rs": "pub async fn show_order(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<Order>, AppError> {\n"
                              + "    tracing::debug!(id, \"loading order\");\n" * 28 + "    let order = state.orders.get(&id).unwrap();\n"
                              + "    tracing::debug!(id, \"loaded\");\n" * 11
                              + "    let row = sqlx::query_as::<_, Order>(\"SELECT * FROM orders WHERE id = $1\").bind(id).fetch_one(&state.pool).await?;\n"
                              "    Ok(Json(row))\n}\n",
    "src/handlers/search.rs": "pub async fn search(Query(q): Query<Params>) -> Result<Json<Page>, AppError> {\n" + "    // paging\n" * 10
                              + "    let size: usize = q.size.parse()?;\n    Ok(Json(run(q, size).await?))\n}\n",
    "src/pricing.rs": "pub fn tier_price(tiers: &[Tier], quantity: usize) -> Money {\n" + "    // tiers are sorted\n" * 38
                      + "    tiers[quantity / 10].price\n}\n",
    "src/inventory.rs": "pub fn reserve(stock: u32, wanted: u32) -> u32 {\n" + "    // no check\n" * 16 + "    stock - wanted\n}\n",
    "src/reports.rs": "pub fn average(total: u64, days: u64) -> u64 {\n" + "    // per day\n" * 7 + "    total / days\n}\n",
    "src/cache.rs": "pub fn connect(url: &str) -> redis::Connection {\n" + "    // cache\n" * 10
                    + "    redis::Client::open(url).unwrap().get_connection().unwrap()\n}\n",
    "src/db.rs": "pub async fn connect(url: &str) -> Result<PgPool, sqlx::Error> {\n    PgPoolOptions::new()\n        .max_connections(10)\n"
                 "        .acquire_timeout(Duration::from_secs(5))\n        .connect(url)\n        .await\n}\n",
}


@dataclass(frozen=True)
class Incident:
    """One planted incident: the error it logs and what a diagnosis of it must say."""

    name: str
    message: str
    category: str
    severity: str
    auto: bool
    names: tuple[str, ...] = ()  # what the offline diagnosis must name
    target: str = "shop::api"
    fields: dict[str, Any] = field(default_factory=dict)
    file: str | None = None
    line: int | None = None
    shape: str = "request"  # request (a 5xx answered through tower-http) | background | panic
    warn: str | None = None  # a WARN the same request logs before the error
    twin_of: str | None = None  # a near twin with another cause: memory must not hand it the other's diagnosis
    repeat: int = 3


def _i(name: str, message: str, kind: str, severity: str, auto: bool = False, *names: str, **extra: Any) -> Incident:
    return Incident(name, message, kind, severity, auto, tuple(names), **extra)


INCIDENTS = [
    _i("pool exhausted (axum storm)", "database error", "resource-exhaustion", "high", False, "pool size 10",
       fields={"error": "pool timed out while waiting for an open connection"}, file="src/db.rs", line=3,
       warn="acquire slow: pool size 10, 10 in use, 37 waiting", repeat=40),
    _i("unwrap None in apply_coupon", "called `Option::unwrap()` on a `None` value", "panic", "high", True, "src/handlers/cart.rs:16",
       shape="panic", file="src/handlers/cart.rs", line=16),
    _i("unwrap None in show_order (twin)", "called `Option::unwrap()` on a `None` value", "panic", "high", True, "src/handlers/orders.rs:30",
       shape="panic", file="src/handlers/orders.rs", line=30, twin_of="unwrap None in apply_coupon"),
    _i("rates upstream 503", "rate lookup failed", "upstream", "medium", False, "rates.example.com", "503",
       fields={"error": "HTTP status server error (503 Service Unavailable) for url (https://rates.example.com/v1/EUR)"}),
    _i("inventory upstream 502", "stock check failed with status 502 Bad Gateway", "upstream", "medium", False, "inventory.internal", "502",
       fields={"url": "https://inventory.internal/v1/stock"}, twin_of="rates upstream 503"),
    _i("payment provider timeout", "payment provider call failed: operation timed out after 10000ms", "timeout", "medium", False,
       "payments.example.net", "10000ms", fields={"url": "https://payments.example.net/v1/charges", "error_code": "PAYMENT_FAILED"}),
    _i("payment provider refused (twin)", "payment provider call failed: tcp connect error: Connection refused (os error 111)",
       "connectivity", "high", False, "payments.example.net", fields={"url": "https://payments.example.net/v1/charges", "error_code": "PAYMENT_FAILED"},
       twin_of="payment provider timeout"),
    _i("unique users_email_key", 'error returned from database: duplicate key value violates unique constraint "users_email_key"',
       "database", "medium", False, "users_email_key", "users", fields={"error_code": "DB_CONSTRAINT"}, file="src/handlers/signup.rs", line=57),
    _i("primary key orders_pkey (twin)", 'insert order: duplicate key value violates unique constraint "orders_pkey"', "database", "medium",
       False, "orders_pkey", "orders", fields={"error_code": "DB_CONSTRAINT"}, file="src/orders.rs", line=22, twin_of="unique users_email_key"),
    _i("foreign key order_items", 'insert or update on table "order_items" violates foreign key constraint "order_items_order_id_fkey"',
       "database", "medium", False, "order_items_order_id_fkey", "order_items"),
    _i("TLS certificate expired", "partner sync failed", "tls", "high", False, "partner.example.com", shape="background",
       fields={"error": "error sending request for url (https://partner.example.com/api/v2/sync): invalid peer certificate: Expired"}),
    _i("DNS failure", "search request failed", "dns", "high", False, "search.internal",
       fields={"error": "error sending request for url (https://search.internal/v1/q): dns error: failed to lookup address information: "
                        "Name or service not known"}),
    _i("connection reset", "recommendations failed", "connectivity", "medium", False, "recommender:8080",
       fields={"error": "error sending request for url (http://recommender:8080/v1/recs): connection error: Connection reset by peer (os error 104)"}),
    _i("deadlock", "error returned from database: deadlock detected", "database", "medium"),
    _i("missing table", 'error returned from database: relation "orders_archive" does not exist', "database", "high", False, "orders_archive"),
    _i("database password", 'error returned from database: password authentication failed for user "shop"', "configuration", "critical",
       shape="background"),
    _i("row not found", "no rows returned by a query that expected to return at least one row", "logic", "medium", True,
       file="src/handlers/orders.rs", line=42),
    _i("bad JSON body", "invalid signup payload", "serialization", "medium",
       fields={"error": "Failed to deserialize the JSON body into the target type: missing field `email` at line 1 column 42"}),
    _i("page size not a number", "failed to parse page size", "validation", "medium", True, fields={"error": "invalid digit found in string"},
       file="src/handlers/search.rs", line=12),
    _i("body too large", "upload rejected: length limit exceeded", "validation", "low"),
    _i("index out of bounds", "index out of bounds: the len is 3 but the index is 3", "panic", "high", True, "src/pricing.rs:40",
       shape="panic", file="src/pricing.rs", line=40),
    _i("subtract with overflow", "attempt to subtract with overflow", "panic", "high", True, "src/inventory.rs:18", shape="panic",
       file="src/inventory.rs", line=18),
    _i("divide by zero", "attempt to divide by zero", "panic", "high", True, "src/reports.rs:9", shape="panic", file="src/reports.rs", line=9),
    _i("unwrap Err: cache refused", 'called `Result::unwrap()` on an `Err` value: Os { code: 111, kind: ConnectionRefused, message: "Connection refused" }',
       "connectivity", "high", True, "src/cache.rs:12", shape="panic", file="src/cache.rs", line=12),
    _i("no reactor", "there is no reactor running, must be called from the context of a Tokio 1.x runtime", "runtime-misuse", "high",
       shape="panic", file="src/jobs/report.rs", line=30),
    _i("nested runtime", "Cannot start a runtime from within a runtime. This happens because a function (like `block_on`) attempted to block "
       "the current thread while the thread is being used to drive asynchronous tasks.", "runtime-misuse", "high", shape="panic",
       file="src/sync.rs", line=8),
    _i("mutex poisoned", "called `Result::unwrap()` on an `Err` value: PoisonError { .. }", "concurrency", "high", shape="panic",
       file="src/state.rs", line=20),
    _i("channel closed", "failed to send order event: channel closed", "concurrency", "high", shape="background", target="shop::events"),
    _i("disk full", "failed to write /var/lib/shop/uploads/chunk.part: No space left on device (os error 28)", "storage", "critical", False,
       "/var/lib/shop/uploads/chunk.part", shape="background", target="shop::uploads"),
    _i("too many open files", "accept error: Too many open files (os error 24)", "resource-exhaustion", "high", shape="background",
       target="shop::server"),
    _i("permission denied", "failed to open /var/lib/shop/keys.pem: Permission denied (os error 13)", "permission", "high", False,
       "/var/lib/shop/keys.pem", shape="background", target="shop::tls"),
    _i("config file missing", "failed to load /etc/shop/pricing.toml: No such file or directory (os error 2)", "configuration", "high",
       False, "/etc/shop/pricing.toml", shape="background", target="shop::config"),
    _i("rate limited", "mail send failed", "rate-limit", "medium", False, "api.mailer.example",
       fields={"error": "HTTP status client error (429 Too Many Requests) for url (https://api.mailer.example/v3/send)"}),
    _i("upstream 401", "label purchase failed", "configuration", "high", False, "api.shipping.example",
       fields={"error": "HTTP status client error (401 Unauthorized) for url (https://api.shipping.example/v1/labels)"}),
    _i("out of memory", "memory allocation of 8589934592 bytes failed", "memory", "critical", shape="background", target="shop::export"),
    _i("bad input", "invalid request: quantity must be positive", "validation", "low"),
    _i("join error", "background task failed: task 14 panicked", "concurrency", "high", shape="background", target="shop::jobs"),
    _i("address in use", "error binding to 0.0.0.0:8080: Address already in use (os error 98)", "configuration", "high", shape="background",
       target="shop::server"),
    _i("channel twin: stream closed", "failed to send order event: receiver dropped", "concurrency", "high", shape="background",
       target="shop::events", twin_of="channel closed"),
]
SMALL = ["pool exhausted (axum storm)", "unwrap None in apply_coupon", "unwrap None in show_order (twin)", "payment provider timeout",
         "payment provider refused (twin)", "unique users_email_key", "primary key orders_pkey (twin)", "inventory upstream 502"]


class Log:
    """Writes the log: tracing JSON events between healthy requests, panics as the runtime prints them on stderr."""

    def __init__(self, start: int = 0) -> None:
        self.ms = start * 7
        self.n = start  # request ids are unique across logs, as a service's are
        self.lines: list[str] = []

    def stamp(self) -> str:
        self.ms += 7
        seconds, ms = divmod(self.ms, 1000)
        minutes, seconds = divmod(seconds, 60)
        return f"2026-03-02T{10 + minutes // 60:02d}:{minutes % 60:02d}:{seconds:02d}.{ms:03d}123Z"

    def event(self, level: str, message: str, target: str, rid: str | None = None, file: str | None = None, line: int | None = None,
              **fields: Any) -> None:
        obj: dict[str, Any] = {"timestamp": self.stamp(), "level": level, "fields": {"message": message, **fields}, "target": target}
        if file:
            obj["filename"], obj["line_number"] = file, line
        if rid:
            span = {"method": "POST", "uri": "/api/v1", "request_id": rid, "name": "request"}
            obj["span"], obj["spans"] = span, [span]
        obj["threadName"] = "tokio-runtime-worker"
        self.lines.append(json.dumps(obj))

    def healthy(self, count: int = 2) -> None:
        for _ in range(count):
            self.n += 1
            rid = f"ok-{self.n:06d}"
            self.event("INFO", "started processing request", "tower_http::trace::on_request", rid)
            self.event("INFO", "finished processing request", "tower_http::trace::on_response", rid, latency="12 ms", status=200)

    def incident(self, it: Incident, target: str | None = None) -> None:
        self.n += 1
        rid = f"{self.n:08x}-4b1e-4c2a-9f3d-{self.n * 7919:012x}"
        if it.shape == "panic":
            self.healthy(1)
            self.lines.append(f"thread 'tokio-runtime-worker' panicked at {it.file}:{it.line}:9:")
            self.lines.append(it.message)
            self.lines.append("note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace")
            return
        if it.shape == "background":
            self.event("ERROR", it.message, target or it.target, None, it.file, it.line, **it.fields)
            return
        self.event("INFO", "started processing request", "tower_http::trace::on_request", rid)
        self.healthy(1)  # other requests interleave
        if it.warn:
            self.event("WARN", it.warn, "sqlx::pool::inner", rid)
        self.event("ERROR", it.message, target or it.target, rid, it.file, it.line, **it.fields)
        self.event("ERROR", "response failed", "tower_http::trace::on_failure", rid, classification="Status code: 500 Internal Server Error",
                   latency="41 ms")


def write_incidents(path: Path, incidents: list[Incident], rounds: int, target: str | None = None, start: int = 0) -> None:
    log = Log(start)
    for _ in range(rounds):
        for it in incidents:
            for _ in range(it.repeat if rounds > 1 else 1):
                log.healthy()
                log.incident(it, target)
    log.event("INFO", "metrics flushed", "shop::metrics")  # a panic at the very end is complete only with a line after it
    path.write_text("\n".join(log.lines) + "\n", encoding="utf-8")


def answer(title: str) -> dict[str, Any]:
    return {"title": title, "summary": "Requests fail while the dependency named in the evidence misbehaves; it started at 10:00.",
            "root_cause": "The evidence lines show the failing call and where it is made; the cause is visible in the error itself.",
            "evidence": ["[E1] the error", "[T3] the request's warning"], "suggested_fix": "Fix the failing call as the evidence shows.",
            "severity": "high", "category": "unknown", "auto_fixable": False, "auto_fixable_reason": "Needs a design decision.",
            "confidence": 0.7, "insufficient_evidence": False}


class Bench:
    """One run in a temporary folder: the log, the source checkout and a state file per phase."""

    def __init__(self, folder: Path, incidents: list[Incident]) -> None:
        self.folder = folder
        self.incidents = incidents
        self.repo = folder / "repo"
        for name, text in SOURCES.items():
            (self.repo / name).parent.mkdir(parents=True, exist_ok=True)
            (self.repo / name).write_text(text, encoding="utf-8")
        self.log = folder / "app.log"
        write_incidents(self.log, incidents, rounds=2)

    def context(self, db: str, **env: str) -> Context:
        settings = load_settings(environ={"AIMON_DB": str(self.folder / db), "AIMON_REPO_DIR": str(self.repo), **env})
        return Context(settings=settings, db=open_db(settings.db_path))

    def incident_of(self, conn: Any) -> dict[str, Incident]:
        """fingerprint → the incident it is (the message it samples, and where a panic happened)."""
        found = {}
        for row in conn.execute("SELECT fingerprint, sample, file, line, target FROM fingerprints"):
            for it in self.incidents:
                if it.message[:60] in row["sample"] and (it.shape != "panic" or row["file"] == it.file):
                    found[row["fingerprint"]] = it
        return found

    def offline(self) -> dict[str, Any]:
        ctx = self.context("offline.db")
        run_scan(ctx, [str(self.log)], None)
        run_diagnose(ctx, limit=500)
        known = self.incident_of(ctx.db)
        rows = []
        for row in ctx.db.execute("SELECT fingerprint, result FROM diagnoses"):
            it, result = known.get(row["fingerprint"]), json.loads(row["result"])
            if it is None:
                continue
            said = " ".join(str(result[key]) for key in ("title", "root_cause", "suggested_fix"))
            rows.append({"incident": it.name, "right": (result["category"], result["severity"], result["auto_fixable"]) == (it.category, it.severity, it.auto),
                         "specific": all(name in said for name in it.names), "got": (result["category"], result["severity"], result["auto_fixable"]),
                         "title": result["title"]})
        return {"rows": rows, "groups": len(known), "unmatched": ctx.db.execute("SELECT COUNT(*) FROM fingerprints").fetchone()[0] - len(known)}

    def with_llm(self, server: FakeOpenAI) -> dict[str, Any]:
        ctx = self.context("llm.db", OPENAI_API_KEY="sk-bench-0000000000000000", AIMON_LLM_BASE_URL=server.base_url)
        for index in range(400):
            server.reply(answer(f"diagnosis {index}"), usage=False)
        run_scan(ctx, [str(self.log)], None)
        root_causes = len({it.name for it in self.incident_of(ctx.db).values()})
        first = run_diagnose(ctx, limit=500)
        calls = len(server.requests)
        more = self.folder / "more.log"  # recurrences, and the same statements logged under another target
        write_incidents(more, self.incidents, rounds=1, start=100_000)
        write_incidents(self.folder / "elsewhere.log", [it for it in self.incidents if it.file and it.shape != "panic"], rounds=1,
                        target="shop::jobs", start=200_000)
        run_scan(ctx, [str(more), str(self.folder / "elsewhere.log")], None)
        again = run_diagnose(ctx, limit=500)
        known = self.incident_of(ctx.db)
        by_id = {row[0]: row[1] for row in ctx.db.execute("SELECT id, fingerprint FROM diagnoses")}
        false_reuse = [row["fingerprint"] for row in ctx.db.execute("SELECT fingerprint, memory_of FROM diagnoses WHERE source = 'memory'")
                       if known.get(row["fingerprint"]) is not known.get(by_id.get(row["memory_of"], ""))]
        llm = [item for item in first.diagnosed if item.source == "llm"]
        tokens = [int(row[0]) for row in ctx.db.execute("SELECT tokens_in FROM llm_calls WHERE purpose = 'diagnose'")]
        return {"root_causes": root_causes, "calls": calls, "prompt": [item.prompt_tokens or 0 for item in llm], "request_tokens": tokens,
                "cost": [item.cost_usd for item in llm], "recurrence_calls": len(server.requests) - calls,
                "recurrences_reused": sum(1 for item in again.diagnosed if item.source == "memory"), "false_reuse": len(false_reuse)}

    def demo(self, server: FakeOpenAI) -> dict[str, Any]:
        ctx = self.context("demo.db", AIMON_CONFIG=str(ROOT / "scripts/sample/aimon.toml"), AIMON_REPO_DIR=str(ROOT / "scripts/sample/service"),
                           OPENAI_API_KEY="sk-bench-0000000000000000", AIMON_LLM_BASE_URL=server.base_url)
        before = len(server.requests)
        for index in range(20):
            server.reply(answer(f"demo {index}"), usage=False)
        run_scan(ctx, [str(ROOT / "scripts/sample/app.log")], None)
        diagnosed = run_diagnose(ctx, limit=100)
        db = ctx.db
        return {"groups": db.execute("SELECT COUNT(*) FROM fingerprints").fetchone()[0],
                "detections": db.execute("SELECT COUNT(*) FROM detections").fetchone()[0],
                "on_failure_groups": db.execute("SELECT COUNT(*) FROM fingerprints WHERE target LIKE 'tower_http%'").fetchone()[0],
                "symptoms": db.execute("SELECT COALESCE(SUM(count), 0) FROM symptoms").fetchone()[0],
                "calls": len(server.requests) - before, "prompt": [item.prompt_tokens or 0 for item in diagnosed.diagnosed]}


def measure(small: bool = False) -> dict[str, Any]:
    """Every figure of the benchmark (``small``: eight incidents, near twins included: what the test suite runs)."""
    incidents = [it for it in INCIDENTS if it.name in SMALL] if small else INCIDENTS
    server = FakeOpenAI()
    try:
        with tempfile.TemporaryDirectory() as folder:
            bench = Bench(Path(folder), incidents)
            return {"incidents": len(incidents), "twins": sum(1 for it in incidents if it.twin_of), "offline": bench.offline(),
                    "llm": bench.with_llm(server), "demo": bench.demo(server)}
    finally:
        server.close()


def _p95(values: list[int]) -> float:
    """The nearest-rank 95th percentile (0 for no values)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return float(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))])


def checks(figures: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(promise, target, measured, met) for each target."""
    offline, llm, demo = figures["offline"], figures["llm"], figures["demo"]
    right = sum(row["right"] for row in offline["rows"])
    specific = sum(row["specific"] for row in offline["rows"])
    accuracy = right / max(1, figures["incidents"])
    prompts = [*llm["prompt"], *demo["prompt"]]
    median = statistics.median(prompts) if prompts else 0
    mean_cost = statistics.mean(llm["cost"]) if llm["cost"] else 0.0
    return [
        (f"offline diagnosis: kind, severity, auto-fix ({figures['incidents']} incidents)", f">= {TARGET_ACCURACY:.0%}",
         f"{right}/{figures['incidents']} = {accuracy:.0%}; {specific}/{figures['incidents']} name what the error names", accuracy >= TARGET_ACCURACY),
        (f"memory: false reuses ({figures['twins']} near twins)", "0", f"{llm['false_reuse']}", llm["false_reuse"] == 0),
        ("LLM calls, one per root cause", f"{llm['root_causes']}", f"{llm['calls']}", llm["calls"] == llm["root_causes"]),
        ("LLM calls for recurrences (same errors, same statements elsewhere)", "0",
         f"{llm['recurrence_calls']} ({llm['recurrences_reused']} reused as the same error)", llm["recurrence_calls"] == 0),
        ("prompt tokens per diagnosis (system + user, 3.2 chars/token)", f"median <= {TARGET_MEDIAN_TOKENS:,}",
         f"median {median:,.0f}, p95 {_p95(prompts):,.0f} (request incl. schema: median {statistics.median(llm['request_tokens'] or [0]):,.0f})",
         median <= TARGET_MEDIAN_TOKENS),
        ("cost per diagnosis at gpt-4o-mini prices", f"<= ${TARGET_COST}", f"mean ${mean_cost:.6f}, max ${max(llm['cost'] or [0]):.6f}",
         max(llm["cost"] or [0]) <= TARGET_COST),
        ("demo: one alert and one LLM call per root cause", f"{demo['groups']} groups",
         f"{demo['detections']} alerts, {demo['calls']} LLM calls, {demo['on_failure_groups']} response-failed groups, "
         f"{demo['symptoms']} symptoms folded", demo["detections"] == demo["groups"] == demo["calls"] and demo["on_failure_groups"] == 0),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--small", action="store_true", help="eight incidents (near twins included) instead of all")
    parser.add_argument("--json", action="store_true", help="the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure(args.small)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for row in figures["offline"]["rows"]:
            if not row["right"] or not row["specific"]:
                print(f"  offline miss: {row['incident']}: got {row['got']} — {row['title']}")
    failed = False
    for promise, target, measured, ok in checks(figures):
        print(f"{'PASS' if ok else 'FAIL'}  {promise}: {measured} (target {target})")
        failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
