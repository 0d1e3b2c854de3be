"""Secrets recognisable by their own shape, wherever they sit: provider tokens, webhook URLs, JWTs, private-key
blocks, ``Authorization``/``Bearer``/``Basic`` credentials and the password of a URL.

Each detector yields ``(start, end, kind)`` spans of the *value* only, so what surrounds it stays readable
(``postgres://app:<secret:password#1>@db/app``, ``Authorization: Bearer <secret:bearer#1>``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
from collections import Counter
from collections.abc import Iterator

from aimon.redact.placeholders import Span

# Where a token may start and end: not inside a longer word, except right after an escaped newline or tab (``\n``
# inside JSON text).
START = r"(?:(?<![A-Za-z0-9_-])|(?<=\\[ntr]))"
END = r"(?![A-Za-z0-9_-])"
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@functools.lru_cache(maxsize=8)
def lowered(text: str) -> str:
    """``text`` in lower case with every character where it was: case-insensitive detectors look for their keyword in
    it with a case-sensitive scan (ten times faster than ``re.IGNORECASE`` over a prompt), then match at that place."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(char if len(char.lower()) != 1 else char.lower() for char in text)  # "İ" lowers to two characters


def hinted(hint: re.Pattern[str], pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """Matches of ``pattern`` (case-insensitive) that begin where the lower-case ``hint`` is found, not overlapping."""
    end = 0
    for found in hint.finditer(lowered(text)):
        if found.start() < end:
            continue
        match = pattern.match(text, found.start())
        if match is not None:
            end = match.end()
            yield match


def starts_token(text: str, index: int, inside: frozenset[str] = _TOKEN_CHARS) -> bool:
    """What :data:`START` says, checked in code: a regex that begins with a lookbehind is tried at every position of
    the text, one that begins with its keyword is found by a fast scan (five times faster on a prompt)."""
    if index == 0 or text[index - 1] not in inside:
        return True
    return index >= 2 and text[index - 2] == "\\" and text[index - 1] in "ntr"


# One alternation, one named group per provider: ``lastgroup`` names the kind (``aws_key`` → ``aws-key``).
_TOKEN_SHAPES = {
    "anthropic_key": r"sk-ant-[A-Za-z0-9_-]{20,}",
    "openai_key": r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
    "stripe_key": r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,}",
    "github_token": r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}",
    "gitlab_token": r"gl(?:pat|dt|rt|cbt|ptt|ft|imt|oas|soat)-[A-Za-z0-9_-]{20,}|GR1348941[A-Za-z0-9_-]{20,}",
    "ci_token": r"dckr_pat_[A-Za-z0-9_-]{20,}|bkua_[A-Za-z0-9]{30,}|CCIPAT_[A-Za-z0-9_]{20,}|ATATT3[A-Za-z0-9_=-]{30,}"
                r"|ATBB[A-Za-z0-9]{28,}|[a-z0-9]{14}\.atlasv1\.[A-Za-z0-9_-]{40,}",
    "aws_key": r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16}",
    "gcp_key": r"AIza[0-9A-Za-z_-]{35}|GOCSPX-[A-Za-z0-9_-]{20,}",
    "gcp_token": r"ya29\.[0-9A-Za-z_-]{20,}",
    "slack_token": r"xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,}",
    "discord_token": r"[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}",
    "telegram_token": r"\d{8,10}:AA[A-Za-z0-9_-]{33}",
    "sendgrid_key": r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}",
    "mailgun_key": r"key-[0-9a-f]{32}|[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8}",
    "mailchimp_key": r"[0-9a-f]{32}-us\d{1,2}",
    "twilio_key": r"SK[0-9a-fA-F]{32}",
    "npm_token": r"npm_[A-Za-z0-9]{36}",
    "pypi_token": r"pypi-[A-Za-z0-9_-]{50,}",
    "hf_token": r"hf_[A-Za-z0-9]{30,}|api_org_[A-Za-z0-9]{30,}",
    "vault_token": r"hv[sbr]\.[A-Za-z0-9_-]{20,}",
    "llm_key": r"gsk_[A-Za-z0-9]{40,}|r8_[A-Za-z0-9]{30,}|xai-[A-Za-z0-9]{40,}|pplx-[A-Za-z0-9]{40,}",
    "platform_token": r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}|dapi[0-9a-f]{32}|do[por]_v1_[a-f0-9]{64}"
                      r"|lin_api_[A-Za-z0-9]{40}|PMAK-[a-f0-9]{24}-[a-f0-9]{34}|sntr[ysu]_[A-Za-z0-9_=+/-]{30,}"
                      r"|gl(?:sa|c)_[A-Za-z0-9_=+/-]{30,}|NRAK-[A-Z0-9]{27}|sq0(?:atp|csp)-[0-9A-Za-z_-]{22,}"
                      r"|dp\.(?:st|ct|sa|scim|audit)\.[A-Za-z0-9_.-]{40,}",
    "age_key": r"AGE-SECRET-KEY-1[0-9A-Z]{58}",
    "jwt": r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
}
_TOKENS = re.compile(START + "(?:" + "|".join(f"(?P<{name}>{shape})" for name, shape in _TOKEN_SHAPES.items()) + ")" + END)

