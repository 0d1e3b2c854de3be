#!/usr/bin/env python3
"""Benchmark ``aimon scan`` against grep and jq on a generated tracing JSON log.

    .venv/bin/python scripts/bench_scan.py            # a 1 GB log in a temporary folder
    .venv/bin/python scripts/bench_scan.py --size 64  # 64 MB, quicker
    .venv/bin/python scripts/bench_scan.py --keep /tmp/bench --json

The log imitates a Rust service: ``tracing_subscriber::fmt().json()`` lines with a request span, about 1% ERROR
lines of a few kinds (with variable ids and numbers in their messages), a few Rust panics on stderr, timestamps over
the 24 hours before now (so ``--since 1h`` has an hour of data to read). Every figure is the best of ``--runs``
runs, with the page cache warm, measured in child processes; peak RSS comes from ``os.wait4`` of the child.

Targets (from the issue): full scan ≥ 1/3 of ``grep -c -F '"level":"ERROR"'`` throughput and ≥ 10× jq; peak RSS
≤ 100 MB; a scan with nothing new ≤ 0.3 s and without importing openai/github/requests/rich; ``--since 1h`` ≤ 1 s.
The throughput ratios mean something at the default 1 GB only: on a small log aimon's start-up (~0.2 s) dominates.
A full scan of a big file uses up to four processes (one per CPU); the figures depend on how busy the machine is.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_ON_IDLE = ("openai", "github", "requests", "rich")

INFO = (
    ('"INFO"', "http::server", '"message":"request completed","status":200,"latency_ms":{n}'),
    ('"DEBUG"', "db::pool", '"message":"acquired connection","pool_size":{small}'),
    ('"INFO"', "orders::handler", '"message":"order created","order_id":"ord_{n}","amount_cents":{n}'),
    ('"WARN"', "cache::redis", '"message":"slow cache response","elapsed_ms":{n}'),
    ('"INFO"', "auth::session", '"message":"session refreshed for user {user}"'),
)
ERRORS = (
    ('"ERROR"', "orders::handler", '"message":"failed to charge card: card declined (code {n})","error_code":"PAY_DECLINED"'),
    ('"ERROR"', "db::pool", '"message":"connection refused to 10.0.{small}.3:5432","error_code":"DB_CONN"'),
    ('"ERROR"', "http::server", '"message":"request failed: timeout after {n}ms","status":504'),
    ('"ERROR"', "orders::inventory", '"message":"item not found","item_id":"itm_{n}","error_code":"ITEM_MISSING"'),
)
PANIC = "thread 'tokio-runtime-worker' panicked at src/handlers/orders.rs:{line}:17:\ncalled `Option::unwrap()` on a `None` value\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"


def generate(path: Path, size_mb: float, error_rate: float, seed: int = 7) -> dict[str, int]:
    """Write the log; returns how many lines, ERROR lines and panics it holds."""
    rnd = random.Random(seed)
    target = int(size_mb * 1024 * 1024)
    estimated_lines = max(1, target // 300)
    step = 86400.0 / estimated_lines
    now = time.time()
    start = now - 86400.0
    users = [f"{name}{i}" for name in ("alice", "bob", "carol", "dave") for i in range(5)]
    stats = {"lines": 0, "errors": 0, "panics": 0}
    written = 0
    second_cache: tuple[int, str] = (-1, "")
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        buffer: list[str] = []
        index = 0
        while written < target:
            ts = start + index * step
            whole = int(ts)
            if whole != second_cache[0]:
                second_cache = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
            stamp = f"{second_cache[1]}.{int((ts - whole) * 1e6):06d}Z"
            roll = rnd.random()
            if roll < 0.00002:
                text = PANIC.format(line=rnd.choice((88, 131)))
                stats["panics"] += 1
                stats["lines"] += text.count("\n") - 1
            else:
                level, target_name, fields = rnd.choice(ERRORS) if roll < error_rate else rnd.choice(INFO)
                stats["errors"] += level == '"ERROR"'
                request = f"{rnd.getrandbits(64):016x}"
                body = fields.format(n=rnd.randrange(1_000_000), small=rnd.randrange(256), user=rnd.choice(users))
                span = f'{{"request_id":"{request}","method":"POST","path":"/orders","name":"request"}}'
                text = (
                    f'{{"timestamp":"{stamp}","level":{level},"fields":{{{body}}},"target":"{target_name}",'
                    f'"span":{span},"spans":[{span}]}}\n'
                )
            buffer.append(text)
            written += len(text)
            stats["lines"] += 1
            index += 1
            if len(buffer) >= 20000:
                out.write("".join(buffer))
                buffer.clear()
        out.write("".join(buffer))
    return stats


def run(command: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> tuple[float, int, bytes]:
    """Wall seconds, peak RSS (KB, of the child and what it waited for) and stdout of one command.

    Output goes to a pipe, never /dev/null: GNU grep stops at the first match when its output is /dev/null.
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    output = process.stdout.read() if process.stdout else b""
    errors = process.stderr.read() if process.stderr else b""
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in ok:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): {errors.decode(errors='replace')[-2000:]}")
    return elapsed, usage.ru_maxrss, output


