"""Redaction runs on what leaves the machine, not on what scan reads: scan masks a new error group's sample and
template once (they are stored and sent later), never each line, and a tick with nothing new never even loads the
detectors (compiling their patterns would cost tens of milliseconds)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aimon.redact import redactor as redactor_module


def error_line(index: int) -> str:
    return json.dumps({"timestamp": f"2026-03-02T10:{index // 60 % 60:02d}:{index % 60:02d}.000Z", "level": "ERROR",
                       "target": "shop::db", "fields": {"message": f"pool timed out after {index}ms password=hunter2x"}})


def info_line(index: int) -> str:
    return json.dumps({"timestamp": "2026-03-02T10:00:00.000Z", "level": "INFO", "target": "shop::api",
                       "fields": {"message": f"request {index} done token=abc{index}"}})


def test_scan_redacts_per_new_group_not_per_line(cli: Any, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = redactor_module.Redactor.redact

    def counting(self: redactor_module.Redactor, text: str) -> str:
        calls.append(len(text))
        return real(self, text)

    monkeypatch.setattr(redactor_module.Redactor, "redact", counting)
    lines = [line for index in range(2000) for line in (error_line(index), info_line(index))]
    (isolated / "app.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("scan", str(isolated / "app.log"), "--json")
    assert result.exit_code == 0, result.stderr
    assert len(result.json()["groups"]) == 1
    assert 0 < len(calls) <= 4  # the one group's sample and template, not 4,000 lines
    with sqlite3.connect(isolated / "state.db") as conn:
        [(sample, template)] = conn.execute("SELECT sample, template FROM fingerprints").fetchall()
    assert "hunter2x" not in sample + template and "password=<secret:password#1>" in sample


def test_a_scan_with_nothing_new_never_loads_the_detectors(isolated: Path) -> None:
    (isolated / "app.log").write_text(error_line(1) + "\n", encoding="utf-8")
    env = {**os.environ, "AIMON_LOG_PATHS": str(isolated / "app.log"), "AIMON_CONFIG": ""}
    first = subprocess.run([sys.executable, "-m", "aimon", "scan"], env=env, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    idle = subprocess.run([sys.executable, "-X", "importtime", "-m", "aimon", "scan"], env=env, capture_output=True, text=True, check=False)
    assert idle.returncode == 0
    loaded = {line.rsplit("|", 1)[-1].strip() for line in idle.stderr.splitlines() if line.startswith("import time:")}
    assert {"aimon.redact.forms", "aimon.redact.shapes", "aimon.redact.personal"}.isdisjoint(loaded)
