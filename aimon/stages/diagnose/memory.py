"""Pattern memory: reuse a diagnosis only for the same error; for anything merely similar, suggest.

A diagnosis that belongs to another error is worse than none: the on-call engineer acts on it and autofix may patch
the wrong code. So memory keeps two things apart:

* **The same error** (:func:`recurrence`): the diagnosis of a fingerprint that learned grouping merged into this one
  (an alias), or of a fingerprint with exactly the same template logged at the same ``file:line`` (the same statement
  failing the same way, e.g. under another target or level). Its diagnosis *is* this error's: it is stored as
  ``source: memory`` (``memory_of`` links the original) and the LLM is not asked. A recurrence of a diagnosed
  fingerprint is not diagnosed at all (the stage only selects fingerprints without a current diagnosis); a regression
  of it reuses its own diagnosis unless a fix was recorded, which the return proves incomplete.
* **A similar error** (:func:`similar`): the same error code, or a template with token Jaccard similarity of at least
  :data:`MIN_SIMILARITY`. Two such errors often have different causes (a timeout and a refused connection under one
  error code; a primary-key violation on another table; the same panic message at another line), so a similar one is
  never the diagnosis: it goes to the LLM as "similar past errors" context and is stored beside the diagnosis
  (``diagnoses.similar``) for the alert and the issue to show as "looks like #N (diagnosed …)". It never makes an
  error auto-fixable: only the error's own diagnosis does.

A fix recorded for a fingerprint (:func:`aimon.state.diagnoses.record_fix`) is carried into the suggestions for similar
errors and into the context of a regression.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from aimon.model import Diagnosis
from aimon.state import diagnoses, links
from aimon.state.diagnoses import Fix

MIN_SIMILARITY = 0.6
SAME_CODE_SIMILARITY = 0.9  # an error code names one family of failures; it ranks a match, it never proves one
MAX_CANDIDATES = 2000  # most recent diagnosed groups compared (bounded work per new fingerprint)
MAX_SUGGESTIONS = 3
_TOKEN_RE = re.compile(r"<\*>|[A-Za-z_][A-Za-z0-9_]*|\d+")


@dataclass(frozen=True)
class Match:
    """A diagnosed fingerprint related to the one at hand (``result``: its diagnosis as stored)."""

    fingerprint: str
    diagnosis_id: int
    source: str
    result: dict[str, Any]
    similarity: float
    why: str  # "learned alias", "same template at src/x.rs:12", "same error code E1234", "similar message (0.72)"
    fixes: tuple[Fix, ...] = ()
    diagnosed_at: str | None = None

    @property
    def confidence(self) -> float:
        """The original's confidence, scaled by how alike the two errors are (a ranking, never a reason to reuse)."""
        return round(float(self.result.get("confidence", 0.0)) * self.similarity, 2)


