#!/usr/bin/env python3
"""The tick half of ``scripts/bench``: ``aimon run`` as cron runs it, idle and under growth, and detection latency.

* **Idle tick** — ``aimon run --env-file .env`` from its working folder with output appended to a log file (the line
  of ``crontab.example``), configured as in production (a Discord webhook, a GitHub token and repository, an OpenAI
  key and endpoint, all loopback fakes), with nothing new in the log; against a minimal typer app (one option, prints
  a line; written to the folder at run time) started by the same Python: the price of any typer CLI.
* **Growth** — the same idle tick with a state file of 100k fingerprints and a year of per-minute counts (built with
  aimon's own state functions, copied fresh before every run so each tick sees the whole history), and with 200
  watched files with no new bytes; each against the empty case, in the same interleaved rounds.
* **Detection latency** — a line appended to the log until the Discord webhook (a loopback fake that notes the arrival
  time of each request) receives the alert. Cron runs ``aimon run`` at every minute boundary, so the latency is the
  wait for the next boundary plus the processing of that tick. The wait is simulated (the line is appended at a random
  second of a simulated minute, ``random.Random(seed)``, and the tick starts at once with that wait added); the
  processing (tick start → request at the fake) is measured for real, process start-up included.

``python scripts/bench_e2e.py`` prints this half's rows alone; ``scripts/bench`` prints them with the others.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_scan import Row, aimon_argv, clean_env  # noqa: E402
from bench_timing import Command, interleave, ratio, walls  # noqa: E402

from tests.fakes.discord_server import FakeDiscord, fingerprint_of  # noqa: E402
from tests.fakes.github_server import FakeGitHub  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402

IDLE_TARGET = 1.1  # idle tick ≤ 1.1× the minimal typer app
GROWTH_TARGET = 1.2  # a grown idle tick ≤ 1.2× the empty one
PROCESSING_TARGET_S = 2.0
TOTAL_TARGET_S = 60.0
REPLIES = 1000  # diagnoses the fake LLM answers (each catch-up and latency trial asks for one)
# pydantic is not listed: typer itself imports it to parse the options, the minimal typer app as well.
HEAVY = ("openai", "github", "requests", "httpx", "jsonschema", "rich")

# The whole app: six lines, one option, one line printed.
TYPER_APP = '''import typer
app = typer.Typer()
@app.command()
def main(name: str = typer.Option("world")) -> None:
    print(f"hello {name}")
app()
'''


@dataclass(frozen=True)
class Growth:
    """How big the grown cases are: fingerprints and days of counts in the state, watched files."""

    fingerprints: int = 100_000
    counts_per_fingerprint: int = 10
    days: int = 365
    files: int = 200


@dataclass(frozen=True)
class Fakes:
    discord: FakeDiscord
    github: FakeGitHub
    openai: FakeOpenAI

    def env_file(self, log_paths: str, db: Path) -> str:
        """The ``.env`` of a production set-up pointing at the fakes."""
        return "\n".join([
            f"AIMON_LOG_PATHS={log_paths}", f"AIMON_DB={db}", f"DISCORD_WEBHOOK_URL={self.discord.webhook_url}",
            f"GITHUB_TOKEN={self.github.token}", f"AIMON_GITHUB_REPO={self.github.repo}",
            f"AIMON_GITHUB_API_URL={self.github.api_url}", "OPENAI_API_KEY=sk-bench-not-a-real-key",
            f"AIMON_LLM_BASE_URL={self.openai.base_url}", "AIMON_DIAGNOSIS_GRACE=0s", "",
        ])


@contextmanager
def fakes() -> Iterator[Fakes]:
    from bench_diagnose import answer

    found = Fakes(FakeDiscord(), FakeGitHub(), FakeOpenAI())
    for _ in range(REPLIES):
        found.openai.reply(answer("Requests fail while the database pool is exhausted"))
    try:
        yield found
    finally:
        found.discord.close()
        found.github.close()
        found.openai.close()


def _stamp(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error_line(code: str, message: str) -> str:
    span = {"request_id": f"{random.getrandbits(64):016x}", "name": "request"}
    return json.dumps({"timestamp": _stamp(), "level": "ERROR", "fields": {"message": message, "error_code": code},
                       "target": "shop::orders", "span": span, "spans": [span]}, separators=(",", ":"))


def _info_lines(count: int) -> str:
    span = {"request_id": "req-0000000000000001", "name": "request"}
    line = json.dumps({"timestamp": _stamp(), "level": "INFO", "fields": {"message": "finished processing request"},
                       "target": "tower_http::trace::on_response", "span": span, "spans": [span]},
                      separators=(",", ":"))
    return (line + "\n") * count


class Site:
    """A working folder as in production: ``.env``, logs, the state file; ``tick`` is cron's command line."""

    def __init__(self, folder: Path, found: Fakes, logs: int = 1) -> None:
        self.folder = folder
        folder.mkdir(parents=True)
        (folder / "logs").mkdir()
        for index in range(logs):
            text = _info_lines(200) + _error_line("E_BENCH", f"bench error {index}") + "\n"
            (folder / "logs" / f"app{index}.log").write_text(text, encoding="utf-8")
        self.db = folder / "state.db"
        self.pristine = folder / "state.pristine.db"
        (folder / ".env").write_text(found.env_file(str(folder / "logs" / "*.log"), self.db), encoding="utf-8")

    def tick(self) -> Command:
        return Command([*aimon_argv(), "run", "--env-file", ".env"], clean_env(), cwd=self.folder,
                       before=self.restore, append_to=self.folder / "aimon.log")

    def catch_up(self) -> None:
        """Two ticks: the first reads everything (and alerts), the second finds nothing new; then keep that state."""
        for _ in range(2):
            done = subprocess.run(self.tick().argv, env=clean_env(), cwd=self.folder, capture_output=True, text=True,
                                  check=False)
            if done.returncode != 0:
                raise SystemExit(f"{self.folder.name}: aimon run exited {done.returncode}: {done.stderr[-2000:]}")
        self.keep()

    def keep(self) -> None:
        """The state as it is now is what every timed tick starts from."""
        conn = _open(self.db)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        shutil.copyfile(self.db, self.pristine)

    def restore(self) -> None:
        """The kept state, on disk before the tick starts (its writeback would otherwise run during the tick)."""
        for suffix in ("-wal", "-shm"):
            Path(f"{self.db}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.pristine, self.db)
        with self.db.open("rb+") as copy:
            os.fsync(copy.fileno())


def _open(db: Path) -> Any:
    from aimon.state.db import open_db

    return open_db(db)


def grow_history(db: Path, growth: Growth) -> None:
    """Add ``growth.fingerprints`` fingerprints seen over a year, with per-minute counts spread over that year."""
    from aimon.grouping.fingerprint import ALGO_VERSION
    from aimon.state.db import iso, transaction
    from aimon.state.groups import add_counts, insert_fingerprint

    rnd = random.Random(11)
    now = datetime.now(UTC)
    newest_minute = int(now.timestamp() // 60)
    span = growth.days * 24 * 60
    conn = _open(db)
    with transaction(conn):
        for index in range(growth.fingerprints):
            first = now - timedelta(minutes=rnd.randrange(span))
            minutes = sorted(newest_minute - rnd.randrange(span) for _ in range(growth.counts_per_fingerprint))
            fingerprint = f"{rnd.getrandbits(64):016x}"
            insert_fingerprint(
                conn, fingerprint, algo=ALGO_VERSION, level="ERROR", error_code=f"E_{index % 500}", target="shop",
                template=f"query {index} failed: <*> after <num>ms", sample=f"query {index} failed: db after 5ms",
                file="src/main.rs", line=index % 900, is_panic=False, first_seen=iso(first) or "",
                last_seen=iso(now - timedelta(minutes=rnd.randrange(span))) or "", count=growth.counts_per_fingerprint,
                at=iso(first) or "")
            add_counts(conn, [(fingerprint, minute, 1 + rnd.randrange(5)) for minute in sorted(set(minutes))])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def imports_of_idle_tick(site: Site) -> list[str]:
    """Modules of :data:`HEAVY` that an idle tick imports (it should need none of them)."""
    code = ("import sys\nfrom aimon.cli.app import app\ntry:\n    app(['run', '--env-file', '.env'])\n"
            "except SystemExit:\n    pass\n"
            f"print(' '.join(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)\n")
    site.restore()
    result = subprocess.run([sys.executable, "-c", code], env=clean_env(), cwd=site.folder, capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        return [f"(the tick exited {result.returncode})"]
    lines = result.stderr.splitlines()  # the last line names the heavy modules imported: empty when there are none
    return lines[-1].split() if lines else ["(nothing printed)"]


def idle_ticks(rounds: int, growth: Growth | None, warm_up: bool) -> dict[str, Any]:
    """The typer app and the empty idle tick (and with ``growth`` the grown state and the many files), interleaved."""
    with fakes() as found, tempfile.TemporaryDirectory(prefix="aimon-idle-") as tmp:
        folder = Path(tmp)
        (folder / "typer_app.py").write_text(TYPER_APP, encoding="utf-8")
        typer_app = Command([sys.executable, str(folder / "typer_app.py"), "--name", "cron"], clean_env(),
                            cwd=folder, append_to=folder / "typer.log")
        empty = Site(folder / "empty", found)
        empty.catch_up()
        commands = {"typer": typer_app, "empty": empty.tick()}
        if growth is not None:
            history, many = Site(folder / "history", found), Site(folder / "many", found, logs=growth.files)
            history.catch_up()
            many.catch_up()
            grow_history(history.db, growth)
            history.keep()
            commands.update(history=history.tick(), many=many.tick())
        runs = interleave(commands, rounds, warm_up)
        figures: dict[str, Any] = {
            "typer_s": statistics.median(walls(runs["typer"])),
            "idle_vs_typer": ratio(walls(runs["empty"]), walls(runs["typer"])),
            "imports": imports_of_idle_tick(empty),
            "growth": growth,
        }
        if growth is not None:
            figures["history_vs_empty"] = ratio(walls(runs["history"]), walls(runs["empty"]))
            figures["many_vs_empty"] = ratio(walls(runs["many"]), walls(runs["empty"]))
        return figures


def latency(trials: int, seed: int) -> dict[str, Any]:
    """Simulated cron minute + measured processing, for ``trials`` new errors."""
    rnd = random.Random(seed)
    rows = []
    with fakes() as found, tempfile.TemporaryDirectory(prefix="aimon-latency-") as tmp:
        site = Site(Path(tmp) / "site", found)
        log = site.folder / "logs" / "app0.log"
        site.catch_up()
        for trial in range(trials):
            wait = 60.0 - rnd.uniform(0.0, 60.0)  # from the second the service logs the error to the next boundary
            with log.open("a", encoding="utf-8") as handle:
                handle.write(_info_lines(rnd.randint(10, 200)) + _error_line(f"E_LATENCY_{trial}", f"bench failure {trial}") + "\n")
            before = len(found.discord.requests)
            started = time.time()
            result = subprocess.run(site.tick().argv, env=clean_env(), cwd=site.folder, capture_output=True, text=True,
                                    check=False)
            posts = [r for r in found.discord.requests[before:] if r.method == "POST" and r.status == 200]
            if result.returncode != 0 or len(posts) != 1 or fingerprint_of(posts[0].json) is None:
                raise SystemExit(f"trial {trial}: aimon run exited {result.returncode} with {len(posts)} alerts: "
                                 f"{(result.stdout + result.stderr)[-1500:]}")
            took = posts[0].at - started
            rows.append({"wait_s": wait, "processing_s": took, "total_s": wait + took})
    totals = sorted(row["total_s"] for row in rows)
    processing = [row["processing_s"] for row in rows]
    return {
        "trials": len(rows),
        "processing_median_s": statistics.median(processing),
        "processing_max_s": max(processing),
        "total_mean_s": statistics.mean(totals),
        "total_p95_s": totals[max(0, round(0.95 * len(totals)) - 1)],
        "total_max_s": totals[-1],
    }


def idle_rows(idle: dict[str, Any]) -> list[Row]:
    """The idle tick against the typer app, and the growth cases (when measured) against the idle tick."""
    base = idle["idle_vs_typer"]
    heavy = ", ".join(idle["imports"]) or "none of " + "/".join(HEAVY)
    rows = [("idle `aimon run` tick (configured, nothing new) vs a 6-line typer app", f"<= {IDLE_TARGET}x",
             f"{base.text()}: {base.top_s:.3f} s vs {base.bottom_s:.3f} s; imports: {heavy}",
             base.median <= IDLE_TARGET)]
    growth: Growth | None = idle["growth"]
    if growth is not None:
        rows.append(_growth_row(f"growth: idle tick, state of {growth.fingerprints:,} fingerprints and {growth.days} "
                                "days of counts", idle["history_vs_empty"]))
        rows.append(_growth_row(f"growth: idle tick, {growth.files} watched files with no new bytes",
                                idle["many_vs_empty"]))
    return rows


def _growth_row(promise: str, found: Any) -> Row:
    return (promise, f"<= {GROWTH_TARGET}x the empty case", f"{found.text()}: {found.top_s:.3f} s vs {found.bottom_s:.3f} s",
            found.median <= GROWTH_TARGET)


def latency_rows(late: dict[str, Any]) -> list[Row]:
    return [
        ("detection latency: processing (tick start -> Discord request)", f"<= {PROCESSING_TARGET_S} s each",
         f"median {late['processing_median_s']:.2f} s, max {late['processing_max_s']:.2f} s",
         late["processing_max_s"] <= PROCESSING_TARGET_S),
        ("detection latency: line appended -> Discord (cron minute simulated)", f"p95 <= {TOTAL_TARGET_S:.0f} s",
         f"mean {late['total_mean_s']:.1f} s, p95 {late['total_p95_s']:.1f} s, max {late['total_max_s']:.1f} s "
         f"({late['trials']} trial{'s' if late['trials'] != 1 else ''})", late["total_p95_s"] <= TOTAL_TARGET_S),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the idle ticks (default 5)")
    parser.add_argument("--trials", type=int, default=20, help="latency trials (default 20)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = idle_rows(idle_ticks(args.rounds, Growth(), warm_up=True)) + latency_rows(latency(args.trials, args.seed))
    for promise, target, measured, ok in rows:
        print(f"{'PASS' if ok else 'FAIL'}  {promise}: {measured} (target {target})")
    return 0 if all(row[3] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
