"""Which files a scan reads for one log: the file and its own rotations, never a neighbour whose name starts alike.

One folder as logrotate, tracing-appender and a second service leave it: ``app.log`` with five rotations in the
shapes the real tools write, and ``app-worker.log``, ``app-worker.log.1``, ``api.log``, ``api-access.log`` beside it.
Each file holds one error of its own, so the error groups a scan reports say exactly which files it read.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

NOW = time.time()


@pytest.fixture(autouse=True)
def _now() -> None:
    """Each test's "now": files' ages and the scan's wall clock are compared, so it must not be the import time."""
    global NOW
    NOW = time.time()

# file → (its one error message, seconds since it was last written)
FOLDER = {
    "app.log": ("current write failed", 10),
    "app.log.1": ("numbered one failed", 100),  # logrotate (delaycompress: the newest stays plain)
    "app.log-20261124": ("dateext plain failed", 200),  # logrotate dateext
    "app.log.2026-11-24": ("appender daily failed", 300),  # tracing-appender Rotation::DAILY
    "app-20261124.log": ("dateext kept failed", 400),  # logrotate dateext with `extension .log`
    "app.log.2.gz": ("numbered two failed", 500),  # logrotate compress
    "app-worker.log": ("worker failed", 20),  # another service's log …
    "app-worker.log.1": ("worker old failed", 150),  # … and its rotation
    "api.log": ("api failed", 40),
    "api-access.log": ("access failed", 30),
}
ROTATIONS = ["app.log.1", "app.log-20261124", "app.log.2026-11-24", "app-20261124.log", "app.log.2.gz"]
KIND = {name: "numbered" if name in ("app.log.1", "app.log.2.gz") else "dated" for name in ROTATIONS}
OTHERS = ["app-worker.log", "app-worker.log.1"]  # near names of app.log, newest first


def stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".000000Z"


def json_line(ts: float, message: str, level: str = "ERROR") -> str:
    return json.dumps({"timestamp": stamp(ts), "level": level, "fields": {"message": message}, "target": "shop"}) + "\n"


def text_line(ts: float, message: str) -> str:
    return f"{stamp(ts)} ERROR shop: {message}\n"  # the default `tracing` text format


def put(path: Path, text: str, age: float) -> None:
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    os.utime(path, (NOW - age, NOW - age))


def folder_of_logs(root: Path) -> Path:
    folder = root / "logs"
    folder.mkdir()
    for name, (message, age) in FOLDER.items():
        # app.log-20261124 is from the days the service still wrote text: a rotation is still read in another format
        if name == "app.log-20261124":
            text = f"{stamp(NOW - age - 5)}  INFO shop: {name} starts\n" + text_line(NOW - age, message)
        else:
            text = json_line(NOW - age - 5, f"{name} starts", "INFO") + json_line(NOW - age, message)
        put(folder / name, text, age)
    return folder


def messages(data: dict[str, Any]) -> dict[str, int]:
    return {group["template"]: group["count"] for group in data["groups"]}


def names(entries: list[dict[str, str]]) -> list[str]:
    return [Path(entry["path"]).name for entry in entries]


def triage(cli: Any, log: Path, since: str = "1h") -> dict[str, Any]:
    result = cli("scan", str(log), "--since", since, "--json")
    assert result.exit_code == 0, result.stderr
    return result.json()


def test_since_reads_the_file_and_its_rotations_only(cli: Any, isolated: Path) -> None:
    folder = folder_of_logs(isolated)
    data = triage(cli, folder / "app.log")
    assert messages(data) == {FOLDER[name][0]: 1 for name in ["app.log", *ROTATIONS]}
    [source] = data["sources"]
    by_name = "by its name (this log has no checkpoint to check its first line against)"
    assert source["files"] == [
        {"path": str(folder / "app.log"), "why": "the file named"},
        {"path": str(folder / "app.log.1"), "why": f"numbered rotation of app.log, {by_name}"},
        {"path": str(folder / "app.log-20261124"), "why": f"dated rotation of app.log, {by_name}"},
        {"path": str(folder / "app.log.2026-11-24"), "why": f"dated rotation of app.log, {by_name}"},
        {"path": str(folder / "app-20261124.log"), "why": f"dated rotation of app.log, {by_name}"},
        {"path": str(folder / "app.log.2.gz"), "why": f"numbered rotation of app.log, {by_name}"},
    ]
    assert source["skipped"] == [
        {"path": str(folder / name), "why": "another file: its name is not a rotation of app.log"} for name in OTHERS
    ]
    assert (source["note"], source["lines"], source["unlisted"]) == (None, 12, 0)


