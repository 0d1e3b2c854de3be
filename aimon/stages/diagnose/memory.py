"""Pattern memory: learn from diagnosed errors, then suggest.

* A recurrence of a diagnosed fingerprint is not diagnosed again (the stage only selects fingerprints without a
  current diagnosis, or with a regression / a new error code since).
* A new fingerprint close to a diagnosed one — the same error code, or a template with token Jaccard similarity of at
  least :data:`MIN_SIMILARITY` — gets the earlier diagnosis as ``source: memory`` (``memory_of`` links the original),
  with its confidence scaled by the similarity. The LLM is asked only when that confidence is below
  :data:`TRUST_CONFIDENCE`.
* A fix recorded for a fingerprint (:func:`aimon.state.diagnoses.record_fix`: an issue closed as fixed, a PR merged)
  is carried into the suggestions for similar errors and into the context of a regression.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from aimon.model import Diagnosis
from aimon.state import diagnoses
from aimon.state.diagnoses import Fix

MIN_SIMILARITY = 0.6
SAME_CODE_SIMILARITY = 0.9  # an error code names one failure; two templates may still differ in what they say
TRUST_CONFIDENCE = 0.6  # a memory suggestion at or above this is stored without asking the LLM
MAX_CANDIDATES = 2000  # most recent diagnosed groups compared (bounded work per new fingerprint)
_TOKEN_RE = re.compile(r"<\*>|[A-Za-z_][A-Za-z0-9_]*|\d+")


@dataclass(frozen=True)
class Match:
    """A diagnosed fingerprint similar to the one at hand (``result``: its diagnosis as stored)."""

    fingerprint: str
    diagnosis_id: int
    source: str
    result: dict[str, Any]
    similarity: float
    why: str  # "same error code E1234" or "similar message (0.72)"
    fixes: tuple[Fix, ...] = ()

    @property
    def confidence(self) -> float:
        """The original's confidence, scaled by how alike the two errors are."""
        return round(float(self.result.get("confidence", 0.0)) * self.similarity, 2)


def tokens(template: str) -> frozenset[str]:
    """The words of a template (``<*>`` counts as one token), lower-cased."""
    return frozenset(token.lower() for token in _TOKEN_RE.findall(template or ""))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a ∪ b| (0 for two empty sets)."""
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def similar(conn: sqlite3.Connection, row: dict[str, Any], limit: int = 3) -> list[Match]:
    """Diagnosed fingerprints close to ``row`` (a ``fingerprints`` row), best first; never ``row`` itself.

    Only diagnoses with something to teach are candidates: LLM diagnoses (and memory copies of them), or any
    diagnosis of a fingerprint with a recorded fix. Heuristic ones are not: the offline diagnoser says the same again.
    """
    own = frozenset(tokens(row.get("template") or ""))
    code = row.get("error_code")
    found: list[Match] = []
    for cand in diagnoses.memory_candidates(conn, row["fingerprint"], MAX_CANDIDATES):
        if cand["source"] == "heuristic" and not cand["fixed"]:
            continue
        score = jaccard(own, tokens(cand["template"]))
        why = f"similar message ({score:.2f})"
        if code and cand["error_code"] == code and score < SAME_CODE_SIMILARITY:
            score, why = SAME_CODE_SIMILARITY, f"same error code {code}"
        if score < MIN_SIMILARITY:
            continue
        found.append(Match(cand["fingerprint"], int(cand["id"]), cand["source"], json.loads(cand["result"]), round(score, 2), why,
                           diagnoses.fixes_for(conn, cand["fingerprint"])))
    found.sort(key=lambda match: (match.confidence, match.similarity), reverse=True)
    return found[:limit]


def suggestion(match: Match, template: str) -> Diagnosis:
    """The diagnosis to store for a new fingerprint from a similar diagnosed one (``source: memory``)."""
    result = dict(match.result)
    result["summary"] = f"Looks like the already diagnosed error {match.fingerprint[:8]} ({match.why}): {match.result.get('summary', '')}"
    result["evidence"] = [f"[memory] {match.why} as {match.fingerprint[:8]}: {match.result.get('title', '')}", *match.result.get("evidence", [])][:20]
    result["confidence"] = match.confidence
    if match.fixes:
        result["suggested_fix"] = f"{fix_note(match.fixes)} {result.get('suggested_fix', '')}".strip()
    return Diagnosis.model_validate(result)


def fix_note(fixes: tuple[Fix, ...]) -> str:
    """One sentence about recorded fixes (the latest first)."""
    latest = fixes[-1]
    link = f" ({latest.url})" if latest.url else ""
    more = f" and {len(fixes) - 1} earlier" if len(fixes) > 1 else ""
    return f"A fix was recorded for it: {latest.how}{link}{more}; start from that change."


def context_lines(matches: list[Match], own_previous: dict[str, Any] | None, own_fixes: tuple[Fix, ...]) -> list[str]:
    """What memory adds to a prompt: earlier diagnoses of this fingerprint (a regression) and of similar ones."""
    lines: list[str] = []
    if own_previous is not None:
        result = own_previous["result"]
        lines.append(f"[M0] This same error was diagnosed before ({own_previous['created_at']}, {own_previous['source']}): "
                     f"{result.get('title', '')} — cause: {result.get('root_cause', '')} — fix: {result.get('suggested_fix', '')}")
        if own_fixes:
            lines.append(f"[M0] It was marked fixed ({fix_note(own_fixes)}) and has come back: a regression or an incomplete fix.")
    for index, match in enumerate(matches, 1):
        result = match.result
        text = (f"[M{index}] Earlier error {match.fingerprint[:8]} ({match.why}): {result.get('title', '')} — cause: "
                f"{result.get('root_cause', '')} — fix: {result.get('suggested_fix', '')}")
        if match.fixes:
            text += f" — {fix_note(match.fixes)}"
        lines.append(text)
    return lines
