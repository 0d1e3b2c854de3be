"""The pull request side of autofix: its text (title, body, comments) and the few GitHub calls it makes.

Every text here mixes our words with untrusted ones (log samples, the model's summary, test output): the caller
redacts them first; here they are escaped or fenced so they stay text and mention nobody.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aimon.markdown import escape, fence, inline_code, shorten

MARKER = "aimon:fingerprint="  # an HTML comment in the body: lets a human (or a search) find the PR of an error
TITLE_LIMIT = 120
# GitHub refuses a body or comment over 65,536 characters; the margin leaves room for the egress gate's placeholders.
BODY_LIMIT = 60_000
PART_CHARS = 50_000  # characters of diff in one collapsed part


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
    rules: tuple[str, ...] = ()  # the guard rules the change passed


@dataclass(frozen=True)
class PullParts:
    """The PR body and the comments that continue its diff (none when the whole diff fits in the body)."""

    body: str
    comments: tuple[str, ...] = ()


def pull_title(diagnosis_title: str, summary: str) -> str:
    """The PR title: the model's one-line summary, else the diagnosis title, on one line and short."""
    text = " ".join((summary or diagnosis_title or "fix a logged error").split())
    return shorten(f"aimon autofix: {text}", TITLE_LIMIT)


def pull_parts(text: PullText) -> PullParts:
    """The PR body (the diagnosis, what changed and why, the diff, the test run, the guard rules, ``Fixes #N``) and,
    when the diff does not fit in one body, the comments that carry the rest of it: the reviewer sees every line."""
    plain = _body(text, [fence(text.diff.rstrip("\n"), "diff")])
    if len(plain) <= BODY_LIMIT:
        return PullParts(plain)
    parts = split_diff(text.diff, PART_CHARS)
    total = len(parts)
    sections = [_details(part, index, total) for index, part in enumerate(parts, start=1)]
    note = (f"The diff has {len(text.diff):,} characters, more than one pull request body holds: it is shown whole, in "
            f"{total} collapsed parts")
    with_first = _body(text, [note + f"; parts 2 to {total} are in the comments below.", "", sections[0]])
    if len(with_first) <= BODY_LIMIT:
        return PullParts(with_first, tuple(_continued(section) for section in sections[1:]))
    body = _body(text, [note + f", all {total} in the comments below."])
    return PullParts(body, tuple(_continued(section) for section in sections))


def _body(text: PullText, diff_section: list[str]) -> str:
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
        *diff_section,
        "",
        "## Tests",
        f"{inline_code(text.test_command)} passed in the fix branch ({text.test_seconds:.1f} s), in a clean environment "
        "without network access for cargo and without aimon's or the service's secrets. End of its output:",
        "",
        fence(text.test_output.strip() or "(no output)"),
    ]
    if text.rules:
        lines += ["", "## Guard", "The change passed the autofix guard's rules: " + ", ".join(inline_code(r) for r in text.rules) + "."]
    lines += ["", f"Fixes #{text.issue_number}"]
    return "\n".join(lines) + "\n"


def split_diff(diff: str, limit: int) -> list[str]:
    """``diff`` cut into pieces of at most ``limit`` characters, at line ends where it can be (a longer line is cut
    inside; its rest starts the next piece). Joined again they are exactly ``diff``."""
    pieces: list[str] = []
    current = ""
    for line in diff.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current or not pieces:
        pieces.append(current)
    return pieces


def _details(part: str, index: int, total: int) -> str:
    files = sorted(set(re.findall(r"^\+\+\+ b/(.+)$", part, re.MULTILINE)))
    where = f" ({escape(', '.join(files))})" if files else ""
    cut = "" if part.endswith("\n") or index == total else "\n\nIts last line is cut here and goes on in the next part."
    return (f"<details><summary>Diff, part {index} of {total}{where}</summary>\n\n"
            f"{fence(part.rstrip(chr(10)), 'diff')}{cut}\n\n</details>")


def _continued(section: str) -> str:
    return "The diff of this pull request, continued (aimon autofix):\n\n" + section + "\n"


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
