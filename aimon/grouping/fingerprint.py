"""Fingerprints: one stable id per kind of error, whatever ids, numbers or paths its occurrences carry.

A fingerprint hashes the algorithm version, the error's context (``error_code`` and ``target``; for a panic, the file
and line it panicked at) and its *template*: the message with every variable part masked as ``<*>``. Masking is a
fixed list of precompiled regexes over the whole message, wide shapes (URLs, paths, timestamps) before the catch-all
(any word holding a digit) so that one value becomes one placeholder; each guarded by a cheap test so that a message
pays only for the rules that can match it. User rules from ``aimon.toml`` run first: ``template`` fixes the template
of the messages a pattern matches, ``mask`` masks more.

What the masking cannot see (a user name, a host without digits) grouping learns from what it has seen
(:mod:`aimon.grouping.learned`); a learned merge is an alias, so an id once reported keeps answering
(:func:`aimon.state.groups.canonical`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from aimon.config import FingerprintRule
from aimon.errors import ConfigError
from aimon.model import LogRecord

# Part of every id: bump it whenever masking or hashing changes, so that ids of two versions never mix (rows keep the
# version that made them in `fingerprints.algo`).
ALGO_VERSION = 1
WILDCARD = "<*>"
# A message longer than this is cut before masking: its head says what the error is, and a huge line must stay cheap.
MAX_MESSAGE_CHARS = 4000
# A Rust Debug dump (`PeerInfo { node_ids: ... }`) keeps this many words, then `…`: its head names the kind of value,
# its tail is data.
DUMP_WORDS = 12
MAX_WORDS = 64
_ID_CACHE_SIZE = 65536

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
_CLOCK = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?"
# Top-level domains that make a dotted lowercase word a host name (Java packages and config keys stay words).
_TLDS = (
    "com|net|org|edu|gov|mil|int|io|dev|app|cloud|info|biz|local|localdomain|internal|lan|home|corp|"
    "us|uk|de|fr|nl|be|ch|at|it|es|pt|pl|cz|se|no|fi|dk|ru|ua|cn|jp|kr|tw|hk|sg|au|nz|ca|br|ar|mx|za|eu"
)
_UNITS = r"[kKMGTP]i?B|B|bytes?|ns|us|µs|ms|s|secs?|seconds?|mins?|minutes?|h|hours?|days?|[kMG]?Hz|%"

_ANY_MONTH_OR_DAY = re.compile(r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)")
_ANY_TLD = re.compile(rf"\.(?:{_TLDS})\b", re.IGNORECASE)
_ANY_DIGIT = re.compile(r"\d")


# Eight groups of hex digits, or fewer with one `::`, and at least one digit: `fe80::1ff:fe23:4567:890a`, `2001:db8::1`.
_IPV6 = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f:]*\d)(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
    r"|(?:[0-9A-Fa-f]{1,4}:){1,6}(?::[0-9A-Fa-f]{1,4}){1,6}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|::(?:[0-9A-Fa-f]{1,4}:?){1,7})"
    r"(?![\w:])"
)


def _has(needle: str, other: str | None = None) -> Callable[[str], bool]:
    if other is None:
        return lambda text: needle in text
    return lambda text: needle in text or other in text


def _finds(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda text: pattern.search(text) is not None


# (cheap test that the rule can match, rule, replacement): most messages skip most rules for the price of an `in`.
_MASKS: tuple[tuple[Callable[[str], bool], re.Pattern[str], str], ...] = (
    # Wide shapes first: their pieces would otherwise become several placeholders.
    (_has("://"), re.compile(r"(?<![\w>])[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'`<>()\[\]{}]+(?<![.,;:!?])"), WILDCARD),
    (_has("@"), re.compile(r"(?<![\w.+>-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), WILDCARD),
    # Absolute paths, Unix and Windows (`/var/lib/x`, `C:\data\x`); a lone `/` is not a path.
    (_has("/"), re.compile(r"(?<![\w/.:<>*-])(?:/[^\s/'\"`()\[\]{},;:<>]+)+/?"), WILDCARD),
    (_has(":\\"), re.compile(r"(?<![\w>])[A-Za-z]:\\[^\s'\"`()\[\]{},;:<>]*"), WILDCARD),
    (
        _has("-"),
        re.compile(rf"(?<![\w>])\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]{_CLOCK}(?:Z|[+-]\d{{2}}:?\d{{2}}\b)?)?"),
        WILDCARD,
    ),
    (
        _finds(_ANY_MONTH_OR_DAY),
        re.compile(rf"(?<![\w>])(?:{_DAY},?\s+)?{_MONTH}\s+\d{{1,2}},?(?:\s+{_CLOCK})?(?:\s+\d{{4}}\b)?"),
        WILDCARD,
    ),
    (
        _finds(_ANY_MONTH_OR_DAY),
        re.compile(rf"(?<![\w>]){_DAY},?\s+\d{{1,2}}\s+{_MONTH}\s+\d{{4}}(?:\s+{_CLOCK})?"),
        WILDCARD,
    ),
    (
        lambda text: text.count("-") >= 4,
        re.compile(r"(?<![\w>])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
        WILDCARD,
    ),
    # MAC and IPv6 addresses are one value each, not hex pieces around a masked middle (`FF:<*>:DC`).
    (
        lambda text: text.count(":") >= 5 or text.count("-") >= 5,
        re.compile(r"(?<![\w:.-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![\w:-])"),
        WILDCARD,
    ),
    (_has("::", ":"), _IPV6, WILDCARD),
    # A relative path of several parts with a number in it (`nodes/cn304/pkts.rrd`) is one value, whatever the part
    # holding the number looks like.
    (_has("/"), re.compile(r"(?<![\w/.:<>*-])(?=[^\s/]*\d|[^\s]*/[^\s/]*\d)[\w.-]+(?:/[\w.-]+){2,}/?"), WILDCARD),
    # The quoted value of a `key="..."` field is data, whatever it holds (user text, spaces and all).
    (_has('="', "='"), re.compile(r"""(?<=\w=)(["'])(?:(?!\1).)*\1(?=[\s,;)\]}]|$)"""), rf"\1{WILDCARD}\1"),
    # A quoted value without spaces is data; a quoted sentence keeps its words (and masks what varies in them), and so
    # does a quoted name (`'Active'`, `"Inactive"`): a state or enum variant, a constant unless grouping sees many.
    (_has("'", '"'), re.compile(r"(?<![\w>])(['\"])(?![A-Z][a-z]+\1)[^'\"\s]+\1"), rf"\1{WILDCARD}\1"),
    (_finds(_ANY_TLD), re.compile(rf"(?<![\w.>-])(?:[a-z0-9-]+\.)+(?:{_TLDS})(?![\w-]|\.\w)", re.IGNORECASE), WILDCARD),
    # An empty value standing alone (`()`, `[]`, `''`), not a call like `clear()`.
    (_has("()"), re.compile(r"(?<!\S)\(\)"), f"({WILDCARD})"),
    (_has("[]"), re.compile(r"(?<!\S)\[\]"), f"[{WILDCARD}]"),
    (_has("''", '""'), re.compile(r"(?<!\S)(['\"])\1"), rf"\1{WILDCARD}\1"),
    # Anything that holds a digit, with its unit when one follows: numbers, ids, IPs, hex, versions, `user7`, and
    # durations or sizes (`12ms`, `1.5 s`, `93.0 B`).
    (
        _finds(_ANY_DIGIT),
        re.compile(
            rf"(?<![\w.+\-@$])(?![A-Za-z]{{2,}}\d{{1,3}}(?![\w.+\-@$]))(?:\d+(?:\.\d+)? (?:{_UNITS})(?!\w)|[\w.+\-@$]*\d[\w.+\-@$]*)"
        ),
        WILDCARD,
    ),
    # One value written in pieces (`10.0.0.1:80`, `12:30`, `1##2##3`) is one placeholder, and so is a list of values.
    (_has(WILDCARD), re.compile(r"<\*>(?:(?:[^\s\w<>\"'`()\[\]{}]{1,3}| )?<\*>)+"), WILDCARD),
)
_DUMP_OPEN = re.compile(r"[A-Za-z_][\w:]* \{ ")
# Where a panicking file lives on the build machine is noise; the part from the crate on is what the code calls it.
_LOCATION_PREFIXES = (
    re.compile(r"^.*/rustc/[0-9a-f]+/"),
    re.compile(r"^.*/\.cargo/registry/src/[^/]+/"),
    re.compile(r"^.*/\.cargo/git/checkouts/[^/]+/[^/]+/"),
    re.compile(r"^/.*?/(?=(?:[^/]+/)src/)"),
)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The identity of one kind of error: ``id`` (16 hex chars), the masked ``template``, the ``algo`` version.

    ``masked`` is the template as masking made it, before learned grouping gave the record its group's (the evidence
    grouping learns from); empty when it is ``template``.
    """

    id: str
    template: str
    algo: int = ALGO_VERSION
    masked: str = ""


def fingerprint_id(context: tuple[str, ...], template: str) -> str:
    """A 16-hex-char id of the algorithm version, a context and a template (the same in every process)."""
    text = "\x1f".join((str(ALGO_VERSION), *context, template))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def mask(message: str) -> str:
    """``message`` with every variable part replaced by ``<*>`` and whitespace normalised (idempotent)."""
    text = " ".join(message[:MAX_MESSAGE_CHARS].split())
    # A placeholder can complete a shape that an earlier rule looks for (`<*>":"`): repeat until nothing changes.
    for _ in range(4):
        masked = _mask_once(text)
        if masked == text:
            break
        text = masked
    if " { " in text:
        text = _truncate_dumps(text)
    words = text.split(" ")
    if len(words) > MAX_WORDS:
        words = [*words[:MAX_WORDS], "…"]
    return " ".join(words)


_DIGITS_AS_ZERO = str.maketrans("123456789", "000000000")
# Any letter followed by a digit might be (or become, once its neighbours are masked) a name like `ipv6`.
_MAYBE_NAME_WITH_DIGITS = re.compile(r"[A-Za-z]\d")


def fold_digits(message: str) -> str:
    """``message`` with its digits made alike when that cannot change its template, else ``message`` itself.

    Masking sees a digit only as a digit, except in a name such as ``ipv6`` or ``http2`` (letters then digits), which
    keeps its digits: so folding is exact unless a letter is followed by a digit. ``mask(fold_digits(m)) == mask(m)``
    always; use it as a cache key.
    """
    if _MAYBE_NAME_WITH_DIGITS.search(message) is not None:
        return message
    return message.translate(_DIGITS_AS_ZERO)


@lru_cache(maxsize=16384)
def _cached_mask(text: str) -> str:
    return mask(text)


def _mask_once(text: str) -> str:
    for applies, pattern, replacement in _MASKS:
        if applies(text):
            text = pattern.sub(replacement, text)
    return " ".join(text.split())


def _truncate_dumps(text: str) -> str:
    """Keep the head of every top-level Rust Debug struct dump (`Name { field: value, ... }`)."""
    parts: list[str] = []
    pos = 0
    while (found := _DUMP_OPEN.search(text, pos)) is not None:
        close = _matching_brace(text, found.end() - 2)
        if close is None:
            break
        inner = text[found.end() : close].split(" ")
        if len(inner) > DUMP_WORDS and "…" not in inner:
            kept = " ".join(inner[:DUMP_WORDS])
            # Close what the cut left open, so that the template reads (and masks again) as one dump.
            depth = kept.count("{") - kept.count("}")
            parts.append(text[pos : found.end()] + kept + " …" + " }" * max(depth, 0) + " }")
        else:
            parts.append(text[pos : close + 1])
        pos = close + 1
    parts.append(text[pos:])
    return "".join(parts)


def _matching_brace(text: str, start: int) -> int | None:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def panic_location(file: str | None, line: int | None) -> str:
    """``file:line`` of a panic, the file made independent of the machine that built it (the column is left out)."""
    if not file:
        return ""
    path = file.replace("\\", "/")
    for prefix in _LOCATION_PREFIXES:
        path = prefix.sub("", path, count=1)
    return f"{path}:{line}" if line is not None else path


def context_key(context: tuple[str, ...]) -> str:
    """A context as one string (how the state file stores it)."""
    return "\x1f".join(context)


def context_of(record: LogRecord) -> tuple[str, ...]:
    """What besides the template tells errors apart: error code and target, or where a panic happened."""
    if record.is_panic:
        return ("panic", panic_location(record.file, record.line))
    return ("event", record.error_code or "", record.target or "")


def _literal(text: str) -> Callable[[re.Match[str]], str]:
    return lambda _match: text


class LearnedGroups(Protocol):
    """What grouping has learned (:class:`aimon.grouping.learned.Learned`), as the fingerprinter asks it."""

    def lookup(self, own: str, context: tuple[str, ...], template: str) -> tuple[str, str] | None:
        """``(canonical id, template)`` of the learned group that ``own``/``template`` belongs to, if any."""
        ...


class Fingerprinter:
    """Turns records into fingerprints: user rules, then the built-in masking, then what grouping has learned.

    ``learned`` (from :func:`aimon.grouping.learned.load_learned`) holds the merges recorded in the state file, so a record
    gets the canonical id of its group directly.
    """

    def __init__(self, rules: Sequence[FingerprintRule] = (), learned: LearnedGroups | None = None) -> None:
        self._rules: list[tuple[re.Pattern[str], FingerprintRule]] = []
        for rule in rules:
            try:
                self._rules.append((re.compile(rule.pattern), rule))
            except re.error as exc:
                raise ConfigError(
                    f"[[fingerprint.rules]] pattern {rule.pattern!r} is not a valid regular expression ({exc}). "
                    "Fix it in aimon.toml."
                ) from None
        self.fixed_templates = frozenset(rule.template for rule in rules if rule.template is not None)
        self.learned = learned
        self._ids: dict[tuple[tuple[str, ...], str], str] = {}

    def template(self, message: str) -> str:
        """The masked template of ``message`` (user rules applied first)."""
        text = message
        for pattern, rule in self._rules:
            if rule.template is not None and pattern.search(message):
                return rule.template
            if rule.template is None:
                # The mask is literal text, not a regex replacement template.
                text = pattern.sub(_literal(WILDCARD if rule.mask is None else rule.mask), text)
        # Messages that differ only in their numbers share one cache entry.
        return _cached_mask(fold_digits(text))

    def of(self, record: LogRecord) -> Fingerprint:
        """The fingerprint of one record (the canonical one when a learned merge covers it)."""
        template = self.template(record.message)
        context = context_of(record)
        key = (context, template)
        own = self._ids.get(key)
        if own is None:
            if len(self._ids) >= _ID_CACHE_SIZE:
                self._ids.clear()
            own = self._ids[key] = fingerprint_id(context, template)
        if self.learned is not None and template not in self.fixed_templates:
            found = self.learned.lookup(own, context, template)
            if found is not None:
                return Fingerprint(found[0], found[1], masked=template)
        return Fingerprint(own, template)

