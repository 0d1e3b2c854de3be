"""The redactor: every planted secret is masked wherever it sits; placeholders are stable; useful text survives."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimon.redact import Redactor, redact_text

# One secret of every shape the redactor knows, with a context it typically appears in. "{}" is where it goes.
PLANTED: list[tuple[str, str]] = [
    ("Bearer eyJraWQiOiJhYmMifQ.payload-part.signature-part", "Authorization: {}"),
    ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "jwt={}"),
    ("sk-abcdefghijklmnopqrstuvwxyz012345", "key {} used"),
    ("sk-proj-AbCdEfGhIjKlMnOpQrStUvWx_0123456789-abc", "OPENAI {}"),
    ("sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx0123", "anthropic {}"),
    ("sk_live_51HxYzAbCdEfGhIjKlMnOp", "stripe {}"),
    ("ghp_1234567890abcdefghijABCDEFGHIJ123456", "github {}"),
    ("gho_1234567890abcdefghijABCDEFGHIJ123456", "oauth {}"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "pat {}"),
    ("AKIAIOSFODNN7EXAMPLE", "aws {}"),
    ("AIzaSyA-1234567890abcdefghijklmnopqrstu", "google {}"),
    ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "slack {}"),
    ("xoxp-123456789012-1234567890123-abcdef", "slack user {}"),
    ("T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", "https://hooks.slack.com/services/{}"),
    ("123456789012345678/AbCdEfGhIjKl-MnOpQrStUvWxYz_0123456789", "https://discord.com/api/webhooks/{}"),
    ("MTE2NzE5ODM0NTY3ODkwMTIzNA.GAbCdE.abcdefghijklmnopqrstuvwxyz0123456789", "discord bot {}"),
    ("hunter2-Pa55", "postgres://app:{}@db.internal:5432/app"),
    ("s3cr3t!", "password={}&user=bob"),
    ("topsecretvalue", "secret={} next"),
    ("tok_abc123", "token={}"),
    ("key-0123456789", "api_key={}"),
    ("Sup3r Secret", '{{"password":"{}","user":"bob"}}'),
    ("p@ss:w0rd", 'Credentials {{ username: "bob", password: "{}" }}'),
    ("alice.smith+tag@example.co.uk", "user {} logged in"),
    ("4111111111111111", "card {} declined"),
    ("5500 0000 0000 0004", "card {} declined"),
    ("378282246310005", "amex {}"),
]
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7b9\nabcDEF0123==\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(("secret", "context"), PLANTED)
def test_every_planted_secret_is_masked(secret: str, context: str) -> None:
    text = context.format(secret)
    out = redact_text(text)
    assert secret not in out
    assert re.search(r"<(secret|email|card)-1>", out)


@pytest.mark.parametrize(("secret", "context"), PLANTED)
@pytest.mark.parametrize("escape", ["\\n", "\\t", "\\r\\n"])
def test_secrets_after_an_escaped_newline_are_masked(secret: str, context: str, escape: str) -> None:
    # Multi-line messages inside JSON text: `..."message":"first line\\npassword=..."`.
    assert secret not in redact_text(f"first line{escape}{context.format(secret)}{escape}next")


def test_private_key_block_is_masked_whole_and_the_rest_kept() -> None:
    out = redact_text(f"loaded key {PRIVATE_KEY} from disk")
    assert "MIIEowIBAAKCAQEA7b9" not in out and "abcDEF0123" not in out
    assert out == "loaded key <secret-1> from disk"


def test_unterminated_private_key_is_masked_to_the_end() -> None:
    assert redact_text("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC") == "<secret-1>"


def test_placeholders_are_stable_within_one_redactor_and_numbered_per_kind() -> None:
    redactor = Redactor()
    first = redactor.redact("login alice@example.com token=abc123XYZ")
    second = redactor.redact("again alice@example.com with token=abc123XYZ, and bob@example.com")
    assert first == "login <email-1> token=<secret-1>"
    assert second == "again <email-1> with token=<secret-1>, and <email-2>"
    assert Redactor().redact("bob@example.com") == "<email-1>"  # a fresh redactor numbers from 1


def test_useful_text_is_left_alone() -> None:
    text = (
        "pool timed out after 30s; tokens_in=900 max_tokens=5 token: expired bypass=yes "
        "request_id=4f1c2a9e-1b2c-4d5e-8f90-123456789abc ts=1700000000000000000 at src/db.rs:42:7 "
        "postgres://db.internal:5432/app status=503"
    )
    assert redact_text(text) == text


def test_harmless_values_under_secret_keys_are_kept() -> None:
    assert redact_text("password=null token=None has_password=true") == "password=null token=None has_password=true"


def test_luhn_check_spares_ids_that_are_not_cards() -> None:
    assert redact_text("order 4111111111111112 failed") == "order 4111111111111112 failed"
    assert redact_text("order 1234567812345670 failed") == "order 1234567812345670 failed"  # Luhn-valid, no card prefix


def test_escaped_json_inside_a_message_is_masked() -> None:
    raw = json.dumps({"fields": {"message": 'login failed password="pw-1234" user=bob'}})
    out = redact_text(raw)
    assert "pw-1234" not in out
    assert json.loads(out)["fields"]["message"] == 'login failed password="<secret-1>" user=bob'


def test_user_patterns_mask_their_group_or_the_whole_match() -> None:
    redactor = Redactor([r"acct-(\d{6})", r"INTERNAL-[A-Z]{4}"])
    assert redactor.redact("acct-123456 and INTERNAL-ABCD") == "acct-<secret-1> and <secret-2>"


def test_redact_obj_masks_values_under_secret_keys_and_every_string() -> None:
    redactor = Redactor()
    data = {
        "message": "signup by carol@example.org",
        "fields": {"password": "hunter2", "api_key": 123456789, "count": 3, "ok": True},
        "spans": [{"name": "http", "authorization": "Basic dXNlcjpwYXNz"}],
    }
    assert redactor.redact_obj(data) == {
        "message": "signup by <email-1>",
        "fields": {"password": "<secret-1>", "api_key": "<secret-2>", "count": 3, "ok": True},
        "spans": [{"name": "http", "authorization": "<secret-3>"}],
    }


def test_redacting_twice_changes_nothing_more() -> None:
    redactor = Redactor()
    once = redactor.redact("password=hunter2 mail bob@example.com Bearer abc.def")
    assert redactor.redact(once) == once


# -- properties --------------------------------------------------------------------------------------------------------

_filler = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_separator = st.sampled_from([" ", "\n", "\t", ", ", "; ", " | ", "(", ")", "[", "]", "'", '"', " -> ", "\\n", "=", ": "])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(planted=st.sampled_from(PLANTED), before=_filler, after=_filler, left=_separator, right=_separator)
def test_property_a_planted_secret_never_survives_whatever_surrounds_it(
    planted: tuple[str, str], before: str, after: str, left: str, right: str
) -> None:
    secret, context = planted
    text = before + left + context.format(secret) + right + after
    assert secret not in Redactor().redact(text)


@settings(max_examples=200)
@given(
    value=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%^*-_+.~", min_size=6, max_size=30),
    key=st.sampled_from(["password", "db_password", "secret", "client_secret", "token", "access_token", "api_key", "apiKey", "x-api-key", "passwd"]),
    form=st.sampled_from(["{k}={v}", '{k}="{v}"', '"{k}":"{v}"', '"{k}": "{v}"', "{k}: '{v}'", '{k}: "{v}"', "{k}={v}&next=1"]),
    before=_filler,
)
def test_property_secret_pairs_never_leak(value: str, key: str, form: str, before: str) -> None:
    text = f"{before} {form.format(k=key, v=value)} done"
    out = Redactor().redact(text)
    assert f"{key}" in out  # the key stays readable
    after_key = re.sub(r"<(?:secret|email|card)-\d+>", "<>", out.split(key, 1)[1])
    assert value not in after_key[: len(value) + 8]


@settings(max_examples=200)
@given(local=st.from_regex(r"[a-z][a-z0-9._+-]{0,15}[a-z0-9]", fullmatch=True),
       domain=st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]\.(com|org|io|co\.uk|dev)", fullmatch=True), before=_filler)
def test_property_emails_never_leak(local: str, domain: str, before: str) -> None:
    email = f"{local}@{domain}"
    assert email not in Redactor().redact(f"{before} {email} ")


@settings(max_examples=100)
@given(text=st.text(max_size=200))
def test_property_redaction_is_idempotent_and_never_crashes(text: str) -> None:
    redactor = Redactor()
    once = redactor.redact(text)
    assert redactor.redact(once) == once