_TOKEN_RUN = re.compile(r"[A-Za-z0-9_.:=+/-]{20,}")  # the characters of every token shape below

# Webhook URLs: the host and path stay, the part that is the credential goes.
_WEBHOOKS = re.compile(
    r"(?i)https?://(?:"
    r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<slack_webhook>[A-Za-z0-9/_-]+)"
    r"|(?:[a-z]+\.)?discord(?:app)?\.com/api/(?:v\d+/)?webhooks/(?P<discord_webhook>\d+/[A-Za-z0-9._-]+)"
    r"|api\.telegram\.org/(?:file/)?bot(?P<telegram_token>[^/\s\"'\\]+)"
    r"|[a-z0-9-]+\.webhook\.office\.com/webhookb2/(?P<teams_webhook>[A-Za-z0-9@/_.-]+)"
    r"|outlook\.office\.com/webhook/(?P<teams_webhook2>[A-Za-z0-9@/_.-]+)"
    r"|hooks\.zapier\.com/hooks/catch/(?P<zapier_webhook>[A-Za-z0-9/_-]+)"
    r"|[a-z0-9.-]+/hooks/(?P<webhook>[A-Za-z0-9]{20,})"
    r")"
)

_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    # The END line, else (a cut text) up to the end of the JSON string that holds it, else of the text.
    r"(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[^\"]*)"
    r"|PuTTY-User-Key-File-\d: .*?Private-MAC: [0-9a-fA-F]+",
    re.DOTALL,
)

_HEADER = re.compile(
    r"(?i)(?P<name>(?:proxy-)?authorization|x-api-key|api-key|x-auth-token|x-access-token|private-token"
    r"|x-vault-token|x-amz-security-token|x-goog-api-key|ocp-apim-subscription-key|cookie|set-cookie)"
    r"\\?[\"']?[ \t]*[:=][ \t]*(?:\\?[\"'])?"
    r"(?:(?P<scheme>bearer|basic|token|digest|negotiate|apikey|sso-key|key)[ \t]+)?"
    r"(?P<value>[^\s\"'\\,;]+(?:;[ \t]*[^\s\"'\\,;]+)*)"
)
_SCHEMES = frozenset({"bearer", "basic", "token", "digest", "negotiate", "apikey", "sso-key", "key"})
_HEADER_HINT = re.compile(r"proxy-|authorization|x-api-key|api-key|x-auth-token|x-access-token|private-token|x-vault-token"
                          r"|x-amz-security-token|x-goog-api-key|ocp-apim-subscription-key|cookie|set-cookie")
_SCHEME_HINT = re.compile(r"bearer|basic")
_BEARER = re.compile(r"(?i)bearer[ \t]+(?P<value>[A-Za-z0-9\-._~+/]+=*)(?![A-Za-z0-9\-._~+/=:])")
_BASIC = re.compile(r"(?i)basic[ \t]+(?P<value>[A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])")
# scheme://user:password@host — a password may hold a "/" (but a port followed by a path is not a password).
_URL_PASSWORD = re.compile(r"://[^\s:/@\"'<>\\]*:(?P<value>[^\s@\"'<>\\]+)@(?=[A-Za-z0-9\[_-])")
_PORT_THEN_PATH = re.compile(r"^\d+(?:[/?#]|$)")
_BASE64_RUN = re.compile(r"[A-Za-z0-9/+]{40,}")
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+=")


# Values that say nothing secret and are useful for diagnosis (``token=None``, ``has_password=true``, ``***``).
HARMLESS = frozenset({"", "null", "none", "nil", "true", "false", "[redacted]", "<redacted>", "redacted", "[filtered]", "undefined", "n/a"})
_MASK_CHARS = re.compile(r"\*{3,}|•{3,}|[xX]{3,}")
# References to a secret, not the secret: ``${DB_PASSWORD}``, ``$(cat /run/secrets/x)``, ``{{ .Values.pw }}``, ``%s``,
# and the name of a variable (``env::var("DB_PASSWORD")``).
_REFERENCE = re.compile(r"\$\{[^}\s]*\}|\$\([^)\n]*\)|\$[A-Z_][A-Z0-9_]*(?!\w)|\{\{[^}\n]*\}\}|\{[A-Za-z_]\w*\}|%[sdr]\b|%\(\w+\)[sdr]")
_VARIABLE_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")


