"""A small Discord-webhook-compatible HTTP server on 127.0.0.1 for tests: aimon's real ``requests`` calls reach it.

It speaks what a webhook does (https://discord.com/developers/docs/resources/webhook):

- ``POST /api/webhooks/{id}/{token}?wait=true`` with an ``{"content", "embeds", "allowed_mentions"}`` body → ``200``
  and the created message (``{"id": "<snowflake>", ...}``); without ``wait=true`` → ``204`` and no body;
- ``PATCH /api/webhooks/{id}/{token}/messages/{message_id}`` → ``200`` and the edited message, or ``404`` with
  Discord's JSON error code ``10008`` (Unknown Message) for a message it never created;
- any other webhook id/token → ``404 {"message": "Unknown Webhook", "code": 10015}``.

Every request is recorded (:attr:`FakeDiscord.requests`, with the arrival time) and every created message kept
(:attr:`FakeDiscord.messages`). Tests queue faults with :meth:`FakeDiscord.fail`: an HTTP status with Discord's body
and headers (``429`` carries ``retry_after`` in the body and ``Retry-After`` in the headers, as Discord sends them), or a
delay longer than the client's timeout.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.http import Fault, JsonFake, Request

WEBHOOK_ID = "112233445566778899"
WEBHOOK_TOKEN = "Fake-Webhook-Token_for-tests"
_POST_RE = re.compile(r"^/api/webhooks/(\d+)/([^/]+)$")
_EDIT_RE = re.compile(r"^/api/webhooks/(\d+)/([^/]+)/messages/(\d+)$")


def rate_limited(retry_after: float, *, method: str | None = None) -> Fault:
    """Discord's 429: ``retry_after`` (seconds, a float) in the JSON body and ``Retry-After`` in the headers."""
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
    headers = {"Retry-After": f"{retry_after:g}", "X-RateLimit-Scope": "user"}
    return Fault(429, body, headers, method=method)


class FakeDiscord(JsonFake):
    """Start with ``FakeDiscord()``; use :attr:`webhook_url`; read :attr:`requests`/:attr:`posts`; ``close()``."""

    def __init__(self, webhooks: tuple[tuple[str, str], ...] = ((WEBHOOK_ID, WEBHOOK_TOKEN),)) -> None:
        self.webhooks = set(webhooks)
        self.messages: dict[str, dict[str, Any]] = {}
        self._next_id = 1_180_000_000_000_000_000
        super().__init__()

    # -- for tests -----------------------------------------------------------------------------------------------------

    @property
    def webhook_url(self) -> str:
        """The URL to put in ``DISCORD_WEBHOOK_URL`` (the first webhook this server knows)."""
        webhook_id, token = sorted(self.webhooks)[0]
        return self.url_of(webhook_id, token)

    def url_of(self, webhook_id: str, token: str) -> str:
        return f"{self.base}/api/webhooks/{webhook_id}/{token}"

    def add_webhook(self, webhook_id: str, token: str) -> str:
        """Create another webhook (a user pasting a new URL after the old one was deleted); returns its URL."""
        with self.lock:
            self.webhooks.add((webhook_id, token))
        return self.url_of(webhook_id, token)

    def delete_webhook(self, webhook_id: str = WEBHOOK_ID, token: str = WEBHOOK_TOKEN) -> None:
        """From now on the webhook answers 404 Unknown Webhook."""
        with self.lock:
            self.webhooks.discard((webhook_id, token))

    @property
    def posts(self) -> list[Request]:
        """The POSTs that created a message (answered 2xx)."""
        return [r for r in self.requests if r.method == "POST" and 200 <= r.status < 300]

    @property
    def edits(self) -> list[Request]:
        return [r for r in self.requests if r.method == "PATCH" and 200 <= r.status < 300]

    # -- the server ----------------------------------------------------------------------------------------------------

    def fault_body(self, status: int) -> Any:
        return {"message": f"HTTP {status}", "code": 0}

    def _create(self, payload: Any) -> dict[str, Any]:
        with self.lock:
            self._next_id += 1
            message_id = str(self._next_id)
            message = {"id": message_id, "type": 0, "channel_id": "998877665544332211", "webhook_id": WEBHOOK_ID,
                       "content": (payload or {}).get("content", ""), "embeds": (payload or {}).get("embeds", [])}
            self.messages[message_id] = message
            return message

    def route(self, request: Request) -> tuple[int, Any]:
        post = _POST_RE.match(request.path)
        edit = _EDIT_RE.match(request.path)
        match = post or edit
        if match is None or (match.group(1), match.group(2)) not in self.webhooks:
            return 404, {"message": "Unknown Webhook", "code": 10015}
        if not isinstance(request.json, dict):
            return 400, {"message": "Cannot send an empty message", "code": 50006}
        if post and request.method == "POST":
            message = self._create(request.json)
            return (200, message) if request.query.get("wait") == "true" else (204, None)
        if edit and request.method == "PATCH":
            with self.lock:
                found = self.messages.get(edit.group(3))
                if found is None:
                    return 404, {"message": "Unknown Message", "code": 10008}
                found.update({k: v for k, v in request.json.items() if k in ("content", "embeds")})
                return 200, dict(found)
        return 405, {"message": "405: Method Not Allowed", "code": 0}


def fingerprint_of(payload: dict[str, Any]) -> str | None:
    """The fingerprint an alert payload is about (its ``Fingerprint`` embed field), or None (a digest)."""
    for embed in payload.get("embeds") or []:
        for item in embed.get("fields") or []:
            if item.get("name") == "Fingerprint":
                return str(item.get("value", "")).strip("`")
    return None
