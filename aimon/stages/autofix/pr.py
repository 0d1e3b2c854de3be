"""The pull request side of autofix: its text (title, body, comments) and the few GitHub calls it makes.

Every text here mixes our words with untrusted ones (log samples, the model's summary, test output): the caller
redacts them first; here they are escaped or fenced so they stay text and mention nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aimon.markdown import escape, fence, inline_code, shorten

MARKER = "aimon:fingerprint="  # an HTML comment in the body: lets a human (or a search) find the PR of an error
TITLE_LIMIT = 120
DIFF_LIMIT = 20_000  # characters of diff quoted in the body (GitHub's body limit is 65,536)


@dataclass(frozen=True)
class PullText:
    """What the draft PR says: already redacted by the caller."""

    fingerprint: str
    issue_number: int
    diagnosis: dict[str, Any]
    summary: str
    rationale: str
    files: tuple[str, ...]
    diff: str
    test_command: str
    test_seconds: float
    test_output: str


def pull_title(diagnosis_title: str, summary: str) -> str:
    """The PR title: the model's one-line summary, else the diagnosis title, on one line and short."""
    text = " ".join((summary or diagnosis_title or "fix a logged error").split())
    return shorten(f"aimon autofix: {text}", TITLE_LIMIT)


def pull_body(text: PullText) -> str:
    """The PR body: the diagnosis, what changed and why, the test run, and ``Fixes #N``."""
    d = text.diagnosis
    confidence = float(d.get("confidence") or 0.0)
    lines = [
        f"<!-- {MARKER}{text.fingerprint} -->",
        f"Draft fix proposed by aimon for #{text.issue_number}. It was written by a language model: review it like any "
        "other change before merging; aimon never merges.",
        "",
        "## Diagnosis",
        f"**{escape(str(d.get('title', '')))}** (severity {escape(str(d.get('severity', '?')))}, "
        f"confidence {confidence:.0%})",
        "",
        escape(str(d.get("summary", ""))),
    ]
    if d.get("root_cause"):
        lines += ["", f"Root cause: {escape(str(d['root_cause']))}"]
    lines += [
        "",
        "## What changed and why",
        escape(text.summary),
        "",
        escape(text.rationale),
        "",
        "Files: " + ", ".join(inline_code(path) for path in text.files),
        "",
        fence(shorten(text.diff, DIFF_LIMIT).rstrip("\n"), "diff"),
        "",
        "## Tests",
        f"{inline_code(text.test_command)} passed in the fix branch ({text.test_seconds:.1f} s). End of its output:",
        "",
        fence(text.test_output.strip() or "(no output)"),
        "",
        f"Fixes #{text.issue_number}",
    ]
    return "\n".join(lines) + "\n"


def commit_message(title: str, summary: str, issue_number: int, fingerprint: str) -> str:
    """The fix commit's message (the trailer names the error it fixes)."""
    return f"{title}\n\n{summary}\n\nFixes #{issue_number}\naimon-fingerprint: {fingerprint}\n"


def refusal_comment(reason: str) -> str:
    """The one comment an issue gets when autofix will not (or could not) propose a fix for it."""
    return f"aimon autofix did not open a pull request for this error: {escape(reason)}."


def regression_comment(issue_number: int | None, merged_at: str, seen_at: str) -> str:
    """What the pull request is told when its error comes back after it was merged."""
    text = f"Regression: the error this pull request fixed was detected again at {seen_at} (merged {merged_at})."
    if issue_number is not None:
        text += f" Its issue #{issue_number} carries the report."
    return text + " No other automatic fix is tried before a new diagnosis."
