"""Which file names are rotations of a log: the names logrotate and the common appenders really give them.

For ``NAME`` = ``app.log`` (``STEM`` = ``app``, ``EXT`` = ``log``), a rotation is, optionally compressed
(``.gz`` is read; ``.xz``, ``.bz2``, ``.zst``, ``.lz4`` are recognised and left)::

    app.log.1  app.log.2.gz                         numbered: logrotate, delaycompress, most size-based appenders
    app.1.log  app.2.log.gz                         numbered, extension kept: logrotate's ``extension .log``
    app.log-20261124  app.log-2026112413            dated: logrotate's ``dateext`` (``dateformat`` -%Y%m%d[%H])
    app.log.2026-11-24  app.log.2026-11-24-13       dated: tracing-appender daily / hourly (``NAME.%Y-%m-%d[-%H]``),
    app.log.2026-11-24.1  app.log.2026-11-24_13     log4j/logback with an index, Python's TimedRotatingFileHandler
    app-20261124.log  app.2026-11-24.log            dated, extension kept: ``dateext`` + ``extension``,
                                                    tracing-appender's builder with ``filename_suffix("log")``

A date is digits only (``YYYYMMDD[HH[MM[SS]]]`` or ``YYYY-MM-DD`` with an optional ``-HH[-MM[-SS]]`` or ``_HH…``),
optionally followed by logrotate's ``-%s`` seconds or an index ``.N``. Anything else is another file:
``app-worker.log`` and ``app-worker.log.1`` beside ``app.log``, ``api-access.log`` beside ``api.log``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

COMPRESSIONS = ("gz", "xz", "bz2", "zst", "lz4")
READABLE_COMPRESSIONS = ("gz",)

_NUMBER = r"\d{1,5}"
_DATE = r"(?:\d{8}(?:\d{2}){0,3}|\d{4}-\d{2}-\d{2}(?:[-_]\d{2}(?:-\d{2}){0,2})?)(?:-\d{9,10})?(?:\.\d{1,5})?"
_DATE_SEP = r"[-._]"
_COMPRESSED = r"(?:\.(?P<compression>" + "|".join(COMPRESSIONS) + r"))?"


@lru_cache(maxsize=4096)
def _shapes(base: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    name = re.escape(base)
    shapes = [("numbered", rf"{name}\.{_NUMBER}"), ("dated", rf"{name}{_DATE_SEP}{_DATE}")]
    stem, dot, ext = base.rpartition(".")
    if dot and stem and ext:  # the extension kept at the end (a hidden ``.name`` has no stem: no such shape)
        stem_re, ext_re = re.escape(stem), re.escape(ext)
        shapes += [("numbered", rf"{stem_re}\.{_NUMBER}\.{ext_re}"), ("dated", rf"{stem_re}{_DATE_SEP}{_DATE}\.{ext_re}")]
    return tuple((kind, re.compile(pattern + _COMPRESSED)) for kind, pattern in shapes)


def rotation_kind(name: str, base: str) -> tuple[str, str | None] | None:
    """``("numbered" | "dated", compression or None)`` when the file name ``name`` is a rotation of ``base``, else None.

    >>> rotation_kind("app.log.2.gz", "app.log")
    ('numbered', 'gz')
    >>> rotation_kind("app-worker.log", "app.log") is None
    True
    """
    if name == base or not _may_be_rotation(name, base):
        return None
    for kind, pattern in _shapes(base):
        match = pattern.fullmatch(name)
        if match is not None:
            return kind, match.group("compression")
    return None


def _stem(base: str) -> str:
    return base.rpartition(".")[0] or base


def _may_be_rotation(name: str, base: str) -> bool:
    # Every shape starts with ``base`` or its stem and then ``.``, ``-`` or ``_``: most names of a folder are told
    # apart by that alone, without a regular expression.
    for prefix in (base, _stem(base)):
        if len(name) > len(prefix) and name[len(prefix)] in ".-_" and name.startswith(prefix):
            return True
    return False


def rotations_among(names: Iterable[str]) -> set[str]:
    """The names that are a rotation of another name among ``names`` (``app.log.1`` beside ``app.log``).

    Linear in the names, not in their pairs: a name is compared only with the names whose stem (or whole name) is
    one of its prefixes up to a ``.``, ``-`` or ``_`` (a folder of 200 logs would otherwise compare 40,000 pairs).
    """
    names = set(names)
    by_prefix: dict[str, list[str]] = {}
    for base in names:
        for prefix in {base, _stem(base)}:
            by_prefix.setdefault(prefix, []).append(base)
    return {
        name for name in names
        if any(is_rotation_name(name, base)
               for cut, char in enumerate(name) if char in ".-_" for base in by_prefix.get(name[:cut], ()))
    }


def is_rotation_name(name: str, base: str) -> bool:
    """Whether the file name ``name`` is one a rotation of ``base`` has (see the module docstring)."""
    return rotation_kind(name, base) is not None


def is_near_name(name: str, base: str) -> bool:
    """A name that starts like ``base``'s (its stem, then ``.``, ``-`` or ``_``) and is not its rotation: a
    neighbour that a looser rule would take for one (``app-worker.log`` beside ``app.log``)."""
    if name == base or is_rotation_name(name, base):
        return False
    stem = base.rpartition(".")[0] or base
    return any(name.startswith(prefix) and len(name) > len(prefix) and name[len(prefix)] in ".-_" for prefix in {base, stem})
