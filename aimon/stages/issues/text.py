"""The words aimon writes on GitHub: issue title, body and labels, recurrence and regression comments.

Untrusted text (log lines, request trails, the diagnosis, which read those logs) is redacted, then shown either in a
fenced block whose fence no line can close, or escaped so it cannot mention anyone or turn into HTML. The hidden marker
``<!-- aimon:fingerprint=… -->`` lets aimon find its own issue again after losing its state; a log line that contains
the marker text is defused (a zero-width space), so only aimon's own marker ever matches exactly.
"""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.parse
from collections.abc import Sequence

from aimon.config import Settings
from aimon.markdown import ZWSP, escape, fence, inline_code, shorten, shorten_lines, visible_controls
from aimon.redact import Redactor
from aimon.remotes.github import web_url
from aimon.stages.delivery import Incident
from aimon.state import outbox

TITLE_MAX = 256
BODY_MAX = 60_000  # GitHub refuses bodies over 65536 characters
SECTION_MAX = 3000
TRAIL_MAX = 20
_MARKER_TEXT = re.compile(r"(?i)aimon:fingerprint")
ISSUE_LABEL = "aimon"  # on every issue aimon files


def marker(fingerprint: str) -> str:
    """The hidden line that ties an issue to its fingerprint."""
    return f"<!-- aimon:fingerprint={fingerprint} -->"


def search_query(repo: str, fingerprint: str) -> str:
    """The search for an issue carrying ``fingerprint``'s marker (``is:issue`` must be in the query itself)."""
    return f'repo:{repo} is:issue in:body "aimon:fingerprint={fingerprint}"'


def issue_title(incident: Incident, redactor: Redactor) -> str:
    """The diagnosis title (or the template), on one line, redacted, at most 256 characters."""
    return shorten(_clean(redactor, " ".join(incident.title.split())), TITLE_MAX)


def issue_labels(incident: Incident) -> list[str]:
    """``aimon`` and the severity."""
    return [ISSUE_LABEL, incident.severity]


def issue_body(conn: sqlite3.Connection, settings: Settings, incident: Incident, redactor: Redactor) -> str:
    """The issue body: diagnosis, evidence, counts, sample, request trail, source link, marker."""
    result = incident.result
    parts = [_headline(incident, redactor)]
    if incident.diagnosis is None:
        parts.append("### Summary\n*No diagnosis yet: aimon files the issue without one after a short wait.*")
    for heading, key in (("Summary", "summary"), ("Root cause", "root_cause"), ("Suggested fix", "suggested_fix")):
        text = str(result.get(key) or "").strip()
        if text:
            parts.append(f"### {heading}\n{escape(shorten(_clean(redactor, text), SECTION_MAX))}")
    if incident.looks_like:
        parts.append("### Similar past errors (suggestions)\n" + "\n".join(f"- {escape(_clean(redactor, line))}" for line in incident.looks_like))
    evidence = [str(item) for item in result.get("evidence") or [] if str(item).strip()]
    if evidence:
        parts.append("### Evidence\n" + _block(redactor, "\n".join(evidence)))
    cited = [item for item in (incident.diagnosis or {}).get("cited") or [] if not any(str(item.get("line"))[:200] in e for e in evidence)]
    if cited:  # the lines the evidence points at, as aimon showed them; a reference to a line never shown says so
        parts.append("### Cited lines\n" + _block(redactor, "\n".join(c["line"] or f"[{c['ref']}] (cited, but not in the data aimon sent)" for c in cited)))
    parts.append("### Occurrences\n" + _table(incident, redactor))
    parts.append("### Sample\n" + _block(redactor, incident.sample))
    request_id, trail = request_trail(conn, incident.fingerprint)
    if trail:
        parts.append(f"### Request trail ({inline_code(_clean(redactor, request_id or ''))})\n" + _block(redactor, "\n".join(trail)))
    link = source_link(settings, incident.file, incident.line)
    if link:
        parts.append(f"### Source\n[{escape(incident.file or '')}:{incident.line}]({link})")
    parts.append(_signature(incident, settings.github.no_reopen_labels))
    body = "\n\n".join(parts)
    tail = "\n\n" + marker(incident.fingerprint)
    return _fit_body(body, BODY_MAX - len(tail)) + tail


def recurrence_comment(incident: Incident, kinds: Sequence[str]) -> str:
    """The one comment per interval on an open issue: what happened since (the ``kinds`` of the detections), with the
    current counts."""
    return f"**Still happening** ({_kinds(kinds)}).\n\n" + _counts(incident)


def regression_comment(incident: Incident, kinds: Sequence[str], fix: tuple[int, str | None] | None = None) -> str:
    """The comment that goes with reopening a closed issue; ``fix`` is aimon's merged pull request (number, when)."""
    text = f"**Regression:** this error came back after the issue was closed ({_kinds(kinds)}), so aimon reopened it."
    if fix is not None:
        number, merged_at = fix
        text += f" Regression of the fix in #{number}" + (f" (merged {merged_at})" if merged_at else "") + "."
    return text + "\n\n" + _counts(incident)


