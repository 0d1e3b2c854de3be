"""Templates across lines: a word position that takes many values while the rest of the message stays fixed is a slot.

Masking (:mod:`aimon.grouping.fingerprint`) looks at one token at a time; it cannot tell that ``stopping service
chargen`` and ``... daytime`` are one event, or that ``to 10.0.0.7,`` and ``to LOCAL(0),`` fill one slot. This module
looks at the set of templates seen in one context, the idea of Drain's fixed-depth tree (templates of one length, one
position at a time) and of Brain's bidirectional frequency (a position is a slot when its values vary while everything
around it is constant):

- templates of one length that differ in exactly one position are one template when that position is seen to carry
  values (:func:`_slot_members`): different masked shapes, quoted free text, many distinct words;
- templates that are equal once a run of slots is read as one slot, or once a parenthetical of slots is left out
  (``1.1 KB (1024 bytes) sent`` / ``1024 bytes sent``), are one template (:func:`shape_key`).

Every rule counts *distinct values*, never occurrences, and every rule only gets easier to meet as templates are
added: so the result for a set of templates does not depend on their order, and learning from ten small batches ends
where learning from one large batch does (what was merged stays merged; see :func:`aimon.grouping.learned.learn_merges`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

WILDCARD = "<*>"
# A position needs this many distinct plain words (lower case) to be a slot: three states are constants, not data.
MIN_DISTINCT = 4
# Capitalised or UPPER words (enum variants, state names such as Started/Stopped) are constants far more often.
MIN_DISTINCT_NAMES = 8
# Words that say a value is absent or a flag, not a value: beside masked values they stay a constant of their own
# (`callback for null` and `callback for Foo@712d` are two events), where any other word joins the values.
SENTINELS = frozenset({"null", "none", "nil", "undefined", "empty", "true", "false", "unknown", "n/a", "nan"})
# Fewer constant words than this around a position and nothing is merged there: short messages are easy to mistake.
MIN_CONTEXT = 3
_ROUNDS = 4

Tokens = tuple[str, ...]

# A quoted string of free text is one token, spaces and all: `name "Zoë ☃"` has two. A quote opens only at the start of
# a token or after `=`, `:`, `(` (not in `don't`) and closes before a space, punctuation or the end. A quoted string
# in which masking found values (`"GET <*> HTTP/<*>"`) has a structure of its own: its words stay words.
_TOKEN = re.compile(
    r"""(?:(?<![^\s=:(\[{,])"(?:[^"<]|<(?!\*>))*"(?=[\s,;:.)\]}]|$)"""
    r"""|(?<![^\s=:(\[{,])'(?:[^'<]|<(?!\*>))*'(?=[\s,;:.)\]}]|$)"""
    r"""|[^\s"']+|["'])+"""
)
_FREE_TEXT = re.compile(r"""(["'])(?=[^"']*(?: |[^\x00-\x7f]))[^"']*\1""")
_ANY_DIGIT = re.compile(r"\d")
_ANY_DIGITS = re.compile(r"\d+")
# A parenthetical that holds only values is an optional annotation of the value before it.
_VALUE_PARENTHETICAL = re.compile(r"^\((?:<\*>[\s,;]*)+\)$")


def tokens(template: str) -> Tokens:
    """The words of a template, a quoted string (spaces and all) being one word."""
    if '"' not in template and "'" not in template:
        return tuple(template.split(" "))
    return tuple(_TOKEN.findall(template))


def shape_key(words: Tokens) -> Tokens:
    """The words with a run of slots read as one slot and an all-slot parenthetical left out."""
    kept: list[str] = []
    for word in words:
        if _VALUE_PARENTHETICAL.match(word) and kept:
            continue
        if word == WILDCARD and kept and kept[-1] == WILDCARD:
            continue
        kept.append(word)
    return tuple(kept)


def matches(pattern: Tokens, template: str) -> bool:
    """Whether ``template`` is an instance of the learned ``pattern`` (a shape key).

    A slot takes any value and any plain lower-case word, the values every slot accepts; a Capitalised word or a
    sentinel is not matched here, so that a record is never put in a group that :func:`generalize` would keep it out
    of (learning from the state file decides it, and merges it then).
    """
    words = shape_key(tokens(template))
    if len(words) != len(pattern):
        return False
    return all(slot == word or (slot == WILDCARD and _fills_any_slot(word)) for slot, word in zip(pattern, words, strict=True))


def _fills_any_slot(word: str) -> bool:
    return _is_value(word) or (not _is_name(word) and not _is_sentinel(word))


def generalize(templates: Iterable[str]) -> dict[str, str]:
    """Map every template to its learned generalisation (itself when nothing was learned)."""
    originals = sorted(set(templates))
    current = {template: shape_key(tokens(template)) for template in originals}
    vocabulary: set[str] = set()
    for use_vocabulary in (False, True):
        for _ in range(_ROUNDS):
            mapping = _one_round(sorted(set(current.values())), vocabulary, use_vocabulary)
            if not mapping:
                break
            current = {template: shape_key(mapping.get(words, words)) for template, words in current.items()}
    return _spelled(current)


def _spelled(current: dict[str, Tokens]) -> dict[str, str]:
    """Templates alone in their group keep their own spelling; a group is spelled as its learned words."""
    members: dict[Tokens, list[str]] = defaultdict(list)
    for template, words in current.items():
        members[words].append(template)
    result: dict[str, str] = {}
    for words, group in members.items():
        spelled = " ".join(words) if len(group) > 1 else group[0]
        for template in group:
            result[template] = spelled
    return result


def _one_round(templates: list[Tokens], vocabulary: set[str], use_vocabulary: bool) -> dict[Tokens, Tokens]:
    """One pass over every word position of every template length; returns the templates that changed."""
    by_length: dict[int, list[Tokens]] = defaultdict(list)
    for words in templates:
        by_length[len(words)].append(words)
    mapping: dict[Tokens, Tokens] = {}
    for length, group in sorted(by_length.items()):
        members = {words: words for words in group}
        for position in range(length):
            renamed = _merge_at(sorted(set(members.values())), position, vocabulary, use_vocabulary)
            if renamed:
                members = {original: renamed.get(now, now) for original, now in members.items()}
        for original, now in members.items():
            if original != now:
                mapping[original] = now
    return mapping


def _merge_at(group: list[Tokens], position: int, vocabulary: set[str], use_vocabulary: bool) -> dict[Tokens, Tokens]:
    buckets: dict[Tokens, list[Tokens]] = defaultdict(list)
    for words in group:
        buckets[(*words[:position], WILDCARD, *words[position + 1 :])].append(words)
    renamed: dict[Tokens, Tokens] = {}
    for key, found in buckets.items():
        if len(found) < 2 or sum(1 for word in key if word != WILDCARD) < MIN_CONTEXT:
            continue
        joining = _slot_members({words[position] for words in found}, vocabulary if use_vocabulary else None)
        if len(joining) < 2:
            continue
        vocabulary.update(value for value in joining if not _is_value(value))
        for words in found:
            if words[position] in joining:
                renamed[words] = key
    return renamed


def _slot_members(values: set[str], vocabulary: set[str] | None) -> set[str]:
    """The values of one position that are its slot's values (an empty set when the position is constant).

    Values (masked, quoted free text, words alike but for their numbers) of different shapes make a slot, and a plain
    word beside them is one more value (unless it is a sentinel such as ``null``); so do many distinct words alone.
    Capitalised words join only with many more of them: a few state names are constants beside the data.
    """
    shaped = {value for value in values if _is_value(value)} | _digit_twins(values)
    names = {value for value in values - shaped if _is_name(value)}
    words = {value for value in values - shaped - names if not _is_sentinel(value)}
    if len(words) + len(names) >= MIN_DISTINCT_NAMES:
        return shaped | words | names
    if vocabulary is not None and len(words | names) >= 2 and (words | names) <= vocabulary:
        return shaped | words | names
    if len(words) >= MIN_DISTINCT or (shaped and (words or len(shaped) >= 2)):
        return shaped | words
    return set()


def _digit_twins(values: set[str]) -> set[str]:
    """Words that another value of the position matches but for its numbers (`io716`/`io12`, `cn3a`/`cn40a`): an
    identifier with a number glued in, which masking keeps whole because it could be a name such as `ipv6`."""
    by_shape: dict[str, list[str]] = defaultdict(list)
    for value in values:
        if _ANY_DIGIT.search(value) is not None:
            by_shape[_ANY_DIGITS.sub("0", value)].append(value)
    return {value for twins in by_shape.values() if len(twins) >= 2 for value in twins}


def _is_name(word: str) -> bool:
    """A Capitalised or UPPER word, quoted or not (`Started`, `'Active'`)."""
    return word.lstrip("'\"([")[:1].isupper()


def _is_sentinel(word: str) -> bool:
    return word.strip("'\"").lower() in SENTINELS


def _is_value(word: str) -> bool:
    """A masked token (`<*>`, `LOCAL(<*>),`) or a quoted string holding spaces or non-ASCII text (user data)."""
    return WILDCARD in word or (("\"" in word or "'" in word) and _FREE_TEXT.search(word) is not None)
