"""What a diagnosis cites, checked against what it was shown: each reference in its evidence resolved to the line.

The prompt gives every line a reference (``[E1]`` a sample, ``[T4]`` the request trail, ``[B2]`` a warning before,
``[S1]`` a spike's rate, ``[P1]`` the panic before, ``[F1]`` a backtrace frame, ``[M1]`` a similar past error,
``[src/x.rs:42]`` a source line, ``[catalog]``), and a diagnosis lists its evidence by them. Resolving them lets the
issue show the very lines a diagnosis stands on — and says so when it cites a line it was never shown, which is a
reason to trust it less.
"""

from __future__ import annotations

import re
from typing import Any

from aimon.stages.diagnose.context import DiagnosisContext

MAX_CITED = 12
_REF = re.compile(r"\[(?P<ref>[A-Z]\d+(?: F\d+)?|catalog|[\w./-]+\.rs:\d+)\]")
_LINE_REF = re.compile(r"^(?:>> )?\[(?P<ref>[A-Z]\d+(?: F\d+)?)\]\s*")


def references(ctx: DiagnosisContext) -> dict[str, str]:
    """Every reference the prompt of ``ctx`` shows, with its line."""
    found: dict[str, str] = {}
    lines = [*ctx.samples, *ctx.trail, *ctx.before, *ctx.spike, *ctx.frames, *ctx.memory]
    if ctx.panic is not None:
        lines.extend(ctx.panic.lines)
    for line in lines:
        if (match := _LINE_REF.match(line)) is not None:
            found.setdefault(match.group("ref"), line.removeprefix(">> "))
    if ctx.source is not None:
        for number, text in ctx.source.lines:
            found[f"{ctx.source.path}:{number}"] = f"[{ctx.source.path}:{number}] {text.strip()}"
    if ctx.catalog is not None:
        found["catalog"] = f"[catalog] {ctx.catalog.code}: {ctx.catalog.description}"
    return found


def cited(evidence: list[str], shown: dict[str, str]) -> list[dict[str, Any]]:
    """The references ``evidence`` cites, in order, each with the line it names (``line`` None: never shown)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in evidence:
        for match in _REF.finditer(item):
            ref = match.group("ref")
            if ref in seen:
                continue
            seen.add(ref)
            out.append({"ref": ref, "line": shown.get(ref)})
    return out[:MAX_CITED]