def test_since_on_api_log_leaves_api_access_log_alone(cli: Any, isolated: Path) -> None:
    folder = folder_of_logs(isolated)
    data = triage(cli, folder / "api.log")
    assert messages(data) == {"api failed": 1}
    [source] = data["sources"]
    assert names(source["files"]) == ["api.log"]
    assert source["skipped"] == [
        {"path": str(folder / "api-access.log"), "why": "another file: its name is not a rotation of api.log"}
    ]


def test_the_incremental_scan_reads_the_same_files(cli: Any, isolated: Path) -> None:
    folder = folder_of_logs(isolated)
    log = folder / "app.log"
    first = cli("scan", str(log), "--json").json()
    assert messages(first) == {"current write failed": 1}  # rotations already there are history, not news
    # A rotation between two ticks: app.log goes to app.log-20261125 (with a line the last tick did not read), a new
    # app.log starts, an hourly appender file appears; the neighbours rotate too, with first lines never seen.
    later = NOW + 60  # written after the tick above, whatever the clock's resolution
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json_line(NOW, "current tail failed"))
    os.rename(log, folder / "app.log-20261125")
    put(log, json_line(later, "fresh start failed"), -60)
    put(folder / "app.log.2026-11-25-13", json_line(later, "appender hourly failed"), -60)
    os.rename(folder / "app-worker.log", folder / "app-worker.log-20261125")
    put(folder / "app-worker.log", json_line(later, "worker fresh failed"), -60)
    put(folder / "api-access.log", json_line(later, "access fresh failed"), -60)
    second = cli("scan", str(log), "--json").json()
    assert messages(second) == {"current tail failed": 1, "appender hourly failed": 1, "fresh start failed": 1}
    assert second["sources"][0]["note"] == (
        f"{log}: rotated; finishing app.log-20261125 first; reading app.log.2026-11-25-13 written since the last scan"
    )
    assert cli("scan", str(log), "--json").json()["groups"] == []

    # Triage now checks each rotation against the checkpoint's first lines: all of them are known.
    data = triage(cli, log)
    known = "its first line is one the checkpoint has read"
    [source] = data["sources"]
    assert [(Path(entry["path"]).name, entry["why"]) for entry in source["files"]] == [
        ("app.log", "the file named"),
        ("app.log.2026-11-25-13", f"dated rotation of app.log, {known}"),
        ("app.log-20261125", f"dated rotation of app.log, {known}"),
        *[(name, f"{KIND[name]} rotation of app.log, {known}") for name in ROTATIONS],
    ]
    assert messages(data) == {
        "fresh start failed": 1, "appender hourly failed": 1, "current write failed": 1, "current tail failed": 1,
        **{FOLDER[name][0]: 1 for name in ROTATIONS},
    }
    assert names(source["skipped"]) == ["app-worker.log", "app-worker.log-20261125", "app-worker.log.1"]


def test_since_with_a_checkpoint_reads_what_the_incremental_scan_would_and_no_more(cli: Any, isolated: Path) -> None:
    folder = folder_of_logs(isolated)
    log = folder / "app.log"
    cli("scan", str(log))
    # Rotation-shaped, but never read by this source and last written before its last tick: not app.log's history
    # (the incremental scan never reads it either). Written after that tick: a rotation the next tick will read.
    put(folder / "app.log.3", json_line(NOW - 120, "stray copy failed"), 120)
    put(folder / "app.log.2026-11-26", json_line(NOW, "new rotation failed"), -60)
    data = triage(cli, log)
    assert "stray copy failed" not in messages(data) and messages(data)["new rotation failed"] == 1
    [source] = data["sources"]
    whys = {Path(entry["path"]).name: entry["why"] for entry in source["files"] + source["skipped"]}
    assert whys["app.log.2026-11-26"] == "dated rotation of app.log, written since the last scan"
    assert whys["app.log.3"] == (
        "numbered rotation name, but not one of app.log's: its first line is not one the checkpoint has read and it "
        "was last written before the last scan"
    )
    assert messages(cli("scan", str(log), "--json").json()) == {"new rotation failed": 1}


