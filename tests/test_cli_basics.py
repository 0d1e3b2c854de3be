"""What every command line tool owes its user: --version, -h, shell completion, -q and -v, and help in plain words."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from aimon import __version__
from aimon.errors import StateUnusable

COMMANDS = ["scan", "fingerprint", "diagnose", "notify", "open-issue", "autofix", "run", "status", "ignore", "resolve", "check-logs"]


def test_version(cli: Any) -> None:
    result = cli("--version")
    assert (result.exit_code, result.stdout) == (0, f"aimon {__version__}\n")


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_dash_h_is_help_and_help_speaks_plain_words(cli: Any, command: str) -> None:
    args = [command, "-h"] if command else ["-h"]
    result = cli(*args, env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "Usage: aimon" in result.stdout
    assert cli(*[*args[:-1], "--help"], env={"COLUMNS": "200"}).stdout == result.stdout
    # Options say what to give in words (WHEN, PATH, FILE, N), not Python types such as <str> or <list[str]>.
    options = [line for line in result.stdout.splitlines() if line.lstrip().startswith("-")]
    assert options and [line for line in options if re.search(r"<(?:str|int|float|bool|path|list\[\w+\])>", line, re.I)] == []


def test_shell_completion_can_be_shown(cli: Any) -> None:
    result = cli("--show-completion", "bash")
    assert result.exit_code == 0 and "_aimon_completion" in result.stdout


def test_quiet_keeps_notices_off_stderr_but_not_the_error(isolated: Path, cli: Any) -> None:
    (isolated / "app.log").write_text("")
    loud = cli("notify")
    assert "DISCORD_WEBHOOK_URL is not set" in loud.stderr
    (isolated / "state.db").unlink()
    quiet = cli("-q", "notify")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    failed = cli("-q", "status", env={"AIMON_TICK_BUDGET": "0"})
    assert failed.exit_code == 2 and "AIMON_TICK_BUDGET='0' is not valid" in failed.stderr


def test_verbose_shows_the_real_error(isolated: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIMON_DEBUG", raising=False)
    (isolated / "state.db").write_bytes(b"not a database" * 10)
    assert cli("status").exit_code == 2  # one line, as a user wants it
    with pytest.raises(StateUnusable):
        cli("-v", "status")  # the traceback, as whoever debugs it wants it


STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def test_stderr_lines_carry_the_time_and_the_stage_when_stamped(isolated: Path, cli: Any) -> None:
    missing = isolated / "gone.log"
    env = {"AIMON_STDERR_TIMESTAMPS": "1"}
    scan = cli("scan", str(missing), env=env)
    assert re.search(rf"^{STAMP} scan: {re.escape(str(missing))}: no such file$", scan.stderr, re.M), scan.stderr
    run = cli("run", "--log", str(missing), env=env)
    lines = run.stderr.splitlines()
    assert lines and all(re.match(rf"{STAMP} [a-z-]+: ", line) for line in lines), lines
    assert any(re.match(rf"{STAMP} notify: ", line) for line in lines)  # a stage's notice names the stage
    error = cli("status", env={**env, "AIMON_TICK_BUDGET": "0"})
    assert re.match(rf"{STAMP} aimon: AIMON_TICK_BUDGET='0' is not valid", error.stderr)
