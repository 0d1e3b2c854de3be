"""The scan half of ``scripts/bench``: the log a real service writes, and aimon against grep, jq and Drain3 on it.

The log is what ``tracing_subscriber::fmt().json()`` writes with its defaults (``fields``, the current ``span`` and the
``spans`` list on every line) plus file, line and thread, as the service of the reference captures does: about 1 %
ERROR lines of six kinds with variable ids, hosts and numbers, some WARN, a few Rust panics written to the same file by
stderr, timestamps over the 24 hours before now (so ``--since 1h`` has an hour to read). It is generated once into a
folder (with a sidecar naming the kind of each ERROR line, the ground truth of the grouping row).

Every ratio is the median of per-pair ratios of interleaved whole-process runs (see ``bench_timing``):

* full ``aimon scan LOG --json`` (a fresh state each run), the same command with nothing new (its state already at
  the end of the file), and ``grep -c -F '"level":"ERROR"' LOG``, in rounds of three: the full scan against grep, and
  the marginal scan (full minus nothing-new, so start-up is not counted twice) against grep;
* the full scan against ``jq -cR 'fromjson? | select(.level == "ERROR")'`` when jq is installed;
* ``aimon scan LOG --since 1h --json`` against the nothing-new scan;
* grouping: the ERROR lines' text, grouped by ``aimon fingerprint`` (its whole process) and by Drain3 (in process),
  both through ``scripts/eval_grouping.py``'s functions and scored against the generator's truth;
* growth: a scan of a log of 2 GB (copies of the generated one) and its peak RSS.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_timing import Command, Sample, interleave, median_wall, peak_rss, ratio, run_once, walls

ROOT = Path(__file__).resolve().parent.parent
Row = tuple[str, str, str, bool | None]  # promise, target, measured, passed (None: not measured)

GREP_TARGET = 3.0  # marginal scan ≤ 3× grep (the issue)
JQ_TARGET = 10.0  # the full scan at least 10× faster than jq
RSS_TARGET_MB = 100.0
SINCE_TARGET_S = 1.0
BIG_SCAN_MB = 2000

# (level, file:line, fields) of the lines a shop service writes; {n} a number, {h} a hex id, {u} a user.
INFO = (
    ("INFO", 19, '"message":"started processing request","latency_ms":{small}'),
    ("INFO", 31, '"message":"finished processing request","status":200,"latency_ms":{n}'),
    ("DEBUG", 42, '"message":"acquired connection","pool_size":{small}'),
    ("INFO", 57, '"message":"order created","order_id":"ord_{n}","amount_cents":{n}'),
    ("INFO", 64, '"message":"session refreshed","user":"{u}"'),
    ("WARN", 73, '"message":"slow cache response","elapsed_ms":{n}'),
)
ERRORS = (
    (23, '"message":"query failed","error":"timed out waiting for a connection from pool after {n}ms",'
         '"error_code":"DB_POOL_TIMEOUT"'),
    (88, '"message":"insert failed","error":"duplicate key value violates unique constraint \\"users_email_key\\"",'
         '"user_id":{n}'),
    (102, '"message":"upstream request failed","error":"error sending request for url '
          '(http://payments.internal:8080/v1/charges/ch_{h}): connection refused","status":502'),
    (131, '"message":"failed to charge card","error":"card declined (code {small})","error_code":"PAY_DECLINED",'
          '"order_id":"ord_{n}"'),
    (147, '"message":"item not found","item_id":"itm_{n}","error_code":"ITEM_MISSING"'),
    (160, '"message":"invalid request body","error":"missing field `quantity` at line 1 column {small}"'),
)
PANIC = ("thread 'tokio-runtime-worker' ({tid}) panicked at src/handlers/orders.rs:{line}:17:\n"
         "called `Option::unwrap()` on a `None` value\n"
         "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n")
PANIC_EVERY, FIRST_PANIC = 100_000, 2_000  # line numbers: a few panics in a big log, one even in a small one
USERS = [f"{name}{i}" for name in ("alice", "bob", "carol", "dave") for i in range(5)]


@dataclass(frozen=True)
class Corpus:
    """The generated log, the ERROR kind of each ERROR line in order, and what the log holds."""

    log: Path
    labels: Path
    stats: dict[str, int]

    @property
    def size(self) -> int:
        return self.log.stat().st_size


def _span(rnd: random.Random, db: bool) -> tuple[str, str]:
    request = (f'{{"method":"POST","request_id":"req-{rnd.getrandbits(64):016x}","uri":"/api/orders",'
               '"name":"request"}')
    if not db:
        return request, f"[{request}]"
    query = '{"db.statement":"SELECT","table":"orders","name":"query"}'
    return query, f"[{request},{query}]"


def _line(rnd: random.Random, stamp: str, level: str, number: int, fields: str) -> str:
    body = fields.format(n=rnd.randrange(1_000_000), small=rnd.randrange(256), h=f"{rnd.getrandbits(48):012x}",
                         u=rnd.choice(USERS))
    span, spans = _span(rnd, db=number in (23, 42, 88))
    thread = rnd.randrange(2, 9)
    return (f'{{"timestamp":"{stamp}","level":"{level}","fields":{{{body}}},"target":"shop","filename":"src/main.rs",'
            f'"line_number":{number},"span":{span},"spans":{spans},"threadName":"tokio-runtime-worker",'
            f'"threadId":"ThreadId({thread})"}}\n')


def generate(log: Path, labels: Path, size_mb: float, error_rate: float = 0.01, seed: int = 7) -> dict[str, int]:
    """Write the log and the label of each ERROR line; returns how many lines, ERROR lines and panics it holds."""
    rnd = random.Random(seed)
    target = int(size_mb * 1e6)
    step = 86400.0 / max(1, target // 420)  # ~420 bytes a line: a day of timestamps, ending now
    start = time.time() - 86400.0
    stats = {"lines": 0, "errors": 0, "panics": 0}
    written, index, second = 0, 0, (-1, "")
    with log.open("w", encoding="utf-8", newline="\n") as out, labels.open("w", encoding="utf-8") as truth:
        buffer: list[str] = []
        while written < target:
            moment = start + index * step
            if int(moment) != second[0]:
                second = (int(moment), time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(moment))))
            stamp = f"{second[1]}.{int((moment % 1) * 1e6):06d}Z"
            roll = rnd.random()
            if index % PANIC_EVERY == FIRST_PANIC:
                text = PANIC.format(tid=rnd.randrange(1000, 99999), line=rnd.choice((88, 131)))
                stats["panics"] += 1
                stats["lines"] += 2
            elif roll < error_rate:
                kind = rnd.randrange(len(ERRORS))
                text = _line(rnd, stamp, "ERROR", *ERRORS[kind])
                truth.write(f"{kind}\n")
                stats["errors"] += 1
            else:
                text = _line(rnd, stamp, *rnd.choice(INFO))
            buffer.append(text)
            written += len(text)
            stats["lines"] += 1
            index += 1
            if len(buffer) >= 20000:
                out.write("".join(buffer))
                buffer.clear()
        out.write("".join(buffer))
    return stats


def prepare(folder: Path, size_mb: float, reuse: bool) -> Corpus:
    """The log of ``size_mb`` in ``folder``: generated, or with ``reuse`` the one generated there before."""
    folder.mkdir(parents=True, exist_ok=True)
    log, labels, stats_file = folder / "app.log", folder / "app.log.labels", folder / "app.log.stats.json"
    if reuse and log.is_file() and labels.is_file() and stats_file.is_file():
        print(f"reusing {log} ({log.stat().st_size / 1e6:,.0f} MB)", file=sys.stderr)
        return Corpus(log, labels, json.loads(stats_file.read_text()))
    started = time.perf_counter()
    stats = generate(log, labels, size_mb)
    stats_file.write_text(json.dumps(stats))
    print(f"generated {log.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return Corpus(log, labels, stats)


def aimon_argv() -> list[str]:
    """``aimon`` as installed beside this Python (the console script the README runs)."""
    script = Path(sys.executable).parent / "aimon"
    return [str(script)] if script.exists() else [sys.executable, "-m", "aimon"]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without aimon's settings and secrets, plus ``extra``.

    Without ``PYTHONDONTWRITEBYTECODE`` too: cron runs aimon with its bytecode cached (pip writes it at install, an
    editable install on the first run), and a shell or CI that turns caching off would time a compile of aimon's
    modules on every start instead — nothing a user's tick pays.
    """
    secrets = ("OPENAI_API_KEY", "DISCORD_WEBHOOK_URL", "GITHUB_TOKEN", "PYTHONDONTWRITEBYTECODE")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIMON_") and key not in secrets}
    env.update(AIMON_CONFIG="", **extra)
    return env


