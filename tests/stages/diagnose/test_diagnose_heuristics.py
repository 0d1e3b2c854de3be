"""The offline diagnoser: what a Rust web service really hits, recognised from real message texts; honest confidence."""

from __future__ import annotations

from typing import Any

import pytest

from aimon.config import CatalogEntry
from aimon.model import Diagnosis
from aimon.stages.diagnose import heuristics
from aimon.stages.diagnose.context import DiagnosisContext
from aimon.stages.diagnose.source import SourceSnippet


def ctx_for(message: str, *, panic: bool = False, trail: list[str] | None = None, **facts: Any) -> DiagnosisContext:
    base = {"fingerprint": "f" * 16, "level": "PANIC" if panic else "ERROR", "template": message, "count": 4,
            "first_seen": "2026-03-02T10:00:00.000000Z", "last_seen": "2026-03-02T10:05:00.000000Z", **facts}
    if panic:
        base["panic"] = "yes"
    return DiagnosisContext(fingerprint="f" * 16, facts=base, messages=[message], samples=[f"[E1] {message}"], trail=trail or [])


# (message as services log it, expected rule title, category)
CASES = [
    ("error trying to connect: tcp connect error: Connection refused (os error 111)", "Connection refused by a dependency", "connectivity"),
    ("error sending request for url (http://payments:8080/charge): connection error: Connection reset by peer (os error 104)",
     "Connection reset or closed by the peer", "connectivity"),
    ("hyper::Error(IncompleteMessage): connection closed before message completed", "Connection reset or closed by the peer", "connectivity"),
    ("request to inventory failed: operation timed out", "Timeout waiting for a dependency", "timeout"),
    ("deadline has elapsed", "Timeout waiting for a dependency", "timeout"),
    ("error trying to connect: dns error: failed to lookup address information: Name or service not known", "DNS resolution failed", "dns"),
    ("error trying to connect: invalid peer certificate: UnknownIssuer", "TLS failure", "tls"),
    ("pool timed out while waiting for an open connection", "Database connection pool exhausted", "resource-exhaustion"),
    ("Timed out in bb8", "Database connection pool exhausted", "resource-exhaustion"),
    ('error returned from database: duplicate key value violates unique constraint "users_email_key"', "Unique constraint violation on insert", "database"),
    ("error returned from database: deadlock detected", "Database deadlock", "database"),
    ('error returned from database: relation "orders_v2" does not exist', "Query references a missing table or column", "database"),
    ("no rows returned by a query that expected to return at least one row", "Query expected a row and found none", "logic"),
    ("memory allocation of 8589934592 bytes failed", "Out of memory", "memory"),
    ("failed to write upload: No space left on device (os error 28)", "Disk full", "storage"),
    ("failed to open /var/lib/shop/keys.pem: Permission denied (os error 13)", "Permission denied", "permission"),
    ("accept error: Too many open files (os error 24)", "Too many open files", "resource-exhaustion"),
    ("error binding to 0.0.0.0:8080: Address already in use (os error 98)", "Port already in use", "configuration"),
    ("called `Option::unwrap()` on a `None` value", "Panic: unwrap() on a None value", "panic"),
    ("index out of bounds: the len is 0 but the index is 0", "Panic: index out of bounds", "panic"),
    ("byte index 5 is not a char boundary; it is inside 'é' (bytes 4..6) of `café au lait`", "Panic: slice or string range out of bounds", "panic"),
    ("attempt to subtract with overflow", "Panic: arithmetic overflow", "panic"),
    ("attempt to divide by zero", "Panic: division by zero", "panic"),
    ("called `Result::unwrap()` on an `Err` value: PoisonError { .. }", "Panic: .unwrap() on an Err — Mutex poisoned by an earlier panic", "concurrency"),
    ("failed to send event: channel closed", "Channel closed: the other side is gone", "concurrency"),
    ("background task failed: JoinError::Panic(Id(12), ...)", "Spawned task panicked or was cancelled", "concurrency"),
    ("join error was not a panic, should not poll after abort", "Spawned task panicked or was cancelled", "concurrency"),
    ("there is no reactor running, must be called from the context of a Tokio 1.x runtime", "Tokio API used outside a Tokio runtime", "runtime-misuse"),
    ("Cannot start a runtime from within a runtime. This happens because a function (like `block_on`) attempted to block the current "
     "thread while the thread is being used to drive asynchronous tasks.", "Runtime started from within a runtime (block_on inside async code)", "runtime-misuse"),
    ("Cannot drop a runtime in a context where blocking is not allowed. This happens when a runtime is dropped from within an asynchronous context.",
     "Tokio runtime dropped inside async code", "runtime-misuse"),
    ("A Tokio 1.x context was found, but timers are disabled. Call `enable_time` on the runtime builder to enable timers.",
     "Tokio runtime built without the time or IO driver", "configuration"),
    ("A Tokio 1.x context was found, but it is being shutdown.", "Work scheduled while the runtime shuts down", "runtime-misuse"),
    ("The Tokio context thread-local variable has been destroyed.", "Work scheduled while the runtime shuts down", "runtime-misuse"),
    ("`spawn_local` called from outside of a `task::LocalSet` or `runtime::LocalRuntime`", "spawn_local called outside a LocalSet", "runtime-misuse"),
    ("HTTP status server error (503 Service Unavailable) for url (https://rates.example.com/v1/eur)", "Upstream service failing (5xx)", "upstream"),
    ("upstream returned 502", "Upstream service failing (5xx)", "upstream"),
    ("HTTP status client error (429 Too Many Requests) for url (https://api.example.com/v1/send)", "Rate limited by an upstream service", "rate-limit"),
    ("Failed to deserialize the JSON body into the target type: b[0]: missing field `y` at line 1 column 23",
     "JSON (de)serialization failed: data does not match the expected type", "serialization"),
    ("Failed to parse the request body as JSON: trailing characters at line 1 column 18",
     "JSON (de)serialization failed: data does not match the expected type", "serialization"),
    ("Failed to deserialize query string: n: invalid digit found in string", "JSON (de)serialization failed: data does not match the expected type", "serialization"),
    ("Overlapping method route. Handler for `GET /users` already exists", "Router misconfiguration at startup", "configuration"),
    ("error returned from database: password authentication failed for user \"shop\"", "Database rejects the connection settings", "configuration"),
]