def request_trail(conn: sqlite3.Connection, fingerprint: str) -> tuple[str | None, list[str]]:
    """The latest request id seen with ``fingerprint`` and the recorded lines of that request, oldest first."""
    request_id = outbox.latest_request_id(conn, fingerprint)
    if request_id is None:
        return None, []
    lines = []
    for occurrence in outbox.request_occurrences(conn, request_id, TRAIL_MAX):
        try:
            record = json.loads(occurrence["record"])
        except ValueError:
            continue
        target = f" {record.get('target')}:" if record.get("target") else ""
        lines.append(f"{occurrence['ts'] or ''} {record.get('level', '')}{target} {record.get('message', '')}".strip())
    return request_id, lines


def source_link(settings: Settings, file: str | None, line: int | None) -> str | None:
    """A link to ``file:line`` in the repository at the deployed commit (``HEAD``, the default branch, when unknown).

    Only relative paths inside the project qualify: absolute paths and dependencies (cargo registry, the standard
    library) are not in the repository.
    """
    if not file or not settings.github.repo or file.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", file):
        return None
    if ".cargo/" in file or "/rustc/" in file or file.startswith("library/") or ".." in file.split("/"):
        return None
    ref = settings.github.deployed_commit.strip() or "HEAD"
    path = urllib.parse.quote(file.replace("\\", "/"), safe="/")
    anchor = f"#L{line}" if line else ""
    return f"{web_url(settings)}/{settings.github.repo.strip('/')}/blob/{urllib.parse.quote(ref, safe='')}/{path}{anchor}"


def _clean(redactor: Redactor, text: str) -> str:
    """Redacted, with marker look-alikes defused and control characters shown as symbols (titles are not escaped)."""
    return _MARKER_TEXT.sub(lambda match: match.group(0).replace(":", ":" + ZWSP), visible_controls(redactor.redact(text)))


def _block(redactor: Redactor, text: str) -> str:
    return fence(shorten_lines(shorten(_clean(redactor, text), SECTION_MAX), 60), "text")


def _headline(incident: Incident, redactor: Redactor) -> str:
    parts = [f"**Severity:** {incident.severity}"]
    if incident.error_code:
        parts.append(f"**Error code:** {inline_code(_clean(redactor, incident.error_code))}")
    parts.append(f"**Level:** {incident.level}")
    if incident.target:
        parts.append(f"**Target:** {inline_code(_clean(redactor, incident.target))}")
    return " · ".join(parts)


def _table(incident: Incident, redactor: Redactor) -> str:
    def cell(text: str) -> str:
        return escape(_clean(redactor, text)).replace("\n", " ")

    window = f"{incident.kind}: {incident.window_count} between {_when(incident.window_start)} and {_when(incident.window_end)}"
    rows = [
        ("Occurrences", str(incident.count) + (f" ({', '.join(incident.symptoms)})" if incident.symptoms else "")),
        ("First seen", _when(incident.first_seen)),
        ("Last seen", _when(incident.last_seen)),
        ("Detection", window),
        ("Request id", cell(incident.request_id) if incident.request_id else "—"),
        ("Fingerprint", f"`{incident.fingerprint}`"),
    ]
    return "| | |\n|---|---|\n" + "\n".join(f"| {name} | {value} |" for name, value in rows)


def _counts(incident: Incident) -> str:
    return (
        f"| | |\n|---|---|\n| Occurrences | {incident.count} |\n| Last seen | {_when(incident.last_seen)} |\n"
        f"| Latest window | {incident.window_count} between {_when(incident.window_start)} and {_when(incident.window_end)} |"
    )


def _kinds(kinds: Sequence[str]) -> str:
    counted: dict[str, int] = {}
    for kind in kinds:
        counted[kind] = counted.get(kind, 0) + 1
    return ", ".join(f"{count} {kind}" if count > 1 else kind for kind, count in counted.items()) or "recurrence"


def _signature(incident: Incident, no_reopen: Sequence[str]) -> str:
    source = ""
    if incident.diagnosis:
        model = incident.diagnosis.get("model")
        source = f" · diagnosis: {incident.diagnosis.get('source')}{' ' + str(model) if model else ''}"
        confidence = incident.result.get("confidence")
        if isinstance(confidence, (int, float)):
            source += f", {confidence:.0%} confident"
    unless = f" (unless it is labelled {' or '.join(no_reopen)})" if no_reopen else ""
    return (
        f"---\n<sub>Filed by aimon{source}. Closing this issue marks the error resolved; "
        f"aimon reopens it if the error comes back{unless}.</sub>"
    )


def _fit_body(body: str, limit: int) -> str:
    if len(body) <= limit:
        return body
    return body[: limit - 80] + "\n\n*… cut to fit GitHub's size limit.*"


def _when(stamp: str | None) -> str:
    return stamp.replace("T", " ")[:19] + " UTC" if stamp else "—"
