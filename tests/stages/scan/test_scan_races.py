"""A rotation that lands between a scan's plan and its read: every line is still counted exactly once.

A scan plans which files to read (:func:`aimon.logs.files.plan_reads`) and then reads them; logrotate does not wait
for it. Each test makes the rotation happen at that exact moment (the plan is wrapped to rotate right after it is
made) and then lets ticks run until nothing is new: the totals must be what was written, neither less nor more.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import aimon.stages.scan.reading as reading
import aimon.stages.scan.stage as scan_stage

T0 = 1_790_000_000.0


def line(n: int, message: str, level: str = "ERROR") -> bytes:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(T0 + n)) + ".000000Z"
    event = {"timestamp": stamp, "level": level, "fields": {"message": message}, "target": "shop"}
    return json.dumps(event).encode() + b"\n"


def errors(count: int, start: int, message: str) -> bytes:
    return b"".join(line(start + n, f"{message} for order {start + n}") for n in range(count))


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def gzip_away(path: Path, into: Path) -> None:
    """logrotate's compress: ``path`` becomes ``into`` (gzip), the plain file goes."""
    with path.open("rb") as source, gzip.open(into, "wb") as target:
        shutil.copyfileobj(source, target)
    path.unlink()


def counts(data: dict[str, Any]) -> dict[str, int]:
    return {group["template"].split(" for ")[0]: group["count"] for group in data["groups"]}


def rotate_after_plan(monkeypatch: pytest.MonkeyPatch, rotate: Callable[[], None]) -> None:
    """The next plan is followed at once by ``rotate`` (once), before anything is read."""
    plan_reads = scan_stage.plan_reads
    pending = [rotate]

    def planned(*args: Any, **kwargs: Any) -> Any:
        plan = plan_reads(*args, **kwargs)
        while pending:
            pending.pop()()
        return plan

    monkeypatch.setattr(scan_stage, "plan_reads", planned)


def ticks_until_quiet(cli: Any, log: Path) -> dict[str, int]:
    total: dict[str, int] = {}
    for _ in range(5):
        data = cli("scan", str(log), "--json").json()
        for message, count in counts(data).items():
            total[message] = total.get(message, 0) + count
        if not data["groups"] and all(source["lines"] == 0 and "next tick" not in (source["note"] or "")
                                      for source in data["sources"]):
            return total
    raise AssertionError(f"still reading after five ticks: {total}")


