"""The Rust lexer the guard reads patches with: exact on the parts that decide what is code and what is text."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from aimon.stages.autofix import facts
from aimon.stages.autofix.rustlex import CHAR, COMMENT, IDENT, LIFETIME, NUMBER, STRING, LexError, code_tokens, tokenize

WORDS = st.sampled_from(["unsafe", "std::process::Command", "libc::system", "include_str!", "#[path = \"x\"]", "ureq::get",
                         "'a", "'", "\"", "\\", "r#\"", "\"#", "/*", "*/", "//", "\n", "b'", "extern \"C\"", " ", "x"])
HOSTILE_TEXT = st.lists(WORDS, max_size=12).map("".join) | st.text(max_size=40)


def kinds(source: str) -> list[tuple[str, str]]:
    return [(token.kind, token.text) for token in tokenize(source)]


def test_the_tricky_parts() -> None:
    source = "fn f<'a>(x: &'a str) -> char { let c = '\\''; let r#type = b'x'; /* a /* b */ unsafe */ r#\"unsafe\"# }"
    assert kinds(source) == [
        (IDENT, "fn"), (IDENT, "f"), ("punct", "<"), (LIFETIME, "'a"), ("punct", ">"),
        ("punct", "("), (IDENT, "x"), ("punct", ":"), ("punct", "&"), (LIFETIME, "'a"), (IDENT, "str"), ("punct", ")"),
        ("punct", "-"), ("punct", ">"), (IDENT, "char"), ("punct", "{"), (IDENT, "let"), (IDENT, "c"), ("punct", "="),
        (CHAR, "'\\''"), ("punct", ";"), (IDENT, "let"), (IDENT, "r#type"), ("punct", "="), (CHAR, "b'x'"),
        ("punct", ";"), (COMMENT, "/* a /* b */ unsafe */"), (STRING, 'r#"unsafe"#'), ("punct", "}"),
    ]


@pytest.mark.parametrize(
    ("source", "value"),
    [('"a\\"b"', 'a\\"b'), ('b"bytes"', "bytes"), ('c"cstr"', "cstr"), ('r"raw\\"', "raw\\"), ('br##"a"#b"##', 'a"#b'),
     ('cr#"x"#', "x"), ('"line\nbreak"', "line\nbreak")],
)
def test_every_form_of_string_literal(source: str, value: str) -> None:
    [token] = tokenize(source)
    assert token.kind == STRING and token.value == value


@pytest.mark.parametrize("source", ['"never', "r#\"never\"", "/* never /* */", "'\\u{1F600", "b'xy'"])
def test_what_no_compiler_accepts_is_an_error(source: str) -> None:
    with pytest.raises(LexError):
        tokenize(source)


def test_numbers_ranges_and_field_access() -> None:
    assert kinds("1..2") == [(NUMBER, "1"), ("punct", "."), ("punct", "."), (NUMBER, "2")]
    assert kinds("1.5e3 0xff_u8") == [(NUMBER, "1.5e3"), (NUMBER, "0xff_u8")]


@given(HOSTILE_TEXT)
@example("'a' 'b")
@example("r##\"x\"# \"##")
def test_tokens_cover_the_source_in_order_with_only_blanks_between(source: str) -> None:
    try:
        tokens = tokenize(source)
    except LexError:
        return
    at = 0
    for token in tokens:
        assert source[at : token.start].strip() == ""
        assert source[token.start : token.start + len(token.text)] == token.text and token.text
        at = token.start + len(token.text)
    assert source[at:].strip() == ""


@given(HOSTILE_TEXT)
def test_anything_inside_a_raw_string_is_one_literal(text: str) -> None:
    hashes = "#" * (max((len(run) for run in text.split('"')[1:]), default=0) + text.count("#") + 1)
    source = f'let s = r{hashes}"{text}"{hashes}; let t = 1;'
    tokens = code_tokens(source)
    assert [t.text for t in tokens if t.kind == IDENT] == ["let", "s", "let", "t"]
    [literal] = [t for t in tokens if t.kind == STRING]
    assert literal.value == text


@given(HOSTILE_TEXT)
def test_anything_inside_an_escaped_string_is_one_literal(text: str) -> None:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    tokens = code_tokens(f'let s = "{escaped}"; let t = 1;')
    assert [t.text for t in tokens if t.kind == IDENT] == ["let", "s", "let", "t"]


@given(HOSTILE_TEXT)
def test_anything_inside_a_line_comment_or_a_balanced_block_comment_is_nothing(text: str) -> None:
    line = text.replace("\n", " ")
    assert [t.text for t in code_tokens(f"fn a() {{}} // {line}\nfn b() {{}}") if t.kind == IDENT] == ["fn", "a", "fn", "b"]
    inner = text.replace("/*", "").replace("*/", "").replace("/", "")
    nested = f"fn a() {{}} /* {inner} /* {inner} */ {inner} */ fn b() {{}}"
    assert [t.text for t in code_tokens(nested) if t.kind == IDENT] == ["fn", "a", "fn", "b"]


@given(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), st.characters(blacklist_characters="'\\\n\r"))
def test_lifetimes_and_characters_are_told_apart(name: str, ch: str) -> None:
    assert kinds(f"&'{name} T") == [("punct", "&"), (LIFETIME, f"'{name}"), (IDENT, "T")]
    [token] = tokenize(f"'{ch}'")
    assert token.kind == CHAR and token.value == ch


@given(HOSTILE_TEXT)
def test_a_string_or_a_comment_that_spells_code_adds_no_code_fact(text: str) -> None:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    plain = facts.facts('fn f() { let s = ""; }')
    spelled = facts.facts(f'fn f() {{ let s = "{escaped}"; }} // {text.replace(chr(10), " ")}')
    assert {k: v for k, v in spelled.items() if not k.startswith("literal:")} == plain


def test_facts_of_a_file() -> None:
    found = facts.facts(
        'use regex::Regex;\nuse crate::db::{self, Pool};\nextern crate rand;\n#[path = "x.rs"]\nmod x;\n'
        'fn f() { unsafe { libc::getpid() }; std::fs::read("a"); ::ureq::get("u"); info!("x"); u32::MAX; }\n'
    )
    for key in ("use-root:regex", "use-name:Pool", "crate:rand", "attr:path", "mod-file:x", "ident:unsafe", "seg:libc",
                "path-root:libc", "seg:fs", "abs-root:ureq", "macro:info"):
        assert found[key] >= 1, key
    assert "path-root:u32" not in found and "use-root:crate" not in found
    assert facts.in_scope(found) >= {"db", "Pool", "x"} and "regex" not in facts.in_scope(found)
