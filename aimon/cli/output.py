"""What a command prints: its result as text or as the ``--json`` envelope, its notices on stderr, its exit code.

Under ``--json`` every command prints exactly one document on stdout::

    {"aimon": 1, "command": "scan", "ok": true, "result": {...}}

``result`` is the command's own document; ``ok`` is false when the exit code is not 0; an error that ends the command
before it has a result prints ``"result": null`` and ``"error"`` with the message (also said on stderr). ``aimon``
is the version of this envelope: it changes only when a script reading it would have to change.
"""

from __future__ import annotations

import sys
from typing import Any

from aimon.errors import ExitCode

ENVELOPE_VERSION = 1

__all__ = ["ENVELOPE_VERSION", "ExitCode", "envelope", "print_envelope", "print_json_line", "print_text", "stderr"]


def envelope(command: str, code: int, result: Any, error: str | None = None) -> dict[str, Any]:
    """The one ``--json`` document of ``command`` that ended with exit code ``code``."""
    doc: dict[str, Any] = {"aimon": ENVELOPE_VERSION, "command": command, "ok": code == ExitCode.OK, "result": result}
    if error is not None:
        doc["error"] = error
    return doc


def print_envelope(command: str, code: int, result: Any, error: str | None = None) -> None:
    """Print the ``--json`` envelope (indented, for people and ``jq`` alike)."""
    import orjson

    data = envelope(command, code, result, error)
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str).decode())
    sys.stdout.write("\n")
    sys.stdout.flush()


def print_json_line(data: Any) -> None:
    """Print one object of a JSON Lines stream (``--jsonl``): compact, one line, no envelope."""
    import orjson

    sys.stdout.write(orjson.dumps(data).decode())
    sys.stdout.write("\n")


def stderr(message: str, where: str | None = None) -> None:
    """A notice or an error message, on stderr (stdout stays the result's alone).

    When stderr is not a terminal (cron appends it to a log file, systemd to the journal) each line starts with the
    time and the stage or command it comes from (``2026-12-03T17:05:16Z scan: …``), so a cron log can be read later;
    ``AIMON_STDERR_TIMESTAMPS`` = 1 or 0 forces it on or off."""
    if _stamped():
        from datetime import UTC, datetime

        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        label = where or "aimon"
        message = f"{stamp} {message}" if message.startswith(f"{label}:") else f"{stamp} {label}: {message}"
    print(message, file=sys.stderr, flush=True)


def _stamped() -> bool:
    import os

    setting = os.environ.get("AIMON_STDERR_TIMESTAMPS", "auto").strip().lower()
    if setting in ("1", "true", "yes", "on"):
        return True
    if setting in ("0", "false", "no", "off"):
        return False
    return not sys.stderr.isatty()


def print_text(view_name: str, result: Any) -> None:
    """The text view of ``result``: its one plain line when it has one (no rich import), else the rich rendering."""
    from aimon.cli.render import view

    result = _shown(result)
    module = view(view_name)
    plain = getattr(module, "plain", None)
    text = plain(result) if plain is not None else None
    if text is not None:
        # A one-line summary (an idle cron tick) needs no rich import; "" is nothing to print.
        if text:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from rich.console import Console

    module.render(Console(highlight=False, soft_wrap=True), result)


def _shown(value: Any) -> Any:
    """``value`` (a result, its lists, dicts and dataclasses) with the control characters of every string shown as
    symbols: a log line holding ``ESC[2J`` or an OSC 8 link must not drive the terminal of whoever reads the output."""
    import dataclasses

    from aimon.markdown import visible_controls

    if isinstance(value, str):
        return visible_controls(value)
    if isinstance(value, dict):
        return {key: _shown(item) for key, item in value.items()}
    if isinstance(value, list) or type(value) is tuple:
        return type(value)(_shown(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        import copy

        shown = copy.copy(value)
        for item in dataclasses.fields(value):
            object.__setattr__(shown, item.name, _shown(getattr(value, item.name)))
        return shown
    return value
