"""Shared fixtures: an isolated working directory and environment per test, the CLI runner, a fake OpenAI server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aimon.runtime import Runtime
from tests.envelope import envelope
from tests.fakes.openai_server import FakeOpenAI

# Verbatim tracing output and Rust error texts from public sources, with their attribution (see each file's head).
REFERENCE = Path(__file__).resolve().parent / "data" / "reference"
EVALDATA = Path(__file__).resolve().parent.parent.parent / "shared" / "evaldata" / "loghub-dev"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs in its own directory with no aimon or remote settings leaking in from the machine."""
    for key in list(os.environ):
        if key.startswith("AIMON_") or key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DISCORD_WEBHOOK_URL", "GITHUB_TOKEN"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIMON_DB", str(tmp_path / "state.db"))
    monkeypatch.setenv("AIMON_DEBUG", "")
    # Tests read stderr as a terminal shows it; the stamped form that cron and systemd get has tests of its own.
    monkeypatch.setenv("AIMON_STDERR_TIMESTAMPS", "0")
    return tmp_path


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    command: str | None = None

    def envelope(self) -> dict[str, Any]:
        """The ``--json`` envelope, checked (see :mod:`tests.envelope`)."""
        return envelope(self.stdout, self.exit_code, self.command)

    def json(self) -> Any:
        """The ``result`` of the checked ``--json`` envelope."""
        return self.envelope()["result"]


@pytest.fixture
def runtime(request: pytest.FixtureRequest) -> Runtime:
    """The outside world the entry point is given: the wall clock, or the ``clock`` fixture of a test that asks for one
    (a test module that lets time pass defines ``clock``)."""
    if "clock" in request.fixturenames:
        return Runtime(clock=request.getfixturevalue("clock"))
    return Runtime()


@pytest.fixture
def cli(runtime: Runtime) -> Any:
    """Run the real entry point in-process: ``cli("scan", "app.log", "--json")``."""
    from aimon.cli.app import app

    def invoke(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> CliResult:
        runner = CliRunner()
        result = runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False, obj=runtime)
        command = args[0] if args and not args[0].startswith("-") else None
        return CliResult(result.exit_code, result.stdout, result.stderr, command)

    return invoke


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    yield server
    server.close()
