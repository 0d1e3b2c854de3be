"""The offline diagnoser: a diagnosis from built-in knowledge (:mod:`aimon.stages.diagnose.rules`) and the error catalog.

The same :class:`~aimon.model.Diagnosis` as the LLM's, ``source: heuristic``, and an honest confidence: a rule's confidence says how often that
message means that cause; nothing matched means a low confidence and ``insufficient_evidence``. The rules classify what
the error says — its message and all its fields, read the same from every log format
(:func:`~aimon.stages.diagnose.event.event_text`) — first (a ``Result::unwrap()`` / ``expect()`` panic by the error
inside it); when that names no cause, the panic its thread wrote just before it; then the earlier WARN-or-worse lines
of the same request, which often name the cause of a generic "request failed". Lines of other requests never do.
"""

from __future__ import annotations

import re
from typing import Any, cast

from aimon.model import SEVERITIES, Diagnosis, Severity
from aimon.stages.diagnose import names
from aimon.stages.diagnose.context import DiagnosisContext
from aimon.stages.diagnose.rules import EXPECT_ERR, PANIC_RULE, RULES, UNWRAP_ERR, Rule

MAX_CONFIDENCE = 0.85  # rules recognise messages; they never see the whole picture
NOTHING_MATCHED = 0.2
_REF_RE = re.compile(r"^(?:>> )?\[(?P<ref>[A-Z]\d+)\]\s*")


def first_rule(text: str) -> Rule | None:
    """The first rule whose pattern is found in ``text``."""
    for rule in RULES:
        if rule.pattern.search(text):
            return rule
    return None


def classify(text: str, is_panic: bool) -> tuple[Rule | None, Rule | None, str | None]:
    """(rule, inner rule, wrapper) for an error text; wrapper is ``"unwrap"``/``"expect"`` for Result panics."""
    unwrap = UNWRAP_ERR.search(text)
    if unwrap:
        return first_rule(unwrap.group("inner")), None, "unwrap"
    rule = first_rule(text)
    if rule is not None:
        return rule, None, None
    if is_panic:
        expect = EXPECT_ERR.match(text.strip())
        inner = first_rule(expect.group("inner")) if expect else None
        if inner is not None:
            return inner, None, "expect"
        return PANIC_RULE, None, None
    return None, None, None


def diagnose(ctx: DiagnosisContext) -> Diagnosis:
    """A diagnosis of a (redacted) context without any remote call."""
    facts = ctx.facts
    is_panic = _is_panic(facts)
    main_text = "\n".join(ctx.messages) or str(facts.get("template", ""))
    rule, _, wrapper = classify(main_text + "\n" + "\n".join(ctx.frames), is_panic)
    supporting = _matching_clues(ctx)
    if supporting and _reports_the_response(facts, main_text):
        # A report of this service's own failed response (tower-http's on_failure "response failed" with the status it
        # answered) says that the request failed, not why: the 503 is the answer it gave, not an upstream's. The error
        # the same request logged before it is the cause.
        rule = wrapper = None
    if rule is None and wrapper is None and ctx.panic is not None:
        # What the error says names no cause, and its thread panicked just before: the panic is what it reports.
        rule, _, wrapper = classify(ctx.panic.message, True)
        result = _from_rule(ctx, rule, wrapper, "panic", _evidence(ctx, []))
    elif rule is None and wrapper is None and supporting:
        result = _from_rule(ctx, supporting[0][1], None, "trail", _evidence(ctx, supporting))
    elif rule is None and wrapper is None:
        result = _unknown(ctx, _evidence(ctx, supporting))
    else:
        result = _from_rule(ctx, rule, wrapper, None, _evidence(ctx, []))
    _apply_catalog(ctx, result)
    result.severity = _bump(result.severity, facts)
    return result


# tower-http's on_failure event, word for word; a handler's own "request failed: connection refused" says its cause.
_RESPONSE_REPORT = re.compile(r"^\s*response failed\b", re.IGNORECASE)


def _reports_the_response(facts: dict[str, Any], text: str) -> bool:
    """The event reports how this service answered a request (an access-log or trace layer's line), not a cause."""
    target = str(facts.get("target") or "")
    return target.startswith(("tower_http::trace", "actix_web::middleware::logger")) or bool(_RESPONSE_REPORT.match(text))


