"""Learned grouping: templates that differ only where a word is seen to vary are one kind of error.

Masking (:mod:`aimon.grouping.fingerprint`) cannot tell that ``session closed for user alice`` and ``... user bob`` are one
error: the user name has no digit. Grouping looks at the templates seen in one context (error code and target) and
merges those that have the same number of words and differ in exactly one position, when that position varies a lot:

- at least :data:`MIN_DISTINCT` different words there (:data:`MIN_DISTINCT_NAMES` when one of them is Capitalised
  or UPPER case: enum variants and state names such as ``Started``/``Stopped`` are constants far more often than data);
- or a masked value (``<*>``) plus any word not Capitalised there (the position already carried data);
- or, once the first pass is done, words all already seen varying elsewhere (a user name is a user name);
- and never when fewer than :data:`MIN_CONTEXT` other words are constant: short messages are too easy to mistake.

The result depends only on the set of templates, not on their order. In the state file a merge is an alias
(:func:`learn_merges`): the oldest fingerprint stays canonical and the others keep answering for it.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from aimon.grouping.fingerprint import ALGO_VERSION, WILDCARD, panic_location
from aimon.state import groups
from aimon.state.db import iso, transaction, utcnow

MIN_DISTINCT = 4
MIN_DISTINCT_NAMES = 8
MIN_CONTEXT = 3
_ROUNDS = 4

Tokens = tuple[str, ...]


def generalize(templates: Iterable[str]) -> dict[str, str]:
    """Map every template to its learned generalisation (itself when nothing was learned)."""
    current = {template: template for template in templates}
    vocabulary: set[str] = set()
    for use_vocabulary in (False, True):
        for _ in range(_ROUNDS):
            mapping = _one_round(sorted(set(current.values())), vocabulary, use_vocabulary)
            if not mapping:
                break
            current = {template: mapping.get(value, value) for template, value in current.items()}
    return current


def _one_round(templates: list[str], vocabulary: set[str], use_vocabulary: bool) -> dict[str, str]:
    """One pass over every word position of every template length; returns the templates that changed."""
    by_length: dict[int, list[Tokens]] = defaultdict(list)
    for template in templates:
        tokens = tuple(template.split(" "))
        by_length[len(tokens)].append(tokens)
    mapping: dict[str, str] = {}
    for length, group in sorted(by_length.items()):
        members = {tokens: tokens for tokens in group}
        for position in range(length):
            renamed = _merge_at(sorted(set(members.values())), position, vocabulary, use_vocabulary)
            if renamed:
                members = {original: renamed.get(now, now) for original, now in members.items()}
        for original, now in members.items():
            if original != now:
                mapping[" ".join(original)] = " ".join(now)
    return mapping


def _merge_at(group: list[Tokens], position: int, vocabulary: set[str], use_vocabulary: bool) -> dict[Tokens, Tokens]:
    buckets: dict[Tokens, list[Tokens]] = defaultdict(list)
    for tokens in group:
        buckets[(*tokens[:position], WILDCARD, *tokens[position + 1 :])].append(tokens)
    renamed: dict[Tokens, Tokens] = {}
    for key, found in buckets.items():
        if len(found) < 2:
            continue
        values = {tokens[position] for tokens in found}
        if _varies(values, key, vocabulary if use_vocabulary else None):
            vocabulary.update(values - {WILDCARD})
            for tokens in found:
                renamed[tokens] = key
    return renamed


def _varies(values: set[str], key: Tokens, vocabulary: set[str] | None) -> bool:
    if sum(1 for token in key if token != WILDCARD) < MIN_CONTEXT:
        return False
    concrete = values - {WILDCARD}
    names = any(value[:1].isupper() for value in concrete)
    if WILDCARD in values and not names:
        return True
    if len(concrete) >= (MIN_DISTINCT_NAMES if names else MIN_DISTINCT):
        return True
    return vocabulary is not None and len(concrete) >= 2 and concrete <= vocabulary


@dataclass
class Learned:
    """The merges recorded in the state file, ready for :meth:`aimon.grouping.fingerprint.Fingerprinter.of`."""

    aliases: dict[str, str] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)
    patterns: dict[tuple[tuple[str, ...], int], list[tuple[Tokens, str]]] = field(default_factory=dict)

    def lookup(self, own: str, context: tuple[str, ...], template: str) -> tuple[str, str] | None:
        """``(canonical id, template)`` of the learned group that ``own``/``template`` belongs to, if any."""
        target = self.aliases.get(own)
        if target is not None:
            return target, self.templates.get(target, template)
        tokens = template.split(" ")
        for pattern, fingerprint in self.patterns.get((context, len(tokens)), ()):
            if all(word in (WILDCARD, token) for word, token in zip(pattern, tokens, strict=True)):
                return fingerprint, self.templates[fingerprint]
        return None


def row_context(row: sqlite3.Row) -> tuple[str, ...]:
    """The context of a ``fingerprints`` row, as :func:`aimon.grouping.fingerprint.context_of` gives it for its records."""
    if row["is_panic"]:
        return ("panic", panic_location(row["file"], row["line"]))
    return ("event", row["error_code"] or "", row["target"] or "")


def load_learned(conn: sqlite3.Connection) -> Learned:
    """Every alias (chains followed) and every canonical template that absorbed others, from the state file."""
    direct = groups.alias_targets(conn)
    learned = Learned()
    for alias in direct:
        target, hops = direct[alias], 0
        while target in direct and hops < len(direct):
            target, hops = direct[target], hops + 1
        learned.aliases[alias] = target
    for row in groups.merged_into(conn, ALGO_VERSION):
        tokens = tuple(row["template"].split(" "))
        learned.templates[row["fingerprint"]] = row["template"]
        learned.patterns.setdefault((row_context(row), len(tokens)), []).append((tokens, row["fingerprint"]))
    return learned


def learn_merges(conn: sqlite3.Connection, settings: Any, *, in_transaction: bool = False) -> list[tuple[str, str]]:
    """Merge the fingerprints that grouping now sees as one; returns the ``(alias, canonical)`` pairs recorded.

    Looks at every canonical fingerprint of the current algorithm, per context. In each merged group the oldest
    fingerprint (first created) stays canonical and takes the learned template, the others become its aliases; their
    totals and per-minute counts are folded into it so spike detection sees one error. The alias rows themselves stay
    (their occurrences and detections are history). One transaction — or, with ``in_transaction``, the caller's (a
    scan records a batch and what grouping learns from it together, so that a kill cannot separate them).
    """
    fixed = {rule.template for rule in settings.fingerprint_rules if rule.template is not None}
    rows = groups.canonical_rows(conn, ALGO_VERSION)
    by_context: dict[tuple[str, ...], list[sqlite3.Row]] = defaultdict(list)
    for row in rows:
        if row["template"] not in fixed:
            by_context[row_context(row)].append(row)
    plan: list[tuple[sqlite3.Row, str, list[sqlite3.Row]]] = []
    for _context, members in sorted(by_context.items()):
        if len(members) < 2:
            continue
        mapping = generalize(row["template"] for row in members)
        clusters: dict[str, list[sqlite3.Row]] = defaultdict(list)
        for row in members:
            clusters[mapping[row["template"]]].append(row)
        for template, cluster in sorted(clusters.items()):
            if len(cluster) > 1:
                cluster.sort(key=lambda row: (row["created_at"], row["first_seen"], row["fingerprint"]))
                plan.append((cluster[0], template, cluster[1:]))
    if not plan:
        return []
    merges: list[tuple[str, str]] = []
    with nullcontext(conn) if in_transaction else transaction(conn):
        now = iso(utcnow())
        for keep, template, others in plan:
            for other in others:
                groups.make_alias(conn, other["fingerprint"], keep["fingerprint"], now)
                merges.append((other["fingerprint"], keep["fingerprint"]))
            groups.absorb(
                conn,
                keep["fingerprint"],
                template,
                sum(other["count"] for other in others),
                min(other["first_seen"] for other in others),
                max(other["last_seen"] for other in others),
            )
    return merges

