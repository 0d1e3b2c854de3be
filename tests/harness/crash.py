"""The crash harness: ``aimon run`` processes started and SIGKILLed at random moments while a service writes its log.

:func:`crash_campaign` runs the whole scenario and returns a :class:`Campaign` with everything the crash suite asserts
on: the writer's ground truth, the state file, and what the loopback Discord and GitHub fakes received. The schedule
(log content, rotation times, kill delays, overlapping starts) comes from ``random.Random(seed)``; the timing of the
machine decides where exactly each kill lands, which is the point — the invariants must hold wherever it does.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.discord_server import FakeDiscord
from tests.fakes.github_server import FakeGitHub
from tests.harness.writer import LogWriter, WriterThread

SHIFTED = Path(__file__).resolve().parent / "shifted.py"


@dataclass
class Life:
    """One ``aimon run`` process: when it started and ended (``time.time()``), and how."""

    started: float
    ended: float = 0.0
    killed: bool = False
    returncode: int | None = None
    stderr: str = ""


@dataclass
class Campaign:
    seed: int
    truth: dict[str, int]
    lines: int
    rotations: list[str]
    lives: list[Life] = field(default_factory=list)
    final: list[subprocess.CompletedProcess[str]] = field(default_factory=list)
    sent_before_last: tuple[int, int] = (0, 0)  # (Discord posts, GitHub issues created) before the last clean run
    db: Path | None = None

    @property
    def kills(self) -> int:
        return sum(life.killed for life in self.lives)

    @property
    def completed(self) -> list[Life]:
        return [life for life in self.lives if not life.killed]

    def killed_during(self, moment: float) -> bool:
        """Whether a process that was later killed was running at ``moment``."""
        return any(life.killed and life.started <= moment <= life.ended for life in self.lives)


def aimon_env(folder: Path, log: Path, discord: FakeDiscord, github: FakeGitHub) -> dict[str, str]:
    """The environment of every ``aimon run``: the log, the state file, the fakes, offline diagnosis."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("AIMON_") and key not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DISCORD_WEBHOOK_URL", "GITHUB_TOKEN")}
    env.update(
        AIMON_DB=str(folder / "state.db"),
        AIMON_CONFIG="",  # no aimon.toml: defaults
        AIMON_LOG_PATHS=str(log),
        DISCORD_WEBHOOK_URL=discord.webhook_url,
        GITHUB_TOKEN=github.token,
        AIMON_GITHUB_REPO=github.repo,
        AIMON_GITHUB_API_URL=github.api_url,
        AIMON_ISSUE_MIN_SEVERITY="low",  # every incident gets an issue: that is what is being proven
        AIMON_DIGEST_THRESHOLD="1000",  # one message per alert, so every alert can be told apart at the fake
        AIMON_DIAGNOSIS_GRACE="0s",
        AIMON_DEBUG="",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def _start(env: dict[str, str], folder: Path, index: int, command: list[str]) -> tuple[subprocess.Popen[bytes], Life, Path]:
    errors = folder / f"run-{index}.err"
    with errors.open("wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=sink)
    return process, Life(time.time()), errors


def _end(process: subprocess.Popen[bytes], life: Life, errors: Path, deadline: float) -> None:
    """Wait for the process until ``deadline`` (monotonic); SIGKILL it if it is still running then."""
    try:
        life.returncode = process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        life.returncode = process.wait()
        life.killed = True
    life.ended = time.time()
    life.stderr = errors.read_text(errors="replace")
    errors.unlink()


def crash_campaign(folder: Path, seed: int, *, kills: int = 50, write_seconds: float = 20.0,
                   discord: FakeDiscord, github: FakeGitHub) -> Campaign:
    """Write the log for ``write_seconds`` while killing ``aimon run`` at least ``kills`` times; then two clean runs."""
    log = folder / "app.log"
    writer = LogWriter(log, random.Random(seed))
    schedule = random.Random(seed + 1)
    # Rotations at seeded moments: four renames (with delaycompress) and one copytruncate among them.
    moments = sorted(schedule.uniform(0.1, 0.9) * write_seconds for _ in range(5))
    how = ["rename"] * 5
    how[schedule.randrange(1, 4)] = "copytruncate"
    writer_thread = WriterThread(writer, write_seconds, list(zip(moments, how, strict=True)))
    env = aimon_env(folder, log, discord, github)
    command = [sys.executable, "-m", "aimon", "run", "--json"]
    campaign = Campaign(seed, {}, 0, [], db=folder / "state.db")
    # Monitoring begins with a tick that completes: what was rotated before aimon's first checkpoint is history it
    # never promised to read (aimon.logs.files), so the writer rotates and the kills start only once there is one.
    writer.burst(8)
    index = 1
    process, life, errors = _start(env, folder, index, command)
    _end(process, life, errors, time.monotonic() + 120)
    campaign.lives.append(life)
    writer_thread.start()
    while writer_thread.is_alive() or campaign.kills < kills:
        running = []
        process, life, errors = _start(env, folder, index := index + 1, command)
        running.append((process, life, errors))
        if schedule.random() < 0.15:  # a second tick overlapping the first: the lock must keep them apart
            time.sleep(schedule.uniform(0.0, 0.3))
            running.append(_start(env, folder, index := index + 1, command))
        # Most kills land after the imports (~0.2 s), inside the stages; one in four lets a run go further or finish.
        # Once the writer is done, the kills still missing come quickly (the suite has a time budget).
        wait = schedule.uniform(0.2, 0.6) if schedule.random() < 0.75 else schedule.uniform(0.6, 2.5)
        if not writer_thread.is_alive():
            wait = schedule.uniform(0.1, 0.4)
        deadline = time.monotonic() + wait
        for process, life, errors in running:
            _end(process, life, errors, deadline)
            campaign.lives.append(life)
        if campaign.kills >= kills * 4:  # the writer is stuck: stop rather than spin
            writer_thread.stop_now.set()
    writer_thread.join()
    writer.close()
    if writer_thread.error is not None:
        raise writer_thread.error
    campaign.truth, campaign.lines, campaign.rotations = dict(writer.truth), writer.lines, list(writer.rotations)
    # The clean runs, at once: the lease of a delivery claimed by a killed process is taken over by the next run that
    # holds the run lock, without waiting for it to run out.
    final_env = dict(env, SHIFTED_CLOCK_SECONDS="0")
    for _ in range(2):
        campaign.sent_before_last = (len(discord.posts), len(github.created))
        campaign.final.append(subprocess.run([sys.executable, str(SHIFTED), "run", "--json"], env=final_env, cwd=folder,
                                             capture_output=True, text=True, timeout=120, check=False))
    return campaign


def rows(db: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()
