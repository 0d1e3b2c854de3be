"""The one gate every outgoing text passes: LLM prompts, Discord payloads, GitHub titles, bodies and comments.

A stage that builds a message takes its redactor from :meth:`Egress.redactor` (built-in patterns and the user's
``[redaction] patterns``, one numbering per message); the remote adapters run :meth:`Egress.text` /
:meth:`Egress.obj` over what they send, so that a message built without it still leaves masked. Placeholders already
in a text stay as they are, and new ones are numbered after them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aimon.config import Settings
from aimon.redact import Redactor


class Egress:
    """Redaction with the built-in patterns and the user's, for everything that leaves the machine."""

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        self._patterns = tuple(patterns)

    @classmethod
    def of(cls, settings: Settings) -> Egress:
        """The gate for these settings (their ``aimon.toml`` redaction patterns)."""
        return cls(settings.redaction_patterns)

    def redactor(self) -> Redactor:
        """A fresh redactor for one message (the same value gets the same placeholder throughout it)."""
        return Redactor(self._patterns)

    def text(self, text: str) -> str:
        """``text`` as it may leave: every secret masked."""
        redactor = self.redactor()
        redactor.number_after(text)
        return redactor.redact(text)

    def obj(self, data: Any, keep: tuple[str, ...] = ()) -> Any:
        """JSON-ready ``data`` (a request payload) as it may leave: every string in it masked, except under the
        top-level keys in ``keep`` (structure the remote reads, such as Discord's ``allowed_mentions``, not text)."""
        redactor = self.redactor()
        redactor.number_after(json.dumps(data, ensure_ascii=False, default=str))
        if isinstance(data, dict) and keep:
            return {key: value if key in keep else redactor.redact_obj(value) for key, value in data.items()}
        return redactor.redact_obj(data)