def _forget(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def _warm(path: Path) -> None:
    """Read the file once so every timed run finds it in the page cache."""
    with path.open("rb") as handle:
        while handle.read(1 << 24):
            pass


def measure_scan(corpus: Corpus, folder: Path, rounds: int, warm_up: bool) -> dict[str, Any]:
    """Full scan, nothing-new scan and grep in rounds; jq against the full scan; ``--since 1h``."""
    aimon, log = aimon_argv(), str(corpus.log)
    fresh, caught_up = folder / "fresh.db", folder / "caught-up.db"
    _forget(caught_up)
    run_once(Command([*aimon, "scan", log, "--json"], clean_env(AIMON_DB=str(caught_up))))
    _warm(corpus.log)
    full = Command([*aimon, "scan", log, "--json"], clean_env(AIMON_DB=str(fresh)), before=lambda: _forget(fresh))
    idle = Command([*aimon, "scan", log, "--json"], clean_env(AIMON_DB=str(caught_up)))
    grep = Command(["grep", "-c", "-F", '"level":"ERROR"', log], ok=(0, 1))
    runs = interleave({"full": full, "idle": idle, "grep": grep}, rounds, warm_up)
    marginal = [f - i for f, i in zip(walls(runs["full"]), walls(runs["idle"]), strict=True)]
    figures: dict[str, Any] = {
        "size_bytes": corpus.size, **corpus.stats,
        "full_vs_grep": ratio(walls(runs["full"]), walls(runs["grep"])),
        "marginal_vs_grep": ratio(marginal, walls(runs["grep"])),
        "idle_scan_s": median_wall(runs["idle"]),
        "full_rss_mb": peak_rss(runs["full"]),
    }
    if shutil.which("jq"):
        jq = Command(["jq", "-cR", 'fromjson? | select(.level == "ERROR")', log])
        pairs = interleave({"jq": jq, "full": full}, rounds, warm_up=False)
        figures["jq_vs_full"] = ratio(walls(pairs["jq"]), walls(pairs["full"]))
    since = Command([*aimon, "scan", log, "--since", "1h", "--json"], clean_env(AIMON_DB=str(caught_up)))
    pairs = interleave({"since": since, "idle": idle}, rounds, warm_up=False)
    figures["since_s"] = median_wall(pairs["since"])
    figures["since_vs_idle"] = ratio(walls(pairs["since"]), walls(pairs["idle"]))
    figures["since_rss_mb"] = peak_rss(pairs["since"])
    return figures


def error_texts(corpus: Corpus) -> tuple[list[str], list[str]]:
    """The ERROR lines as the text a log parser is given (message, then key=value), and their true kinds."""
    texts = []
    with corpus.log.open("rb") as handle:
        for raw in handle:
            if b'"level":"ERROR"' not in raw:
                continue
            fields = json.loads(raw)["fields"]
            message = fields.pop("message", "")
            texts.append(" ".join([message, *(f"{key}={value}" for key, value in fields.items())]))
    labels = corpus.labels.read_text(encoding="utf-8").split()
    return texts, labels


def measure_grouping(corpus: Corpus, rounds: int) -> dict[str, Any]:
    """aimon's and Drain3's grouping accuracy and time on the ERROR lines, in interleaved pairs."""
    import eval_grouping

    texts, truth = error_texts(corpus)
    figures: dict[str, Any] = {"lines": len(texts)}
    aimon_s: list[float] = []
    drain_s: list[float] = []
    with_drain3 = eval_grouping.drain3_available()
    for _ in range(rounds):
        started = time.perf_counter()
        predicted = eval_grouping.predict_cli(texts)
        aimon_s.append(time.perf_counter() - started)
        figures["aimon_ga"] = eval_grouping.grouping_accuracy(truth, predicted)
        figures["aimon_groups"] = len(set(predicted))
        if with_drain3:
            started = time.perf_counter()
            clusters = eval_grouping.predict_drain3(texts)
            drain_s.append(time.perf_counter() - started)
            figures["drain3_ga"] = eval_grouping.grouping_accuracy(truth, clusters)
            figures["drain3_groups"] = len(set(clusters))
    figures["aimon_s"] = statistics.median(aimon_s)
    if with_drain3:
        figures["aimon_vs_drain3"] = ratio(aimon_s, drain_s)
    return figures


def measure_big_scan(corpus: Corpus, folder: Path, least_mb: float) -> dict[str, Any]:
    """One fresh full scan of copies of the log, at least ``least_mb`` MB in all: its wall time and peak RSS."""
    big, db = folder / "big.log", folder / "big.db"
    copies = max(1, -(-int(least_mb * 1e6) // corpus.size))
    if not big.is_file() or big.stat().st_size != copies * corpus.size:
        with big.open("wb") as out:
            for _ in range(copies):
                with corpus.log.open("rb") as source:
                    shutil.copyfileobj(source, out, 1 << 24)
    _warm(big)
    sample: Sample = run_once(Command([*aimon_argv(), "scan", str(big), "--json"], clean_env(AIMON_DB=str(db)),
                                      before=lambda: _forget(db)))
    return {"size_bytes": big.stat().st_size, "wall_s": sample.wall_s, "rss_mb": sample.rss_mb}


def scan_rows(figures: dict[str, Any]) -> list[Row]:
    """Rows of the table for the scan figures."""
    mb = figures["size_bytes"] / 1e6
    full, marginal = figures["full_vs_grep"], figures["marginal_vs_grep"]
    rows: list[Row] = [
        (f"full `aimon scan --json` vs `grep -c -F` ({mb:,.0f} MB)", "(context)",
         f"{full.text()}: aimon {full.top_s:.2f} s ({mb / full.top_s:,.0f} MB/s), grep {full.bottom_s:.2f} s", None),
        ("marginal scan (full minus nothing-new scan) vs grep", f"<= {GREP_TARGET:.0f}x",
         f"{marginal.text()}: {marginal.top_s:.2f} s vs {marginal.bottom_s:.2f} s (nothing new: "
         f"{figures['idle_scan_s']:.2f} s)", marginal.median <= GREP_TARGET),
    ]
    jq = figures.get("jq_vs_full")
    rows.append(("jq selecting the ERROR lines vs the full scan", f">= {JQ_TARGET:.0f}x",
                 f"{jq.text()}: jq {jq.top_s:.2f} s" if jq else "not measured (jq is not installed)",
                 None if jq is None else jq.median >= JQ_TARGET))
    rows.append(("peak RSS of the full scan", f"<= {RSS_TARGET_MB:.0f} MB", f"{figures['full_rss_mb']:.0f} MB",
                 figures["full_rss_mb"] <= RSS_TARGET_MB))
    since = figures["since_vs_idle"]
    rows.append((f"`aimon scan --since 1h --json` ({mb:,.0f} MB)", f"<= {SINCE_TARGET_S:.0f} s",
                 f"median {figures['since_s']:.2f} s = {since.text()} the nothing-new scan; "
                 f"RSS {figures['since_rss_mb']:.0f} MB", figures["since_s"] <= SINCE_TARGET_S))
    return rows


def grouping_rows(figures: dict[str, Any]) -> list[Row]:
    """The Drain3 row: grouping accuracy on the same lines (target: at least Drain3's), and time."""
    head = f"grouping vs Drain3 ({figures['lines']:,} ERROR lines, {len(ERRORS)} kinds)"
    aimon = f"aimon GA {figures['aimon_ga']:.3f} ({figures['aimon_groups']} groups, {figures['aimon_s']:.2f} s)"
    if "drain3_ga" not in figures:
        return [(head, ">= Drain3's GA", f"{aimon}; Drain3 not measured (pip install '.[bench]')", None)]
    pace = figures["aimon_vs_drain3"]
    measured = (f"{aimon}, Drain3 GA {figures['drain3_ga']:.3f} ({figures['drain3_groups']} groups, "
                f"{pace.bottom_s:.2f} s in process); time {pace.text()}")
    return [(head, ">= Drain3's GA", measured, figures["aimon_ga"] >= figures["drain3_ga"])]


def big_scan_rows(figures: dict[str, Any]) -> list[Row]:
    mb = figures["size_bytes"] / 1e6
    return [(f"growth: peak RSS of a full scan of {mb:,.0f} MB", f"<= {RSS_TARGET_MB:.0f} MB",
             f"{figures['rss_mb']:.0f} MB ({figures['wall_s']:.1f} s, {mb / figures['wall_s']:,.0f} MB/s)",
             figures["rss_mb"] <= RSS_TARGET_MB)]