def test_a_rotation_compressed_between_plan_and_read_is_finished_from_its_gz(
        cli: Any, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The checkpoint is in app.log.2 (rotated twice since); logrotate's delaycompress turns it into app.log.2.gz
    # right after the plan named it. Reading app.log.1 and app.log before it would move the checkpoint past its rest.
    log = isolated / "app.log"
    log.write_bytes(line(0, "service starts", "INFO") + errors(3, 1, "card declined"))
    assert counts(cli("scan", str(log), "--json").json()) == {"card declined": 3}
    append(log, errors(4, 10, "card declined"))
    os.rename(log, isolated / "app.log.2")
    (isolated / "app.log.1").write_bytes(line(20, "service restarts", "INFO") + errors(2, 21, "stock missing"))
    log.write_bytes(line(30, "service restarts again", "INFO") + errors(5, 31, "session expired"))
    rotate_after_plan(monkeypatch, lambda: gzip_away(isolated / "app.log.2", isolated / "app.log.2.gz"))
    first = cli("scan", str(log), "--json").json()
    assert counts(first) == {}
    assert "app.log.2 went away before it could be read" in first["sources"][0]["note"]
    assert ticks_until_quiet(cli, log) == {"card declined": 4, "stock missing": 2, "session expired": 5}


def test_a_file_planned_before_its_first_line_was_whole_is_not_read_twice(
        cli: Any, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A rotation left app.log with half a line when the plan looked at it; the rest of the line and more came before
    # the read. Then it is rotated and compressed: the next plan must know it by its first line.
    log = isolated / "app.log"
    log.write_bytes(line(0, "service starts", "INFO"))
    assert counts(cli("scan", str(log), "--json").json()) == {}
    os.rename(log, isolated / "app.log.1")
    fresh = line(10, "service restarts", "INFO") + errors(3, 11, "card declined")
    log.write_bytes(fresh[:20])

    rotate_after_plan(monkeypatch, lambda: append(log, fresh[20:]))
    assert counts(cli("scan", str(log), "--json").json()) == {"card declined": 3}
    append(log, errors(2, 20, "card declined"))
    os.rename(isolated / "app.log.1", isolated / "app.log.2")
    os.rename(log, isolated / "app.log.1")
    gzip_away(isolated / "app.log.1", isolated / "app.log.1.gz")
    log.write_bytes(line(30, "service restarts again", "INFO") + errors(1, 31, "stock missing"))
    assert ticks_until_quiet(cli, log) == {"card declined": 2, "stock missing": 1}


def test_a_file_replaced_between_plan_and_read_is_not_read_at_the_old_offset(
        cli: Any, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The plan says "app.log from byte N"; before the read, app.log is renamed and a new, longer app.log appears.
    log = isolated / "app.log"
    log.write_bytes(line(0, "service starts", "INFO") + errors(2, 1, "card declined"))
    assert counts(cli("scan", str(log), "--json").json()) == {"card declined": 2}
    append(log, errors(3, 10, "card declined"))

    def rotate() -> None:
        os.rename(log, isolated / "app.log.1")
        log.write_bytes(line(20, "service restarts", "INFO") + errors(40, 21, "session expired"))

    rotate_after_plan(monkeypatch, rotate)
    first = cli("scan", str(log), "--json").json()
    assert counts(first) == {}
    assert "app.log was replaced (rotated) before it could be read" in first["sources"][0]["note"]
    assert ticks_until_quiet(cli, log) == {"card declined": 3, "session expired": 40}


def test_a_rotation_half_compressed_is_read_once_from_the_plain_copy(
        cli: Any, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Three rotations between two ticks, the middle one caught by gzip mid-way: app.log.2 and a half-written
    # app.log.2.gz hold the same lines, never read. They are read once, from the plain file. (Small read chunks,
    # so that the half .gz yields lines before its end is found missing, as a big one does.)
    monkeypatch.setattr("aimon.logs.reader.CHUNK_BYTES", 4096)
    log = isolated / "app.log"
    log.write_bytes(line(0, "service starts", "INFO"))
    assert counts(cli("scan", str(log), "--json").json()) == {}
    os.rename(log, isolated / "app.log.3")
    plain = isolated / "app.log.2"
    plain.write_bytes(line(10, "service restarts", "INFO") + errors(300, 100, "card declined"))
    whole = gzip.compress(plain.read_bytes())
    (isolated / "app.log.2.gz").write_bytes(whole[: len(whole) // 2])
    (isolated / "app.log.1").write_bytes(line(20, "service restarts again", "INFO") + errors(2, 21, "stock missing"))
    log.write_bytes(line(30, "service restarts once more", "INFO") + errors(1, 31, "session expired"))
    assert ticks_until_quiet(cli, log) == {"card declined": 300, "stock missing": 2, "session expired": 1}


def test_a_compressed_rotation_shifted_between_plan_and_read_is_not_read_in_place_of_another(
        cli: Any, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The plan says "app.log.2.gz from byte N" (where the checkpoint's file went); before the read, logrotate shifts
    # it to app.log.3.gz and compresses another file into app.log.2.gz: the read must not take that one for it.
    log = isolated / "app.log"
    log.write_bytes(line(0, "service starts", "INFO") + errors(3, 1, "card declined"))
    assert counts(cli("scan", str(log), "--json").json()) == {"card declined": 3}
    os.rename(log, isolated / "app.log.1")
    gzip_away(isolated / "app.log.1", isolated / "app.log.2.gz")
    (isolated / "app.log.1").write_bytes(line(10, "service restarts", "INFO") + errors(30, 11, "stock missing"))
    log.write_bytes(line(50, "service restarts again", "INFO") + errors(1, 51, "session expired"))

    def rotate() -> None:
        os.rename(isolated / "app.log.2.gz", isolated / "app.log.3.gz")
        gzip_away(isolated / "app.log.1", isolated / "app.log.2.gz")
        os.rename(log, isolated / "app.log.1")
        log.write_bytes(line(60, "service restarts once more", "INFO") + errors(2, 61, "upstream timeout"))

    rotate_after_plan(monkeypatch, rotate)
    assert ticks_until_quiet(cli, log) == {"stock missing": 30, "session expired": 1, "upstream timeout": 2}


def test_a_compressed_rotation_still_being_written_is_finished_before_the_files_after_it(
        cli: Any, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # app.log.1.gz, never read, is still being written by its compressor when the scan reaches it: the read stops
    # where the .gz ends for now and goes on from there next tick, instead of reading app.log and leaving the rest.
    monkeypatch.setattr("aimon.logs.reader.CHUNK_BYTES", 4096)  # small reads: the half .gz yields lines first
    log = isolated / "app.log"
    log.write_bytes(line(0, "service starts", "INFO") + errors(2, 1, "card declined"))
    assert counts(cli("scan", str(log), "--json").json()) == {"card declined": 2}
    os.rename(log, isolated / "app.log.2")
    whole = gzip.compress(line(10, "service restarts", "INFO") + errors(300, 100, "stock missing"))
    (isolated / "app.log.1.gz").write_bytes(whole[: len(whole) // 2])
    log.write_bytes(line(500, "service restarts again", "INFO") + errors(1, 501, "session expired"))
    first = cli("scan", str(log), "--json").json()
    assert "app.log.1.gz is still being compressed; the rest is read next tick" in first["sources"][0]["note"]
    assert set(counts(first)) == {"stock missing"}
    (isolated / "app.log.1.gz").write_bytes(whole)
    later = ticks_until_quiet(cli, log)
    assert {"stock missing": counts(first)["stock missing"] + later.pop("stock missing")} == {"stock missing": 300}
    assert later == {"session expired": 1}


def copytruncate(log: Path, copy: Path, refill: bytes) -> None:
    """logrotate's copytruncate, then the service writing on: ``log`` copied to ``copy``, emptied, written again."""
    shutil.copyfile(log, copy)
    os.truncate(log, 0)
    append(log, refill)


def test_a_copytruncate_between_plan_and_read_is_not_read_at_the_old_offset(
        cli: Any, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The plan says "app.log from byte N"; before the read, app.log is copied to app.log.1, emptied and written past N
    # again. The inode is the same; only the first line says it is not the file that was planned.
    log = isolated / "app.log"
    log.write_bytes(line(0, "service starts", "INFO") + errors(2, 1, "card declined"))
    assert counts(cli("scan", str(log), "--json").json()) == {"card declined": 2}
    append(log, errors(3, 10, "card declined"))
    refill = line(20, "service goes on", "INFO") + errors(40, 21, "session expired")
    rotate_after_plan(monkeypatch, lambda: copytruncate(log, isolated / "app.log.1", refill))
    first = cli("scan", str(log), "--json").json()
    assert counts(first) == {}
    assert "app.log was truncated (copytruncate) before it could be read" in first["sources"][0]["note"]
    assert ticks_until_quiet(cli, log) == {"card declined": 3, "session expired": 40}


class Killed(BaseException):
    """The scan's process dying (SIGKILL, the OOM killer) at a chosen point: nothing after it runs."""


def test_a_rotation_made_before_a_killed_scan_committed_is_read_next_tick(
        cli: Any, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The plan: the rest of app.log.1, then app.log. While app.log.1 is read, logrotate shifts it to app.log.2 and
    # copies app.log to app.log.1 (copytruncate); the rest of app.log.1 is committed after that, and then the process
    # is killed. The copy was written before that commit, but no scan has read it: the next tick must.
    log = isolated / "app.log"
    log.write_bytes(line(0, "service starts", "INFO") + errors(2, 1, "card declined"))
    assert counts(cli("scan", str(log), "--json").json()) == {"card declined": 2}
    append(log, errors(3, 10, "card declined"))
    os.rename(log, isolated / "app.log.1")
    log.write_bytes(line(20, "service restarts", "INFO") + errors(4, 21, "stock missing"))

    def rotate() -> None:
        os.rename(isolated / "app.log.1", isolated / "app.log.2")
        copytruncate(log, isolated / "app.log.1", line(40, "service goes on", "INFO") + errors(5, 41, "session expired"))

    read_task, read_and_commit = reading.read_task, reading._read_and_commit

    def read_then_rotate(*args: Any) -> Any:
        monkeypatch.setattr(reading, "read_task", read_task)
        found = read_task(*args)
        rotate()
        return found

    def commit_then_die(*args: Any) -> Any:
        read_and_commit(*args)
        raise Killed

    monkeypatch.setattr(reading, "read_task", read_then_rotate)
    monkeypatch.setattr(reading, "_read_and_commit", commit_then_die)
    with pytest.raises(Killed):
        cli("scan", str(log), "--json")
    monkeypatch.setattr(reading, "_read_and_commit", read_and_commit)
    assert ticks_until_quiet(cli, log) == {"stock missing": 4, "session expired": 5}  # card declined: before the kill
