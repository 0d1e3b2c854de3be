"""Untrusted text (log lines, LLM output) inside Markdown that Discord and GitHub render.

Log text must stay text: it cannot start a heading or a list, turn into a link, mention anyone, or close the code block
it is shown in; its control characters (terminal escapes, NUL, C1 codes) are shown as symbols, never sent. Outside code
everything Markdown gives meaning to is backslash-escaped and ``@`` is split from what follows it; inside code the fence
cannot be closed from within: Discord only knows triple-backtick fences, so backtick runs inside are broken up;
CommonMark (GitHub) accepts longer fences, so the fence is longer than any run inside.
"""

from __future__ import annotations

import re

ELLIPSIS = "…"
ZWSP = "\u200b"  # zero-width space: invisible, but breaks a mention or a backtick run

# Characters with a meaning anywhere in a line (emphasis, code, spoilers, links, HTML/mentions, escapes).
_INLINE = re.compile(r"([\\*_~`|\[\]<>])")
# Characters with a meaning only at the start of a line (headings, quotes, lists, ordered lists).
_LINE_START = re.compile(r"^(\s*)(?:([#>+\-])|(\d+)\.)", re.MULTILINE)
_BACKTICK_RUN = re.compile(r"`+")
_LANG = re.compile(r"^[A-Za-z0-9_+-]{0,20}$")
# Every control character but tab and newline: C0 (ESC, NUL, BEL, CR...), DEL and the C1 range (0x9B is a CSI too).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible_controls(text: str) -> str:
    """Control characters as their Unicode "control pictures" (``ESC`` → ``␛``, NUL → ``␀``; C1 → ``�``): still
    readable, inert in any renderer or terminal, one character for one (lengths do not change)."""
    return _CONTROL.sub(_picture, text)


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2421" if code == 0x7F else "\ufffd"


def shorten(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    """``text`` cut to at most ``limit`` characters, ending with ``marker`` when something was cut."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit <= len(marker):
        return text[:limit]
    return text[: limit - len(marker)] + marker


def shorten_lines(text: str, max_lines: int, marker: str = ELLIPSIS) -> str:
    """``text`` with at most ``max_lines`` lines; a last line ``marker`` says that some were left out."""
    lines = text.splitlines()
    if len(lines) <= max_lines:
        return text
    return "\n".join([*lines[:max_lines], marker])


def escape(text: str) -> str:
    """Untrusted text made inert outside code blocks, for Discord and GitHub alike.

    ``@everyone`` / ``@user`` get a zero-width space after the ``@`` (GitHub notifies on mentions; Discord suppresses
    them anyway through ``allowed_mentions``), and every Markdown character is escaped.
    """
    text = _INLINE.sub(r"\\\1", visible_controls(text))
    text = _LINE_START.sub(_escape_line_start, text)
    return text.replace("@", "@" + ZWSP)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, mark, digits = match.groups()
    return f"{indent}\\{mark}" if mark else f"{indent}{digits}\\."


def discord_code_block(text: str, lang: str = "") -> str:
    """``text`` in a Discord code block that nothing inside can close (Discord ignores fences longer than three)."""
    inner = _BACKTICK_RUN.sub(lambda match: ZWSP.join(match.group(0)), visible_controls(text)) if text.strip() else "(empty)"
    # A backtick right before the closing fence would make four: keep them apart.
    if inner.endswith("`"):
        inner += ZWSP
    return f"```{_safe_lang(lang)}\n{inner}\n```"


def fence(text: str, lang: str = "") -> str:
    """``text`` in a CommonMark fenced code block whose fence is longer than any backtick run inside."""
    text = visible_controls(text)
    longest = max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{_safe_lang(lang)}\n{text}\n{ticks}"


def inline_code(text: str) -> str:
    """``text`` as one CommonMark code span (on one line), delimited by more backticks than any run inside."""
    text = " ".join(visible_controls(text).split("\n"))
    longest = max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _safe_lang(lang: str) -> str:
    return lang if _LANG.match(lang) else ""


__all__ = ["ELLIPSIS", "ZWSP", "discord_code_block", "escape", "fence", "inline_code", "shorten", "shorten_lines",
           "visible_controls"]