def test_the_same_content_twice_is_read_once(cli: Any, isolated: Path) -> None:
    folder = isolated / "logs"
    folder.mkdir()
    put(folder / "app.log", json_line(NOW - 30, "current write failed"), 10)
    put(folder / "app.log.1", json_line(NOW - 300, "rotated failed") + json_line(NOW - 200, "rotated failed"), 100)
    put(folder / "app.log.1.gz", (folder / "app.log.1").read_text(), 90)  # compression in progress (or kept twice)
    (folder / "app.log.2026-11-24").symlink_to("app.log")  # a "latest" link beside dated files
    data = triage(cli, folder / "app.log")
    assert messages(data) == {"current write failed": 1, "rotated failed": 2}
    [source] = data["sources"]
    assert names(source["files"]) == ["app.log", "app.log.1"]
    assert {Path(entry["path"]).name: entry["why"] for entry in source["skipped"]} == {
        "app.log.2026-11-24": "the same file as app.log (a link)",
        "app.log.1.gz": "the same first line as app.log.1: a copy of it",
    }


def test_a_rotation_aimon_cannot_decompress_is_said_and_left(cli: Any, isolated: Path) -> None:
    folder = isolated / "logs"
    folder.mkdir()
    put(folder / "app.log", json_line(NOW - 30, "current write failed"), 10)
    (folder / "app.log.2.xz").write_bytes(b"\xfd7zXZ\x00\x00")
    [source] = triage(cli, folder / "app.log")["sources"]
    assert source["skipped"] == [{"path": str(folder / "app.log.2.xz"),
                                  "why": "numbered rotation of app.log, compressed as .xz, which aimon does not read"}]


def test_rotations_outside_the_window_are_listed_as_not_read(cli: Any, isolated: Path) -> None:
    folder = folder_of_logs(isolated)
    os.utime(folder / "app.log.2.gz", (NOW - 7200, NOW - 7200))
    [source] = triage(cli, folder / "app.log")["sources"]
    assert {"path": str(folder / "app.log.2.gz"), "why": "last written before the window"} in source["skipped"]
    assert "app.log.2.gz" not in names(source["files"])


def test_the_text_output_lists_the_files_read_and_why(cli: Any, isolated: Path) -> None:
    folder = folder_of_logs(isolated)
    result = cli("scan", str(folder / "api.log"), "--since", "1h", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(
        "Read 2 lines since 1h: 1 error group.\n"
        f"  {folder / 'api.log'}\n"
        "    read      api.log         the file named\n"
        "    not read  api-access.log  another file: its name is not a rotation of api.log\n"
    )


def test_a_crowd_of_neighbours_is_counted_not_listed(cli: Any, isolated: Path) -> None:
    many = 13
    folder = isolated / "logs"
    folder.mkdir()
    put(folder / "app.log", json_line(NOW - 30, "current write failed"), 10)
    for index in range(many):
        put(folder / f"app-worker{index}.log", json_line(NOW - 30, "worker failed"), 20 + index)
    [source] = triage(cli, folder / "app.log")["sources"]
    assert names(source["skipped"]) == [f"app-worker{index}.log" for index in range(10)]
    assert source["unlisted"] == many - 10


def test_a_neighbour_with_a_hostile_name_is_listed_harmlessly(cli: Any, isolated: Path) -> None:
    folder = isolated / "logs"
    folder.mkdir()
    put(folder / "app.log", json_line(NOW - 30, "current write failed"), 10)
    hostile = os.fsdecode(b"app-\xff\x1b[2J.log")  # not UTF-8, and a terminal escape
    (folder / hostile).write_text("x\n")
    [source] = triage(cli, folder / "app.log")["sources"]
    assert source["skipped"] == [{"path": str(folder / "app-\ufffd\x1b[2J.log"),
                                  "why": "another file: its name is not a rotation of app.log"}]
    text = cli("scan", str(folder / "app.log"), "--since", "1h", env={"COLUMNS": "200"})
    assert text.exit_code == 0 and "\x1b" not in text.stdout and "another file" in text.stdout
