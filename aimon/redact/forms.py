"""Secrets recognisable by what names them: ``key=value`` pairs in every notation, prose (``with password '…'``,
``IDENTIFIED BY '…'``), command lines (``--password x``, ``-p'x'``, ``curl -u user:pw``), environment files
(``SECRET_KEY=…``) and high-entropy strings right after a secret-like name. Source code, markup and manifests have
their own module, :mod:`aimon.redact.code`.

The name decides and the value vetoes: a value that says nothing (``null``, ``true``, a word of prose after a colon,
``ExpiredSignature``, a count after ``pass=``, a path after ``PWD=``) is left readable; so is a name that is a Rust path
or a tracing target (``password::Config``, ``auth::verify_token: …``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator

from aimon.redact.shapes import START, Span, entropy, hinted, lowered, says_nothing, starts_token

# Key names whose value is a secret. Long words may end a longer key (``db_password``, ``x-auth-token``); short words
# only count as a whole segment (``pass``, not ``bypass``).
_STRONG = (
    r"(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|secret[_-]?key"
    r"|account[_-]?key|shared[_-]?access[_-]?key|(?:encryption|signing|master|hmac|jwt|client|license|crypt|aes|app|auth)[_-]?key"
    r"|credentials?|authorization|cookie|session[_-]?(?:id|key|token)|sessionid|jsessionid|phpsessid|signature|salt)"
)
_AMBIGUOUS = r"(?:pass|pwd|pw|auth|sig|sid|session)"
SECRET_KEY = rf"(?:[A-Za-z0-9_.-]*{_STRONG}|(?:[A-Za-z0-9_.-]*[_.-])?{_AMBIGUOUS})"
SECRET_KEY_RE = re.compile(rf"^{SECRET_KEY}$", re.IGNORECASE)
AMBIGUOUS_RE = re.compile(rf"^(?:[A-Za-z0-9_.-]*[_.-])?{_AMBIGUOUS}$", re.IGNORECASE)
_WORD = re.compile(r"(?:[A-Z]+|(?:[A-Za-z][a-z]+|[a-z]+)(?:[A-Z][a-z]+)*(?:[-_ ][A-Za-z][a-z]+)*)[.,;:!?]?")
_PATH = re.compile(r"^(?:/|~/|\./|\.\./|[A-Za-z]:\\)")
_QUOTED_VALUE = r"""(?:\\"(?P<edq>(?:[^"\\]|\\[^"])*)\\"|"(?P<dq>(?:[^"\\\n]|\\.)*)"|'(?P<sq>[^'\n]*)')"""
_BARE_VALUE = r"""(?P<bare>[^\s"'&,;(){}\[\]\\<>][^\s"'&,;()}\]\\<>]*)"""
_PAIR = re.compile(
    rf"""(?i){START}(?<!::)(?P<key>{SECRET_KEY})(?P<sep>\\?["']?[ \t]*(?:=>|=|:(?!:))[ \t]*(?:Some\()?)(?:{_QUOTED_VALUE}|{_BARE_VALUE})"""
)
_ENV_BEFORE = frozenset(string.ascii_letters + string.digits + "_.-")
_PAIR_HINT = re.compile(
    r"""(?:password|passwd|passphrase|secret|token|key|credentials?|authorization|cookie|session[_.-]?id|signature|salt|pass|pwd|pw"""
    r"""|auth|sig|sid|session)\\?["']?[ \t]*(?:=>|=|:(?!:))"""
)
_KEY_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_PROSE_HINT = re.compile(r"identified|password|passwd|passphrase")
_PROSE = re.compile(
    r"""(?i)(?<![\w.-])(?<!::)(?:(?P<sql>identified\s+by(?:\s+password)?)|(?P<word>password|passwd|passphrase))(?:\s+(?:is\s+|was\s+|of\s+)?|\(\s*(?=\\?['"]))"""
    r"""(?:\\?(?P<q>["'`])(?P<quoted>[^"'`\n\\]{1,200})\\?(?P=q)|(?P<bare>[^\s"'`\\]+))"""
)
# A long flag that ends with a secret word (``--password``, ``--http-password``, ``--api-key``), or the single-dash
# password flags of keytool and openssl (``-storepass x``, ``-passin pass:x``).
_CLI = re.compile(
    r"""(?i)(?:--(?:[a-z0-9]+-)*(?:password|passwd|pass|pwd|token|secret|api-key|apikey|private-key)"""
    r"""|-(?:store|key|src|dest|srcstore|deststore|new)?pass(?:word)?|-pass(?:in|out)[ \t]+(?:pass:)?)"""
    r"""(?:=|[ \t]+|(?<=:))(?:\\?(?P<q>["'])(?P<quoted>[^"'\n\\]*)\\?(?P=q)|(?P<bare>[^\s"'\\-][^\s"'\\]*))"""
)
_DASH_P_QUOTED = re.compile(r"""-p\\?(?P<q>["'])(?P<value>[^"'\n\\]+)\\?(?P=q)""")
# An unquoted ``-p x`` is a password only for tools that take one there (``ssh -p 22`` is a port, ``mkdir -p`` a flag).
_DASH_P_TOOL = re.compile(
    r"""(?:sshpass|mysql\w*|mariadb\w*|mongo\w*|mongosh|redis-cli|docker\s+login|ldap\w*)\b[^\n]*?(?<![\w-])-(?:p|a|w)[ \t]*"""
    r"""(?P<value>[^\s"'\\-][^\s"'\\]*)"""
)
_USER_COLON = re.compile(r"""(?:-u|--user|--proxy-user)[ \t=]*\\?["']?[^\s:"'\\]+:(?P<value>[^\s"'\\]+)""")
_ENV = re.compile(
    r"""(?P<name>[A-Z][A-Z0-9_]*(?:_KEY|_SALT|_PEPPER|_DSN)|[A-Z0-9_]*SECRET[A-Z0-9_]*)[ \t]*[:=][ \t]*"""
    rf"""(?:{_QUOTED_VALUE}|{_BARE_VALUE})"""
)
_NAMED_HINT = re.compile(r"secret|token|key|password|passwd|credential|signature|salt")
_NAMED_ENTROPY = re.compile(
    r"""(?i)(?P<name>secret|token|key|password|passwd|credential|signature|salt)"""
    r"""(?:\s+(?:is|was|of|for\s+\S+))?[ \t]*[:=]?[ \t]+["'`]?(?P<value>[A-Za-z0-9+/=_.~-]{16,})"""
)
_CALLEE = re.compile(r"[A-Za-z_][A-Za-z_:.]*")  # a function name (no digits), as in ``token = parse_token(…)``
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_VALUE_GROUPS = ("dq", "edq", "sq", "bare")
_KINDS = (("pass", "password"), ("pwd", "password"), ("pw", "password"), ("cookie", "cookie"), ("sess", "session"),
          ("sid", "session"), ("token", "token"), ("key", "key"), ("auth", "authorization"), ("sig", "signature"), ("secret", "secret"))


