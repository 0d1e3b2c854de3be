"""The egress gate: every remote adapter sends what it is given through the built-in and the user's redaction
patterns, whatever the stage that built it did. Each test plants a secret only a user pattern knows (and one of a
built-in shape) and asserts the exact request that left carries neither."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import responses

from aimon.clock import Deadline
from aimon.config import load_settings
from aimon.model import Diagnosis
from aimon.remotes.discord import Webhook
from aimon.remotes.egress import Egress
from aimon.remotes.github import IssueTracker, PullRequests
from aimon.remotes.llm import LLM
from aimon.runtime import Context
from aimon.state.db import open_db
from tests.fakes.openai_server import FakeOpenAI
from tests.stages.diagnose.diagnose_support import answer

USER_SECRET = "ACME-7730912"  # only the user's pattern knows this shape
BUILT_IN = "password=hunter2hunter2"
PLANTED = f"login for svc failed: key {USER_SECRET} rejected, {BUILT_IN}"
API = "https://api.github.com:443"


def settings_with_pattern(tmp_path: Path, **env: str) -> Any:
    config = tmp_path / "aimon.toml"
    config.write_text('[redaction]\npatterns = ["ACME-[0-9]{7}"]\n', encoding="utf-8")
    return load_settings(environ={"AIMON_DB": str(tmp_path / "state.db"), "AIMON_CONFIG": str(config), **env})


def assert_clean(sent: str) -> None:
    assert USER_SECRET not in sent and "hunter2" not in sent
    assert "<secret-1>" in sent and "<secret-2>" in sent


def test_the_gate_masks_user_and_built_in_shapes_and_numbers_after_existing_placeholders() -> None:
    gate = Egress(["ACME-[0-9]{7}"])
    assert gate.text(f"<secret-1> seen before; now {USER_SECRET}") == "<secret-1> seen before; now <secret-2>"
    assert gate.obj({"embeds": [{"title": PLANTED, "fields": [{"value": USER_SECRET}]}]}) == {
        "embeds": [{"title": "login for svc failed: key <secret-1> rejected, password=<secret-2>", "fields": [{"value": "<secret-1>"}]}]
    }
    assert Egress().text(USER_SECRET) == USER_SECRET  # without the user's pattern it is just text: the gate needs it


def test_an_llm_prompt_leaves_through_the_gate(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    settings = settings_with_pattern(tmp_path, AIMON_LLM_BASE_URL=openai_server.base_url, OPENAI_API_KEY="sk-test-0123456789abcdef")
    ctx = Context(settings=settings, db=open_db(settings.db_path))
    openai_server.reply(answer())
    LLM(ctx).structured(purpose="diagnose", fingerprint="fp1", system="SYS", user=PLANTED, schema_name="diagnosis", answer=Diagnosis)
    [request] = openai_server.requests
    assert request.body["messages"][1]["content"] == "login for svc failed: key <secret-1> rejected, password=<secret-2>"
    assert_clean(json.dumps(request.body))


@responses.activate
def test_a_discord_payload_leaves_through_the_gate(tmp_path: Path) -> None:
    url = "https://discord.com/api/webhooks/1/abc"
    responses.add(responses.POST, f"{url}?wait=true", json={"id": "9"})
    hook = Webhook(url, Deadline(30), Egress.of(settings_with_pattern(tmp_path)))
    hook.post({"content": PLANTED, "embeds": [{"title": USER_SECRET, "description": PLANTED}]})
    [call] = responses.calls
    body = json.loads(call.request.body)
    assert body["embeds"][0]["title"] == "<secret-1>"
    assert_clean(call.request.body.decode() if isinstance(call.request.body, bytes) else call.request.body)


@responses.activate
def test_github_titles_bodies_and_comments_leave_through_the_gate(tmp_path: Path) -> None:
    settings = settings_with_pattern(tmp_path, GITHUB_TOKEN="ghp_" + "a" * 36, AIMON_GITHUB_REPO="o/r")
    responses.add(responses.POST, f"{API}/repos/o/r/issues", json={"number": 7, "html_url": "https://github.com/o/r/issues/7"}, status=201)
    responses.add(responses.GET, f"{API}/repos/o/r/issues/7", json={"number": 7, "url": f"{API}/repos/o/r/issues/7"})
    responses.add(responses.POST, f"{API}/repos/o/r/issues/7/comments", json={"id": 5, "html_url": "https://x/5"}, status=201)
    responses.add(responses.POST, f"{API}/repos/o/r/pulls", json={"number": 8, "html_url": "https://github.com/o/r/pull/8"}, status=201)
    tracker = IssueTracker(settings, "o/r", datetime.now(UTC), timeout=10)
    tracker.create(f"Error {USER_SECRET}", PLANTED, ["aimon"])
    tracker.comment(7, PLANTED)
    PullRequests(settings).open_draft(base="main", head="aimon/fix-1", title=USER_SECRET, body=PLANTED)
    writes = [call for call in responses.calls if call.request.method == "POST"]
    assert [call.request.url for call in writes] == [
        f"{API}/repos/o/r/issues", f"{API}/repos/o/r/issues/7/comments", f"{API}/repos/o/r/pulls",
    ]
    for call in writes:
        sent = call.request.body.decode() if isinstance(call.request.body, bytes) else call.request.body
        assert USER_SECRET not in sent and "hunter2" not in sent
    assert json.loads(writes[0].request.body)["title"] == "Error <secret-1>"
    assert json.loads(writes[2].request.body)["title"] == "<secret-1>"


LUHN_ROLE = "412345678901234561"  # an 18-digit Discord id that passes the card check


def test_discord_mentions_and_allowed_mentions_pass_the_gate_untouched() -> None:
    payload = {"content": f"<@&{LUHN_ROLE}> **New error**: card 4111 1111 1111 1111 declined",
               "allowed_mentions": {"parse": [], "roles": [LUHN_ROLE]}}
    gated = Egress().obj(payload, keep=("allowed_mentions",))
    assert gated == {"content": f"<@&{LUHN_ROLE}> **New error**: card <card-1> declined",
                     "allowed_mentions": {"parse": [], "roles": [LUHN_ROLE]}}


def test_a_redacted_then_escaped_text_is_left_as_it_is() -> None:
    """The gate's second pass over a message a stage redacted and Markdown-escaped changes nothing: no renumbering, no
    scheme word taken for a secret, not one character longer (the payload was cut to Discord's limits before)."""
    from aimon.markdown import escape
    from aimon.redact import Redactor

    first = escape(Redactor(["ACME-[0-9]{7}"]).redact(f"x-api-key: Token zzzzzzzzzzzz1, {BUILT_IN}, key {USER_SECRET}"))
    assert first == "x-api-key: Token \\<secret-2\\>, password=\\<secret-3\\>, key \\<secret-1\\>"  # user patterns first
    gate = Egress(["ACME-[0-9]{7}"])
    assert gate.text(first) == first
    assert gate.text(first + " and password=newsecret99") == first + " and password=<secret-4>"