def says_nothing(value: str, text: str = "", start: int = -1) -> bool:
    """The value is empty, a null, already masked, or a reference to a secret; ``text`` and ``start`` let a value that
    a pattern cut short (``${DB_PASSWORD}`` read up to the brace) be judged where it begins."""
    if value.lower() in HARMLESS or _MASK_CHARS.fullmatch(value) or _VARIABLE_NAME.fullmatch(value):
        return True
    if start >= 0:
        reference = _REFERENCE.match(text, start)
        return reference is not None and reference.end() >= start + len(value)  # all of the value is the reference
    return _REFERENCE.fullmatch(value) is not None


def entropy(value: str) -> float:
    """Shannon entropy in bits per character: random keys score high, words and paths low."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def token_like(value: str) -> bool:
    """Mixed letters and digits (or symbols) of some length: a token, not a word of prose (``Bearer tokens``)."""
    if len(value) < 8 or re.fullmatch(r"[A-Za-z][a-z]+(?:[-_][A-Za-z][a-z]+)*", value):
        return False
    return bool(re.search(r"[0-9._~+/-]", value) or (re.search(r"[a-z]", value) and re.search(r"[A-Z]", value)))


def tokens(text: str) -> Iterator[Span]:
    """Provider tokens and JWTs, named by their provider (looked for only inside runs of token characters long
    enough to hold one: most of a log line is not)."""
    for run in _TOKEN_RUN.finditer(text):
        for match in _TOKENS.finditer(text, run.start(), run.end()):
            yield match.start(), match.end(), str(match.lastgroup).replace("_", "-")


def webhooks(text: str) -> Iterator[Span]:
    """The credential part of a webhook URL."""
    if "://" not in text:
        return
    for match in _WEBHOOKS.finditer(text):
        name = str(match.lastgroup)
        yield match.start(name), match.end(name), name.rstrip("2").replace("_", "-")


def private_keys(text: str) -> Iterator[Span]:
    """PEM and PuTTY private-key blocks, whole (multi-line, or with ``\\n`` escapes inside a JSON string)."""
    if "PRIVATE KEY" not in text and "PuTTY" not in text:
        return
    for match in _PRIVATE_KEY.finditer(text):
        yield match.start(), match.end(), "private-key"


def headers(text: str) -> Iterator[Span]:
    """Credential headers (``Authorization: Basic …``, ``X-Api-Key: …``, ``Cookie: …``) in any notation."""
    for match in hinted(_HEADER_HINT, _HEADER, text):
        if not starts_token(text, match.start()):
            continue
        name, scheme = match.group("name").lower(), (match.group("scheme") or "").lower()
        value = match.group("value")
        if value.lower() in _SCHEMES or says_nothing(value, text, match.start("value")) or re.fullmatch(r"[A-Za-z]{1,12}", value):
            continue  # the scheme word alone (its credential is a placeholder already), ``none``, ``missing``
        if "cookie" in name and "=" not in value and not token_like(value):
            continue  # ``cookie: session expired``: prose, not a cookie
        kind = "cookie" if "cookie" in name else {"bearer": "bearer", "basic": "basic-auth"}.get(scheme, "authorization")
        yield match.start("value"), match.end("value"), kind


def bearer_and_basic(text: str) -> Iterator[Span]:
    """``Bearer <token>`` and ``Basic <base64 user:password>`` wherever they are, not the scheme word in prose
    (``token_type=Bearer expires_in=3600``, ``Basic auth failed``)."""
    for found in _SCHEME_HINT.finditer(lowered(text)):
        if not starts_token(text, found.start()):
            continue
        if found.group(0) == "bearer":
            match = _BEARER.match(text, found.start())
            if match is not None and token_like(match.group("value")):
                yield match.start("value"), match.end("value"), "bearer"
        else:
            match = _BASIC.match(text, found.start())
            if match is not None and _is_basic_credential(match.group("value")):
                yield match.start("value"), match.end("value"), "basic-auth"


def _is_basic_credential(value: str) -> bool:
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded or (token_like(value) and len(value) >= 16)


def url_passwords(text: str) -> Iterator[Span]:
    """The password of ``scheme://user:password@host`` (DSNs of every scheme)."""
    if "://" not in text:
        return
    for match in _URL_PASSWORD.finditer(text):
        if not _PORT_THEN_PATH.match(match.group("value")):
            yield match.start("value"), match.end("value"), "password"


def bare_aws_secrets(text: str) -> Iterator[Span]:
    """A 40-character AWS secret access key with no name next to it: mixed case, digits, high entropy."""
    for match in _BASE64_RUN.finditer(text):
        value, start = match.group(0), match.start()
        if start and text[start - 1] == "\\" and value[0] in "ntr":  # the run began with the n of a \n escape
            value, start = value[1:], start + 1
        if len(value) != 40 or text.startswith("=", match.end()) or not starts_token(text, start, _BASE64_CHARS):
            continue
        mixed = re.search(r"[a-z]", value) and re.search(r"[A-Z]", value) and re.search(r"[0-9]", value)
        if mixed and value.count("/") <= 3 and entropy(value) >= 4.2:
            yield start, match.end(), "aws-secret"