def kind_of(name: str) -> str:
    """The placeholder kind a secret's name suggests."""
    lowered = name.lower()
    if "api" in lowered and "key" in lowered:
        return "api-key"
    # The word nearest the end names it: ``AWS_SESSION_TOKEN`` is a token, ``session_id`` a session.
    found = [(lowered.rfind(word), kind) for word, kind in _KINDS if word in lowered]
    return max(found)[1] if found else "secret"


def word_like(value: str) -> bool:
    """Prose, an error name or a flag, not a secret (``expired``, ``ExpiredSignature``, ``not-set``)."""
    return _WORD.fullmatch(value) is not None


def pairs(text: str) -> Iterator[Span]:
    """``key=value``, ``key: value``, ``"key":"value"``, ``key => value`` under a secret-like key."""
    for match in _pair_matches(text):
        name = _value_group(match)
        value, key, sep = match.group(name), match.group("key"), match.group("sep")
        if name == "bare" and text.startswith("(", match.end(name)) and _CALLEE.fullmatch(value):
            continue  # ``let token = parse_token(&header)?``: a call, not a value
        if says_nothing(value, text, match.start(name)) or keeps(key, value, quoted=name != "bare", colon=":" in sep and "=" not in sep):
            continue
        yield match.start(name), match.end(name), kind_of(key)
        if name != "bare":  # a key/value inside that value is found even if this one is not masked (a placeholder in it)
            yield from _shifted(pairs(value), match.start(name))


def _value_group(match: re.Match[str]) -> str:
    """Which of the value notations (double-quoted, escaped, single-quoted, bare) matched."""
    return next(group for group in _VALUE_GROUPS if match.group(group) is not None)


