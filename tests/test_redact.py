"""The redactor: every planted secret is masked wherever it sits; placeholders are stable; useful text survives."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aimon.redact import Redactor, redact_text
from aimon.redact.shapes import says_nothing

# One secret of every shape the redactor knows, with a context it typically appears in. "{}" is where it goes. Provider
# prefixes are split so that this file holds no whole token shape.
PLANTED: list[tuple[str, str]] = [
    ("Bearer eyJraWQiOiJhYmMifQ.payload-part.signature-part", "Authorization: {}"),
    ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "jwt={}"),
    ("s" + "k-abcdefghijklmnopqrstuvwxyz012345", "key {} used"),
    ("s" + "k-proj-AbCdEfGhIjKlMnOpQrStUvWx_0123456789-abc", "OPENAI {}"),
    ("s" + "k-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx0123", "anthropic {}"),
    ("s" + "k_live_51HxYzAbCdEfGhIjKlMnOp", "stripe {}"),
    ("gh" + "p_1234567890abcdefghijABCDEFGHIJ123456", "github {}"),
    ("gh" + "o_1234567890abcdefghijABCDEFGHIJ123456", "oauth {}"),
    ("github" + "_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "pat {}"),
    ("AK" + "IAIOSFODNN7EXAMPLE", "aws {}"),
    ("AI" + "zaSyA-1234567890abcdefghijklmnopqrstu", "google {}"),
    ("xo" + "xb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "slack {}"),
    ("xo" + "xp-123456789012-1234567890123-abcdef", "slack user {}"),
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
ANY_PLACEHOLDER = re.compile(r"<(?:secret:[a-z0-9-]+|email|card|ip)#\d+>")


def fake(prefix: str, body: str) -> str:
    """A made-up token, assembled here so that this file holds no whole token shape."""
    return prefix + body


@pytest.mark.parametrize(("secret", "context"), PLANTED)
def test_every_planted_secret_is_masked(secret: str, context: str) -> None:
    text = context.format(secret)
    out = redact_text(text)
    assert secret not in out
    assert re.search(r"<(secret:[a-z0-9-]+|email|card)#1>", out)


@pytest.mark.parametrize(("secret", "context"), PLANTED)
@pytest.mark.parametrize("escape", ["\\n", "\\t", "\\r\\n"])
def test_secrets_after_an_escaped_newline_are_masked(secret: str, context: str, escape: str) -> None:
    # Multi-line messages inside JSON text: `..."message":"first line\\npassword=..."`.
    assert secret not in redact_text(f"first line{escape}{context.format(secret)}{escape}next")


# -- the classes that got through before, one test each ------------------------------------------------------------

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYz9q2Lm4KdT"
MISSED: dict[str, tuple[str, str]] = {
    "aws secret without its name": (f"loaded {AWS_SECRET} for s3", AWS_SECRET),
    "azure AccountKey": ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=Zm9vYmFyYmF6cXV4+/Zm9vYmFyYmF6cXV4==;EndpointSuffix=core.windows.net",
                         "Zm9vYmFyYmF6cXV4+/Zm9vYmFyYmF6cXV4=="),
    "sendgrid": (f"mail via {fake('SG.', 'abcdefghijKLMNOPQRSTuv.0123456789abcdefghijKLMNOPQRSTuvwxyzABCDEFG')}",
                 fake("SG.", "abcdefghijKLMNOPQRSTuv.0123456789abcdefghijKLMNOPQRSTuvwxyzABCDEFG")),
    "npm": (f"publish with {fake('npm_', 'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5')}", fake("npm_", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5")),
    "basic outside a header": ('{"auth":"Basic dXNlcjpwYXNz"}', "dXNlcjpwYXNz"),
    "url password with a slash": ("postgres://app:ab/cd+ef@db/app", "ab/cd+ef"),
    "prose password": ("login failed for admin with password 'hunter2'", "hunter2"),
    "sshpass": ("sshpass -p hunter2 ssh deploy@host", "hunter2"),
    "sql with password": ("ALTER ROLE app WITH PASSWORD 'r0le-pw'", "r0le-pw"),
    "sql identified by": ("CREATE USER 'svc'@'%' IDENTIFIED BY 'idb-pw-1';", "idb-pw-1"),
    "cli --password": ("mysql --password xq9-pass db", "xq9-pass"),
    "cli -p'x'": ("mysqldump -uroot -p'qu0ted' shop", "qu0ted"),
    "curl -u": ("curl -u admin:cu-pass9 https://ci", "cu-pass9"),
    "env SECRET_KEY": ("SECRET_KEY=django-insecure-9f2c", "django-insecure-9f2c"),
    "env ENCRYPTION_KEY": ("ENCRYPTION_KEY=Zk3vQ9pL2mX8", "Zk3vQ9pL2mX8"),
    "kubernetes data": ("kind: Secret\ndata:\n  username: YWRtaW4=\n  password: aHVudGVyMg==\n", "aHVudGVyMg=="),
    "kubernetes data (username)": ("kind: Secret\ndata:\n  username: YWRtaW4=\n  password: aHVudGVyMg==\n", "YWRtaW4="),
    "bare vault": (f"vault {fake('hvs.', 'CAESIJ1k2L3m4N5o6P7q8R9s0T1u2V3w')}", fake("hvs.", "CAESIJ1k2L3m4N5o6P7q8R9s0T1u2V3w")),
    "bare hugging face": (f"hub {fake('hf_', 'AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh')}", fake("hf_", "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh")),
    "bare pypi": (f"upload {fake('pypi-', 'AgEIcHlwaS5vcmc' + 'x1Y2z3' * 10)}", fake("pypi-", "AgEIcHlwaS5vcmc" + "x1Y2z3" * 10)),
    "header X-Api-Key in source": ('.header("X-Api-Key", "k-9f2c81d0")', "k-9f2c81d0"),
    "const KEY bytes": ('const KEY: &[u8] = b"9f2c4e1a77d0";', "9f2c4e1a77d0"),
    "static JWT_SECRET": ('static JWT_SECRET: &str = "jwt-signing-s3cret";', "jwt-signing-s3cret"),
    "basic_auth in source": ('.basic_auth("svc", Some("p4ss"))', "p4ss"),
    "pair inside a JSON string that holds a placeholder": ('{"message":"auth <secret:token#1> then password=hunter2x"}', "hunter2x"),
    "pair after a masked value in one quoted value": ('"credentials":"Bearer abcdef123456 password=hunter3x"', "hunter3x"),
}


@pytest.mark.parametrize("case", MISSED, ids=list(MISSED))
def test_a_class_that_got_through_is_masked(case: str) -> None:
    text, secret = MISSED[case]
    out = redact_text(text)
    assert secret not in out
    assert ANY_PLACEHOLDER.search(out)


OVER_MASKED = [
    "git@github.com:org/repo.git",
    "fetch from git@gitlab.acme.io:platform/api.git failed",
    "token_type=Bearer expires_in=3600",
    '{"token_type":"Bearer","expires_in":3600}',
    "token: ExpiredSignature",
    "auth::verify_token: token expired",
    "password::Config { min_length: 12 }",
    "ERROR shop::auth::token: Signature verification failed",
    "target=shop::api::password message=rule check",
    "secret:\n  name: db-credentials",
    "PWD=/srv/app",
    "pass=128 fail=0",
    "request_id=4f1c2a9e-1b2c-4d5e-8f90-123456789abc",
    "deployed 3f9a1c2b7d4e8f6a0b5c9d2e1f7a3b8c4d6e0f1a",
    "missing environment variable SECRET_KEY",
    "let token = parse_token(&header)?;",
]


@pytest.mark.parametrize("text", OVER_MASKED)
def test_readable_text_stays_readable(text: str) -> None:
    assert redact_text(text) == text


def test_placeholders_name_the_kind_and_keep_the_structure() -> None:
    aws = fake("AKIA", "IOSFODNN7EXAMPLQ")
    out = redact_text(f"key {aws} for postgres://user:pw-1234@host/db and again {aws}")
    assert out == "key <secret:aws-key#1> for postgres://user:<secret:password#1>@host/db and again <secret:aws-key#1>"


def test_private_key_block_is_masked_whole_and_the_rest_kept() -> None:
    out = redact_text(f"loaded key {PRIVATE_KEY} from disk")
    assert "MIIEowIBAAKCAQEA7b9" not in out and "abcDEF0123" not in out
    assert out == "loaded key <secret:private-key#1> from disk"


def test_a_private_key_inside_a_json_string_ends_with_the_string() -> None:
    raw = json.dumps({"private_key": PRIVATE_KEY.rsplit("\n", 1)[0], "client_email": "x"})
    out = redact_text(raw)
    assert "abcDEF0123" not in out
    assert json.loads(out) == {"private_key": "<secret:private-key#1>", "client_email": "x"}


def test_unterminated_private_key_is_masked_to_the_end() -> None:
    assert redact_text("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC") == "<secret:private-key#1>"


def test_placeholders_are_stable_within_one_redactor_and_numbered_per_kind() -> None:
    redactor = Redactor()
    first = redactor.redact("login alice@example.com token=abc123XYZ")
    second = redactor.redact("again alice@example.com with token=abc123XYZ, and bob@example.com, token=zz9")
    assert first == "login <email#1> token=<secret:token#1>"
    assert second == "again <email#1> with token=<secret:token#1>, and <email#2>, token=<secret:token#2>"
    assert Redactor().redact("bob@example.com") == "<email#1>"  # a fresh redactor numbers from 1


def test_new_placeholders_are_numbered_after_those_in_the_text() -> None:
    assert redact_text("<secret:token#1> then token=zz9-new") == "<secret:token#1> then token=<secret:token#2>"


def test_useful_text_is_left_alone() -> None:
    text = (
        "pool timed out after 30s; tokens_in=900 max_tokens=5 token: expired bypass=yes "
        "request_id=4f1c2a9e-1b2c-4d5e-8f90-123456789abc ts=1700000000000000000 at src/db.rs:42:7 "
        "postgres://db.internal:5432/app status=503 peer 10.0.3.7:5432"
    )
    assert redact_text(text) == text


def test_harmless_values_under_secret_keys_are_kept() -> None:
    assert redact_text("password=null token=None has_password=true") == "password=null token=None has_password=true"


def test_emails_and_ips_follow_the_setting() -> None:
    text = "bob@example.com from 81.2.69.160 via 10.0.0.4 and 2001:db8::1"
    assert redact_text(text) == "<email#1> from <ip#1> via 10.0.0.4 and 2001:db8::1"  # documentation range: not global
    assert redact_text(text, emails=False, ips="none") == text
    assert redact_text(text, ips="all") == "<email#1> from <ip#1> via <ip#2> and <ip#3>"
    with pytest.raises(ValueError, match="ips"):
        Redactor(ips="some")


def test_luhn_check_spares_ids_that_are_not_cards() -> None:
    assert redact_text("order 4111111111111112 failed") == "order 4111111111111112 failed"
    assert redact_text("order 1234567812345670 failed") == "order 1234567812345670 failed"  # Luhn-valid, no card prefix
    assert redact_text("card 4111 1111 1111 1111 and 4111111111111111") == "card <card#1> and <card#1>"


def test_escaped_json_inside_a_message_is_masked() -> None:
    raw = json.dumps({"fields": {"message": 'login failed password="pw-1234" user=bob'}})
    out = redact_text(raw)
    assert "pw-1234" not in out
    assert json.loads(out)["fields"]["message"] == 'login failed password="<secret:password#1>" user=bob'


def test_user_patterns_mask_their_group_or_the_whole_match() -> None:
    redactor = Redactor([r"acct-(\d{6})", r"INTERNAL-[A-Z]{4}"])
    assert redactor.redact("acct-123456 and INTERNAL-ABCD") == "acct-<secret:custom#1> and <secret:custom#2>"


def test_redact_obj_masks_values_under_secret_keys_and_every_string() -> None:
    redactor = Redactor()
    data = {
        "message": "signup by carol@example.org",
        "fields": {"password": "hunter2", "api_key": 123456789, "count": 3, "ok": True, "pass": 128},
        "spans": [{"name": "http", "authorization": "Basic dXNlcjpwYXNz"}],
    }
    assert redactor.redact_obj(data) == {
        "message": "signup by <email#1>",
        "fields": {"password": "<secret:password#1>", "api_key": "<secret:api-key#1>", "count": 3, "ok": True, "pass": 128},
        "spans": [{"name": "http", "authorization": "<secret:authorization#1>"}],
    }


def test_redacting_twice_changes_nothing_more() -> None:
    redactor = Redactor()
    once = redactor.redact("password=hunter2 mail bob@example.com Bearer abc.def.123")
    assert redactor.redact(once) == once
    assert "<secret:bearer#1>" in once


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
    assume(not says_nothing(value))  # ``password=undefined``, ``password=*******`` say nothing
    text = f"{before} {form.format(k=key, v=value)} done"
    out = Redactor().redact(text)
    assert f"{key}" in out  # the key stays readable
    after_key = ANY_PLACEHOLDER.sub("<>", out.split(key, 1)[1])
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


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(planted=st.lists(st.sampled_from(PLANTED + [(secret, context) for context, secret in MISSED.values()]), min_size=1, max_size=3),
       filler=_filler, key=st.sampled_from(["message", "password", "auth", "db_url", "note"]))
def test_property_a_json_line_stays_valid_json(planted: list[tuple[str, str]], filler: str, key: str) -> None:
    message = filler.join(context.format(secret) if "{}" in context else context for secret, context in planted)
    line = json.dumps({"fields": {key: message, "count": 3}, "target": "shop::api"})
    out = Redactor().redact(line)
    assert json.loads(out)["target"] == "shop::api"
