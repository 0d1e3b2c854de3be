"""The egress gate: every remote adapter sends what it is given through the built-in and the user's redaction
patterns, whatever the stage that built it did. Each test plants a secret only a user pattern knows (and one of a
built-in shape) and asserts the exact request that left carries neither."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
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
    assert "<secret:custom#1>" in sent and "<secret:password#1>" in sent


def test_the_gate_masks_user_and_built_in_shapes_and_numbers_after_existing_placeholders() -> None:
    gate = Egress(["ACME-[0-9]{7}"])
    assert gate.text(f"<secret:custom#1> seen before; now {USER_SECRET}") == "<secret:custom#1> seen before; now <secret:custom#2>"
    assert gate.obj({"embeds": [{"title": PLANTED, "fields": [{"value": USER_SECRET}]}]}) == {
        "embeds": [{"title": "login for svc failed: key <secret:custom#1> rejected, password=<secret:password#1>", "fields": [{"value": "<secret:custom#1>"}]}]
    }
    assert Egress().text(USER_SECRET) == USER_SECRET  # without the user's pattern it is just text: the gate needs it


def test_the_gate_masks_every_string_of_a_payload_file_names_included() -> None:
    payload = {"content": "see file", "attachments": [{"id": 0, "filename": f"dump-{USER_SECRET}.txt", "description": BUILT_IN}],
               "embeds": [{"footer": {"text": USER_SECRET}, "author": {"name": "svc", "url": "https://u:pw-9x8y@h/"}}]}
    gated = Egress(["ACME-[0-9]{7}"]).obj(payload)
    assert gated["attachments"] == [{"id": 0, "filename": "dump-<secret:custom#1>.txt", "description": "password=<secret:password#1>"}]
    assert gated["embeds"][0] == {"footer": {"text": "<secret:custom#1>"}, "author": {"name": "svc", "url": "https://u:<secret:password#2>@h/"}}


def test_an_llm_prompt_leaves_through_the_gate(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    settings = settings_with_pattern(tmp_path, AIMON_LLM_BASE_URL=openai_server.base_url, OPENAI_API_KEY="sk-test-0123456789abcdef")
    ctx = Context(settings=settings, db=open_db(settings.db_path))
    openai_server.reply(answer())
    LLM(ctx).structured(purpose="diagnose", fingerprint="fp1", system="SYS", user=PLANTED, schema_name="diagnosis", answer=Diagnosis)
    [request] = openai_server.requests
    assert request.body["messages"][1]["content"] == "login for svc failed: key <secret:custom#1> rejected, password=<secret:password#1>"
    assert_clean(json.dumps(request.body))


@responses.activate
def test_a_discord_payload_leaves_through_the_gate(tmp_path: Path) -> None:
    url = "https://discord.com/api/webhooks/1/abc"
    responses.add(responses.POST, f"{url}?wait=true", json={"id": "9"})
    hook = Webhook(url, Deadline(30), Egress.of(settings_with_pattern(tmp_path)))
    hook.post({"content": PLANTED, "embeds": [{"title": USER_SECRET, "description": PLANTED}]})
    [call] = responses.calls
    body = json.loads(call.request.body)
    assert body["embeds"][0]["title"] == "<secret:custom#1>"
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
    assert json.loads(writes[0].request.body)["title"] == "Error <secret:custom#1>"
    assert json.loads(writes[2].request.body)["title"] == "<secret:custom#1>"


LUHN_ROLE = "412345678901234561"  # an 18-digit Discord id that passes the card check


def test_discord_mentions_and_allowed_mentions_pass_the_gate_untouched() -> None:
    payload = {"content": f"<@&{LUHN_ROLE}> **New error**: card 4111 1111 1111 1111 declined",
               "allowed_mentions": {"parse": [], "roles": [LUHN_ROLE]}}
    gated = Egress().obj(payload, keep=("allowed_mentions",))
    assert gated == {"content": f"<@&{LUHN_ROLE}> **New error**: card <card#1> declined",
                     "allowed_mentions": {"parse": [], "roles": [LUHN_ROLE]}}


def test_a_redacted_then_escaped_text_is_left_as_it_is() -> None:
    """The gate's second pass over a message a stage redacted and Markdown-escaped changes nothing: no renumbering, no
    scheme word taken for a secret, not one character longer (the payload was cut to Discord's limits before)."""
    from aimon.markdown import escape
    from aimon.redact import Redactor

    first = escape(Redactor(["ACME-[0-9]{7}"]).redact(f"x-api-key: Token zzzzzzzzzzzz1, {BUILT_IN}, key {USER_SECRET}"))
    assert first == "x-api-key: Token \\<secret:authorization#1\\>, password=\\<secret:password#1\\>, key \\<secret:custom#1\\>"
    gate = Egress(["ACME-[0-9]{7}"])
    assert gate.text(first) == first
    assert gate.text(first + " and password=newsecret99") == first + " and password=<secret:password#2>"


# -- every outbound call site passes the gate ----------------------------------------------------------------------

REMOTES = Path(__file__).resolve().parents[2] / "aimon" / "remotes"
# The methods that send something: PyGithub's writers, the requests session, the OpenAI client.
SENDS = {"create_issue", "create_comment", "create_pull", "edit", "add_to_labels", "request", "create"}
# Arguments that are structure the remote reads (where to, how), never text from the logs.
STRUCTURE = {"method", "url", "timeout", "headers", "state", "labels", "draft", "base", "head", "model", "temperature", "response_format"}
EXPECTED_SITES = {
    ("discord.py", "request"), ("github.py", "create_issue"), ("github.py", "create_comment"), ("github.py", "edit"),
    ("github.py", "create_pull"), ("github.py", "add_to_labels"), ("llm.py", "create"),
}


def _gated(node: ast.AST, assigned: dict[str, ast.AST]) -> bool:
    """The expression is a call of the gate (``self._egress.text/obj``), or a name bound to one, or a constant."""
    if isinstance(node, ast.Constant) or (isinstance(node, ast.Starred) and isinstance(node.value, ast.Name) and node.value.id.isupper()):
        return True
    if isinstance(node, ast.Name):
        source = assigned.get(node.id)
        return source is not None and _gated(source, {})
    return any(isinstance(sub, ast.Attribute) and sub.attr in ("text", "obj") and "_egress" in ast.unparse(sub.value)
               for sub in ast.walk(node))


def outbound_sites() -> list[tuple[str, str, list[tuple[str, bool]]]]:
    sites = []
    for path in sorted(REMOTES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            assigned = {target.id: stmt.value for stmt in ast.walk(function) if isinstance(stmt, ast.Assign)
                        for target in stmt.targets if isinstance(target, ast.Name)}
            for call in ast.walk(function):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in SENDS:
                    if call.func.attr == "create" and "completions" not in ast.unparse(call.func.value):
                        continue
                    args = [(f"arg{i}", _gated(arg, assigned) or (i < 2 and call.func.attr == "request")) for i, arg in enumerate(call.args)]  # method, url
                    args += [(str(kw.arg), kw.arg in STRUCTURE or _gated(kw.value, assigned)) for kw in call.keywords]
                    sites.append((path.name, call.func.attr, args))
    return sites


def test_every_outbound_call_in_the_remotes_layer_sends_only_gated_text() -> None:
    sites = outbound_sites()
    assert {(module, method) for module, method, _ in sites} == EXPECTED_SITES  # a new call site must be added here
    bypass = [(module, method, name) for module, method, args in sites for name, gated in args if not gated]
    assert bypass == []


def test_the_walk_catches_a_call_that_bypasses_the_gate(tmp_path: Path) -> None:
    """The walk is not vacuous: the same rule fails on a body sent as it was given."""
    tree = ast.parse("def f(self, body):\n    self._issue(1).create_comment(body)\n    self._issue(1).create_comment(self._egress.text(body))\n")
    function = tree.body[0]
    calls = [node for node in ast.walk(function) if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "create_comment"]
    assert [_gated(call.args[0], {}) for call in calls] == [False, True]


@responses.activate
def test_a_pull_request_comment_and_a_discord_edit_leave_through_the_gate(tmp_path: Path) -> None:
    settings = settings_with_pattern(tmp_path, GITHUB_TOKEN="ghp_" + "b" * 36, AIMON_GITHUB_REPO="o/r")
    responses.add(responses.GET, f"{API}/repos/o/r", json={"full_name": "o/r", "url": f"{API}/repos/o/r", "owner": {"login": "o"}})
    responses.add(responses.GET, f"{API}/repos/o/r/issues/8", json={"number": 8, "url": f"{API}/repos/o/r/issues/8"})
    responses.add(responses.POST, f"{API}/repos/o/r/issues/8/comments", json={"id": 6, "html_url": "https://x/6"}, status=201)
    url = "https://discord.com/api/webhooks/1/abc"
    responses.add(responses.PATCH, f"{url}/messages/9", json={"id": "9"})
    PullRequests(settings).comment(8, PLANTED)
    Webhook(url, Deadline(30), Egress.of(settings)).edit("9", {"embeds": [{"description": PLANTED, "footer": {"text": USER_SECRET}}]})
    writes = [call for call in responses.calls if call.request.method in ("POST", "PATCH")]
    assert [call.request.method for call in writes] == ["POST", "PATCH"]
    for call in writes:
        assert_clean(call.request.body.decode() if isinstance(call.request.body, bytes) else call.request.body)


def test_the_redaction_table_chooses_emails_and_ips(tmp_path: Path) -> None:
    text = "bob@example.com from 81.2.69.160 via 10.0.0.4"
    config = tmp_path / "aimon.toml"
    config.write_text('[redaction]\nemails = false\nips = "all"\n', encoding="utf-8")
    chosen = load_settings(environ={"AIMON_DB": str(tmp_path / "state.db"), "AIMON_CONFIG": str(config)})
    assert Egress.of(chosen).text(text) == "bob@example.com from <ip#1> via <ip#2>"
    default = load_settings(environ={"AIMON_DB": str(tmp_path / "state.db"), "AIMON_CONFIG": ""})
    assert (default.redaction_emails, default.redaction_ips) == (True, "public")
    assert Egress.of(default).text(text) == "<email#1> from <ip#1> via 10.0.0.4"


def test_an_unknown_ip_choice_is_a_configuration_error(tmp_path: Path) -> None:
    from aimon.errors import ConfigError

    config = tmp_path / "aimon.toml"
    config.write_text('[redaction]\nips = "private"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"redaction\.ips"):
        load_settings(environ={"AIMON_DB": str(tmp_path / "state.db"), "AIMON_CONFIG": str(config)})