def _pair_matches(text: str) -> Iterator[re.Match[str]]:
    """The pairs of ``text``, found from their secret word and separator (a scan for a few words is much faster than
    trying a key pattern at every position), then matched from the start of the key."""
    end = 0
    for hint in _PAIR_HINT.finditer(lowered(text)):
        start = hint.start()
        if start < end:
            continue
        while start > end and text[start - 1] in _KEY_CHARS:
            start -= 1
        # The longest key that matches, as a scan from the left would find it (``::.pass=`` starts at ``pass``).
        match = next((found for at in range(start, hint.start() + 1) if (found := _PAIR.match(text, at))), None)
        if match is not None:
            end = match.end()
            yield match


def keeps(key: str, value: str, *, quoted: bool, colon: bool) -> bool:
    """The value under this secret-like key says nothing secret (or the key is not one here)."""
    if says_nothing(value):
        return True
    if AMBIGUOUS_RE.match(key) and (value.isdigit() or _PATH.match(value) or (word_like(value) and len(value) < 12 and not quoted)):
        return True  # ``pass=128``, ``PWD=/srv/app``, ``auth=required``
    if not quoted and colon:
        return len(value) < 4 or word_like(value)  # ``token: expired``, ``token: ExpiredSignature``
    return False


def _shifted(spans: Iterator[Span], offset: int) -> Iterator[Span]:
    for start, end, kind in spans:
        yield start + offset, end + offset, kind


def prose(text: str) -> Iterator[Span]:
    """``with password 'hunter2'``, ``password is hunter2!``, ``IDENTIFIED BY '…'``."""
    for match in hinted(_PROSE_HINT, _PROSE, text):
        group = "quoted" if match.group("quoted") is not None else "bare"
        value = match.group(group).rstrip(".,;:)")
        if value and not (group == "bare" and _prose_word(value, text, match.start(group), sql=bool(match.group("sql")))):
            yield match.start(group), match.start(group) + len(value), "password"


def _prose_word(value: str, text: str, start: int, *, sql: bool) -> bool:
    """An unquoted word after "password" that is prose (``password expired``, ``password for``, ``password=…``)."""
    if says_nothing(value, text, start) or word_like(value) or "=" in value or not re.search(r"\w", value):
        return True
    return value.isdigit() and not sql


def command_lines(text: str) -> Iterator[Span]:
    """``--password x``, ``-p'x'``, ``sshpass -p x``, ``mysql -uroot -px``, ``curl -u user:pw``."""
    if "-" not in text:
        return
    for match in _CLI.finditer(text):
        group = "quoted" if match.group("quoted") is not None else "bare"
        value = match.group(group)
        if starts_token(text, match.start()) and value and not says_nothing(value, text, match.start(group)):
            flag = match.group(0)[: match.start(group) - match.start()]
            yield match.start(group), match.end(group), "password" if "pass" in flag.lower() or "pwd" in flag.lower() else kind_of(flag)
    for pattern in (_DASH_P_QUOTED, _DASH_P_TOOL):
        for match in pattern.finditer(text):
            if starts_token(text, match.start()) and not says_nothing(match.group("value"), text, match.start("value")):
                yield match.start("value"), match.end("value"), "password"
    for match in _USER_COLON.finditer(text):
        if starts_token(text, match.start()) and not match.group("value").isdigit():  # ``docker run -u 1000:1000`` is a uid:gid
            yield match.start("value"), match.end("value"), "password"


def environment(text: str) -> Iterator[Span]:
    """``SECRET_KEY=…``, ``ENCRYPTION_KEY=…``, ``JWT_SECRET: …`` (an environment name says what its value is)."""
    for match in _ENV.finditer(text):
        if not starts_token(text, match.start(), _ENV_BEFORE):
            continue
        group = _value_group(match)
        value, name = match.group(group), match.group("name")
        if says_nothing(value, text, match.start(group)) or ("SECRET" not in name and (word_like(value) or len(value) < 8)):
            continue
        yield match.start(group), match.end(group), kind_of(name)


def named_entropy(text: str) -> Iterator[Span]:
    """A high-entropy string right after a secret-like name in prose (``signing key 3q2+7wZ…``)."""
    for match in hinted(_NAMED_HINT, _NAMED_ENTROPY, text):
        value = match.group("value").rstrip(".")
        classes = sum(bool(re.search(pattern, value)) for pattern in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[+/=_.~-]"))
        if _UUID.match(value) or classes < 2 or word_like(value) or entropy(value) < 3.5:
            continue
        yield match.start("value"), match.start("value") + len(value), kind_of(match.group("name"))
