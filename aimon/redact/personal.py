"""Personal data: e-mail addresses, IP addresses and card numbers, each masked as its own kind (``<email#1>``).

E-mail addresses are masked unless the settings say otherwise; IP addresses by default only when they are public
(a client's address is personal data, ``10.0.3.7`` or ``127.0.0.1`` is the service's own network and tells the
reader which host failed). An SSH git remote (``git@github.com:org/repo.git``) is an address of a repository, not of a
person, and stays.
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Iterator

from aimon.redact.placeholders import IP_MODES, Span
from aimon.redact.shapes import starts_token

__all__ = ["IP_MODES", "cards", "emails", "ips"]


_EMAIL = re.compile(
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
    r"(?![A-Za-z0-9-]|\.[A-Za-z0-9-])(?!:[A-Za-z0-9~_./-])"
)
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?!\.?\w)")
_IPV6 = re.compile(r"[0-9A-Fa-f:]{3,39}(?![\w:])")  # a run of hex digits and colons; ipaddress decides
_CARD = re.compile(r"\d(?:[ -]?\d){12,18}(?![\w-])")
_LOCAL_CHARS = frozenset(string.ascii_letters + string.digits + "._%+-")
_WORD_CHARS = frozenset(string.ascii_letters + string.digits + "_")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|6(?:011|5|4[4-9]|22)|35)")
# Discord mentions (<@USER>, <@!USER>, <@&ROLE>, <#CHANNEL>) carry ids, not card numbers.
_MENTION_BEFORE = ("<@&", "<@!", "<@", "<#")


def emails(text: str) -> Iterator[Span]:
    """E-mail addresses (not SSH git remotes)."""
    if "@" not in text:
        return
    end = 0
    for at in re.finditer("@", text):
        start = at.start()
        while start > end and text[start - 1] in _LOCAL_CHARS:
            start -= 1
        match = _EMAIL.match(text, start)
        if match is not None and starts_token(text, start, _LOCAL_CHARS | {"/"}):
            end = match.end()
            yield match.start(), match.end(), "email"


def ips(text: str, mode: str) -> Iterator[Span]:
    """IPv4 and IPv6 addresses: every one (``all``) or those on the public internet (``public``)."""
    if mode == "none":
        return
    for pattern, before in ((_IPV4, _WORD_CHARS | {"."}), (_IPV6, _WORD_CHARS | {":", "."})):
        for match in pattern.finditer(text):
            if (match.start() and text[match.start() - 1] in before) or (pattern is _IPV6 and match.group(0).count(":") < 2):
                continue
            if _masked_ip(match.group(0), mode):
                yield match.start(), match.end(), "ip"


def _masked_ip(candidate: str, mode: str) -> bool:
    if ":" in candidate and (candidate.count(":") < 2 or not re.search(r"\d", candidate)):
        return False  # ``auth::verify``, ``add::feed``: Rust paths, not addresses
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return mode == "all" or address.is_global


def cards(text: str) -> Iterator[Span]:
    """Card numbers: 13 to 19 digits with a card issuer's prefix that pass the Luhn check."""
    for match in _CARD.finditer(text):
        if not starts_token(text, match.start(), _WORD_CHARS | {".", "-"}):
            continue
        digits = re.sub(r"[ -]", "", match.group(0))
        if not 13 <= len(digits) <= 19 or not _CARD_PREFIX.match(digits) or not _luhn_ok(digits):
            continue
        if text.endswith(_MENTION_BEFORE, 0, match.start()) and text.startswith(">", match.end()):
            continue
        yield match.start(), match.end(), "card"


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
