"""What a Rust file does, as countable facts read from its tokens: the guard compares them before and after a patch.

A fact is a short string with a count: ``ident:unsafe``, ``seg:fs`` (a path segment, next to ``::``), ``macro:asm``,
``attr:path``, ``use-root:regex``, ``crate:libc``, ``extern-abi``, ``literal:/proc/``, ``mod-file:x``, ``doctest``.
Comments and literals never produce code facts (a string that spells ``unsafe`` is data); a macro body does, since a
macro expands to what it holds. Comparing counts instead of grepping added lines means a fix may move or keep what
the file already does, and may not add one more of it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from aimon.stages.autofix.rustlex import COMMENT, IDENT, PUNCT, STRING, Token, tokenize

# Path roots that are never another crate: the standard library, the current crate, and the primitive types.
NOT_CRATES = frozenset(
    {
        "std", "core", "alloc", "crate", "self", "super", "Self",
        "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
        "f32", "f64",
    }
)

# String literals that name where a process's secrets or the host's configuration live.
SENSITIVE_LITERAL = re.compile(
    r"/proc/|/sys/|/dev/|^/etc/|^/root\b|^/home/|^~|\.ssh\b|\.aws\b|\.netrc|\.docker/config|id_rsa|id_ed25519"
    r"|(^|/)\.env\b|/var/run/secrets|/run/secrets"
)
_DOC_COMMENT = re.compile(r"^(///|//!|/\*\*|/\*!)")


def facts(source: str) -> Counter[str]:
    """The facts of one Rust file (raises :class:`~aimon.stages.autofix.rustlex.LexError` when it cannot be read)."""
    tokens = tokenize(source)
    found: Counter[str] = Counter()
    found.update(_doctests(tokens))
    code = [token for token in tokens if token.kind != COMMENT]
    for index, token in enumerate(code):
        if token.kind == IDENT:
            found.update(_ident_facts(code, index))
        elif token.kind == STRING and SENSITIVE_LITERAL.search(token.value):
            found[f"literal:{token.value[:60]}"] += 1
        elif token.kind == PUNCT and token.text == "#":
            found.update(_attribute(code, index))
    found.update(_use_roots(code))
    found.update(_declared_mods(code))
    return found


def _text(tokens: Sequence[Token], index: int) -> str:
    return tokens[index].text if 0 <= index < len(tokens) else ""


def _name(token: Token) -> str:
    return token.value or token.text


def _ident_facts(code: Sequence[Token], index: int) -> list[str]:
    name = _name(code[index])
    out = [f"ident:{name}"]
    before, after = _text(code, index - 1), _text(code, index + 1)
    if before == "::" or after == "::":
        out.append(f"seg:{name}")
    if after == "!" and _text(code, index + 2) != "=" and before != "macro_rules":
        out.append(f"macro:{name}")
    if name == "macro_rules" and after == "!":
        out.append("macro-def")
    if name == "extern":
        if index + 1 < len(code) and (code[index + 1].kind == STRING or after == "{"):
            out.append("extern-abi")
        if after == "crate" and index + 2 < len(code):
            out.append(f"crate:{_name(code[index + 2])}")
    if after == "::" and before != "::" and _is_crate_like(name):
        out.append(f"path-root:{name}")
    if before == "::" and _leading_colons(code, index - 1):
        out.append(f"abs-root:{name}")  # `::ureq::get(...)`: a path that starts at the list of crates
    return out


def _leading_colons(code: Sequence[Token], colons: int) -> bool:
    """Whether the ``::`` at ``colons`` starts a path (nothing it continues: no name, no ``>`` of generics)."""
    if colons == 0:
        return True
    previous = code[colons - 1]
    return previous.kind != IDENT and previous.text != ">"


def _is_crate_like(name: str) -> bool:
    # Crates are snake_case; `Vec::new` and `Ordering::Less` are types and enums.
    return name not in NOT_CRATES and name[:1].islower()


def _attribute(code: Sequence[Token], index: int) -> list[str]:
    """``#[name ...]`` or ``#![name ...]``: ``attr:name`` (the last segment of the path). Inside ``cfg_attr`` every
    name counts as an attribute (``#[cfg_attr(all(), no_mangle)]`` is ``#[no_mangle]``), and ``path = "…"`` anywhere
    in an attribute is ``attr:path`` (a module read from another file)."""
    at = index + 1
    if _text(code, at) == "!":
        at += 1
    if _text(code, at) != "[":
        return []
    inside = _bracketed(code, at)
    out = []
    lead = _lead_path(inside)
    if lead:
        out.append(f"attr:{lead}")
    if lead == "cfg_attr":
        out += [f"attr:{_name(t)}" for t in inside if t.kind == IDENT and _name(t) not in ("cfg_attr", "unsafe")]
    for pos, token in enumerate(inside[:-1]):
        if token.kind == IDENT and _name(token) == "path" and inside[pos + 1].text == "=":
            out.append("attr:path")
    return out


def _bracketed(code: Sequence[Token], at: int) -> list[Token]:
    """The tokens between the ``[`` at ``at`` and its matching ``]``."""
    depth, end = 0, at
    while end < len(code):
        if code[end].text == "[":
            depth += 1
        elif code[end].text == "]":
            depth -= 1
            if depth == 0:
                break
        end += 1
    return list(code[at + 1 : end])


def _lead_path(inside: Sequence[Token]) -> str | None:
    # Rust 2024 writes unsafe attributes as #[unsafe(no_mangle)]: the name is the one inside.
    at = 2 if len(inside) > 2 and _name(inside[0]) == "unsafe" and inside[1].text == "(" else 0
    last = None
    while at < len(inside) and (inside[at].kind == IDENT or inside[at].text == "::"):
        if inside[at].kind == IDENT:
            last = _name(inside[at])
        at += 1
    return last


def _use_roots(code: Sequence[Token]) -> list[str]:
    """The first segment of every ``use`` path (``use regex::Regex;`` → ``use-root:regex``), braces included."""
    roots: list[str] = []
    names: list[str] = []
    for index, token in enumerate(code):
        if token.kind != IDENT or token.text != "use" or _text(code, index - 1) in ("::", "."):
            continue
        at = index + 1
        if _text(code, at) == "::":
            at += 1
        if _text(code, at) == "{":  # `use {a::b, c::d};`: every first segment inside the braces
            roots += _braced_roots(code, at)
        elif at < len(code) and code[at].kind == IDENT:
            roots.append(_name(code[at]))
        names += _names_until_semicolon(code, at)
    return [f"use-root:{root}" for root in roots if root not in NOT_CRATES] + [f"use-name:{name}" for name in names]


def _names_until_semicolon(code: Sequence[Token], at: int) -> list[str]:
    # Every name a `use` declaration mentions may be used as a path root after it (`use crate::db;` → `db::query`).
    names = []
    while at < len(code) and code[at].text != ";":
        if code[at].kind == IDENT:
            names.append(_name(code[at]))
        at += 1
    return names


def _braced_roots(code: Sequence[Token], at: int) -> list[str]:
    roots: list[str] = []
    depth, expect = 0, True
    while at < len(code):
        text = code[at].text
        if text == "{":
            depth += 1
        elif text == "}":
            depth -= 1
            if depth == 0:
                break
        elif depth == 1 and text == ",":
            expect = True
        elif depth == 1 and expect and code[at].kind == IDENT:
            roots.append(_name(code[at]))
            expect = False
        at += 1
    return roots


def _declared_mods(code: Sequence[Token]) -> list[str]:
    """``mod x;`` (a module read from another file, ``mod-file:x``) and every declared module (``mod:x``)."""
    out = []
    for index, token in enumerate(code):
        if token.kind == IDENT and token.text == "mod" and index + 1 < len(code) and code[index + 1].kind == IDENT:
            name = _name(code[index + 1])
            out.append(f"mod:{name}")
            if _text(code, index + 2) == ";":
                out.append(f"mod-file:{name}")
    return out


def _doctests(tokens: Sequence[Token]) -> list[str]:
    # A code block in a doc comment is a doctest: `cargo test` compiles and runs it.
    return ["doctest" for token in tokens if token.kind == COMMENT and _DOC_COMMENT.match(token.text) and "```" in token.text]


def in_scope(found: Counter[str]) -> set[str]:
    """Names a path may start with without naming a crate: modules declared and names brought in by ``use``."""
    names = {key.split(":", 1)[1] for key in found if key.startswith("mod:")}
    names |= {key.split(":", 1)[1] for key in found if key.startswith("use-name:")}
    # The first segment of a `use` path is where the names come from, not a name it brings in.
    return names - {key.split(":", 1)[1] for key in found if key.startswith("use-root:")}
