"""One redactor for every text that leaves the machine (LLM prompts, Discord alerts, GitHub issues and PRs).

Masks credentials and personal data with placeholders that are *stable within one* :class:`Redactor`: the same value
always becomes the same ``<secret-N>`` / ``<email-N>`` / ``<card-N>``, so a reader (or the LLM) still sees that two
lines carry the same token, without ever seeing it.

What is masked, in this order (specific shapes before generic ones, so a key inside ``password=…`` is named once):

1. user patterns from ``aimon.toml`` (``[redaction] patterns``; group 1 when the regex has a group, else the match);
2. private-key blocks (``-----BEGIN … PRIVATE KEY-----`` … ``END``; an unterminated block to the end of the text);
3. ``Authorization:``/``Proxy-Authorization:``/``X-Api-Key:``/``Cookie:`` header values and ``Bearer …`` tokens;
4. passwords in URLs (``scheme://user:pass@host``), Slack and Discord webhook URLs;
5. JWTs and API keys of known shapes: OpenAI/Anthropic ``sk-…``, Stripe ``sk_live_…``, GitHub ``ghp_``/``gho_``/
   ``ghu_``/``ghs_``/``ghr_``/``github_pat_``, AWS ``AKIA…``/``ASIA…``, Google ``AIza…``, Slack ``xox[abposr]-…``,
   Discord bot tokens;
6. ``password=``/``secret=``/``token=``/``api_key=``… pairs in logfmt, query strings, JSON (``"password":"…"``) and Rust
   ``Debug`` output (``password: "…"``);
7. e-mail addresses; 8. card numbers (13–19 digits, a card issuer's prefix, Luhn-checked).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

# Already-masked text is left alone, so redacting twice (or redacting a prompt built from redacted parts) is stable.
# A placeholder may come back Markdown-escaped (``\<secret-1\>``) from a message that was redacted, then escaped.
_PLACEHOLDER = re.compile(r"^\\?<(?:secret|email|card)-\d+\\?>$")
_PLACEHOLDER_INSIDE = re.compile(r"<(?:secret|email|card)-\d+>")
_PLACEHOLDER_NUMBER = re.compile(r"\\?<(secret|email|card)-(\d+)\\?>")
_MASKED_NEXT = re.compile(r"\s*\\?<(?:secret|email|card)-\d+\\?>")  # the secret's slot already holds a placeholder
# Discord mentions (<@USER>, <@!USER>, <@&ROLE>, <#CHANNEL>) carry ids, not secrets: a long id can look like a card.
_MENTION_BEFORE = ("<@&", "<@!", "<@", "<#")

# Key names whose value is a secret. Long words may end a longer key (``db_password``, ``x-auth-token``); short
# words only count as a whole segment (``pass``, not ``bypass``).
_SECRET_SUFFIX = r"(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|authorization|cookie|session[_-]?id|sessionid|signature)"
_SECRET_SEGMENT = r"(?:pass|pwd|pw|auth|sig)"
_SECRET_KEY = rf"(?:[A-Za-z0-9_.-]*{_SECRET_SUFFIX}|(?:[A-Za-z0-9_.-]*[_.-])?{_SECRET_SEGMENT})"
_SECRET_KEY_RE = re.compile(rf"^{_SECRET_KEY}$", re.IGNORECASE)
# Values that say nothing secret and are useful for diagnosis (``token=None``, ``has_password=true``).
_HARMLESS_VALUES = frozenset({"", "null", "none", "nil", "true", "false", "***", "[redacted]", "<redacted>", "redacted", "[filtered]"})

_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|6(?:011|5|4[4-9]|22)|35)")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _looks_secret(value: str) -> bool:
    """For ``key: value`` without quotes, where prose is common ("token: expired"): only mask what is not a word."""
    if len(value) < 6:
        return False
    return not re.fullmatch(r"[a-z]+(?:[-_][a-z]+)*", value)


class Redactor:
    """Masks secrets and personal data; one instance gives one consistent numbering (use one per prompt/message)."""

    def __init__(self, extra_patterns: Sequence[str] = ()) -> None:
        self._seen: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}
        # User patterns first (they know this service's secrets); the first group is the secret, else the whole match.
        user = [re.compile(pattern) for pattern in extra_patterns]
        self._steps: list[Callable[[str], str]] = [
            *(self._sub(pattern, "secret", group=1 if pattern.groups else 0) for pattern in user),
            self._sub(_PRIVATE_KEY, "secret", group=0),
            self._sub(_AUTH_HEADER, "secret", group="value"),
            self._sub(_BEARER, "secret", group="value"),
            self._sub(_URL_PASSWORD, "secret", group="value"),
            self._sub(_SLACK_WEBHOOK, "secret", group="value"),
            self._sub(_DISCORD_WEBHOOK, "secret", group="value"),
            self._sub(_JWT, "secret", group=0),
            self._sub(_KEY_SHAPES, "secret", group=0),
            self._pairs,
            self._sub(_EMAIL, "email", group=0),
            self._cards,
        ]

    # -- public -----------------------------------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with every secret, e-mail address and card number replaced by its placeholder."""
        if not text:
            return text
        for step in self._steps:
            text = step(text)
        return text

    def redact_obj(self, obj: Any) -> Any:
        """A copy of JSON-ready data with every string redacted; values under secret-looking keys masked whole."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            out: dict[Any, Any] = {}
            for key, value in obj.items():
                new_key = self.redact(key) if isinstance(key, str) else key
                if isinstance(key, str) and _SECRET_KEY_RE.match(key) and isinstance(value, (str, int, float)) and not isinstance(value, bool):
                    text = str(value)
                    out[new_key] = text if text.lower() in _HARMLESS_VALUES or _PLACEHOLDER.match(text) else self.placeholder("secret", text)
                else:
                    out[new_key] = self.redact_obj(value)
            return out
        if isinstance(obj, (list, tuple)):
            return [self.redact_obj(item) for item in obj]
        return obj

    def placeholder(self, kind: str, value: str) -> str:
        """The placeholder of ``value`` (the same one every time this instance sees it)."""
        key = (kind, value)
        found = self._seen.get(key)
        if found is None:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            found = f"<{kind}-{self._counts[kind]}>"
            self._seen[key] = found
        return found

    def number_after(self, text: str) -> None:
        """Number new placeholders after those already in ``text``, so that a second pass over a text another
        instance masked never gives a different value a placeholder that is already there."""
        for kind, number in _PLACEHOLDER_NUMBER.findall(text):
            self._counts[kind] = max(self._counts.get(kind, 0), int(number))

    @property
    def masked_count(self) -> int:
        """How many distinct values this instance has masked so far."""
        return len(self._seen)

    # -- steps ------------------------------------------------------------------------------------------------------

    def _sub(self, pattern: re.Pattern[str], kind: str, *, group: int | str) -> Callable[[str], str]:
        def step(text: str) -> str:
            def replace(match: re.Match[str]) -> str:
                value = match.group(group)
                if not value or _PLACEHOLDER.match(value) or _MASKED_NEXT.match(match.string, match.end(0)):
                    return match.group(0)
                start, end = match.span(group)
                offset = match.start(0)
                whole = match.group(0)
                return whole[: start - offset] + self.placeholder(kind, value) + whole[end - offset :]

            return pattern.sub(replace, text)

        return step

    def _pairs(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            for name in ("dq", "edq", "sq", "bare"):
                value = match.group(name)
                if value is not None:
                    break
            else:  # pragma: no cover - the regex always sets one group
                return match.group(0)
            if value.lower() in _HARMLESS_VALUES or _PLACEHOLDER_INSIDE.search(value):
                return match.group(0)  # nothing to hide, or an earlier step already masked the secret part
            if name == "bare" and ":" in match.group("sep") and "=" not in match.group("sep") and not _looks_secret(value):
                return match.group(0)
            start, end = match.span(name)
            offset = match.start(0)
            whole = match.group(0)
            return whole[: start - offset] + self.placeholder("secret", value) + whole[end - offset :]

        return _PAIR.sub(replace, text)

    def _cards(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            raw = match.group(0)
            digits = re.sub(r"[ -]", "", raw)
            if not 13 <= len(digits) <= 19 or not _CARD_PREFIX.match(digits) or not _luhn_ok(digits):
                return raw
            if match.string[: match.start()].endswith(_MENTION_BEFORE) and match.string[match.end() :].startswith(">"):
                return raw
            return self.placeholder("card", digits)

        return _CARD.sub(replace, text)


# Where a token may start: not inside a longer word, except right after an escaped newline or tab (``\n`` in JSON text).
_START = r"(?:(?<![A-Za-z0-9_-])|(?<=\\[ntr]))"
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
    re.DOTALL,
)
_AUTH_HEADER = re.compile(
    r"""(?i)""" + _START + r"""(?:proxy-)?(?:authorization|x-api-key|api-key|x-auth-token|cookie|set-cookie)\\?["']?\s*[:=]\s*(?:\\?["'])?"""
    r"""(?:(?:bearer|basic|token|digest|negotiate|apikey|sso-key)\s+)?(?P<value>[^\s"'\\,;]+(?:;\s*[^\s"'\\,;]+)*)"""
)
_BEARER = re.compile(r"(?i)" + _START + r"bearer\s+(?P<value>[A-Za-z0-9\-._~+/]+=*)")
_URL_PASSWORD = re.compile(r"(?i)" + _START + r"[a-z][a-z0-9+.-]*://[^\s:/@]*:(?P<value>[^\s@/]+)@")
_SLACK_WEBHOOK = re.compile(r"(?i)https?://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<value>[A-Za-z0-9/_-]+)")
_DISCORD_WEBHOOK = re.compile(r"(?i)https?://(?:[a-z]+\.)?discord(?:app)?\.com/api/(?:v\d+/)?webhooks/(?P<value>\d+/[A-Za-z0-9._-]+)")
_JWT = re.compile(rf"{_START}(?:eyJ[A-Za-z0-9_-]{{4,}}\.eyJ[A-Za-z0-9_-]{{4,}}\.[A-Za-z0-9_-]*|eyJ[A-Za-z0-9_-]{{8,}}\.[A-Za-z0-9_-]{{8,}}\.[A-Za-z0-9_-]{{8,}})")
_KEY_SHAPES = re.compile(
    _START + r"(?:"
    r"sk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}"  # OpenAI, Anthropic
    r"|[rsp]k_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|gh[pousr]_[A-Za-z0-9]{20,}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}"  # AWS access key ids
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API keys
    r"|xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}"  # Slack
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}"  # Discord bot tokens
    r")(?![A-Za-z0-9_-])"
)
_PAIR = re.compile(
    rf"""(?i){_START}(?P<key>{_SECRET_KEY})(?P<sep>\\?["']?\s*(?:=|:)\s*(?:Some\()?)"""
    r"""(?:\\"(?P<edq>(?:[^"\\]|\\[^"])*)\\"|"(?P<dq>(?:[^"\\]|\\.)*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"'&,;)}\]\\]+))"""
)
_EMAIL = re.compile(r"(?:(?<![A-Za-z0-9._%+/-])|(?<=\\[ntr]))[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])")
_CARD = re.compile(r"(?:(?<![\w.-])|(?<=\\[ntr]))\d(?:[ -]?\d){12,18}(?![\w-])")


def redact_text(text: str, extra_patterns: Sequence[str] = ()) -> str:
    """``text`` redacted by a fresh :class:`Redactor` (placeholders numbered from 1)."""
    return Redactor(extra_patterns).redact(text)


__all__ = ["Redactor", "redact_text"]
