"""Reading log files exactly once: appends, partial lines, rotation by rename and copytruncate, .gz, deletion, bad input."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimon.logs import reader
from aimon.logs.files import expand_paths, plan_reads, rotated_siblings
from aimon.state import checkpoints
from aimon.state.checkpoints import Checkpoint

_counter = iter(range(10**9))


def event(level: str = "ERROR", message: str = "payment failed", **extra: Any) -> str:
    n = next(_counter)
    fields = {"message": message, "n": n, **extra}
    stamp = f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}.000000Z"
    return json.dumps({"timestamp": stamp, "level": level, "fields": fields, "target": "shop::pay"}, separators=(",", ":")) + "\n"


def write(path: Path, *lines: str, mode: str = "a") -> None:
    with open(path, mode, encoding="utf-8", newline="") as handle:
        handle.write("".join(lines))


def scan(cli: Any, *paths: Path | str, exit_code: int = 0) -> dict[str, Any]:
    result = cli("scan", *(str(path) for path in paths), "--json")
    assert result.exit_code == exit_code, result.stderr
    return result.json()


def total_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT coalesce(sum(count), 0) FROM fingerprints").fetchone()[0])


def checkpoint(db: Path, source: Path) -> tuple[Any, ...]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT inode, offset FROM checkpoints WHERE source = ?", (str(source),)).fetchone()


@pytest.fixture
def log(isolated: Path) -> Path:
    return isolated / "app.log"


@pytest.fixture
def db(isolated: Path) -> Path:
    return isolated / "state.db"


def test_appends_and_a_half_written_last_line(cli: Any, log: Path, db: Path) -> None:
    second = event()
    write(log, event(), event(), event("INFO"), second[:25])
    assert scan(cli, log)["lines"] == 3
    assert checkpoint(db, log)[1] == log.stat().st_size - 25  # past the last complete line only
    write(log, second[25:], event())
    found = scan(cli, log)
    assert (found["lines"], found["malformed"]) == (2, 0)
    assert scan(cli, log)["lines"] == 0
    assert total_count(db) == 4


def test_rename_rotation_reads_the_rest_of_the_old_file_first(cli: Any, log: Path, db: Path) -> None:
    write(log, event(), event())
    scan(cli, log)
    write(log, event(), event(), event())  # written after the last scan, before rotation
    os.rename(log, log.with_name("app.log.1"))
    write(log, event(), event("INFO"))
    found = scan(cli, log)
    assert found["lines"] == 5
    assert "rotated; finishing app.log.1 first" in found["sources"][0]["note"]
    assert total_count(db) == 6
    assert checkpoint(db, log) == (log.stat().st_ino, log.stat().st_size)
    assert scan(cli, log)["lines"] == 0


def test_rename_rotation_already_compressed(cli: Any, log: Path, db: Path) -> None:
    write(log, event(), event())
    scan(cli, log)
    write(log, event(), event(), event())
    rotated = log.with_name("app.log.1.gz")
    with open(log, "rb") as source, gzip.open(rotated, "wb") as target:
        shutil.copyfileobj(source, target)
    log.unlink()
    write(log, event())
    found = scan(cli, log)
    assert found["lines"] == 4
    assert "finishing app.log.1.gz first" in found["sources"][0]["note"]
    assert total_count(db) == 6


def test_rename_rotation_before_the_new_file_exists(cli: Any, log: Path, db: Path) -> None:
    write(log, event())
    scan(cli, log)
    write(log, event())
    os.rename(log, log.with_name("app.log.1"))
    assert scan(cli, log)["lines"] == 1  # the rest of the renamed file, still being written
    write(log.with_name("app.log.1"), event())
    assert scan(cli, log)["lines"] == 1
    write(log, event(), event())
    assert scan(cli, log)["lines"] == 2
    assert total_count(db) == 5


def test_copytruncate_reads_the_copy_first(cli: Any, log: Path, db: Path) -> None:
    write(log, event(), event(), event())
    scan(cli, log)
    write(log, event(), event())
    shutil.copyfile(log, log.with_name("app.log.1"))
    write(log, "", mode="w")  # truncate in place: same inode
    write(log, event())
    found = scan(cli, log)
    assert found["lines"] == 3
    assert "truncated (copytruncate); finishing app.log.1 first" in found["sources"][0]["note"]
    assert total_count(db) == 6


def test_copytruncate_refilled_past_the_old_offset_into_a_gz_copy(cli: Any, log: Path, db: Path) -> None:
    write(log, event())
    scan(cli, log)
    write(log, event())
    with open(log, "rb") as source, gzip.open(log.with_name("app.log.1.gz"), "wb") as target:
        shutil.copyfileobj(source, target)
    write(log, event(message="after the truncation, a longer first line"), event(), event(), mode="w")
    assert log.stat().st_size > checkpoint(db, log)[1]  # only the first line tells the files apart
    found = scan(cli, log)
    assert found["lines"] == 4
    assert total_count(db) == 5


def test_truncation_without_a_copy_starts_over(cli: Any, log: Path, db: Path) -> None:
    write(log, event(), event(), event())
    scan(cli, log)
    write(log, event(), mode="w")
    assert scan(cli, log)["lines"] == 1
    assert total_count(db) == 4


def test_deleted_file_keeps_its_checkpoint_until_it_is_back(cli: Any, log: Path, db: Path) -> None:
    write(log, event())
    scan(cli, log)
    log.unlink()
    found = scan(cli, log, exit_code=1)  # a log that is gone is a blind spot: said, and the scan fails
    assert found["lines"] == 0
    assert found["sources"][0]["note"] == f"{log}: the file is gone and its rotated copy was not found"
    assert found["errors"] == [f"{log}: the file is gone and its rotated copy was not found"]
    write(log, event(), event())
    assert scan(cli, log)["lines"] == 2
    assert total_count(db) == 3


def test_several_files_by_glob_and_by_setting(cli: Any, isolated: Path, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated / "logs").mkdir()
    a, b = isolated / "logs" / "a.log", isolated / "logs" / "b.log"
    write(a, event(), event())
    write(b, event())
    write(isolated / "logs" / "a-20260101.log", event())  # a rotated sibling: not a source of its own
    found = scan(cli, isolated / "logs" / "*.log")
    assert [source["source"] for source in found["sources"]] == [str(a), str(b)]
    assert found["lines"] == 3
    monkeypatch.setenv("AIMON_LOG_PATHS", f"{isolated}/logs/*.log,{isolated}/missing.log")
    write(b, event())
    found = scan(cli, exit_code=1)  # the missing one fails the scan; the others are read all the same
    assert found["lines"] == 1
    assert found["sources"][2]["note"] == f"{isolated}/missing.log: no such file (yet)"
    assert found["errors"] == [f"{isolated}/missing.log: no such file"]


def test_bad_input_is_counted_as_malformed_and_skipped(cli: Any, log: Path, db: Path) -> None:
    write(log, event())
    with open(log, "ab") as handle:
        handle.write(b'{"timestamp":"2026-01-01T00:00:00Z","level":"ERROR","fields":{"message":"cut\n')
        handle.write(b"2026-01-01T00:00:01Z ERROR app: bad \xff\xfe bytes\n")
        handle.write(b"2026-01-01T00:00:02Z ERROR app: a \x00 NUL\n")
        handle.write(b"[1,2,3]\n42\n")
        handle.write(b"{" + b"x" * (50 * 1024 * 1024) + b"}\n")  # a 50 MB line
    write(log, event())
    found = scan(cli, log)
    assert (found["lines"], found["malformed"]) == (8, 6)
    assert found["malformed_reasons"] == {
        "JSON array where an object belongs": 1,
        "JSON number where an object belongs": 1,
        "NUL byte in line": 1,
        "invalid JSON (unexpected end of data)": 1,
        "invalid UTF-8": 1,
        "line longer than 8388608 bytes": 1,
    }
    assert total_count(db) == 2
    assert checkpoint(db, log)[1] == log.stat().st_size


def test_an_over_long_line_still_being_written_is_read_when_complete(cli: Any, log: Path, db: Path) -> None:
    write(log, event())
    with open(log, "ab") as handle:
        handle.write(b"y" * (9 * 1024 * 1024))
    assert scan(cli, log)["lines"] == 1
    with open(log, "ab") as handle:
        handle.write(b"\n")
    write(log, event())
    assert scan(cli, log) | {"groups": [], "sources": [], "detections": []} == {
        "lines": 2, "malformed": 1, "malformed_reasons": {"line longer than 8388608 bytes": 1},
        "groups": [], "sources": [], "detections": [], "since": None, "errors": [],
    }


def test_a_panic_at_the_end_of_a_live_file_is_detected_in_the_same_tick(cli: Any, log: Path, db: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The service panics and its hook is still writing: the scan waits for the file to go quiet, then reads the
    whole block in this tick (detection within the minute), once."""
    monkeypatch.setattr(reader, "PANIC_SETTLE_SECONDS", 0.4)
    write(log, event("INFO"), "thread 'main' panicked at src/orders.rs:131:17:\n")
    rest = threading.Timer(0.1, write, (log, "called `Option::unwrap()` on a `None` value\n",
                                        "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"))
    rest.start()
    try:
        found = scan(cli, log)
    finally:
        rest.join()
    assert found["lines"] == 4
    (group,) = found["groups"]
    assert (group["level"], group["sample"]) == ("PANIC", "called `Option::unwrap()` on a `None` value")
    assert found["sources"] == [] or not found["sources"][0].get("note")
    assert checkpoint(db, log)[1] == log.stat().st_size
    assert total_count(db) == 1
    again = scan(cli, log)
    assert (again["lines"], again["groups"], total_count(db)) == (0, [], 1)


