"""Learned grouping: templates that grouping sees as one kind of error, kept as aliases in the state file.

Masking (:mod:`aimon.grouping.fingerprint`) cannot tell that ``session closed for user alice`` and ``... user bob`` are one
error: the user name has no digit. :func:`generalize` (:mod:`aimon.grouping.structure`) looks at the templates seen in
one context (error code and target) and finds the positions that carry values; :func:`learn_merges` records what it
finds as aliases: the oldest fingerprint stays canonical and the others keep answering for it, so an id once reported
keeps its issue and memory when its template generalises later.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from aimon.grouping.fingerprint import ALGO_VERSION, context_key, panic_location
from aimon.grouping.structure import Tokens, generalize, matches, shape_key, tokens
from aimon.state import groups
from aimon.state.db import iso, transaction, utcnow

# The newest templates of one context that learning looks at: its cost grows faster than their number, and a context
# with more distinct templates than this holds free text that masking misses (groups stay stable below it).
MAX_EVIDENCE = 5000

__all__ = ["Learned", "generalize", "learn_merges", "load_learned", "row_context"]


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
        length = len(shape_key(tokens(template)))
        for pattern, fingerprint in self.patterns.get((context, length), ()):
            if matches(pattern, template):
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
        pattern = shape_key(tokens(row["template"]))
        learned.templates[row["fingerprint"]] = row["template"]
        learned.patterns.setdefault((row_context(row), len(pattern)), []).append((pattern, row["fingerprint"]))
    return learned


def learn_merges(conn: sqlite3.Connection, settings: Any, *, in_transaction: bool = False) -> list[tuple[str, str]]:
    """Merge the fingerprints that grouping now sees as one; returns the ``(alias, canonical)`` pairs recorded.

    The evidence, per context, is every template grouping has seen (``grouping_templates``, as masking made them, with
    the fingerprint each was counted under) and the template of every canonical fingerprint: so what grouping
    concludes depends on the set of templates seen, not on how the log was cut into batches, and it concludes it again
    on every call. When one generalised template holds the templates of several canonical fingerprints, the oldest
    (first created) stays canonical and takes the learned template, the others become its aliases; their totals and
    per-minute counts are folded into it so spike detection sees one error. The alias rows themselves stay (their
    occurrences and detections are history). One transaction — or, with ``in_transaction``, the caller's (a scan
    records a batch and what grouping learns from it together, so that a kill cannot separate them).
    """
    fixed = {rule.template for rule in settings.fingerprint_rules if rule.template is not None}
    plan = _plan(conn, fixed)
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


Plan = list[tuple[sqlite3.Row, str, list[sqlite3.Row]]]


def _plan(conn: sqlite3.Connection, fixed: set[str]) -> Plan:
    """Per context: the canonical fingerprint to keep, its learned template, and the canonical ones it absorbs."""
    resolve = _resolver(groups.alias_targets(conn))
    canonical_rows = {row["fingerprint"]: row for row in groups.canonical_rows(conn, ALGO_VERSION)}
    evidence: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in canonical_rows.values():
        if row["template"] not in fixed:
            evidence[context_key(row_context(row))][row["template"]].add(row["fingerprint"])
    for seen in groups.templates_seen(conn, ALGO_VERSION):
        found = evidence[seen["context"]]
        if seen["template"] not in fixed and (len(found) < MAX_EVIDENCE or seen["template"] in found):
            found[seen["template"]].add(resolve(seen["fingerprint"]))
    plan: Plan = []
    for _context, found in sorted(evidence.items()):
        mapping = generalize(found)
        clusters: dict[str, set[str]] = defaultdict(set)
        for template, fingerprints in found.items():
            clusters[mapping[template]].update(fingerprint for fingerprint in fingerprints if fingerprint in canonical_rows)
        for template, members in sorted(clusters.items()):
            if len(members) > 1:
                cluster = sorted(
                    (canonical_rows[fingerprint] for fingerprint in members),
                    key=lambda row: (row["created_at"], row["first_seen"], row["fingerprint"]),
                )
                plan.append((cluster[0], template, cluster[1:]))
    return plan


def _resolver(direct: dict[str, str]) -> Callable[[str], str]:
    """Follow alias chains to the canonical fingerprint (a cycle stops after as many hops as there are aliases)."""

    def resolve(fingerprint: str) -> str:
        hops = 0
        while fingerprint in direct and hops <= len(direct):
            fingerprint, hops = direct[fingerprint], hops + 1
        return fingerprint

    return resolve