@pytest.mark.parametrize(("message", "title", "category"), CASES, ids=[c[1][:40] + ":" + c[0][:20] for c in CASES])
def test_known_failures_are_recognised(message: str, title: str, category: str) -> None:
    panic = message.startswith(("called `", "index out", "attempt to", "byte index", "there is no", "Cannot ", "A Tokio", "The Tokio", "`spawn", "Overlapping"))
    result = heuristics.diagnose(ctx_for(message, panic=panic))
    assert Diagnosis.model_validate(result.model_dump()) == result  # what is stored loads back as the same diagnosis
    assert result.title == title or result.title.startswith(f"{title}: ")  # with the names the error carries, when it has some
    assert result.category == category
    assert result.insufficient_evidence is False
    assert 0.4 <= result.confidence <= heuristics.MAX_CONFIDENCE
    assert result.suggested_fix and result.root_cause


def test_unwrap_on_err_is_classified_by_the_error_inside() -> None:
    message = 'called `Result::unwrap()` on an `Err` value: Os { code: 111, kind: ConnectionRefused, message: "Connection refused" }'
    result = heuristics.diagnose(ctx_for(message, panic=True, target="shop::cache"))
    assert result.title == "Panic: .unwrap() on an Err — Connection refused by a dependency in shop::cache"
    assert result.category == "connectivity" and result.severity == "high"
    assert result.root_cause.startswith("The code calls .unwrap() on a Result that was Err")
    assert "Nothing listens at the address" in result.root_cause
    assert result.auto_fixable is False  # no source to check the change against


def test_expect_on_err_uses_the_message_after_the_expect_text() -> None:
    result = heuristics.diagnose(ctx_for("failed to connect to redis: Connection refused (os error 111)", panic=True))
    assert result.category == "connectivity"


def test_generic_panic_is_low_confidence_but_named() -> None:
    result = heuristics.diagnose(ctx_for("invariant broken: cart has no owner", panic=True))
    assert result.title == "Panic" and result.category == "panic" and result.confidence == 0.45


def test_nothing_matched_is_honest() -> None:
    result = heuristics.diagnose(ctx_for("widget frobnication failed for batch"))
    assert result.confidence == heuristics.NOTHING_MATCHED
    assert result.insufficient_evidence is True and result.auto_fixable is False and result.category == "unknown"
    assert result.title == "Unrecognised error: widget frobnication failed for batch"
    assert "LLM diagnosis" in result.suggested_fix


def test_a_generic_error_is_explained_by_the_request_trail() -> None:
    trail = ["[T1] 10:00:01 INFO shop::api: started", "[T2] 10:00:02 WARN shop::db: pool timed out while waiting for an open connection",
             ">> [T3] 10:00:03 ERROR shop::api: request failed"]
    ctx = ctx_for("request failed", trail=trail)
    ctx.trail_error_index = 2
    ctx.clues = ["[T2] pool timed out while waiting for an open connection"]
    result = heuristics.diagnose(ctx)
    assert result.title == "Database connection pool exhausted (named by the request's earlier lines)"
    assert result.confidence == 0.55
    assert "[T2] 10:00:02 WARN shop::db: pool timed out while waiting for an open connection" in result.evidence


