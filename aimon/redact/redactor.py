"""The redactor: every detector proposes spans over the original text, the first detector to claim a character wins,
and each claimed span becomes its placeholder in one pass.

Working on spans of the original text, not pass after pass over a text that already holds placeholders, is what
keeps a placeholder from being read as a secret (``<secret:password#1>`` holds ``secret:``), keeps the structure around
a value (only the value is a span), and costs one scan per detector and one rewrite.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from aimon.redact.placeholders import IP_MODES, Numbering, Span, is_placeholder, placeholder_spans

Detector = Callable[[str], Iterable[Span]]


@functools.cache
def _built_in() -> tuple[Detector, ...]:
    """The built-in detectors, in the order they claim text. Imported on first use: compiling their patterns costs
    tens of milliseconds, which a scan with nothing new (or a command that sends nothing) never pays.

    Specific shapes before generic ones: a JWT inside ``token=…`` is named a JWT, a URL's password is masked as part
    of the URL, not as the value of a ``dsn=`` pair that would swallow the host too."""
    from aimon.redact import code, forms, shapes

    return (
        shapes.private_keys,
        shapes.webhooks,
        shapes.tokens,
        shapes.url_passwords,
        shapes.headers,
        shapes.bearer_and_basic,
        code.source_literals,
        code.markup,
        code.kubernetes_data,
        forms.command_lines,
        forms.prose,
        forms.pairs,
        forms.environment,
        forms.named_entropy,
        shapes.bare_aws_secrets,
    )


@functools.cache
def _personal(emails: bool, ips: str) -> tuple[Detector, ...]:
    """The personal-data detectors the settings ask for (imported on first use, like the built-in ones)."""
    from aimon.redact import personal

    chosen: list[Detector] = [personal.emails] if emails else []
    if ips != "none":
        chosen.append(functools.partial(personal.ips, mode=ips))
    return (*chosen, personal.cards)


class _Claims:
    """The spans claimed so far, sorted and disjoint."""

    def __init__(self, reserved: Iterable[tuple[int, int]]) -> None:
        self.starts: list[int] = []
        self.spans: list[tuple[int, int, str | None]] = []
        for start, end in reserved:
            self.claim(start, end, None)

    def claim(self, start: int, end: int, kind: str | None) -> None:
        """Take ``start:end`` unless any character of it is taken already."""
        if start >= end:
            return
        index = bisect.bisect_right(self.starts, start)
        if index and self.spans[index - 1][1] > start:
            return
        if index < len(self.spans) and self.spans[index][0] < end:
            return
        self.starts.insert(index, start)
        self.spans.insert(index, (start, end, kind))


class Redactor:
    """Masks secrets and personal data; one instance gives one consistent numbering (use one per prompt/message).

    ``extra_patterns`` are the user's regexes (group 1 when the regex has a group, else the whole match), applied
    before the built-in detectors; ``emails`` and ``ips`` (``none`` | ``public`` | ``all``) choose the personal data.
    """

    def __init__(self, extra_patterns: Sequence[str] = (), *, emails: bool = True, ips: str = "public") -> None:
        if ips not in IP_MODES:
            raise ValueError(f"ips={ips!r}: expected one of {', '.join(IP_MODES)}")
        self._numbering = Numbering()
        user = [re.compile(pattern) for pattern in extra_patterns]
        self._detectors: list[Detector] = [*(_user_detector(pattern) for pattern in user), *_built_in(), *_personal(emails, ips)]

    # -- public -----------------------------------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with every secret and every chosen kind of personal data replaced by its placeholder."""
        if not text:
            return text
        existing = placeholder_spans(text)
        if existing:
            self._numbering.number_after(text)
        claims = _Claims(existing)
        for detector in self._detectors:
            for start, end, kind in detector(text):
                claims.claim(start, end, kind)
        return self._rewrite(text, claims.spans)

    def redact_obj(self, obj: Any) -> Any:
        """A copy of JSON-ready data with every string redacted; values under secret-looking keys masked whole."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {self.redact(key) if isinstance(key, str) else key: self._value_under(key, value) for key, value in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.redact_obj(item) for item in obj]
        return obj

    def placeholder(self, kind: str, value: str) -> str:
        """The placeholder of ``value`` (the same one every time this instance sees it); ``kind`` as in
        ``<secret:KIND#N>``, or ``email``/``card``/``ip``."""
        return self._numbering.placeholder(kind if kind in ("email", "card", "ip") else f"secret:{kind}", value)

    def number_after(self, text: str) -> None:
        """Number new placeholders after those already in ``text`` (a text another instance masked)."""
        self._numbering.number_after(text)

    @property
    def masked_count(self) -> int:
        """How many distinct values this instance has masked so far."""
        return self._numbering.count

    # -- inside -----------------------------------------------------------------------------------------------------

    def _value_under(self, key: Any, value: Any) -> Any:
        """A scalar under a secret-like key is masked whole, unless it says nothing; anything else is redacted."""
        from aimon.redact import forms

        scalar = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        if not (isinstance(key, str) and forms.SECRET_KEY_RE.match(key) and scalar):
            return self.redact_obj(value)
        text = str(value)
        if is_placeholder(text) or forms.keeps(key, text, quoted=True, colon=False):
            return self.redact(value) if isinstance(value, str) else value
        return self.placeholder(forms.kind_of(key), text)

    def _rewrite(self, text: str, spans: Sequence[tuple[int, int, str | None]]) -> str:
        parts: list[str] = []
        position = 0
        for start, end, kind in spans:
            if kind is None:  # a placeholder that was there already
                continue
            value = text[start:end]
            parts.append(text[position:start])
            parts.append(self.placeholder(kind, re.sub(r"[ -]", "", value) if kind == "card" else value))
            position = end
        parts.append(text[position:])
        return "".join(parts)


def _user_detector(pattern: re.Pattern[str]) -> Detector:
    """A user's pattern as a detector: its first group is the secret when it has one, else the whole match."""
    group = 1 if pattern.groups else 0

    def detect(text: str) -> Iterator[Span]:
        for match in pattern.finditer(text):
            if match.group(group):
                yield match.start(group), match.end(group), "custom"

    return detect


def redact_text(text: str, extra_patterns: Sequence[str] = (), **options: Any) -> str:
    """``text`` redacted by a fresh :class:`Redactor` (placeholders numbered from 1)."""
    return Redactor(extra_patterns, **options).redact(text)