def test_a_panic_still_being_written_when_the_tick_must_end_is_held_for_the_next(cli: Any, log: Path, db: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMON_TICK_BUDGET", "1s")  # shorter than the settle delay (5 s): no time to wait
    write(log, event("INFO"), "thread 'main' panicked at src/orders.rs:131:17:\n")
    doc = cli("run", "--log", str(log), "--json").json()
    (source,) = doc["stages"]["scan"]["result"]["sources"]
    assert "a panic at the end of the file is still being written" in source["note"]
    assert checkpoint(db, log)[1] == len(event("INFO"))  # before the header: the block is read whole next tick
    assert total_count(db) == 0
    write(log, "called `Option::unwrap()` on a `None` value\n", event("INFO"))
    found = scan(cli, log)
    assert found["lines"] == 3
    (group,) = found["groups"]
    assert (group["level"], group["sample"]) == ("PANIC", "called `Option::unwrap()` on a `None` value")


def test_a_panic_at_the_end_of_a_quiet_file_is_read(cli: Any, log: Path, db: Path) -> None:
    write(log, "thread 'main' panicked at src/orders.rs:131:17:\n", "called `Option::unwrap()` on a `None` value\n")
    old = time.time() - 60
    os.utime(log, (old, old))  # the writer is gone: nothing more will come
    found = scan(cli, log)
    assert found["lines"] == 2 and [group["level"] for group in found["groups"]] == ["PANIC"]


def test_a_failed_commit_counts_nothing_and_the_next_scan_counts_once(cli: Any, log: Path, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(log, event(), event())
    scan(cli, log)

    def crash(conn: sqlite3.Connection, checkpoint: Checkpoint) -> None:
        raise KeyboardInterrupt  # killed between the counts and the checkpoint

    write(log, event(), event(), event())
    original = checkpoints.save_checkpoint
    monkeypatch.setattr(checkpoints, "save_checkpoint", crash)
    assert cli("scan", str(log), "--json").exit_code == 130
    assert total_count(db) == 2  # the transaction was rolled back with the checkpoint
    monkeypatch.setattr(checkpoints, "save_checkpoint", original)
    assert scan(cli, log)["lines"] == 3
    assert total_count(db) == 5


def test_parallel_reading_finds_exactly_what_one_reader_finds(cli: Any, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = []
    for i in range(3000):
        lines.append(event("ERROR" if i % 7 == 0 else "INFO", message=f"failure {i % 3}"))
        if i % 500 == 250:
            lines.append(f"thread 'worker' panicked at src/job.rs:{i % 4}:1:\nboom\n")
    write(isolated / "one.log", *lines)
    write(isolated / "two.log", *lines)
    sequential = scan(cli, isolated / "one.log")
    monkeypatch.setattr(reader, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(reader, "worker_count", lambda: 3)
    calls = []
    original = reader.fork_map
    monkeypatch.setattr(reader, "fork_map", lambda jobs: calls.append(len(jobs)) or original(jobs))
    parallel = scan(cli, isolated / "two.log")
    assert calls == [3]
    assert parallel["lines"] == sequential["lines"] == 3012
    def strip(groups: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted((g["fingerprint"], g["count"], g["first_seen"], g["last_seen"]) for g in groups)
    assert strip(parallel["groups"]) == strip(sequential["groups"])
    assert sum(group["count"] for group in parallel["groups"]) == 429 + 6


def test_plan_follows_the_inode_among_siblings(log: Path) -> None:
    write(log, event())
    st = log.stat()
    os.rename(log, log.with_name("app.log.2"))
    write(log.with_name("app.log.1"), event())
    write(log, event())
    plan = plan_reads(log, Checkpoint(str(log), st.st_ino, st.st_dev, None, 10))
    assert [(task.path.name, task.start, task.final) for task in plan.tasks] == [("app.log.2", 10, True), ("app.log", 0, False)]
    assert [path.name for path in rotated_siblings(log)] == ["app.log.1", "app.log.2"] or len(rotated_siblings(log)) == 2


def test_expand_paths_keeps_missing_plain_paths(isolated: Path) -> None:
    assert expand_paths(["nothing.log", "*.none"]) == [isolated / "nothing.log"]


# ----------------------------------------------------------------------------------------------- a property: exactness

OPERATIONS = st.lists(
    st.sampled_from(["append", "append_partial", "finish_partial", "scan", "rename", "rename_gz", "copytruncate",
                     "copytruncate_gz", "append_renamed"]),
    min_size=1,
    max_size=14,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(OPERATIONS)
def test_no_line_is_counted_twice_or_skipped(cli: Any, isolated: Path, operations: list[str]) -> None:
    folder = isolated / f"case{next(_counter)}"
    folder.mkdir()
    log = folder / "app.log"
    log.touch()
    written = counted = generation = 0
    partial = ""
    renamed: Path | None = None  # the writer still holds the renamed file open until the next scan notices
    # aimon starts watching an empty file (rotations before its first scan are history it never promised to read)
    for operation in ["scan", *operations, "finish_partial", "scan"]:
        if operation == "append":
            write(log, event(), event())
            written += 2
        elif operation == "append_partial" and not partial:
            partial = event()
            write(log, partial[:20])
        elif operation == "finish_partial" and partial:
            write(log, partial[20:])
            partial, written = "", written + 1
        elif operation == "scan":
            counted += scan(cli, log)["lines"]
            renamed = None
        elif operation == "append_renamed" and renamed is not None:
            write(renamed, event())
            written += 1
        elif operation in ("rename", "rename_gz", "copytruncate", "copytruncate_gz") and not partial:
            # logrotate never cuts a line in two
            generation += 1
            rotated = folder / f"app.log.{generation}"
            if operation.startswith("rename"):
                os.rename(log, rotated)
                log.touch()
                renamed = None if operation.endswith("_gz") else rotated
            else:
                shutil.copyfile(log, rotated)
                write(log, "", mode="w")
                renamed = None
            if operation.endswith("_gz"):
                with open(rotated, "rb") as source, gzip.open(f"{rotated}.gz", "wb") as target:
                    shutil.copyfileobj(source, target)
                rotated.unlink()
    assert counted == written


@pytest.mark.parametrize("rotation", ["rename", "copytruncate"])
def test_a_rotation_while_waiting_for_a_panic_to_settle_counts_nothing_twice(
        cli: Any, log: Path, db: Path, monkeypatch: pytest.MonkeyPatch, rotation: str) -> None:
    """logrotate may run while the scan waits for the file to go quiet: the wait then reads nothing of the new file
    (the next tick's plan reads the rest of the old one, the panic included, then the new one)."""
    from aimon.stages.scan import stage

    write(log, event("INFO"), event("INFO"), "thread 'main' panicked at src/orders.rs:131:17:\n",
          "called `Option::unwrap()` on a `None` value\n")

    def rotate_meanwhile(seconds: float) -> None:
        if rotation == "rename":
            log.rename(log.with_name("app.log.1"))
        else:
            shutil.copy(log, log.with_name("app.log.1"))
            log.write_text("")
        write(log, *(event() for _ in range(10)))

    with monkeypatch.context() as patched:
        patched.setattr(stage.time, "sleep", rotate_meanwhile)
        first = scan(cli, log)
    assert total_count(db) == 0 and first["lines"] == 2
    second = scan(cli, log)
    levels = sorted((group["level"], group["count"]) for group in second["groups"])
    assert levels == [("ERROR", 10), ("PANIC", 1)]
    assert total_count(db) == 11
