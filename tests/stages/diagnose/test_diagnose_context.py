"""Context gathering: the request trail re-read around the stored offset, source snippets, own-crate frames, the budget."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from aimon.config import CatalogEntry, load_settings
from aimon.redact import Redactor
from aimon.stages.diagnose import heuristics
from aimon.stages.diagnose.context import DiagnosisContext, build_context
from aimon.stages.diagnose.prompt import build_prompt, estimate_tokens
from aimon.stages.diagnose.source import read_snippet, resolve_source
from aimon.state.db import open_db
from tests.stages.diagnose.diagnose_support import event, seed, seed_conn, write_log

PANIC_LOG = """{"timestamp":"2026-03-02T10:15:01.000000Z","level":"INFO","fields":{"message":"cleanup job started"},"target":"shop::jobs"}
thread 'tokio-runtime-worker' panicked at /root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/tokio-1.35.1/src/runtime/time/entry.rs:556:9:
A Tokio 1.x context was found, but timers are disabled. Call `enable_time` on the runtime builder to enable timers.
stack backtrace:
   0: rust_begin_unwind
             at /rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/std/src/panicking.rs:645:5
   1: core::panicking::panic_fmt
             at /rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/panicking.rs:72:14
   2: tokio::runtime::time::entry::TimerEntry::inner
             at /root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/tokio-1.35.1/src/runtime/time/entry.rs:556:9
   3: shop::jobs::cleanup::run::{{closure}}
             at ./src/jobs/cleanup.rs:21:9
   4: shop::main
             at ./src/main.rs:40:5
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
{"timestamp":"2026-03-02T10:15:02.000000Z","level":"INFO","fields":{"message":"worker restarted"},"target":"shop::jobs"}
"""
CLEANUP_RS = "use std::time::Duration;\n\n" + "\n".join(f"// line {i}" for i in range(3, 16)) + """
pub async fn run(pool: PgPool) {
    loop {
        let removed = purge(&pool).await;
        tracing::info!(removed, "purged");
        // The runtime that runs this job was built without enable_time().
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}
"""


def settings_for(tmp_path: Path, **env: str):  # type: ignore[no-untyped-def]
    return load_settings(environ={"AIMON_DB": str(tmp_path / "state.db"), **env})


def context_of(tmp_path: Path, log: Path, **env: str) -> DiagnosisContext:
    settings = settings_for(tmp_path, **env)
    conn = open_db(settings.db_path)
    found = seed_conn(conn, log)
    fp = list(found.values())[-1]
    row = conn.execute("SELECT * FROM fingerprints WHERE fingerprint = ?", (fp,)).fetchone()
    return build_context(conn, settings, row, {"kind": "new", "count": 1}).redacted(Redactor())


def test_resolve_source_maps_build_paths_into_the_repo_and_never_leaves_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "src" / "api").mkdir(parents=True)
    (repo / "src" / "api" / "orders.rs").write_text("fn x() {}\n")
    (tmp_path / "secret.rs").write_text("outside\n")
    found = (repo / "src" / "api" / "orders.rs").resolve()
    assert resolve_source(repo, "src/api/orders.rs") == found
    assert resolve_source(repo, "./src/api/orders.rs") == found
    assert resolve_source(repo, "/home/ci/builds/shop/src/api/orders.rs") == found
    assert resolve_source(repo, "/rustc/90b35a6239c3d8bd/library/core/src/api/orders.rs") is None
    assert resolve_source(repo, "/root/.cargo/registry/src/index/tokio-1.35.1/src/api/orders.rs") is None
    assert resolve_source(repo, "../secret.rs") is None
    assert resolve_source(repo, "src/api/missing.rs") is None


def test_snippet_starts_at_the_enclosing_fn(tmp_path: Path) -> None:
    path = tmp_path / "cleanup.rs"
    path.write_text(CLEANUP_RS)
    snippet = read_snippet(path, 21, display="src/jobs/cleanup.rs")
    assert snippet is not None
    assert (snippet.fn_name, snippet.fn_line, snippet.lines[0][0], snippet.lines[-1][0]) == ("run", 16, 16, 23)
    assert snippet.lines[21 - 16] == (21, "        tokio::time::sleep(Duration::from_secs(60)).await;")
    assert read_snippet(path, 999) is None


def test_snippet_without_a_near_fn_shows_a_window(tmp_path: Path) -> None:
    path = tmp_path / "big.rs"
    path.write_text("fn far() {\n" + "    let x = 1;\n" * 200 + "}\n")
    snippet = read_snippet(path, 150)
    assert snippet is not None and snippet.fn_name is None
    assert [n for n, _ in snippet.lines] == list(range(138, 159))


def test_panic_in_a_dependency_uses_the_first_own_frame_and_lists_own_frames(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "src" / "jobs").mkdir(parents=True)
    (repo / "src" / "jobs" / "cleanup.rs").write_text(CLEANUP_RS)
    log = tmp_path / "stderr.log"
    log.write_text(PANIC_LOG)
    ctx = context_of(tmp_path, log, AIMON_REPO_DIR=str(repo))
    assert ctx.frames == ["[F1] shop::jobs::cleanup::run::{{closure}} at ./src/jobs/cleanup.rs:21", "[F2] shop::main at ./src/main.rs:40"]
    assert ctx.source is not None and (ctx.source.path, ctx.source.line, ctx.source.fn_name) == ("src/jobs/cleanup.rs", 21, "run")
    assert ctx.before == ["[B1] 2026-03-02T10:15:01.000Z INFO shop::jobs: cleanup job started"]
    result = heuristics.diagnose(ctx)
    assert result.title == "Tokio runtime built without the time or IO driver"
    assert result.auto_fixable is True and result.category == "configuration"
    assert "[src/jobs/cleanup.rs:21] (in fn run) tokio::time::sleep(Duration::from_secs(60)).await;" in result.evidence


def test_trail_is_read_within_the_window_around_the_stored_offset(tmp_path: Path) -> None:
    rid = "req-42"
    filler = [event(1, "INFO", "x" * 200, rid="other") for _ in range(6000)]  # ~1.5 MB between the far line and the error
    lines = [event(0, "INFO", "far away start", rid=rid), *filler, event(2, "INFO", "near start", rid=rid),
             event(2, "DEBUG", "unrelated", rid="other2"), event(3, "ERROR", "it broke", rid=rid), event(4, "INFO", "after", rid=rid)]
    ctx = context_of(tmp_path, write_log(tmp_path / "app.log", lines))
    assert [line.split(": ", 1)[1].split(" in ")[0] for line in ctx.trail] == ["near start", "it broke", "after"]
    assert ctx.trail_error_index == 1 and ctx.trail[1].startswith(">> [T2]")
    # Other requests' INFO and DEBUG lines just before the error are not evidence.
    assert ctx.before == []


def test_rewritten_or_missing_files_are_reported_not_guessed(tmp_path: Path) -> None:
    log = write_log(tmp_path / "app.log", [event(1, "INFO", "hello", rid="r"), event(2, "ERROR", "it broke", rid="r")])
    settings = settings_for(tmp_path)
    conn = open_db(settings.db_path)
    [fp] = seed_conn(conn, log).values()
    row = conn.execute("SELECT * FROM fingerprints").fetchone()
    write_log(log, [event(1, "INFO", "a different file now")])
    ctx = build_context(conn, settings, row, None)
    assert ctx.trail == [] and "request trail: the error is no longer at its position in app.log (rotated or rewritten)" in ctx.missing
    log.unlink()
    ctx = build_context(conn, settings, row, None)
    assert any(note.startswith("request trail: cannot read app.log") for note in ctx.missing)
    conn.execute("UPDATE occurrences SET source = 'loki:{job=\"app\"}'")
    assert "request trail and preceding lines: no occurrence with a file position (Loki source or none stored)" in build_context(conn, settings, row, None).missing
    assert fp


def test_gzipped_rotated_file_is_read(tmp_path: Path) -> None:
    lines = [event(1, "INFO", "begin", rid="r1"), event(2, "ERROR", "it broke", rid="r1")]
    plain = write_log(tmp_path / "app.log.1", lines)
    settings = settings_for(tmp_path)
    conn = open_db(settings.db_path)
    seed_conn(conn, plain)
    with gzip.open(tmp_path / "app.log.1.gz", "wb") as handle:
        handle.write(plain.read_bytes())
    conn.execute("UPDATE occurrences SET source = ?", (str(tmp_path / "app.log.1.gz"),))
    row = conn.execute("SELECT * FROM fingerprints").fetchone()
    ctx = build_context(conn, settings, row, None)
    assert len(ctx.trail) == 2


def test_samples_show_different_messages_latest_last(tmp_path: Path) -> None:
    lines = [event(i, "ERROR", f"order {n} failed: timeout", rid=f"r{i}") for i, n in enumerate([11, 11, 12, 13, 14])]
    ctx = context_of(tmp_path, write_log(tmp_path / "app.log", lines))
    assert [line.split("ERROR shop::api: ")[1].split(" in ")[0] for line in ctx.samples] == [
        "order 11 failed: timeout", "order 13 failed: timeout", "order 14 failed: timeout"]


def test_budget_trims_by_priority_never_mid_line_and_says_what_was_left_out(tmp_path: Path) -> None:
    rid = "req-budget"
    lines = [event(1, "DEBUG", f"step {i} of a long request with some detail " + "y" * 80, rid=rid) for i in range(300)]
    lines.append(event(2, "ERROR", "gave up after many steps", rid=rid))
    ctx = context_of(tmp_path, write_log(tmp_path / "app.log", lines))
    ctx.catalog = CatalogEntry(code="X1", description="a described failure", owner="team-a")
    prompt = build_prompt(ctx, 1500)
    assert prompt.tokens <= 1500
    assert prompt.tokens == estimate_tokens(prompt.system) + estimate_tokens(prompt.user)
    data = prompt.user.split(f"<<<DATA {prompt.nonce}\n")[1].split(f"\nDATA {prompt.nonce}>>>")[0]
    every_line = set(ctx.trail) | set(ctx.samples) | set(ctx.before) | set(ctx.missing)
    for line in data.splitlines():
        assert (line in every_line or line.startswith(("## ", "… ", "fingerprint:", "level:", "target:", "template:", "count:", "first_seen:",
                                                       "last_seen:", "detection:", "window_count:", "code:", "description:", "owner:"))
                or line == "" or "lines left out (token budget)" in line), line
    assert "description: a described failure" in data  # the catalog outranks the trail
    assert ctx.trail[-1] in data  # the error line itself is always kept
    assert "## Left out to fit the token budget" in data
    assert any(note.startswith("Request trail") and "lines left out (token budget)" in note for note in prompt.left_out)
    assert "Some sections were shortened to fit the token budget" in prompt.user


def test_default_budget_keeps_everything_for_a_small_incident(tmp_path: Path) -> None:
    lines = [event(1, "INFO", "start", rid="r"), event(2, "ERROR", "it broke", rid="r")]
    ctx = context_of(tmp_path, write_log(tmp_path / "app.log", lines))
    prompt = build_prompt(ctx, 6000)
    assert prompt.left_out == [] and "left out" not in prompt.user


def test_catalog_entry_is_in_the_context(tmp_path: Path) -> None:
    config = tmp_path / "aimon.toml"
    config.write_text('[catalog.PAY_DECLINED]\ndescription = "The payment provider declined the card"\nowner = "payments"\n'
                      'runbook = "https://wiki.example.com/pay"\nseverity = "low"\nauto_fixable = false\n')
    log = write_log(tmp_path / "app.log", [event(1, "ERROR", "charge failed", code="PAY_DECLINED")])
    ctx = context_of(tmp_path, log, AIMON_CONFIG=str(config))
    assert ctx.catalog is not None and ctx.catalog.owner == "payments"
    prompt = build_prompt(ctx, 6000)
    assert ("## Error catalog entry\ncode: PAY_DECLINED\ndescription: The payment provider declined the card\nseverity: low\nowner: payments\n"
            "runbook: https://wiki.example.com/pay\nauto_fixable: false\n") in prompt.user
    result = heuristics.diagnose(ctx)
    assert result.severity == "low" and result.insufficient_evidence is False
    assert result.root_cause.startswith("The error catalog says PAY_DECLINED: The payment provider declined the card.")
    assert result.suggested_fix.endswith("Owner: payments. Runbook: https://wiki.example.com/pay")
    assert result.auto_fixable is False


@pytest.mark.parametrize("long_line", [True, False])
def test_over_long_lines_are_shortened_with_a_marker(tmp_path: Path, long_line: bool) -> None:
    message = "boom " + ("z" * 5000 if long_line else "short")
    ctx = context_of(tmp_path, write_log(tmp_path / "app.log", [event(1, "ERROR", message)]))
    assert ("…[+" in ctx.samples[0]) is long_line
    assert len(ctx.samples[0]) < 1600
    assert json.dumps(ctx.facts)


def test_a_stderr_panic_takes_the_trail_of_the_only_request_its_thread_logged_just_before_it(tmp_path: Path) -> None:
    lines = [
        event(1, "INFO", "started", rid="req-a"),
        event(1, "DEBUG", "coupon lookup code=SPRING found=false", rid="req-a"),
        event(2, "DEBUG", "loaded cart", rid="req-a"),
        "thread 'tokio-runtime-worker' panicked at src/handlers/cart.rs:16:56:",
        "called `Option::unwrap()` on a `None` value",
        "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        event(3, "INFO", "after the panic", rid="req-a"),
    ]
    ctx = context_of(tmp_path, write_log(tmp_path / "app.log", lines))
    assert ctx.trail_inferred and ctx.request_id == "req-a"
    assert [line.split(": ", 1)[-1].split(" in ")[0] for line in ctx.trail[:-1]] == ["started", "coupon lookup code=SPRING found=false", "loaded cart"]
    assert ctx.trail[-1].startswith(">> [T4]") and ctx.trail[-1].endswith("PANIC called `Option::unwrap()` on a `None` value (src/handlers/cart.rs:16)")
    assert "Request trail, found through the thread: the panic has no request id; req-a is the only request" in build_prompt(ctx, 6000).user
    assert ctx.clues == []  # a request found through the thread names no cause


def test_a_stderr_panic_among_interleaved_requests_says_its_request_is_unknown(tmp_path: Path) -> None:
    lines = [
        event(1, "INFO", "started", rid="req-a"),
        event(1, "INFO", "unrelated", rid="req-b"),
        event(2, "DEBUG", "loaded cart", rid="req-a"),
        "thread 'tokio-runtime-worker' panicked at src/handlers/cart.rs:16:56:",
        "called `Option::unwrap()` on a `None` value",
        event(3, "INFO", "after the panic", rid="req-a"),
    ]
    ctx = context_of(tmp_path, write_log(tmp_path / "app.log", lines))
    assert (ctx.trail, ctx.request_id, ctx.trail_inferred, ctx.before) == ([], None, False, [])
    assert ("request unknown: the panic carries no request id and 2 requests logged on threads named tokio-runtime-worker just before "
            "it; which one panicked cannot be told") in ctx.missing


def test_the_lines_before_are_the_same_targets_warnings_not_other_requests_chatter(tmp_path: Path) -> None:
    lines = [
        event(1, "INFO", "started processing request", rid="other-1", target="tower_http::trace::on_request"),
        event(1, "WARN", "cache slow", rid="other-2", target="shop::cache"),
        event(1, "WARN", "upstream slow, retrying", rid="other-3", target="shop::api"),
        event(2, "INFO", "finished processing request", rid="other-1", target="tower_http::trace::on_response"),
        event(3, "ERROR", "upstream failed", rid="req-a", target="shop::api"),
    ]
    ctx = context_of(tmp_path, write_log(tmp_path / "app.log", lines))
    assert [line.split(" shop::api: ")[1].split(" in ")[0] for line in ctx.before] == ["upstream slow, retrying"]
    assert "Just before the error: WARN-or-worse lines of the same target" in build_prompt(ctx, 6000).user


def test_a_spike_is_shown_with_its_rate_before_and_during_and_per_minute(tmp_path: Path) -> None:
    from aimon.stages.diagnose.context import spike_lines

    log = write_log(tmp_path / "app.log", [event(1, "ERROR", "it broke", rid="r")])
    [fp] = seed(tmp_path / "state.db", log).values()
    with open_db(tmp_path / "state.db") as conn:
        conn.execute("DELETE FROM counts")
        base = 29_540_760  # 2026-03-02T10:00Z in minutes
        conn.executemany("INSERT INTO counts (fingerprint, minute, n) VALUES (?, ?, ?)",
                         [(fp, base - 30, 6), (fp, base, 40), (fp, base + 1, 2), (fp, base + 4, 8)])
        detection = {"kind": "spike", "window_start": "2026-03-02T10:00:00.000000Z", "window_end": "2026-03-02T10:05:00.000000Z",
                     "count": 50, "baseline": 1.0}
        assert spike_lines(conn, fp, detection, 60) == [
            "[S1] 10.0/min during 2026-03-02T10:00:00.000000Z .. 2026-03-02T10:05:00.000000Z (50 in 5 min); 0.10/min in the 60 min before (6)",
            "[S2] per minute: 10:00 40, 10:01 2, 10:02 0, 10:03 0, 10:04 8",
        ]


def test_a_stderr_panic_does_not_borrow_the_trail_of_another_named_thread(tmp_path: Path) -> None:
    lines = [
        event(1, "WARN", "pool timed out while waiting for an open connection", rid="req-a", thread="main"),
        "thread 'tokio-runtime-worker' (14022) panicked at src/handlers/cart.rs:16:56:",
        "called `Option::unwrap()` on a `None` value",
        event(3, "INFO", "after the panic", rid="req-a", thread="main"),
    ]
    ctx = context_of(tmp_path, write_log(tmp_path / "app.log", lines))
    assert (ctx.trail, ctx.request_id, ctx.trail_inferred) == ([], None, False)
    assert ("request unknown: the panic carries no request id and no line of its thread (threads named tokio-runtime-worker) names "
            "one just before it") in ctx.missing


def test_clues_are_the_requests_own_warn_or_worse_lines_before_the_error(tmp_path: Path) -> None:
    lines = [
        event(1, "WARN", "connect failed: Connection refused (os error 111)", rid="req-other"),
        event(1, "INFO", "upstream answered", rid="req-a", status="503 Service Unavailable"),
        event(2, "WARN", "retrying", rid="req-a", error="pool timed out while waiting for an open connection", attempt=2),
        event(3, "ERROR", "request failed", rid="req-a"),
        event(4, "WARN", "deadline has elapsed", rid="req-a"),
    ]
    ctx = context_of(tmp_path, write_log(tmp_path / "app.log", lines))
    # What the line says, field values as written: the request's INFO line, its later WARN and other requests are not clues.
    assert ctx.clues == ["[T2] retrying error=pool timed out while waiting for an open connection attempt=2"]
    result = heuristics.diagnose(ctx)
    assert result.title == "Database connection pool exhausted (named by the request's earlier lines) in shop::api"
    assert result.evidence[-1] == ("[T2] 2026-03-02T10:15:02.000Z WARN shop::api: retrying error=\"pool timed out while waiting for an open "
                                   "connection\" attempt=2 in request{method=POST uri=/api/orders}")