def _from_rule(ctx: DiagnosisContext, rule: Rule | None, wrapper: str | None, via: str | None, evidence: list[str]) -> Diagnosis:
    """``via``: where the cause was read — ``None`` the error itself, ``"panic"`` the panic before it, ``"trail"`` its request."""
    assert rule is not None or wrapper is not None
    facts = ctx.facts
    location = _location(ctx, via)
    if wrapper is not None:
        call = ".unwrap()" if wrapper == "unwrap" else ".expect(...)"
        title = f"Panic: {call} on an Err" + (f" — {rule.title}" if rule else "")
        root = f"The code calls {call} on a Result that was Err, so a recoverable error became a panic (the request fails, and the task or thread dies)."
        if rule is not None:
            root += f" The error inside: {rule.root_cause}"
        fix = f"At the panic site{f' ({location})' if location else ''}, propagate the error instead of {call} (`?` with a mapped error, or an error response)."
        if rule is not None:
            fix += f" Then the cause: {rule.fix}"
        category = rule.category if rule is not None else "panic"
        severity = _max_severity("high", rule.severity if rule else "high")
        confidence = rule.confidence if rule is not None else 0.5
        auto = ctx.source is not None
        reason = ("Replacing the unwrap with error propagation is a local change." if auto
                  else "The source at the panic location is not available (set AIMON_REPO_DIR), so the change cannot be checked.")
        if rule is not None:
            title, root, fix = _with_names(ctx, rule, title, root, fix)
    else:
        assert rule is not None
        title, root, fix, category, severity, confidence = rule.title, rule.root_cause, rule.fix, rule.category, rule.severity, rule.confidence
        title, root, fix = _with_names(ctx, rule, title, root, fix)
        auto, reason = rule.auto_fixable, rule.auto_reason
        if auto and not ctx.source:
            auto, reason = False, "The source at the error location is not available (set AIMON_REPO_DIR), so the change cannot be checked."
        if via == "trail":
            title = f"{title} (named by the request's earlier lines)"
            root = f"The error's own message does not say why; the same request logged, before it: {root}"
            confidence -= 0.2
            auto, reason = False, "The cause is inferred from other lines of the request."
    if via == "panic" and ctx.panic is not None:
        thread = f" ({ctx.panic.thread})" if ctx.panic.thread else ""
        at = f" at {ctx.panic.location}" if ctx.panic.location else ""
        title = f"{title} (the panic just before it in the same thread)"
        root = f"This error follows a panic in the same thread{thread}{at}: the panic is the cause. {root}"
        confidence -= 0.1  # the link is read from the thread and the order of the lines
    if ctx.source is not None:
        confidence += 0.05
    if facts.get("target"):
        title = f"{title} in {facts['target']}"
    return Diagnosis(
        title=_cap(title, 160),
        summary=_summary(ctx, rule.title if rule else "Panic on an Err value"),
        root_cause=root,
        evidence=evidence,
        suggested_fix=fix,
        severity=severity,
        category=category,
        auto_fixable=auto,
        auto_fixable_reason=reason,
        confidence=round(min(MAX_CONFIDENCE, max(0.05, confidence)), 2),
        insufficient_evidence=False,
    )


def _with_names(ctx: DiagnosisContext, rule: Rule, title: str, root: str, fix: str) -> tuple[str, str, str]:
    """The title, root cause and fix made specific with the names the error carries (host and status, table and
    constraint, path, pool and size): what failed, why here, and the first thing to check."""
    texts = [*ctx.messages, *ctx.clues, ctx.panic.message if ctx.panic is not None else ""]
    source = [text for _number, text in ctx.source.lines] if ctx.source is not None else []
    detail = names.specific(rule.name, names.read(texts, source))
    where = _location(ctx, "panic")
    if rule.category == "panic" and where and not detail.what:
        # A panic names no host or table: what it names is the line that panicked.
        detail = names.Specific(what=f"at {where}", check=f"the code at {where}: which input reaches it in the state the panic says")
    if detail.what:
        title = f"{title} {detail.what}" if detail.what.startswith("at ") else f"{title}: {detail.what}"
    if detail.cause:
        root = f"{root} {detail.cause}"
    if detail.check:
        fix = f"First check {detail.check}. {fix}"
    return title, root, fix


def _unknown(ctx: DiagnosisContext, evidence: list[str]) -> Diagnosis:
    facts = ctx.facts
    where = _location(ctx)
    look = ["the request trail" if ctx.trail else "the lines logged just before the error (aimon shows them when the log has request ids)"]
    if where:
        look.append(f"the code at {where}")
    return Diagnosis(
        title=_cap(f"Unrecognised error: {facts.get('template') or 'no message'}", 160),
        summary=_summary(ctx, "No built-in rule recognises this message"),
        root_cause="Unknown: the message matches none of the offline diagnoser's known failures, and nothing else in the context names a cause.",
        evidence=evidence,
        suggested_fix=f"Start from {' and '.join(look)}. Logging the underlying error with its source chain "
                      "(e.g. `error = ?err` / `%err` with anyhow's {:#}) makes the next diagnosis precise; "
                      "an LLM diagnosis (OPENAI_API_KEY or AIMON_LLM_BASE_URL) reads the whole context.",
        severity="high" if _is_panic(facts) else "medium",
        category="panic" if _is_panic(facts) else "unknown",
        auto_fixable=False,
        auto_fixable_reason="The cause is unknown.",
        confidence=NOTHING_MATCHED,
        insufficient_evidence=True,
    )


