"""Fingerprints: masking, identity, panics, user rules, determinism, and `aimon fingerprint` through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import aimon.grouping.fingerprint as fingerprint_module
from aimon.config import FingerprintRule
from aimon.errors import ConfigError
from aimon.grouping.fingerprint import ALGO_VERSION, Fingerprint, Fingerprinter, fold_digits, mask, panic_location
from aimon.model import LogRecord

ROOT = Path(__file__).resolve().parents[2]


def event(message: str, *, target: str | None = "shop::api", error_code: str | None = None) -> LogRecord:
    return LogRecord(level="ERROR", message=message, target=target, error_code=error_code)


def panic(message: str, file: str, line: int) -> LogRecord:
    return LogRecord(level="PANIC", message=message, file=file, line=line, format="panic")


@pytest.mark.parametrize(
    ("message", "template"),
    [
        ("user 42 not found", "user <*> not found"),
        ("request 7631a992f0ce5835 failed", "request <*> failed"),
        ("peer 10.0.3.7:5432 refused the connection", "peer <*> refused the connection"),
        ("order b9000564-fe1a-409b-b8cc-1e88b294cd1d not found", "order <*> not found"),
        ("bad pointer 0xdeadbeef", "bad pointer <*>"),
        ("cannot open /var/lib/shop/orders.db: denied", "cannot open <*>: denied"),
        ("cannot open C:\\shop\\orders.db: denied", "cannot open <*>: denied"),
        ("query took 12ms", "query took <*>"),
        ("query took 1.5s", "query took <*>"),
        ("query took 250 ms", "query took <*>"),
        ("body of 93.0 KB too large", "body of <*> too large"),
        ("unknown field 'colour'", "unknown field '<*>'"),
        ('relation "orders" does not exist', 'relation "<*>" does not exist'),
        ("batch started 2026-11-24T09:00:00.268Z stalled", "batch started <*> stalled"),
        ("batch started 2026-11-24 09:00:00,123 stalled", "batch started <*> stalled"),
        ("connection at Sun Jul  3 10:05:25 2005 dropped", "connection at <*> dropped"),
        ("mail to alice@example.com bounced", "mail to <*> bounced"),
        ("GET https://pay.example.com/v1/charge?id=9 failed", "GET <*> failed"),
        ("uri: http://127.0.0.1:8080/0, version: HTTP/1.1", "uri: <*>, version: HTTP/<*>"),
        ("host db.internal.example.com unreachable", "host <*> unreachable"),
        ("peers [] left", "peers [<*>] left"),
        ("deleting blk_1 blk_2 blk_3", "deleting <*>"),
        ("  spaced \t out  ", "spaced out"),
        ("uid=1000 gid=1000 denied", "uid=<*> gid=<*> denied"),
    ],
)
def test_variable_parts_are_masked(message: str, template: str) -> None:
    assert mask(message) == template


def test_words_that_name_things_are_kept() -> None:
    # Java packages, Rust paths and protocol names are constants, not values.
    assert mask("mapred.task.id is deprecated") == "mapred.task.id is deprecated"
    assert mask("hyper::Error(IncompleteMessage)") == "hyper::Error(IncompleteMessage)"
    assert mask("http2 error: sha256 mismatch on ipv6") == "http2 error: sha256 mismatch on ipv6"
    assert mask("clear() failed") == "clear() failed"


def test_digits_fold_only_where_they_cannot_matter() -> None:
    assert fold_digits("card declined (code 79880) after 3 tries") == "card declined (code 00000) after 0 tries"
    assert fold_digits("ipv6 route 10.0.0.1 lost") == "ipv6 route 10.0.0.1 lost"
    assert mask("ipv4 disabled") != mask("ipv6 disabled")


def test_rust_debug_dumps_are_cut_after_their_head() -> None:
    message = (
        "Test route failed: can't make private routes until our node info is valid: PeerInfo { node_ids: "
        "CryptoTypedGroup { items: [CryptoTyped { kind: VLD0, value: CryptoKey(OSt9_wT8p0PHmCmiOzlnKjUeOTSEajhb5aTUDrR3aao) }] }, "
        "signed_node_info: Direct(SignedDirectNodeInfo { node_info: NodeInfo { network_class: Invalid, outbound_protocols: "
        "EnumSet(UDP | TCP) }, timestamp: 1696939946880721, signatures: [] }) }"
    )
    template = mask(message)
    assert template == (
        "Test route failed: can't make private routes until our node info is valid: PeerInfo { node_ids: "
        "CryptoTypedGroup { items: [CryptoTyped { kind: VLD0, value: CryptoKey(<*>) }] }, … }"
    )
    other = message.replace("OSt9_wT8p0PHmCmiOzlnKjUeOTSEajhb5aTUDrR3aao", "Xk2pQ").replace("Invalid", "OutboundOnly")
    assert mask(other) == template
    # A short dump is data enough to tell errors apart: it stays whole, values masked.
    assert mask('Os { code: 2, kind: NotFound, message: "No such file" }') == (
        'Os { code: <*>, kind: NotFound, message: "No such file" }'
    )


def test_long_messages_are_bounded() -> None:
    template = mask("word " * 10_000)
    assert template.split(" ")[-1] == "…"
    assert len(template.split(" ")) == fingerprint_module.MAX_WORDS + 1


# Verbatim runtime texts of tokio, axum and hyper errors (the reference samples of this project).
FRAMEWORK_MESSAGES = [
    "there is no reactor running, must be called from the context of a Tokio 1.x runtime",
    "A Tokio 1.x context was found, but it is being shutdown.",
    "The Tokio context thread-local variable has been destroyed.",
    "Cannot start a runtime from within a runtime. This happens because a function (like `block_on`) attempted to "
    "block the current thread while the thread is being used to drive asynchronous tasks.",
    "Cannot drop a runtime in a context where blocking is not allowed. This happens when a runtime is dropped from "
    "within an asynchronous context.",
    "A Tokio 1.x context was found, but timers are disabled. Call `enable_time` on the runtime builder to enable timers.",
    "`spawn_local` called from outside of a `task::LocalSet` or `runtime::LocalRuntime`",
    "`spawn_local` called from outside of a `task::LocalSet` or LocalRuntime",
    "Overlapping method route. Handler for `GET /users` already exists",
    "Path segments must not start with `:`. For capture groups, use `{capture}`. If you meant to literally match a "
    "segment starting with a colon, call `without_v07_checks` on the router.",
    "Failed to parse the request body as JSON: trailing characters at line 1 column 18",
    "Failed to deserialize the JSON body into the target type: b[0]: missing field `y` at line 1 column 23",
    "Failed to deserialize query string: n: invalid digit found in string",
    "Failed to deserialize form: a: invalid digit found in string",
    "Expected request with `Content-Type: application/json`",
    "Failed to buffer the request body",
    "connection closed before message completed",
    "received unexpected message from connection",
    "operation was canceled",
    "read header from client timeout",
    "error reading a body from connection",
    "error shutting down connection",
    "http2 error",
    "connection error",
    "cannot poll CpuFuture twice: Canceled",
    "join error was not a panic, should not poll after abort",
    "DispatchFailure(DispatchFailure { source: ConnectorError { kind: Other(None), source: hyper::Error(Http2, Error { "
    "kind: Reset(StreamId(1885071), REFUSED_STREAM, Remote) }), connection: Unknown } })",
]

# The same errors as other occurrences would write them: other ids, numbers, paths, positions.
VARIANTS = {
    "Overlapping method route. Handler for `GET /users` already exists": (
        "Overlapping method route. Handler for `GET /orders/archive` already exists"
    ),
    "Failed to parse the request body as JSON: trailing characters at line 1 column 18": (
        "Failed to parse the request body as JSON: trailing characters at line 3 column 7"
    ),
    "Failed to deserialize the JSON body into the target type: b[0]: missing field `y` at line 1 column 23": (
        "Failed to deserialize the JSON body into the target type: b[12]: missing field `y` at line 2 column 5"
    ),
    "DispatchFailure(DispatchFailure { source: ConnectorError { kind: Other(None), source: hyper::Error(Http2, Error { "
    "kind: Reset(StreamId(1885071), REFUSED_STREAM, Remote) }), connection: Unknown } })": (
        "DispatchFailure(DispatchFailure { source: ConnectorError { kind: Other(None), source: hyper::Error(Http2, "
        "Error { kind: Reset(StreamId(17), REFUSED_STREAM, Remote) }), connection: Unknown } })"
    ),
}


def test_framework_errors_never_collide() -> None:
    fingerprinter = Fingerprinter()
    ids = [fingerprinter.of(event(message)).id for message in FRAMEWORK_MESSAGES]
    assert len(set(ids)) == len(FRAMEWORK_MESSAGES)


@pytest.mark.parametrize(("message", "variant"), sorted(VARIANTS.items()))
def test_the_same_error_with_other_values_collides(message: str, variant: str) -> None:
    fingerprinter = Fingerprinter()
    assert fingerprinter.of(event(message)) == fingerprinter.of(event(variant))


def test_fingerprint_is_sixteen_hex_chars_of_the_current_algorithm() -> None:
    found = Fingerprinter().of(event("payment provider returned 503 for order 77"))
    assert isinstance(found, Fingerprint)
    assert len(found.id) == 16 and int(found.id, 16) >= 0
    assert found.algo == ALGO_VERSION
    assert found.template == "payment provider returned <*> for order <*>"


def test_the_algorithm_version_is_part_of_the_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    before = Fingerprinter().of(event("disk full")).id
    monkeypatch.setattr(fingerprint_module, "ALGO_VERSION", ALGO_VERSION + 1)
    assert Fingerprinter().of(event("disk full")).id != before


def test_error_code_and_target_tell_errors_apart() -> None:
    fingerprinter = Fingerprinter()
    ids = {
        fingerprinter.of(event("request failed", target="shop::api")).id,
        fingerprinter.of(event("request failed", target="shop::db")).id,
        fingerprinter.of(event("request failed", target="shop::api", error_code="UPSTREAM_5XX")).id,
        fingerprinter.of(event("request failed", target="shop::api", error_code="DB_POOL_TIMEOUT")).id,
    }
    assert len(ids) == 4


def test_panics_are_told_apart_by_file_and_line_but_not_column_or_machine() -> None:
    fingerprinter = Fingerprinter()
    here = fingerprinter.of(
        panic("index out of bounds: the len is 3 but the index is 7", "/home/ci/shop/src/cart.rs", 42)
    )
    elsewhere = fingerprinter.of(
        panic("index out of bounds: the len is 0 but the index is 1", "/srv/build/shop/src/cart.rs", 42)
    )
    other_line = fingerprinter.of(
        panic("index out of bounds: the len is 3 but the index is 7", "/home/ci/shop/src/cart.rs", 43)
    )
    assert here == elsewhere
    assert here.template == "index out of bounds: the len is <*> but the index is <*>"
    assert here.id != other_line.id
    # A panic is never the same error as a logged event with the same text.
    assert here.id != fingerprinter.of(event("index out of bounds: the len is 3 but the index is 7")).id


@pytest.mark.parametrize(
    ("file", "line", "location"),
    [
        (
            "/home/cwiz/.cargo/git/checkouts/veilid-88b7e7557f46c329/ff56634/veilid-tools/src/must_join_handle.rs",
            93,
            "veilid-tools/src/must_join_handle.rs:93",
        ),
        (
            "/rustc/fc594f15669680fa70d255faec3ca3fb507c3405/library/std/src/thread/local.rs",
            422,
            "library/std/src/thread/local.rs:422",
        ),
        (
            "/root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/tokio-1.38.0/src/runtime/park.rs",
            5,
            "tokio-1.38.0/src/runtime/park.rs:5",
        ),
        ("/home/jiacai/grpc-rs-demo/cpufuture/src/lib.rs", 332, "cpufuture/src/lib.rs:332"),
        ("src/main.rs", 10, "src/main.rs:10"),
        ("src\\main.rs", 10, "src/main.rs:10"),
        (None, None, ""),
    ],
)
def test_panic_locations_drop_the_build_machine(file: str | None, line: int | None, location: str) -> None:
    assert panic_location(file, line) == location
    assert panic_location(location.rsplit(":", 1)[0] or None, line) == location  # normalising twice changes nothing


def test_user_rules_fix_a_template_or_mask_more() -> None:
    fingerprinter = Fingerprinter(
        [
            FingerprintRule(pattern=r"^upstream \S+ returned", template="upstream returned an error"),
            FingerprintRule(pattern=r"tenant-[a-z]+", mask="<tenant>"),
            FingerprintRule(pattern=r"\bshard [a-z]+\b"),
        ]
    )
    assert fingerprinter.template("upstream payments returned 503 after 3 tries") == "upstream returned an error"
    assert fingerprinter.template("upstream search returned garbage") == "upstream returned an error"
    assert (
        fingerprinter.template("quota exceeded for tenant-acme on 3 nodes")
        == "quota exceeded for <tenant> on <*> nodes"
    )
    assert fingerprinter.template("lost shard blue") == "lost <*>"
    a = fingerprinter.of(event("upstream payments returned 503"))
    b = fingerprinter.of(event("upstream search returned 404"))
    assert a == b and a.template == "upstream returned an error"
    # Without the rules the same messages are other errors.
    plain = Fingerprinter()
    assert plain.of(event("upstream payments returned 503")) != plain.of(event("upstream search returned 404"))


def test_an_invalid_rule_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\[\[fingerprint.rules\]\] pattern '\(unclosed'"):
        Fingerprinter([FingerprintRule(pattern="(unclosed", mask="x")])


def test_fingerprints_are_the_same_in_every_process() -> None:
    messages = [*FRAMEWORK_MESSAGES, "user 42 not found", "disk /dev/sda1 full"]
    here = [Fingerprinter().of(event(message)).id for message in messages]
    script = (
        "import json, sys\n"
        "from aimon.grouping.fingerprint import Fingerprinter\n"
        "from aimon.model import LogRecord\n"
        "messages = json.load(sys.stdin)\n"
        "fp = Fingerprinter()\n"
        "print(json.dumps([fp.of(LogRecord(level='ERROR', message=m, target='shop::api')).id for m in messages]))\n"
    )
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(messages),
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert json.loads(done.stdout) == here


# --- `aimon fingerprint` -------------------------------------------------------------------------------------------


def rows(result: Any) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_cli_prints_one_json_object_per_line_in_order(cli: Any) -> None:
    lines = ["user 42 not found", "disk full", "user 7 not found", "", "  disk   full  "]
    out = rows(cli("fingerprint", "-", "--format", "text", "--jsonl", input="\r\n".join(lines) + "\r\n"))
    assert [row["line"] for row in out] == [1, 2, 3, 4, 5]
    assert [row["template"] for row in out] == [
        "user <*> not found",
        "disk full",
        "user <*> not found",
        "",
        "disk full",
    ]
    assert (
        out[0]["fingerprint"] == out[2]["fingerprint"] == Fingerprinter().of(LogRecord("ERROR", "user 1 not found")).id
    )
    assert out[1]["fingerprint"] == out[4]["fingerprint"] != out[0]["fingerprint"]
    assert all(set(row) == {"line", "fingerprint", "template"} for row in out)


def test_cli_reads_a_file_and_prints_text_without_json(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "errors.txt").write_bytes(b"user 42 not found\nbad \xff byte 9\n")
    result = cli("fingerprint", "errors.txt", "--format", "text")
    assert result.exit_code == 0
    first, second = result.stdout.splitlines()
    assert first == f"{Fingerprinter().of(LogRecord('ERROR', 'user 1 not found')).id}  user <*> not found"
    assert second.endswith("  bad \ufffd byte <*>")


def test_cli_parses_log_lines_and_keeps_unreadable_ones(cli: Any) -> None:
    json_line = json.dumps(
        {
            "timestamp": "2026-11-24T09:00:00.268Z",
            "level": "ERROR",
            "fields": {"message": "timed out waiting for a connection after 5000ms", "error_code": "DB_POOL_TIMEOUT"},
            "target": "shop::db",
        }
    )
    lines = [json_line, '{"level": "ERROR", "fields": {', "[1, 2]", "plain words 12"]
    out = rows(cli("fingerprint", "-", "--jsonl", input="\n".join(lines) + "\n"))
    assert [row["line"] for row in out] == [1, 2, 3, 4]
    parsed = out[0]
    assert parsed["template"] == "timed out waiting for a connection after <*>"
    assert parsed["error_code"] == "DB_POOL_TIMEOUT" and parsed["target"] == "shop::db" and parsed["level"] == "ERROR"
    expected = Fingerprinter().of(
        LogRecord(
            "ERROR", "timed out waiting for a connection after 1ms", target="shop::db", error_code="DB_POOL_TIMEOUT"
        )
    )
    assert parsed["fingerprint"] == expected.id
    assert out[1]["malformed"].startswith("invalid JSON") and out[1]["template"] == '{"<*>": "<*>", "<*>": {'
    assert out[2]["malformed"] == "JSON array where an object belongs" and out[2]["template"] == "[<*>, <*>]"
    assert "malformed" not in out[3] and out[3]["template"] == "plain words <*>"


def test_cli_groups_what_it_learns_from_all_lines(cli: Any) -> None:
    users = ["alice", "bob", "carol", "dave", "erin"]
    lines = [f"session closed for user {user}" for user in users] + [
        f"[instance: {n}] VM {state} (Lifecycle Event)"
        for n, state in enumerate(["Started", "Stopped", "Paused", "Resumed"])
    ]
    out = rows(cli("fingerprint", "-", "--format", "text", "--jsonl", input="\n".join(lines) + "\n"))
    sessions, vms = out[:5], out[5:]
    first = Fingerprinter().of(LogRecord("ERROR", "session closed for user alice")).id
    assert {row["fingerprint"] for row in sessions} == {first}
    assert {row["template"] for row in sessions} == {"session closed for user <*>"}
    assert "alias" not in sessions[0]
    assert [row["alias"] for row in sessions[1:]] == [
        Fingerprinter().of(LogRecord("ERROR", f"session closed for user {user}")).id for user in users[1:]
    ]
    # Four state names are four kinds of event, not one event with a value.
    assert len({row["fingerprint"] for row in vms}) == 4


def test_cli_rules_come_from_aimon_toml(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "aimon.toml").write_text('[[fingerprint.rules]]\npattern = "^payment"\ntemplate = "payment failure"\n')
    out = rows(cli("fingerprint", "-", "--format", "text", "--jsonl", input="payment declined\npayment timed out\n"))
    assert out[0]["template"] == out[1]["template"] == "payment failure"
    assert out[0]["fingerprint"] == out[1]["fingerprint"]


def test_cli_rejects_an_unknown_format(cli: Any) -> None:
    result = cli("fingerprint", "-", "--format", "xml", input="x\n")
    assert result.exit_code == 2
