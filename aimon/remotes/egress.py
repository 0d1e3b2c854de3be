"""The one gate every outgoing text passes: LLM prompts, Discord payloads (content, embeds, file names), GitHub
titles, bodies and comments, the autofix pull request and its patch context.

A stage that builds a message takes its redactor from :meth:`Egress.redactor` (built-in detectors, the user's
``[redaction] patterns`` and the e-mail/IP choice, one numbering per message); the remote adapters run
:meth:`Egress.text` / :meth:`Egress.obj` over what they send, so that a message built without it still leaves masked.
Placeholders already in a text stay as they are, and new ones are numbered after them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aimon.config import Settings
from aimon.redact import IP_MODES, Redactor


class Egress:
    """Redaction with the built-in detectors and the user's patterns, for everything that leaves the machine."""

    def __init__(self, patterns: Sequence[str] = (), *, emails: bool = True, ips: str = "public") -> None:
        self._patterns = tuple(patterns)
        self._emails = emails
        self._ips = ips
        if ips not in IP_MODES:  # a bad choice fails here, not at the first message
            raise ValueError(f"ips={ips!r}: expected one of {', '.join(IP_MODES)}")

    @classmethod
    def of(cls, settings: Settings) -> Egress:
        """The gate for these settings (their ``aimon.toml`` ``[redaction]`` table)."""
        return cls(settings.redaction_patterns, emails=settings.redaction_emails, ips=settings.redaction_ips)

    def redactor(self) -> Redactor:
        """A fresh redactor for one message (the same value gets the same placeholder throughout it)."""
        return Redactor(self._patterns, emails=self._emails, ips=self._ips)

    def text(self, text: str) -> str:
        """``text`` as it may leave: every secret masked."""
        return self.redactor().redact(text)

    def obj(self, data: Any, keep: tuple[str, ...] = ()) -> Any:
        """JSON-ready ``data`` (a request payload) as it may leave: every string in it masked, except under the
        top-level keys in ``keep`` (structure the remote reads, such as Discord's ``allowed_mentions``, not text)."""
        redactor = self.redactor()
        redactor.number_after(json.dumps(data, ensure_ascii=False, default=str))
        if isinstance(data, dict) and keep:
            return {key: value if key in keep else redactor.redact_obj(value) for key, value in data.items()}
        return redactor.redact_obj(data)