def _summary(ctx: DiagnosisContext, headline: str) -> str:
    facts = ctx.facts
    count = facts.get("count") or 0
    parts = [f"{headline}."]
    what = f"{facts.get('level', 'ERROR')} \"{_cap(str(facts.get('template', '')), 160)}\""
    if facts.get("target"):
        what += f" from {facts['target']}"
    parts.append(f"{what}: {count} occurrence{'s' if count != 1 else ''} between {facts.get('first_seen', '?')} and {facts.get('last_seen', '?')}.")
    if facts.get("detection") == "spike" and facts.get("spike_factor"):
        parts.append(f"Spiking: {facts.get('window_count')} in the last window, {facts['spike_factor']}× the baseline.")
    elif facts.get("detection") == "regression":
        parts.append("It had been resolved and came back (regression).")
    return " ".join(parts)


def _matching_clues(ctx: DiagnosisContext) -> list[tuple[str, Rule]]:
    """The clues (the request's own WARN-or-worse lines before the error) that a rule recognises, each as the trail
    line it cites; the rule reads what the line says, never its target, spans or file name."""
    shown = {match.group("ref"): line for line in ctx.trail if (match := _REF_RE.match(line))}
    found = []
    for clue in ctx.clues:
        ref = _REF_RE.match(clue)
        rule = first_rule(_REF_RE.sub("", clue, count=1))
        if rule is not None:
            found.append((shown.get(ref.group("ref"), clue) if ref else clue, rule))
    return found


def _evidence(ctx: DiagnosisContext, supporting: list[tuple[str, Rule]]) -> list[str]:
    if ctx.trail_error_index is not None:
        # The latest sample is the error the trail was read around: cite it where the reader sees its request.
        evidence = [_cap(line, 300) for line in ctx.samples[-2:-1]]
        evidence.append(_cap(ctx.trail[ctx.trail_error_index].removeprefix(">> "), 300))
    else:
        evidence = [_cap(line, 300) for line in ctx.samples[-2:]]
    if ctx.panic is not None:
        evidence.extend(_cap(line, 300) for line in ctx.panic.lines[:3])
    evidence.extend(_cap(line, 300) for line, _rule in supporting[:3])
    if ctx.source is not None:
        code = dict(ctx.source.lines).get(ctx.source.line, "").strip()
        fn = f" (in fn {ctx.source.fn_name})" if ctx.source.fn_name else ""
        evidence.append(_cap(f"[{ctx.source.path}:{ctx.source.line}]{fn} {code}", 300))
    evidence.extend(_cap(frame, 300) for frame in ctx.frames[:2])
    if ctx.catalog is not None and ctx.catalog.description:
        evidence.append(_cap(f"[catalog] {ctx.catalog.code}: {ctx.catalog.description}", 300))
    return evidence[:10]


def _apply_catalog(ctx: DiagnosisContext, result: Diagnosis) -> None:
    entry = ctx.catalog
    if entry is None:
        return
    if entry.description:
        result.root_cause = f"The error catalog says {entry.code}: {entry.description.rstrip('. ')}. {result.root_cause}"
        result.confidence = round(min(MAX_CONFIDENCE, max(result.confidence, 0.5) + 0.1), 2)
        result.insufficient_evidence = False
    extra = [f"Owner: {entry.owner}." if entry.owner else "", f"Runbook: {entry.runbook}" if entry.runbook else ""]
    if any(extra):
        result.suggested_fix = f"{result.suggested_fix} {' '.join(part for part in extra if part)}"
    if entry.severity:
        # The settings accept only the severities a diagnosis has; the assignment checks it again.
        result.severity = cast(Severity, entry.severity)
    if entry.auto_fixable is False:
        result.auto_fixable, result.auto_fixable_reason = False, f"The error catalog marks {entry.code} as not auto-fixable."
    elif entry.auto_fixable and not result.auto_fixable and ctx.source is not None:
        result.auto_fixable, result.auto_fixable_reason = True, f"The error catalog marks {entry.code} as auto-fixable."


def _bump(severity: Severity, facts: dict[str, Any]) -> Severity:
    """One level up for a storm (a large spike or many occurrences in a window), never to critical by volume alone."""
    factor = float(facts.get("spike_factor") or 0)
    window = int(facts.get("window_count") or 0)
    if (factor >= 10 or window >= 1000) and severity in ("low", "medium"):
        return SEVERITIES[SEVERITIES.index(severity) + 1]
    return severity


def _max_severity(a: Severity, b: Severity) -> Severity:
    return a if SEVERITIES.index(a) >= SEVERITIES.index(b) else b


def _is_panic(facts: dict[str, Any]) -> bool:
    return facts.get("level") == "PANIC" or bool(facts.get("panic"))


def _location(ctx: DiagnosisContext, via: str | None = None) -> str | None:
    if ctx.source is not None:
        return f"{ctx.source.path}:{ctx.source.line}" + (f", fn {ctx.source.fn_name}" if ctx.source.fn_name else "")
    if via == "panic" and ctx.panic is not None and ctx.panic.location:
        return ctx.panic.location
    location = ctx.facts.get("location")
    return str(location) if location else None


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
