"""How the benchmark times things: whole processes, interleaved, ratios per pair, medians.

Machines are noisy, and noise comes in waves (another process, a CPU changing its clock, the page cache). A ratio of two
best-of-N figures taken minutes apart measures the waves; a ratio taken pair by pair, A B A B …, with the median of the
per-pair ratios, measures the programs. Every command here is a whole process started the way a user starts it, its
output going to a pipe or to an appended file (never /dev/null: GNU grep stops at the first match when its output is
/dev/null), timed from spawn to exit; peak RSS comes from ``os.wait4``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Command:
    """One command line as a user runs it; ``before`` runs untimed before each run (e.g. a fresh state file)."""

    argv: Sequence[str]
    env: dict[str, str] | None = None
    cwd: Path | None = None
    before: Callable[[], None] | None = None
    ok: tuple[int, ...] = (0,)
    append_to: Path | None = None  # output appended to this file, as cron's `>> file 2>&1`; else a pipe


@dataclass(frozen=True)
class Sample:
    """One run: wall seconds and peak RSS in MB (of the largest process of the tree, as ``wait4`` reports it)."""

    wall_s: float
    rss_mb: float


@dataclass(frozen=True)
class Ratio:
    """The per-pair ratios of two commands' wall times: their median, min and max, and each side's median."""

    ratios: list[float] = field(default_factory=list)
    top_s: float = 0.0
    bottom_s: float = 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    def text(self) -> str:
        """``1.62x (1.55–1.70, 5 pairs)``."""
        spread = f"{min(self.ratios):.2f}–{max(self.ratios):.2f}"
        pairs = f"{len(self.ratios)} pair" + ("s" if len(self.ratios) != 1 else "")
        return f"{self.median:.2f}x ({spread}, {pairs})"


def run_once(command: Command) -> Sample:
    """Run ``command`` once and time it; a failure stops the benchmark with the command's own message."""
    if command.before is not None:
        command.before()
    if command.append_to is not None:
        with command.append_to.open("ab") as sink:
            started = time.perf_counter()
            process = subprocess.Popen(list(command.argv), env=command.env, cwd=command.cwd, stdout=sink,
                                       stderr=subprocess.STDOUT)
            status, rss_kb = _wait(process)
            elapsed = time.perf_counter() - started
        errors = b""
    else:
        with tempfile.TemporaryFile() as stderr:
            started = time.perf_counter()
            process = subprocess.Popen(list(command.argv), env=command.env, cwd=command.cwd, stdout=subprocess.PIPE,
                                       stderr=stderr)
            _drain(process)
            status, rss_kb = _wait(process)
            elapsed = time.perf_counter() - started
            stderr.seek(0)
            errors = stderr.read()
    if status not in command.ok:
        where = f" (its output is in {command.append_to})" if command.append_to else ""
        raise SystemExit(f"{' '.join(command.argv)} exited {status}{where}: {errors.decode(errors='replace')[-2000:]}")
    return Sample(elapsed, rss_kb / 1024)


def _drain(process: subprocess.Popen[bytes]) -> None:
    """Read stdout to its end (stderr goes to a file: two pipes read in turn can block each other)."""
    assert process.stdout is not None
    while process.stdout.read(1 << 20):
        pass
    process.stdout.close()


def _wait(process: subprocess.Popen[bytes]) -> tuple[int, int]:
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss


def interleave(commands: dict[str, Command], rounds: int, warm_up: bool = True) -> dict[str, list[Sample]]:
    """``rounds`` rounds of every command in turn (A B C, A B C, …), after one untimed round when ``warm_up``."""
    if warm_up:
        for command in commands.values():
            run_once(command)
    samples: dict[str, list[Sample]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            samples[name].append(run_once(command))
    return samples


def ratio(top: Sequence[float], bottom: Sequence[float]) -> Ratio:
    """Pair by pair ``top[i] / bottom[i]`` (the runs of one round form a pair)."""
    return Ratio([a / b for a, b in zip(top, bottom, strict=True)], statistics.median(top), statistics.median(bottom))


def walls(samples: Sequence[Sample]) -> list[float]:
    return [sample.wall_s for sample in samples]


def median_wall(samples: Sequence[Sample]) -> float:
    return statistics.median(walls(samples))


def peak_rss(samples: Sequence[Sample]) -> float:
    return max(sample.rss_mb for sample in samples)


def pin(cpus: int | None) -> tuple[int, list[int]]:
    """Restrict this process, and so every child it starts, to the first ``cpus`` CPUs it may use.

    Returns how many CPUs the machine has and which ones the benchmark runs on. Pinning the benchmark itself (rather
    than each child) keeps the measured command lines exactly what a user types.
    """
    allowed = sorted(os.sched_getaffinity(0))
    if cpus is not None:
        if not 1 <= cpus <= len(allowed):
            raise SystemExit(f"--cpus {cpus}: this process may use {len(allowed)} CPU(s)")
        os.sched_setaffinity(0, allowed[:cpus])
    return os.cpu_count() or len(allowed), sorted(os.sched_getaffinity(0))
