"""The diagnosis benchmark runs (its small set: eight incidents, near twins included) and meets its targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "bench_diagnose.py"


def test_the_small_benchmark_meets_every_target() -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--small"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "PASS  offline diagnosis", "PASS  memory", "PASS  LLM calls, one per root cause", "PASS  LLM calls for recurrences (same errors, same statements elsewhere)",
        "PASS  prompt tokens per diagnosis (system + user, 3.2 chars/token)", "PASS  cost per diagnosis at gpt-4o-mini prices",
        "PASS  demo"]
    assert "memory: false reuses (4 near twins): 0 (target 0)" in run.stdout
