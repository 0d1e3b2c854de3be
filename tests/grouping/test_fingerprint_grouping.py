"""Learned grouping: what merges and what must not, and merges kept as aliases in a real state file."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from aimon.config import FingerprintRule, load_settings
from aimon.grouping.fingerprint import ALGO_VERSION, Fingerprinter
from aimon.grouping.learned import generalize, learn_merges, load_learned
from aimon.model import LogRecord
from aimon.state.db import open_db
from aimon.state.groups import canonical


def test_a_word_that_varies_a_lot_becomes_a_placeholder() -> None:
    templates = [f"session closed for user {name}" for name in ("alice", "bob", "carol", "dave")]
    assert set(generalize(templates).values()) == {"session closed for user <*>"}


def test_few_values_are_constants() -> None:
    templates = [f"session {verb} for user root" for verb in ("opened", "closed", "resumed")]
    assert generalize(templates) == {template: template for template in templates}


def test_state_names_need_many_more_values() -> None:
    states = ["Started", "Stopped", "Paused", "Resumed", "Crashed"]
    templates = [f"[instance: <*>] VM {state} (Lifecycle Event)" for state in states]
    assert generalize(templates) == {template: template for template in templates}
    many = [
        f"worker pool entered state {name}"
        for name in ("Alpha", "Beta", "Gamma", "Delta", "Eps", "Zeta", "Eta", "Theta")
    ]
    assert set(generalize(many).values()) == {"worker pool entered state <*>"}


def test_short_messages_are_never_merged() -> None:
    templates = ["connection reset", "connection refused", "connection closed", "connection aborted", "connection lost"]
    assert generalize(templates) == {template: template for template in templates}


def test_a_masked_value_in_the_same_position_is_enough() -> None:
    mapping = generalize(["invalid user <*> from <*>", "invalid user admin from <*>"])
    assert set(mapping.values()) == {"invalid user <*> from <*>"}


def test_words_seen_varying_elsewhere_are_values_here_too() -> None:
    closed = [f"session closed for user {name}" for name in ("cyrus", "news", "test", "root")]
    opened = [f"session opened for user {name} by <*>" for name in ("cyrus", "news", "test")]
    mapping = generalize(closed + opened)
    assert {mapping[template] for template in opened} == {"session opened for user <*> by <*>"}
    # Alone, three names are not enough evidence.
    assert generalize(opened) == {template: template for template in opened}


def test_different_lengths_and_two_differences_stay_apart() -> None:
    templates = [
        "failed password for root from <*>",
        "failed password for invalid user root from <*>",
        "accepted password for root from <*>",
        "failed publickey for git from <*>",
    ]
    assert generalize(templates) == {template: template for template in templates}


def test_the_result_does_not_depend_on_order() -> None:
    templates = [
        f"user {name} logged out of {app}" for name in ("ann", "ben", "cid", "dan", "eve") for app in ("mail", "wiki")
    ]
    templates += ["disk full on node", "disk full on volume", "user <*> logged out of wiki"]
    expected = generalize(templates)
    for seed in range(5):
        shuffled = templates[:]
        random.Random(seed).shuffle(shuffled)
        assert generalize(shuffled) == expected
    assert set(expected.values()) == {
        "user <*> logged out of mail",
        "user <*> logged out of wiki",
        "disk full on node",
        "disk full on volume",
    }


# --- merges in the state file ---------------------------------------------------------------------------------------


def remember(conn: sqlite3.Connection, record: LogRecord, when: str, count: int = 1) -> str:
    """Store a fingerprint the way a scan does: one row, per-minute counts."""
    found = Fingerprinter().of(record)
    conn.execute(
        "INSERT INTO fingerprints (fingerprint, algo, level, error_code, target, template, sample, file, line, is_panic, "
        "first_seen, last_seen, count, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            found.id,
            found.algo,
            record.level,
            record.error_code,
            record.target,
            found.template,
            record.message,
            record.file,
            record.line,
            int(record.is_panic),
            when,
            when,
            count,
            when,
        ),
    )
    conn.execute("INSERT INTO counts (fingerprint, minute, n) VALUES (?, ?, ?)", (found.id, 100, count))
    return found.id


def login_failure(user: str) -> LogRecord:
    return LogRecord(
        level="ERROR", message=f"login failed for user {user} from 10.0.0.{len(user)}", target="shop::auth"
    )


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    return open_db(tmp_path / "state.db")


def test_learned_merges_become_aliases_of_the_oldest_fingerprint(conn: sqlite3.Connection) -> None:
    users = ["alice", "bob", "carol", "dave"]
    ids = [
        remember(conn, login_failure(user), f"2026-01-0{day}T00:00:00.000000Z", count=day)
        for day, user in enumerate(users, 1)
    ]
    other = remember(
        conn,
        LogRecord("ERROR", "login failed for user alice from 10.0.0.1", target="shop::admin"),
        "2026-01-01T00:00:00.000000Z",
    )
    merges = learn_merges(conn, load_settings())
    assert merges == [(ids[1], ids[0]), (ids[2], ids[0]), (ids[3], ids[0])]
    aliases = conn.execute("SELECT alias, fingerprint FROM fingerprint_aliases ORDER BY alias").fetchall()
    assert sorted(map(tuple, aliases)) == sorted((alias, ids[0]) for alias in ids[1:])
    keep = conn.execute(
        "SELECT template, count, first_seen, last_seen FROM fingerprints WHERE fingerprint = ?", (ids[0],)
    ).fetchone()
    assert tuple(keep) == (
        "login failed for user <*> from <*>",
        1 + 2 + 3 + 4,
        "2026-01-01T00:00:00.000000Z",
        "2026-01-04T00:00:00.000000Z",
    )
    assert [tuple(row) for row in conn.execute("SELECT fingerprint, n FROM counts ORDER BY n")] == [
        (other, 1),
        (ids[0], 10),
    ]
    # Earlier ids keep answering; an id nobody merged answers for itself.
    assert {canonical(conn, fingerprint) for fingerprint in ids} == {ids[0]}
    assert canonical(conn, other) == other
    assert canonical(conn, "0123456789abcdef") == "0123456789abcdef"
    # Learning again changes nothing: the identity of a group never moves.
    assert learn_merges(conn, load_settings()) == []


def test_a_fingerprinter_with_what_was_learned_answers_with_the_canonical_id(conn: sqlite3.Connection) -> None:
    ids = [
        remember(conn, login_failure(user), "2026-01-01T00:00:00.000000Z") for user in ["alice", "bob", "carol", "dave"]
    ]
    learn_merges(conn, load_settings())
    first = min(ids)  # created together: the smallest id is the canonical one
    learned = Fingerprinter(learned=load_learned(conn))
    for user in ["bob", "zoe", "mallory"]:  # an alias, and users never seen before
        found = learned.of(login_failure(user))
        assert found.id == canonical(conn, ids[1]) == first
        assert found.template == "login failed for user <*> from <*>"
    # Other contexts and other messages are untouched.
    stranger = LogRecord("ERROR", "login failed for user zoe from 10.0.0.3", target="shop::admin")
    assert learned.of(stranger) == Fingerprinter().of(stranger)
    assert learned.of(LogRecord("ERROR", "disk full", target="shop::auth")) == Fingerprinter().of(
        LogRecord("ERROR", "disk full", target="shop::auth")
    )


def test_alias_chains_are_followed_to_the_end(conn: sqlite3.Connection) -> None:
    first = [
        remember(conn, login_failure(user), "2026-01-01T00:00:00.000000Z") for user in ["ann", "ben", "cid", "dan"]
    ]
    learn_merges(conn, load_settings())
    root = canonical(conn, first[0])
    conn.execute(
        "INSERT INTO fingerprint_aliases (alias, fingerprint, created_at) VALUES ('aaaaaaaaaaaaaaaa', ?, 'x')",
        (first[1],),
    )
    assert canonical(conn, "aaaaaaaaaaaaaaaa") == root
    assert load_learned(conn).aliases["aaaaaaaaaaaaaaaa"] == root


def test_canonical_survives_a_cycle(conn: sqlite3.Connection) -> None:
    a = remember(conn, LogRecord("ERROR", "a"), "2026-01-01T00:00:00.000000Z")
    b = remember(conn, LogRecord("ERROR", "b"), "2026-01-01T00:00:00.000000Z")
    conn.execute("INSERT INTO fingerprint_aliases VALUES (?, ?, 'x'), (?, ?, 'x')", (a, b, b, a))
    assert canonical(conn, a) in (a, b)


def test_panics_merge_only_at_the_same_location(conn: sqlite3.Connection) -> None:
    def boom(who: str, line: int) -> LogRecord:
        return LogRecord(
            "PANIC", f"no profile for customer {who} in cache", file="/build/shop/src/profile.rs", line=line
        )

    here = [remember(conn, boom(who, 10), "2026-01-01T00:00:00.000000Z") for who in ["ann", "ben", "cid", "dan"]]
    there = [remember(conn, boom(who, 99), "2026-01-01T00:00:00.000000Z") for who in ["ann", "ben", "cid"]]
    merges = learn_merges(conn, load_settings())
    assert sorted(merges) == sorted((alias, min(here)) for alias in here if alias != min(here))
    assert {canonical(conn, fingerprint) for fingerprint in there} == set(there)


def test_templates_fixed_by_a_rule_are_never_merged(tmp_path: Path, conn: sqlite3.Connection) -> None:
    rules = [FingerprintRule(pattern="^login failed", template="login failed for user someone from somewhere")]
    (tmp_path / "aimon.toml").write_text(
        '[[fingerprint.rules]]\npattern = "^login failed"\ntemplate = "login failed for user someone from somewhere"\n'
    )
    settings = load_settings(environ={"AIMON_CONFIG": str(tmp_path / "aimon.toml")})
    assert settings.fingerprint_rules == tuple(rules)
    for user in ["ann", "ben", "cid", "dan"]:
        conn.execute(
            "INSERT INTO fingerprints (fingerprint, algo, level, target, template, sample, first_seen, last_seen, count, "
            "created_at) VALUES (?, ?, 'ERROR', 'x', ?, 's', 't', 't', 1, 't')",
            (f"{len(user):016x}{user}"[-16:], ALGO_VERSION, f"login failed for user {user} from somewhere"),
        )
    conn.execute(
        "INSERT INTO fingerprints (fingerprint, algo, level, target, template, sample, first_seen, last_seen, count, "
        "created_at) VALUES ('ffffffffffffffff', ?, 'ERROR', 'x', ?, 's', 't', 't', 1, 't')",
        (ALGO_VERSION, "login failed for user someone from somewhere"),
    )
    merges = learn_merges(conn, settings)
    assert "ffffffffffffffff" not in {fingerprint for pair in merges for fingerprint in pair}
    assert len(merges) == 3