@pytest.mark.parametrize(
    ("message", "target"),
    [
        ('response failed classification="Status code: 503 Service Unavailable" latency="5001 ms"', "tower_http::trace::on_failure"),
        ("response failed status=500 Internal Server Error", "shop::http"),
    ],
)
def test_a_report_of_this_services_failed_response_is_explained_by_the_request_not_by_its_status(message: str, target: str) -> None:
    """The 503 in an on_failure line is what this service answered, not an upstream's answer: the request's own earlier
    error is the cause (and without one, the status alone still reads as what it is)."""
    ctx = ctx_for(message, target=target)
    ctx.clues = ["[T2] timed out waiting for a connection from the pool after 5001ms"]
    result = heuristics.diagnose(ctx)
    assert result.title == f"Database connection pool exhausted: no connection after waiting 5001ms (named by the request's earlier lines) in {target}"
    assert result.category == "resource-exhaustion"


def test_an_error_that_says_its_cause_keeps_it_whatever_the_request_logged_before() -> None:
    ctx = ctx_for("request failed: error trying to connect: tcp connect error: Connection refused (os error 111)", target="shop::api")
    ctx.clues = ["[T2] timed out waiting for a connection from the pool after 5001ms"]
    assert heuristics.diagnose(ctx).title.startswith("Connection refused by a dependency")


def test_only_clues_name_a_cause_and_by_what_they_say() -> None:
    # A trail line that is not a clue (INFO, later, or a guess) names nothing, nor does a target or file name.
    ctx = ctx_for("request failed", trail=["[T1] 10:00:01 INFO shop::api: finished status=503 Service Unavailable",
                                            "[T2] 10:00:02 WARN shop::timeout: retrying (src/upstream_5xx.rs:3)"])
    assert heuristics.diagnose(ctx).insufficient_evidence is True
    ctx.clues = ["[T2] retrying"]
    assert heuristics.diagnose(ctx).insufficient_evidence is True


def test_source_makes_local_panics_auto_fixable_and_cites_the_line() -> None:
    ctx = ctx_for("index out of bounds: the len is 0 but the index is 0", panic=True)
    ctx.source = SourceSnippet(path="src/cart.rs", line=3, lines=[(1, "fn first(v: &[Item]) -> &Item {"), (2, "    // the cart may be empty"), (3, "    &v[0]")],
                               fn_name="first", fn_line=1)
    result = heuristics.diagnose(ctx)
    assert result.auto_fixable is True and result.confidence == 0.8
    assert "[src/cart.rs:3] (in fn first) &v[0]" in result.evidence


def test_catalog_not_auto_fixable_wins() -> None:
    ctx = ctx_for("index out of bounds: the len is 0 but the index is 0", panic=True)
    ctx.source = SourceSnippet(path="src/cart.rs", line=1, lines=[(1, "&v[0]")])
    ctx.catalog = CatalogEntry(code="CART", auto_fixable=False)
    result = heuristics.diagnose(ctx)
    assert result.auto_fixable is False and "catalog" in result.auto_fixable_reason


def test_a_large_spike_raises_the_severity_one_level() -> None:
    quiet = heuristics.diagnose(ctx_for("deadline has elapsed"))
    storm = heuristics.diagnose(ctx_for("deadline has elapsed", detection="spike", spike_factor=25.0, window_count=500))
    assert (quiet.severity, storm.severity) == ("medium", "high")
    assert "Spiking: 500 in the last window, 25.0× the baseline." in storm.summary


@pytest.mark.parametrize("message", [
    "timed out waiting for a connection from the pool after 5001ms",
    "error occurred while attempting to establish a connection: pool timed out",
    "deadpool: Timeout(Wait)",
])
def test_pool_exhaustion_wordings(message: str) -> None:
    assert heuristics.diagnose(ctx_for(message)).title.startswith("Database connection pool exhausted")


def test_catalog_description_is_quoted_once() -> None:
    ctx = ctx_for("payment provider returned 503 Service Unavailable")
    ctx.catalog = CatalogEntry(code="UPSTREAM_5XX", description="The payment provider answered with a 5xx status.")
    assert heuristics.diagnose(ctx).root_cause.startswith(
        "The error catalog says UPSTREAM_5XX: The payment provider answered with a 5xx status. A dependency answered")
