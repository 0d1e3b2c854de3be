"""Pattern memory: a stored diagnosis is reused only for the same error; a near twin gets its own, and a suggestion."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from aimon.state.db import open_db
from aimon.state.diagnoses import latest_diagnosis, record_fix
from tests.fakes.openai_server import FakeOpenAI
from tests.stages.diagnose.diagnose_support import answer, detect, event, seed, write_log

KEY = "sk-test-0123456789abcdefghijklmnop"


def env(server: FakeOpenAI) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "AIMON_LLM_BASE_URL": server.base_url}


def db(tmp_path: Path) -> sqlite3.Connection:
    return open_db(tmp_path / "state.db")


def first_error(tmp_path: Path, cli: Any, server: FakeOpenAI, line: str, **diagnosis: Any) -> str:
    """Seed one error, have the LLM diagnose it; returns its fingerprint."""
    [fp] = seed(tmp_path / "state.db", write_log(tmp_path / "first.log", [line])).values()
    server.reply(answer(**diagnosis))
    cli("diagnose", env=env(server))
    assert len(server.requests) == 1
    return fp


def then(tmp_path: Path, cli: Any, server: FakeOpenAI, line: str, reply: dict[str, Any] | None = None) -> dict[str, Any]:
    """Seed a second error and diagnose it; returns its one diagnosis as ``diagnose --json`` shows it."""
    seed(tmp_path / "state.db", write_log(tmp_path / "then.log", [line]))
    if reply is not None:
        server.reply(reply)
    [item] = cli("diagnose", "--json", env=env(server)).json()["diagnosed"]
    return dict(item)


def panic(at: str) -> str:
    return f"thread 'tokio-runtime-worker' panicked at {at}:\ncalled `Option::unwrap()` on a `None` value"


# -- near twins with different causes: never the other's diagnosis ------------------------------------------------------

TIMEOUT = answer(title="Payment provider times out", root_cause="The provider is slow.", category="timeout", severity="medium")
REFUSED = answer(title="Payment provider refuses connections", root_cause="Nothing listens on the provider's port.",
                 category="connectivity", severity="high")


def test_one_error_code_with_another_cause_gets_its_own_diagnosis(tmp_path: Path, cli: Any, openai_server: FakeOpenAI) -> None:
    fp = first_error(tmp_path, cli, openai_server, event(1, "ERROR", "payment provider call failed: connection refused",
                                                        code="PAYMENT_UPSTREAM", target="shop::payments", file="src/pay.rs", line=40), **REFUSED)
    item = then(tmp_path, cli, openai_server, event(2, "ERROR", "payment provider call failed: operation timed out",
                                                    code="PAYMENT_UPSTREAM", target="shop::payments", file="src/pay.rs", line=52), TIMEOUT)
    assert (item["source"], item["memory_of"], item["result"]["title"]) == ("llm", None, "Payment provider times out")
    assert len(openai_server.requests) == 2
    [suggested] = item["similar"]
    assert (suggested["fingerprint"], suggested["why"], suggested["title"]) == (fp, "same error code PAYMENT_UPSTREAM", REFUSED["title"])
    user = openai_server.requests[1].body["messages"][1]["content"]
    assert f"[M1] A different error {fp[:8]} (same error code PAYMENT_UPSTREAM; it may have another cause)" in user


def test_a_primary_key_violation_on_another_table_is_not_the_unique_email_fix(tmp_path: Path, cli: Any, openai_server: FakeOpenAI) -> None:
    first_error(tmp_path, cli, openai_server, event(1, "ERROR", 'duplicate key value violates unique constraint "users_email_key"',
                                                    code="DB_UNIQUE", file="src/signup.rs", line=57),
                title="Signup inserts an existing e-mail", severity="low", auto_fixable=True)
    item = then(tmp_path, cli, openai_server, event(2, "ERROR", 'insert into orders: duplicate key value violates unique constraint "orders_pkey"',
                                                    code="DB_UNIQUE", file="src/orders.rs", line=14),
                answer(title="Order id generated twice", severity="high"))
    assert (item["source"], item["result"]["title"], item["result"]["severity"]) == ("llm", "Order id generated twice", "high")
    assert [s["why"] for s in item["similar"]] == ["same error code DB_UNIQUE"]


def test_the_same_panic_message_at_another_line_is_not_reused_and_not_autofixed(tmp_path: Path, cli: Any, openai_server: FakeOpenAI) -> None:
    first_error(tmp_path, cli, openai_server, panic("src/cart.rs:83:28"), title="Cart lookup unwraps a missing cart", auto_fixable=True,
                confidence=0.9)
    seed(tmp_path / "state.db", write_log(tmp_path / "then.log", [panic("src/orders.rs:12:9")]))
    [item] = cli("diagnose", "--json").json()["diagnosed"]  # offline: the similar LLM diagnosis is still not taken
    assert item["source"] == "heuristic" and item["memory_of"] is None
    assert item["result"]["title"] != "Cart lookup unwraps a missing cart"
    assert item["result"]["auto_fixable"] is False  # no source available: nothing vouches for a change
    assert item["similar"][0]["title"] == "Cart lookup unwraps a missing cart"


def test_a_similar_template_without_an_error_code_is_a_suggestion(tmp_path: Path, cli: Any, openai_server: FakeOpenAI) -> None:
    fp = first_error(tmp_path, cli, openai_server, event(1, "ERROR", "failed to refresh exchange rates from provider ecb", target="shop::rates"),
                     title="Rates provider unreachable")
    item = then(tmp_path, cli, openai_server, event(2, "ERROR", "failed to refresh exchange rates from provider ecb mirror", target="shop::rates"),
                answer(title="Mirror of the rates provider is down"))
    assert (item["source"], item["result"]["title"]) == ("llm", "Mirror of the rates provider is down")
    assert item["similar"][0]["fingerprint"] == fp and item["similar"][0]["why"].startswith("similar message (0.")
    with db(tmp_path) as conn:
        stored = latest_diagnosis(conn, item["fingerprint"])
    assert stored is not None and stored["similar"] == item["similar"]


def test_the_suggestion_names_the_similar_errors_github_issue(tmp_path: Path, cli: Any, openai_server: FakeOpenAI) -> None:
    fp = first_error(tmp_path, cli, openai_server, event(1, "ERROR", "card declined by issuer", code="CARD"))
    with db(tmp_path) as conn:
        conn.execute("INSERT INTO issues (fingerprint, number, url, state, labels) VALUES (?, 41, 'https://x/41', 'open', '[]')", (fp,))
    item = then(tmp_path, cli, openai_server, event(2, "ERROR", "card expired", code="CARD"), answer(title="Expired card"))
    assert item["similar"][0]["issue"] == 41 and item["similar"][0]["diagnosed_at"]


# -- true recurrences: the same error's diagnosis, no LLM call -------------------------------------------------------------


def test_the_same_template_at_the_same_line_reuses_the_diagnosis_without_a_call(tmp_path: Path, cli: Any, openai_server: FakeOpenAI) -> None:
    fp = first_error(tmp_path, cli, openai_server, event(1, "ERROR", "order store failed", target="shop::api", file="src/orders.rs", line=14),
                     title="Order store fails")
    item = then(tmp_path, cli, openai_server, event(2, "ERROR", "order store failed", target="shop::worker", file="src/orders.rs", line=14))
    assert item["fingerprint"] != fp
    assert (item["source"], item["memory_of"], item["result"]["title"]) == ("memory", 1, "Order store fails")
    assert item["note"] == f"memory: the same error (same template at src/orders.rs:14) as {fp}"
    assert item["result"]["evidence"][0].startswith(f"[memory] the same error as {fp[:8]} (same template at src/orders.rs:14)")
    assert len(openai_server.requests) == 1


def test_a_learned_alias_lends_its_diagnosis_to_the_fingerprint_it_merged_into(tmp_path: Path, cli: Any, openai_server: FakeOpenAI) -> None:
    fp = first_error(tmp_path, cli, openai_server, event(1, "ERROR", "inventory sync failed for sku 12", target="shop::sync"), title="Sync broken")
    with db(tmp_path) as conn:
        conn.execute("INSERT INTO fingerprints (fingerprint, algo, level, template, sample, first_seen, last_seen, count, created_at)"
                     " SELECT 'ffff000000000001', algo, level, 'inventory sync failed for <*>', sample, first_seen, last_seen, count,"
                     " created_at FROM fingerprints WHERE fingerprint = ?", (fp,))
        conn.execute("INSERT INTO fingerprint_aliases (alias, fingerprint, created_at) VALUES (?, 'ffff000000000001', 'x')", (fp,))
        detect(conn, "ffff000000000001", "new")
    [item] = cli("diagnose", "--json", env=env(openai_server)).json()["diagnosed"]
    assert (item["fingerprint"], item["source"], item["memory_of"]) == ("ffff000000000001", "memory", 1)
    assert item["note"] == f"memory: the same error (learned alias) as {fp}"
    assert len(openai_server.requests) == 1


def test_a_regression_without_a_recorded_fix_keeps_its_diagnosis_without_a_call(tmp_path: Path, cli: Any, openai_server: FakeOpenAI) -> None:
    fp = first_error(tmp_path, cli, openai_server, event(1, "ERROR", "session store unreachable"), title="Session store down")
    with db(tmp_path) as conn:
        detect(conn, fp, "regression")
    [item] = cli("diagnose", "--json", env=env(openai_server)).json()["diagnosed"]
    assert (item["reason"], item["source"], item["memory_of"], item["result"]["title"]) == ("regression", "memory", 1, "Session store down")
    assert len(openai_server.requests) == 1


def test_a_regression_after_a_recorded_fix_asks_again(tmp_path: Path, cli: Any, openai_server: FakeOpenAI) -> None:
    fp = first_error(tmp_path, cli, openai_server, event(1, "ERROR", "session store unreachable"), title="Session store down")
    with db(tmp_path) as conn:
        record_fix(conn, fp, "PR merged: reconnect", None)
        detect(conn, fp, "regression")
    openai_server.reply(answer(title="Reconnect fix incomplete"))
    [item] = cli("diagnose", "--json", env=env(openai_server)).json()["diagnosed"]
    assert (item["source"], item["result"]["title"]) == ("llm", "Reconnect fix incomplete")


def test_a_diagnosis_stored_by_an_earlier_version_is_still_reused_for_the_same_error(tmp_path: Path, cli: Any) -> None:
    [fp] = seed(tmp_path / "state.db", write_log(tmp_path / "a.log", [event(1, "ERROR", "order store failed", file="src/o.rs", line=3)])).values()
    old = dict(reversed(list(answer(confidence=1).items())))  # keys in another order, an integer confidence
    with db(tmp_path) as conn:
        detection = conn.execute("SELECT id FROM detections WHERE fingerprint = ?", (fp,)).fetchone()[0]
        conn.execute("INSERT INTO diagnoses (fingerprint, detection_id, source, model, result, created_at)"
                     " VALUES (?, ?, 'llm', 'gpt-4o-mini', ?, '2026-03-01T00:00:00.000000Z')", (fp, detection, json.dumps(old)))
    seed(tmp_path / "state.db", write_log(tmp_path / "b.log", [event(2, "ERROR", "order store failed", file="src/o.rs", line=3,
                                                                    target="shop::jobs")]))
    [item] = cli("diagnose", "--json").json()["diagnosed"]
    assert (item["source"], item["memory_of"]) == ("memory", 1)
    assert item["result"] == old | {"evidence": [f"[memory] the same error as {fp[:8]} (same template at src/o.rs:3), diagnosed "
                                                 "2026-03-01T00:00:00.000000Z", *old["evidence"]]}


def test_a_diagnosis_cites_its_evidence_by_reference_and_the_issue_shows_the_lines(tmp_path: Path, cli: Any, openai_server: FakeOpenAI) -> None:
    from aimon.config import load_settings
    from aimon.remotes.egress import Egress
    from aimon.stages.delivery import load_incident
    from aimon.stages.issues.text import issue_body

    lines = [event(1, "WARN", "slow statement elapsed=2.31s", rid="r1"), event(2, "ERROR", "order store failed", rid="r1")]
    seed(tmp_path / "state.db", write_log(tmp_path / "app.log", lines))
    openai_server.reply(answer(evidence=["[T1] the slow statement", "[E1] the error", "[T9] a line it made up"]))
    [item] = cli("diagnose", "--json", env=env(openai_server)).json()["diagnosed"]
    settings = load_settings(environ={"AIMON_DB": str(tmp_path / "state.db")})
    with db(tmp_path) as conn:
        stored = latest_diagnosis(conn, item["fingerprint"])
        assert stored is not None
        assert [(c["ref"], (c["line"] or "")[:60]) for c in stored["cited"]] == [
            ("T1", "[T1] 2026-03-02T10:15:01.000Z WARN shop::api: slow statement"), ("E1", "[E1] 2026-03-02T10:15:02.000Z ERROR shop::api: order store f"),
            ("T9", "")]
        [detection] = [row[0] for row in conn.execute("SELECT id FROM detections")]
        body = issue_body(conn, settings, load_incident(conn, settings, detection), Egress.of(settings).redactor())
    cited = body.split("### Cited lines\n", 1)[1]
    assert "[T1] 2026-03-02T10:15:01.000Z WARN shop::api: slow statement elapsed=2.31s" in cited
    assert "[T9] (cited, but not in the data aimon sent)" in cited