def tokens(template: str) -> frozenset[str]:
    """The words of a template (``<*>`` counts as one token), lower-cased."""
    return frozenset(token.lower() for token in _TOKEN_RE.findall(template or ""))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a ∪ b| (0 for two empty sets)."""
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def recurrence(conn: sqlite3.Connection, row: dict[str, Any]) -> Match | None:
    """The stored diagnosis of the same error under another fingerprint (see the module doc), or None."""
    for cand in diagnoses.recurrence_candidates(conn, row["fingerprint"], row.get("template"), row.get("file"), row.get("line")):
        why = "learned alias" if cand["alias"] else f"same template at {row.get('file')}:{row.get('line')}"
        return _match(conn, cand, 1.0, why)
    return None


def similar(conn: sqlite3.Connection, row: dict[str, Any], limit: int = MAX_SUGGESTIONS, exclude: frozenset[str] = frozenset()) -> list[Match]:
    """Diagnosed fingerprints that resemble ``row`` (a ``fingerprints`` row), best first; never ``row`` itself nor
    ``exclude`` (the recurrence already used)."""
    own = tokens(row.get("template") or "")
    code = row.get("error_code")
    found: list[Match] = []
    for cand in diagnoses.memory_candidates(conn, row["fingerprint"], MAX_CANDIDATES):
        if cand["fingerprint"] in exclude:
            continue
        score = jaccard(own, tokens(cand["template"]))
        why = f"similar message ({score:.2f})"
        if code and cand["error_code"] == code and score < SAME_CODE_SIMILARITY:
            score, why = SAME_CODE_SIMILARITY, f"same error code {code}"
        if score < MIN_SIMILARITY:
            continue
        found.append(_match(conn, cand, round(score, 2), why))
    found.sort(key=lambda match: (match.similarity, match.confidence), reverse=True)
    return found[:limit]


def _match(conn: sqlite3.Connection, cand: sqlite3.Row, similarity: float, why: str) -> Match:
    return Match(cand["fingerprint"], int(cand["id"]), cand["source"], json.loads(cand["result"]), similarity, why,
                 diagnoses.fixes_for(conn, cand["fingerprint"]), cand["created_at"])


def reused(match: Match) -> Diagnosis:
    """The diagnosis to store for the same error seen under another fingerprint (``source: memory``)."""
    result = dict(match.result)
    result["evidence"] = [f"[memory] the same error as {match.fingerprint[:8]} ({match.why}), diagnosed {match.diagnosed_at or 'before'}",
                          *match.result.get("evidence", [])][:20]
    return Diagnosis.model_validate(result)


def suggestions(conn: sqlite3.Connection, matches: list[Match]) -> list[dict[str, Any]]:
    """What the alert and the issue show as "looks like #N (diagnosed …)": a pointer to each similar error."""
    out = []
    for match in matches:
        issue = links.issue_for(conn, match.fingerprint)
        out.append({"fingerprint": match.fingerprint, "diagnosis_id": match.diagnosis_id, "diagnosed_at": match.diagnosed_at,
                    "title": str(match.result.get("title") or ""), "why": match.why,
                    "issue": int(issue["number"]) if issue and issue.get("number") is not None else None})
    return out


def fix_note(fixes: tuple[Fix, ...]) -> str:
    """One sentence about recorded fixes (the latest first)."""
    latest = fixes[-1]
    link = f" ({latest.url})" if latest.url else ""
    more = f" and {len(fixes) - 1} earlier" if len(fixes) > 1 else ""
    return f"A fix was recorded for it: {latest.how}{link}{more}; start from that change."


def teaches(match: Match) -> bool:
    """Worth showing the LLM: an LLM diagnosis (or a copy of one), or any diagnosis with a recorded fix. A heuristic
    one is not: the offline diagnoser would say the same of this error."""
    return match.source != "heuristic" or bool(match.fixes)


def context_lines(matches: list[Match], own_previous: dict[str, Any] | None, own_fixes: tuple[Fix, ...]) -> list[str]:
    """What memory adds to a prompt: earlier diagnoses of this fingerprint (a regression) and of similar ones, the
    latter labelled as other errors that may have another cause."""
    lines: list[str] = []
    if own_previous is not None:
        result = own_previous["result"]
        lines.append(f"[M0] This same error was diagnosed before ({own_previous['created_at']}, {own_previous['source']}): "
                     f"{result.get('title', '')} — cause: {result.get('root_cause', '')} — fix: {result.get('suggested_fix', '')}")
        if own_fixes:
            lines.append(f"[M0] It was marked fixed ({fix_note(own_fixes)}) and has come back: a regression or an incomplete fix.")
    for index, match in enumerate([match for match in matches if teaches(match)], 1):
        result = match.result
        text = (f"[M{index}] A different error {match.fingerprint[:8]} ({match.why}; it may have another cause): "
                f"{result.get('title', '')} — cause: {result.get('root_cause', '')} — fix: {result.get('suggested_fix', '')}")
        if match.fixes:
            text += f" — {fix_note(match.fixes)}"
        lines.append(text)
    return lines
