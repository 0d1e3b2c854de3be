"""The README is part of the product: every command is documented there and has help text with an example."""

from __future__ import annotations

from pathlib import Path

import pytest

from aimon.cli.app import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(command.name or command.callback.__name__ for command in app.registered_commands)  # type: ignore[union-attr]


def test_every_command_is_registered() -> None:
    assert sorted(
        ["scan", "fingerprint", "diagnose", "notify", "open-issue", "autofix", "run", "status", "ignore", "resolve", "check-logs"]
    ) == COMMANDS


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example_and_is_in_the_readme(cli, name: str) -> None:
    result = cli(name, "--help")
    assert result.exit_code == 0
    assert "Example: aimon" in result.stdout or "Example:" in result.stdout
    assert f"aimon {name}" in README


def test_the_quick_start_has_exactly_the_two_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = [block.split("```", 1)[0].strip() for block in quick_start.split("```sh\n")[1:]]
    assert blocks == ["scripts/demo", "scripts/test"]
    root = Path(__file__).resolve().parent.parent
    for script in blocks:
        assert (root / script).stat().st_mode & 0o111
    assert "scripts/test" in (root / ".ci" / "run").read_text()


def test_the_json_envelope_and_the_jsonl_stream_are_documented_with_the_commands() -> None:
    commands = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    assert '{"aimon": 1, "command": "scan", "ok": true, "result":' in commands
    assert '"error"' in commands and "aimon fingerprint --jsonl" in commands
    for code in ("**0**", "**1**", "**2**", "**130**"):
        assert code in commands