def best(command: list[str], runs: int, env: dict[str, str] | None = None, before: object = None,
         ok: tuple[int, ...] = (0,)) -> tuple[float, int]:
    times, peak = [], 0
    for _ in range(runs):
        if callable(before):
            before()
        elapsed, rss, _ = run(command, env, ok)
        times.append(elapsed)
        peak = max(peak, rss)
    return min(times), peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=1024, help="log size in MB (default 1024)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement; the best counts (default 3)")
    parser.add_argument("--error-rate", type=float, default=0.01, help="share of ERROR lines (default 0.01)")
    parser.add_argument("--keep", type=Path, help="generate into (and keep) this folder instead of a temporary one")
    parser.add_argument("--reuse", action="store_true", help="with --keep: reuse a log generated there before")
    parser.add_argument("--no-jq", action="store_true", help="skip jq (it takes about a minute per GB)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="aimon-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    log, db = folder / "app.log", folder / "state.db"
    try:
        started = time.perf_counter()
        stats_file = folder / "app.log.stats.json"
        if args.reuse and log.is_file() and stats_file.is_file():
            stats = json.loads(stats_file.read_text())
        else:
            stats = generate(log, args.size, args.error_rate)
            stats_file.write_text(json.dumps(stats))
            print(f"generated {log.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        size = log.stat().st_size
        aimon = [sys.executable, "-m", "aimon"]
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIMON_")}
        env.update(AIMON_DB=str(db), AIMON_CONFIG="")

        def fresh_state() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)

        run(["sh", "-c", f"cat '{log}' > /dev/null"])  # warm the page cache
        figures: dict[str, object] = {"size_bytes": size, **stats}
        grep = shutil.which("grep")
        if grep:
            figures["grep_s"], _ = best([grep, "-c", "-F", '"level":"ERROR"', str(log)], args.runs, ok=(0, 1))
        scan_s, scan_rss = best([*aimon, "scan", str(log), "--json"], args.runs, env, before=fresh_state)
        figures["scan_s"], figures["scan_peak_rss_mb"] = scan_s, scan_rss / 1024
        run([*aimon, "scan", str(log), "--json"], env)  # leave the state at the end of the file
        figures["idle_json_s"], idle_rss = best([*aimon, "scan", str(log), "--json"], max(args.runs, 5), env)
        figures["idle_text_s"], _ = best([*aimon, "scan", str(log)], max(args.runs, 5), env)
        figures["since_1h_s"], since_rss = best([*aimon, "scan", str(log), "--since", "1h", "--json"], args.runs, env)
        figures["peak_rss_mb"] = max(scan_rss, idle_rss, since_rss) / 1024
        figures["idle_imports"] = idle_imports(aimon, log, env)
        jq = shutil.which("jq")
        if jq and not args.no_jq:
            figures["jq_s"], _ = best([jq, "-cR", 'fromjson? | select(.level == "ERROR")', str(log)], 1)
        report(figures, args.json)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


def idle_imports(aimon: list[str], log: Path, env: dict[str, str]) -> dict[str, list[str]]:
    """Modules that a scan with nothing new imports and should not (text and --json output)."""
    found: dict[str, list[str]] = {}
    for mode, extra in (("json", ["--json"]), ("text", [])):
        result = subprocess.run([aimon[0], "-X", "importtime", *aimon[1:], "scan", str(log), *extra], env=env,
                                capture_output=True, text=True, check=False)
        names = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line}
        found[mode] = sorted(name for name in names if name in FORBIDDEN_ON_IDLE)
    return found


def report(figures: dict[str, object], as_json: bool) -> None:
    size = float(figures["size_bytes"])  # type: ignore[arg-type]
    scan_s = float(figures["scan_s"])  # type: ignore[arg-type]
    if "grep_s" in figures:
        figures["scan_vs_grep"] = float(figures["grep_s"]) / scan_s  # type: ignore[arg-type]
    if "jq_s" in figures:
        figures["scan_vs_jq"] = float(figures["jq_s"]) / scan_s  # type: ignore[arg-type]
    if as_json:
        print(json.dumps(figures, indent=2, default=str))
        return
    mb = size / 1e6
    print(f"log: {mb:,.0f} MB, {figures['lines']:,} lines, {figures['errors']:,} ERROR lines, {figures['panics']} panics")
    rows = [("aimon scan (full)", scan_s)]
    if "grep_s" in figures:
        rows.append(("grep -c -F", float(figures["grep_s"])))  # type: ignore[arg-type]
    if "jq_s" in figures:
        rows.append(("jq select", float(figures["jq_s"])))  # type: ignore[arg-type]
    for name, seconds in rows:
        print(f"  {name:<20} {seconds:8.3f} s  {mb / seconds:9.0f} MB/s")
    checks = []
    if "scan_vs_grep" in figures:
        ratio = float(figures["scan_vs_grep"])  # type: ignore[arg-type]
        checks.append((f"throughput vs grep: {ratio:.2f}", ratio >= 1 / 3, "≥ 0.33"))
    if "scan_vs_jq" in figures:
        ratio = float(figures["scan_vs_jq"])  # type: ignore[arg-type]
        checks.append((f"throughput vs jq: {ratio:.1f}×", ratio >= 10, "≥ 10×"))
    peak = float(figures["peak_rss_mb"])  # type: ignore[arg-type]
    checks.append((f"peak RSS: {peak:.0f} MB", peak <= 100, "≤ 100 MB"))
    for mode in ("json", "text"):
        seconds = float(figures[f"idle_{mode}_s"])  # type: ignore[arg-type]
        checks.append((f"nothing new ({mode}): {seconds:.3f} s", seconds <= 0.3, "≤ 0.3 s"))
    imports: dict[str, list[str]] = figures["idle_imports"]  # type: ignore[assignment]
    for mode, names in imports.items():
        checks.append((f"idle imports ({mode}): {', '.join(names) or 'none of ' + '/'.join(FORBIDDEN_ON_IDLE)}",
                       not names, "none"))
    since = float(figures["since_1h_s"])  # type: ignore[arg-type]
    checks.append((f"--since 1h: {since:.3f} s", since <= 1.0, "≤ 1 s"))
    for text, ok, target in checks:
        print(f"  [{'ok' if ok else 'MISS'}] {text} (target {target})")


if __name__ == "__main__":
    sys.exit(main())
