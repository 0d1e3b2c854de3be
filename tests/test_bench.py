"""The benchmark runs: its smoke version prints every row, and its parts measure what they say.

No timing is asserted here (a test suite is no benchmark): only that every row is measured and shown, that the log it
generates has the shape real services write, and that ratios are taken pair by pair.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
sys.path.insert(0, str(SCRIPTS))

import bench_scan  # noqa: E402
import bench_timing  # noqa: E402

ROWS = (
    "full `aimon scan --json` vs `grep -c -F`",
    "marginal scan (full minus nothing-new scan) vs grep",
    "jq selecting the ERROR lines vs the full scan",
    "peak RSS of the full scan",
    "`aimon scan --since 1h --json`",
    "grouping vs Drain3",
    "growth: peak RSS of a full scan of",
    "idle `aimon run` tick (configured, nothing new) vs a 6-line typer app",
    "growth: idle tick, state of",
    "growth: idle tick, 5 watched files with no new bytes",
    "detection latency: processing",
    "detection latency: line appended -> Discord",
    "offline diagnosis",
    "memory: false reuses",
    "LLM calls, one per root cause",
    "LLM calls for recurrences",
    "prompt tokens per diagnosis",
    "cost per diagnosis",
    "demo: one alert and one LLM call per root cause",
)


def test_the_smoke_benchmark_prints_every_row_with_its_target_and_result(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(SCRIPTS / "bench"), "--smoke", "--growth", "--keep", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert "CPU(s) on this machine; used: " in lines[0] and "targets not enforced" in lines[0]
    rows = [line.split(" | ") for line in lines[3:] if " | " in line]
    assert len(rows) == len(ROWS), [cells[0] for cells in rows]
    for expected, cells in zip(ROWS, rows, strict=True):
        assert cells[0].startswith(expected), (expected, cells[0])
        assert cells[1].strip() and cells[2].strip(), cells
        assert cells[3].strip() in ("PASS", "FAIL", "n/a"), cells
    measured = sum(1 for cells in rows if cells[3].strip() != "n/a")
    assert f"of {measured} targets met" in run.stdout
    assert (tmp_path / "app.log").is_file() and (tmp_path / "app.log.labels").is_file()


def test_the_smoke_benchmark_reuses_the_kept_log_and_reports_json(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    bench_scan.prepare(tmp_path, 1, reuse=False)
    before = log.stat().st_mtime_ns
    run = subprocess.run([sys.executable, str(SCRIPTS / "bench"), "--smoke", "--keep", str(tmp_path), "--reuse", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert log.stat().st_mtime_ns == before
    document = json.loads(run.stdout)
    assert document["figures"]["scan"]["scan"]["size_bytes"] == log.stat().st_size
    assert len(document["figures"]["scan"]["scan"]["full_vs_grep"]["ratios"]) == 1
    assert not any(row[0].startswith("growth") for row in document["rows"])


def test_the_generated_log_has_fields_span_and_spans_on_every_event_and_one_percent_errors(tmp_path: Path) -> None:
    stats = bench_scan.generate(tmp_path / "app.log", tmp_path / "labels", 3)
    events: list[dict[str, Any]] = []
    panics, levels = 0, Counter[str]()
    for line in (tmp_path / "app.log").read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            events.append(event)
            levels[event["level"]] += 1
        elif "panicked at" in line:
            panics += 1
    assert all({"timestamp", "level", "fields", "target", "span", "spans"} <= set(event) for event in events)
    assert all(event["spans"][-1] == event["span"] and "message" in event["fields"] for event in events)
    assert levels["ERROR"] == stats["errors"] == len((tmp_path / "labels").read_text().split())
    assert 0.005 < levels["ERROR"] / len(events) < 0.015
    assert panics == stats["panics"] >= 1


def test_the_error_texts_pair_each_error_line_with_its_kind(tmp_path: Path) -> None:
    corpus = bench_scan.prepare(tmp_path, 1, reuse=False)
    texts, labels = bench_scan.error_texts(corpus)
    assert len(texts) == len(labels) > 0
    for text, label in zip(texts, labels, strict=True):
        message = json.loads("{" + bench_scan.ERRORS[int(label)][1].split(",")[0] + "}")["message"]
        assert text.startswith(message + " ")


def test_a_ratio_is_the_median_of_the_ratios_of_each_pair() -> None:
    found = bench_timing.ratio([2.0, 10.0, 3.0], [1.0, 2.0, 3.0])
    assert found.ratios == [2.0, 5.0, 1.0]
    assert found.median == 2.0  # not 10/2 or 3/1: the slow round counts once, as a pair
    assert (found.top_s, found.bottom_s) == (3.0, 2.0)
    assert found.text() == "2.00x (1.00–5.00, 3 pairs)"


def test_interleaving_runs_the_commands_in_turn(tmp_path: Path) -> None:
    trail = tmp_path / "trail"
    commands = {name: bench_timing.Command(["sh", "-c", f"echo {name} >> {trail}"]) for name in ("a", "b")}
    samples = bench_timing.interleave(commands, rounds=3, warm_up=True)
    assert trail.read_text().split() == ["a", "b"] * 4
    assert [len(samples[name]) for name in ("a", "b")] == [3, 3]


def test_a_failing_command_stops_the_benchmark_with_its_message() -> None:
    with pytest.raises(SystemExit, match="exited 3: nope"):
        bench_timing.run_once(bench_timing.Command(["sh", "-c", "echo nope >&2; exit 3"]))


def test_pinning_restricts_the_benchmark_and_its_children_to_one_cpu() -> None:
    code = ("import os, sys; sys.path.insert(0, sys.argv[1]); import bench_timing; total, used = bench_timing.pin(1); "
            "child = os.popen('python3 -c \"import os; print(len(os.sched_getaffinity(0)))\"').read().strip(); "
            "print(total, len(used), child)")
    run = subprocess.run([sys.executable, "-c", code, str(SCRIPTS)], capture_output=True, text=True, check=True)
    total, used, child = run.stdout.split()
    assert int(total) >= 1 and used == "1" and child == "1"
