"""The ``--json`` envelope every command prints, checked the same way by every test that reads one."""

from __future__ import annotations

import json
from typing import Any


def envelope(stdout: str, exit_code: int, command: str | None = None) -> dict[str, Any]:
    """The one JSON document on ``stdout``, checked: envelope version 1, the command's name, ``ok`` iff exit code 0."""
    doc = json.loads(stdout)
    assert isinstance(doc, dict) and doc.get("aimon") == 1, stdout[:500]
    assert set(doc) <= {"aimon", "command", "ok", "result", "error"} and {"command", "ok", "result"} <= set(doc), list(doc)
    if command is not None:
        assert doc["command"] == command
    assert doc["ok"] is (exit_code == 0), (doc["ok"], exit_code)
    assert ("error" in doc) <= (not doc["ok"])  # an error is only ever said with ok false
    return doc


def result(stdout: str, exit_code: int, command: str | None = None) -> Any:
    """The ``result`` of the envelope on ``stdout`` (what the command's ``--json`` printed before it had one)."""
    return envelope(stdout, exit_code, command)["result"]
