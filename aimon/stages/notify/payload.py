"""The JSON aimon posts to a Discord webhook: one embed per alert, one digest for a storm, always within limits.

Discord answers 400 to a message over any of its limits, and a 400 would never succeed on retry, so :func:`fit` cuts
every text to its limit with a visible "…" — and the sum over all embeds to 6000 — before anything is sent. Lengths are
counted in UTF-16 code units, which is never less than the number of characters, so the cut holds however the limit is
counted. Every untrusted text is redacted first, then shortened, then made inert (:mod:`aimon.markdown`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

from aimon.errors import ConfigError
from aimon.markdown import ELLIPSIS, discord_code_block, escape
from aimon.redact import Redactor
from aimon.remotes.egress import Egress
from aimon.stages.delivery import Incident, severity_rank

CONTENT_MAX = 2000
EMBEDS_MAX = 10
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_MAX = 256
TOTAL_MAX = 6000

COLOURS = {"low": 0x3498DB, "medium": 0xF1C40F, "high": 0xE67E22, "critical": 0xE74C3C}
KIND_LABELS = {"new": "New error", "spike": "Spike", "regression": "Regression"}
SECTION_MAX = 900  # each of summary / root cause / fix / sample: four of them stay under the 4096 description
NO_VALUE = "—"
FENCE = "```"

_MENTION = re.compile(r"^<@(?P<role>&)?!?(?P<id>\d{5,25})>$")


def parse_mention(text: str) -> tuple[str, dict[str, Any]]:
    """``AIMON_DISCORD_MENTION`` → (text to put in the content, ``allowed_mentions``) — exactly that one id may ping.

    Without a mention ``{"parse": []}`` parses nothing; with one, only its explicit list (``roles`` or ``users``) and
    no ``parse`` key, so no type is both parsed and listed (Discord refuses that pairing) and ``@everyone`` in a log
    line stays text."""
    text = text.strip()
    if not text:
        return "", {"parse": []}
    match = _MENTION.match(text)
    if not match:
        raise ConfigError(
            f"AIMON_DISCORD_MENTION={text!r} is not a mention. Use <@&ROLE_ID> for a role or <@USER_ID> for a user "
            "(Discord: right-click the role or user → Copy ID), or leave it empty to mention nobody."
        )
    key = "roles" if match.group("role") else "users"
    return text, {key: [match.group("id")]}


def alert_payload(incident: Incident, mention: str, allowed: dict[str, Any], gate: Egress | None = None) -> dict[str, Any]:
    """The message for one alert: a short content line (with the configured mention) and one embed."""
    redactor = (gate or Egress()).redactor()  # the gate's detectors and the user's patterns, one numbering
    label = "New panic" if incident.kind == "new" and incident.is_panic else KIND_LABELS.get(incident.kind, incident.kind)
    title = _inert(redactor, incident.title, TITLE_MAX)
    content = f"{mention} " if mention else ""
    content += f"**{label}** ({incident.severity}): {_inert(redactor, incident.title, 300)}"
    embed: dict[str, Any] = {
        "title": f"{label}: {title}",
        "description": _description(redactor, incident),
        "color": COLOURS.get(incident.severity, COLOURS["medium"]),
        "fields": _fields(redactor, incident),
        "footer": {"text": _footer(incident)},
        "timestamp": incident.detected_at,
    }
    if incident.issue:
        embed["url"] = incident.issue["url"]
    payload = {"content": content, "embeds": [embed], "allowed_mentions": copy.deepcopy(allowed)}
    return fit(redactor.redact_obj(payload))


def digest_payload(incidents: Sequence[Incident], mention: str, allowed: dict[str, Any], gate: Egress | None = None) -> dict[str, Any]:
    """One message listing every alert of a storm, as many as fit, then how many more."""
    redactor = (gate or Egress()).redactor()  # the gate's detectors and the user's patterns, one numbering
    worst = max((incident.severity for incident in incidents), key=severity_rank, default="medium")
    lines: list[str] = []
    used = 0
    for index, incident in enumerate(incidents):
        line = _digest_line(redactor, incident)
        rest = len(incidents) - index - 1
        reserve = 60 if rest else 0  # room for the "… and N more" line
        if used + units(line) + 1 + reserve > DESCRIPTION_MAX:
            lines.append(f"{ELLIPSIS} and {len(incidents) - index} more (`aimon status` lists them)")
            break
        lines.append(line)
        used += units(line) + 1
    count = len(incidents)
    content = f"{mention} " if mention else ""
    content += f"**{count} alerts** at once: one digest instead of {count} messages."
    embed = {
        "title": f"aimon digest: {count} alerts",
        "description": "\n".join(lines),
        "color": COLOURS.get(worst, COLOURS["medium"]),
        "footer": {"text": "aimon · each error is alerted on its own again after the storm"},
    }
    payload = {"content": content, "embeds": [embed], "allowed_mentions": copy.deepcopy(allowed)}
    return fit(redactor.redact_obj(payload))


def _inert(redactor: Redactor, text: str, limit: int) -> str:
    # Redact first (escaping would hide secrets from the patterns), cut, then escape; the escape can lengthen the
    # text, and fit() cuts again if it must.
    return escape(_cut(redactor.redact(" ".join(text.split())), limit))


def _description(redactor: Redactor, incident: Incident) -> str:
    result = incident.result
    parts = []
    if incident.diagnosis is None:
        parts.append("*Diagnosis not ready yet; this message is updated when it is.*")
    for heading, key in (("", "summary"), ("Root cause", "root_cause"), ("Suggested fix", "suggested_fix")):
        text = str(result.get(key) or "").strip()
        if text:
            # Cut after escaping: the escapes count towards the limit too.
            body = _cut(escape(redactor.redact(text)), SECTION_MAX)
            parts.append(f"**{heading}**\n{body}" if heading else body)
    if incident.looks_like:
        parts.append("\n".join(f"*{_cut(escape(redactor.redact(line)), 300)}*" for line in incident.looks_like[:2]))
    parts.append(discord_code_block(_cut(redactor.redact(incident.sample), SECTION_MAX)))
    return "\n\n".join(parts)


def _fields(redactor: Redactor, incident: Incident) -> list[dict[str, Any]]:
    def value(text: str | None) -> str:
        return escape(_cut(redactor.redact(text), 200)) if text else NO_VALUE

    count = f"{incident.count} total"
    if incident.kind == "spike" and incident.baseline is not None:
        count += f", {incident.window_count} in the window (usually {incident.baseline:.1f})"
    elif incident.window_count:
        count += f", {incident.window_count} in the window"
    if incident.symptoms:
        count += f" ({', '.join(incident.symptoms)})"
    fields = [
        {"name": "Severity", "value": incident.severity, "inline": True},
        {"name": "Error code", "value": value(incident.error_code), "inline": True},
        {"name": "Count", "value": count, "inline": True},
        {"name": "First seen", "value": _when(incident.first_seen), "inline": True},
        {"name": "Last seen", "value": _when(incident.last_seen), "inline": True},
        {"name": "Target", "value": value(incident.target), "inline": True},
        {"name": "Request id", "value": value(incident.request_id), "inline": True},
        {"name": "Fingerprint", "value": f"`{incident.fingerprint}`", "inline": True},
    ]
    if incident.issue:
        fields.append({"name": "GitHub issue", "value": f"[#{incident.issue['number']}]({incident.issue['url']})", "inline": True})
    return fields


def _footer(incident: Incident) -> str:
    text = f"aimon · detection #{incident.detection_id}"
    if incident.diagnosis:
        source = str(incident.diagnosis.get("source") or "")
        model = str(incident.diagnosis.get("model") or "")
        text += f" · diagnosis: {source}{' ' + model if model and source == 'llm' else ''}"
        confidence = incident.result.get("confidence")
        if isinstance(confidence, (int, float)):
            text += f" ({confidence:.0%} confident)"
    return text


def _digest_line(redactor: Redactor, incident: Incident) -> str:
    label = KIND_LABELS.get(incident.kind, incident.kind)
    line = f"**{incident.severity}** · {label}: {_inert(redactor, incident.title, 120)} · {incident.count}× · `{incident.fingerprint}`"
    if incident.issue:
        line += f" · [#{incident.issue['number']}]({incident.issue['url']})"
    return line


def _when(stamp: str | None) -> str:
    return stamp.replace("T", " ")[:19] + " UTC" if stamp else NO_VALUE


# -- limits ------------------------------------------------------------------------------------------------------------


def units(text: str) -> int:
    """Length in UTF-16 code units (what a JavaScript-minded limit counts; never less than ``len``)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` UTF-16 units, ending with "…" when cut."""
    if units(text) <= limit:
        return text
    if limit <= 0:
        return ""
    budget = limit - 1  # the marker is one unit
    kept, used = [], 0
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > budget:
            break
        kept.append(char)
        used += size
    return "".join(kept) + ELLIPSIS


def _cut_markdown(text: str, limit: int) -> str:
    """:func:`_cut`, but a code block that the cut leaves open is closed (it holds the "…")."""
    cut = _cut(text, limit)
    if cut == text or cut.count(FENCE) % 2 == 0:
        return cut
    shorter = _cut(text, limit - len(FENCE) - 1)
    return shorter + "\n" + FENCE if shorter.count(FENCE) % 2 else shorter


def fit(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``payload`` within every documented Discord limit (see module docstring); never raises."""
    out = copy.deepcopy(payload)
    if "content" in out:
        out["content"] = _cut_markdown(str(out["content"] or ""), CONTENT_MAX)
    embeds = list(out.get("embeds") or [])[:EMBEDS_MAX]
    for embed in embeds:
        if "title" in embed:
            embed["title"] = _cut(str(embed["title"] or ""), TITLE_MAX)
        if "description" in embed:
            embed["description"] = _cut_markdown(str(embed["description"] or ""), DESCRIPTION_MAX)
        fields = list(embed.get("fields") or [])[:FIELDS_MAX]
        for field in fields:
            # Discord rejects empty names and values too.
            field["name"] = _cut(str(field.get("name") or "") or NO_VALUE, FIELD_NAME_MAX)
            field["value"] = _cut_markdown(str(field.get("value") or "") or NO_VALUE, FIELD_VALUE_MAX)
        if "fields" in embed:
            embed["fields"] = fields
        if "footer" in embed:
            embed["footer"]["text"] = _cut(str(embed["footer"].get("text") or ""), FOOTER_MAX)
        if "author" in embed:
            embed["author"]["name"] = _cut(str(embed["author"].get("name") or ""), AUTHOR_MAX)
    if "embeds" in out:
        out["embeds"] = embeds
    _fit_total(embeds)
    return out


def _slots(embeds: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str, int]]:
    """Every text that counts towards the 6000 total: (holder, key, minimum length)."""
    found: list[tuple[dict[str, Any], str, int]] = []
    for embed in embeds:
        found += [(embed, key, 0) for key in ("title", "description") if key in embed]
        found += [(field, key, 1) for field in embed.get("fields", []) for key in ("name", "value")]
        if "footer" in embed:
            found.append((embed["footer"], "text", 0))
        if "author" in embed:
            found.append((embed["author"], "name", 0))
    return found


def total_units(embeds: list[dict[str, Any]]) -> int:
    """The sum Discord checks against 6000: titles, descriptions, field names and values, footers, author names."""
    return sum(units(holder[key]) for holder, key, _ in _slots(embeds))


def _fit_total(embeds: list[dict[str, Any]]) -> None:
    # Cut the longest text by the excess, repeatedly: long descriptions give way before short fields.
    while (excess := total_units(embeds) - TOTAL_MAX) > 0:
        holder, key, floor = max(_slots(embeds), key=lambda slot: units(slot[0][slot[1]]))
        size = units(holder[key])
        if size <= max(floor, 1):
            break  # cannot happen within the other limits (540 slots of one unit); never loop forever
        holder[key] = _cut_markdown(holder[key], max(size - excess, floor, 1))
