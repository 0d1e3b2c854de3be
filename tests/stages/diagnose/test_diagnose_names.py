"""The offline diagnosis names what failed: upstream host and status, table and constraint, path, pool and its size."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aimon.stages.diagnose import heuristics, names
from aimon.stages.diagnose.context import DiagnosisContext
from aimon.stages.diagnose.source import SourceSnippet


def diagnose(message: str, clues: list[str] | None = None, source: list[str] | None = None) -> tuple[str, str, str, str, str]:
    facts = {"fingerprint": "f" * 16, "level": "ERROR", "template": message, "count": 3, "target": "shop::api"}
    ctx = DiagnosisContext(fingerprint="f" * 16, facts=facts, messages=[message], samples=[f"[E1] {message}"], clues=clues or [])
    if source is not None:
        ctx.source = SourceSnippet(path="src/db.rs", line=1, lines=list(enumerate(source, 1)))
    result = heuristics.diagnose(ctx)
    return result.title, result.root_cause, result.suggested_fix, result.category, result.severity


def test_an_upstream_that_failed_with_status_502_is_an_upstream_failure() -> None:
    title, _cause, fix, category, severity = diagnose("inventory call failed with status 502")
    assert (title, category, severity) == ("Upstream service failing (5xx): the upstream service answered with status 502 in shop::api",
                                           "upstream", "medium")
    assert fix.startswith("First check the status and error logs of the upstream service at that time")


def test_the_upstream_host_and_status_are_named() -> None:
    title, cause, fix, *_ = diagnose("rate lookup failed error=HTTP status server error (503 Service Unavailable) for url "
                                     "(https://rates.example.com/v1/EUR?date=2026-03-02)")
    assert title == "Upstream service failing (5xx): rates.example.com answered with status 503 Service Unavailable in shop::api"
    assert cause.endswith("Here rates.example.com (/v1/EUR) answered with status 503 Service Unavailable.")
    assert fix.startswith("First check the status and error logs of rates.example.com at that time")


def test_a_unique_violation_names_its_constraint_table_and_column() -> None:
    title, cause, fix, category, _ = diagnose('duplicate key value violates unique constraint "users_email_key" '
                                              "detail=Key (email)=(<email#1>) already exists.")
    assert title == "Unique constraint violation on insert: constraint users_email_key (likely table users, from its name) in shop::api"
    assert cause.endswith("Here the write broke constraint users_email_key (likely table users, from its name) (column email).")
    assert fix.startswith("First check which code path writes to users twice for the same key users_email_key guards")
    assert category == "database"


def test_a_foreign_key_violation_names_the_table_it_says() -> None:
    title, *_ = diagnose('insert or update on table "order_items" violates foreign key constraint "order_items_order_id_fkey"')
    assert title == "Foreign key violation: constraint order_items_order_id_fkey on table order_items in shop::api"


def test_a_missing_relation_names_the_table() -> None:
    title, _cause, fix, *_ = diagnose('error returned from database: relation "orders_v2" does not exist')
    assert title == "Query references a missing table or column: table orders_v2 is missing in shop::api"
    assert "whether the migration that creates table orders_v2 ran" in fix


def test_pool_exhaustion_names_the_pool_and_its_size_from_the_request_and_the_source() -> None:
    title, cause, fix, *_ = diagnose("timed out waiting for a connection from the pool after 5000ms",
                                     clues=["[T2] acquire slow: pool size 10, 10 in use, 40 waiting"])
    assert title == "Database connection pool exhausted: pool size 10, 10 in use, 40 waiting in shop::api"
    assert cause.endswith("Here the request got no connection after waiting 5000ms (pool size 10, 10 in use, 40 waiting).")
    assert fix.startswith("First check what holds the 10 connections of the pool")
    title, *_ = diagnose("pool timed out while waiting for an open connection", source=["PgPoolOptions::new()", "    .max_connections(5)"])
    assert title == "Database connection pool exhausted: pool size 5 in shop::api"


def test_paths_and_addresses_are_named() -> None:
    title, _cause, fix, *_ = diagnose("failed to open /var/lib/shop/keys.pem: Permission denied (os error 13)")
    assert title == "Permission denied: /var/lib/shop/keys.pem in shop::api"
    assert fix.startswith("First check /var/lib/shop/keys.pem on this host")
    title, *_ = diagnose("error trying to connect: tcp connect error: Connection refused (os error 111) for url (http://inventory:8080/items)")
    assert title == "Connection refused by a dependency: connecting to inventory:8080 in shop::api"


def test_generic_bad_input_is_a_low_severity_validation_error() -> None:
    title, _cause, fix, category, severity = diagnose("invalid request: quantity must be positive")
    assert (title, category, severity) == ("Request rejected as invalid input in shop::api", "validation", "low")
    assert "answer 4xx" in fix


def test_an_error_that_names_nothing_keeps_the_rules_words() -> None:
    title, *_ = diagnose("payment provider call failed: operation timed out")
    assert title == "Timeout waiting for a dependency in shop::api"


@given(st.lists(st.text(max_size=200), max_size=4), st.lists(st.text(max_size=80), max_size=3))
def test_names_are_read_from_any_text_and_are_taken_from_it(texts: list[str], source: list[str]) -> None:
    found = names.read(texts, source)
    joined = "\n".join([*texts, *source])
    for value in (found.host, found.port, found.constraint, found.column, found.path, found.pool_size, found.in_use, found.waiting):
        assert value is None or value in joined
    if found.table is not None and not found.table_guessed:
        assert found.table in joined
    for rule in ("upstream-5xx", "unique-violation", "pool-exhausted", "file-not-found", "connection-refused", "timeout", "tls", "dns"):
        names.specific(rule, found)  # never raises, whatever was (not) found
