"""A small OpenAI-compatible HTTP server on 127.0.0.1 for tests: the real ``openai`` client talks to it."""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.http import LoopbackServer, QuietHandler


@dataclass
class Reply:
    """One queued answer: a chat completion with ``content``, or a raw ``status``/``body`` (errors), or a delay."""

    content: str | None = None
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    prompt_tokens: int = 900
    completion_tokens: int = 150
    usage: bool = True  # False: the answer carries no usage, as some OpenAI-compatible servers send


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeOpenAI(LoopbackServer):
    """Start with ``FakeOpenAI()``, queue replies with :meth:`reply`, read :attr:`requests`, and ``close()``."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                fake.requests.append(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw or b"{}")))
                reply = fake.replies.popleft() if fake.replies else Reply(status=500, body={"error": {"message": "no reply queued"}})
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.content is not None:
                    body: Any = {
                        "id": f"chatcmpl-{len(fake.requests)}",
                        "object": "chat.completion",
                        "created": 1_700_000_000,
                        "model": fake.requests[-1].body.get("model", "gpt-4o-mini"),
                        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": reply.content}}],
                        "usage": {
                            "prompt_tokens": reply.prompt_tokens,
                            "completion_tokens": reply.completion_tokens,
                            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                        },
                    }
                    if not reply.usage:
                        del body["usage"]
                else:
                    body = reply.body
                data = json.dumps(body).encode() if not isinstance(body, (bytes, str)) else (body.encode() if isinstance(body, str) else body)
                self.send(reply.status, data, "application/json", reply.headers)

        super().__init__(Handler)

    @property
    def base_url(self) -> str:
        return f"{self.base}/v1"

    def reply(self, content: Any = None, **kwargs: Any) -> None:
        """Queue a reply; a dict/list ``content`` is sent as its JSON text (what a model returns)."""
        if content is not None and not isinstance(content, str):
            content = json.dumps(content)
        self.replies.append(Reply(content=content, **kwargs))
