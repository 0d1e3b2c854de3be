"""A small Rust lexer: just enough of the language to tell code from comments and literals.

The guard reads Rust source to see what a patch makes the code *do* (``unsafe``, ``std::process``, ``libc::``...), so
it must never mistake code for text or text for code: a string that spells ``unsafe`` is data, a comment is nothing,
and ``'a`` is a lifetime while ``'a'`` is a character. This lexer follows the Rust reference for exactly those parts:
line and (nested) block comments, string, byte string and C string literals with their escapes, raw strings with any
number of ``#`` (``r#"…"#``, ``br##"…"##``), raw identifiers (``r#type``), character and byte literals against
lifetimes, numbers, identifiers and punctuation (``::`` is one token). It does not parse.

Where it could disagree with rustc it errs towards code: a quote it cannot place becomes punctuation, so whatever
follows is still read as code. Text that no Rust compiler accepts (a literal or block comment that never ends) raises
:class:`LexError`: the guard refuses what it cannot read rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass

# Token kinds.
IDENT = "ident"
LIFETIME = "lifetime"
STRING = "string"  # "…", b"…", c"…" and their raw forms; ``value`` is the text between the quotes
CHAR = "char"  # 'x', b'x'
NUMBER = "number"
PUNCT = "punct"
COMMENT = "comment"  # kept (with its text) so that generated-code markers can be read; the guard skips them


class LexError(ValueError):
    """The text is not Rust a compiler would accept: an unterminated literal or block comment."""


@dataclass(frozen=True)
class Token:
    """One token: its kind, its exact source text, where it starts, and (for strings) the text between the quotes."""

    kind: str
    text: str
    start: int
    value: str = ""


def tokenize(source: str) -> list[Token]:
    """Every token of ``source`` in order, comments included; whitespace is skipped."""
    return list(_Lexer(source).run())


def code_tokens(source: str) -> list[Token]:
    """The tokens of ``source`` without its comments: what the compiler acts on."""
    return [token for token in tokenize(source) if token.kind != COMMENT]


def _ident_start(ch: str) -> bool:
    return ch == "_" or ch.isalpha()


def _ident_continue(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


class _Lexer:
    """A cursor over the source; each ``_read_*`` method consumes one token starting at ``pos``."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0

    def peek(self, offset: int = 0) -> str:
        at = self.pos + offset
        return self.src[at] if at < len(self.src) else ""

    def run(self) -> list[Token]:
        tokens: list[Token] = []
        while True:
            self._skip_blanks()
            if self.pos >= len(self.src):
                return tokens
            tokens.append(self._next())

    def _skip_blanks(self) -> None:
        while self.pos < len(self.src) and self.src[self.pos].isspace():
            self.pos += 1

    def _next(self) -> Token:
        start, ch, nxt = self.pos, self.peek(), self.peek(1)
        if ch == "/" and nxt == "/":
            return self._line_comment(start)
        if ch == "/" and nxt == "*":
            return self._block_comment(start)
        prefixed = self._prefixed_literal(start)
        if prefixed is not None:
            return prefixed
        if ch == '"':
            return self._quoted(start, start)
        if ch == "'":
            return self._quote_or_lifetime(start)
        if ch.isdigit():
            return self._number(start)
        if _ident_start(ch):
            return self._ident(start)
        if ch == ":" and nxt == ":":
            self.pos += 2
            return Token(PUNCT, "::", start)
        self.pos += 1
        return Token(PUNCT, ch, start)

    def _line_comment(self, start: int) -> Token:
        end = self.src.find("\n", start)
        self.pos = len(self.src) if end < 0 else end
        return Token(COMMENT, self.src[start : self.pos], start)

    def _block_comment(self, start: int) -> Token:
        depth, self.pos = 1, start + 2
        while depth:
            if self.pos >= len(self.src):
                raise LexError(f"a block comment that starts at offset {start} never ends")
            pair = self.src[self.pos : self.pos + 2]
            if pair == "/*":
                depth, self.pos = depth + 1, self.pos + 2
            elif pair == "*/":
                depth, self.pos = depth - 1, self.pos + 2
            else:
                self.pos += 1
        return Token(COMMENT, self.src[start : self.pos], start)

    def _prefixed_literal(self, start: int) -> Token | None:
        """``b"…"``, ``b'…'``, ``c"…"``, ``r"…"``, ``r#"…"#``, ``br#"…"#``, ``cr"…"``, or a raw identifier ``r#x``."""
        ch = self.peek()
        if ch not in "bcr":
            return None
        prefix = 2 if ch in "bc" and self.peek(1) == "r" else 1
        after = self.peek(prefix)
        if ch == "b" and prefix == 1 and after == "'":
            return self._char(start, start + 1)
        if prefix == 1 and ch in "bc" and after == '"':
            return self._quoted(start, start + 1)
        if ch == "r" or prefix == 2:
            if after == '"' or (after == "#" and self._raw_hashes(start + prefix)[1] == '"'):
                return self._raw(start, start + prefix)
            if ch == "r" and prefix == 1 and after == "#" and _ident_start(self.peek(2)):
                self.pos = start + 2
                name = self._ident(start + 2)
                return Token(IDENT, self.src[start : self.pos], start, name.text)
        return None

    def _raw_hashes(self, at: int) -> tuple[int, str]:
        count = 0
        while at + count < len(self.src) and self.src[at + count] == "#":
            count += 1
        following = self.src[at + count] if at + count < len(self.src) else ""
        return count, following

    def _raw(self, start: int, hashes_at: int) -> Token:
        count, _ = self._raw_hashes(hashes_at)
        open_end = hashes_at + count + 1  # past the opening quote
        closing = '"' + "#" * count
        end = self.src.find(closing, open_end)
        if end < 0:
            raise LexError(f"a raw string that starts at offset {start} never ends")
        self.pos = end + len(closing)
        return Token(STRING, self.src[start : self.pos], start, self.src[open_end:end])

    def _quoted(self, start: int, quote_at: int) -> Token:
        at = quote_at + 1
        while at < len(self.src):
            ch = self.src[at]
            if ch == "\\":
                at += 2
                continue
            if ch == '"':
                self.pos = at + 1
                return Token(STRING, self.src[start : self.pos], start, self.src[quote_at + 1 : at])
            at += 1
        raise LexError(f"a string that starts at offset {start} never ends")

    def _quote_or_lifetime(self, start: int) -> Token:
        nxt = self.peek(1)
        if nxt == "\\" or (nxt and nxt != "'" and self.peek(2) == "'"):
            return self._char(start, start)
        if _ident_start(nxt):
            self.pos = start + 1
            name = self._ident(start + 1)
            return Token(LIFETIME, "'" + name.text, start)
        # A quote that starts neither a character nor a lifetime: punctuation, so what follows is still code.
        self.pos = start + 1
        return Token(PUNCT, "'", start)

    def _char(self, start: int, quote_at: int) -> Token:
        at = quote_at + 1
        if self.src[at : at + 1] == "\\":
            at += 2
            # '\u{1F600}' and '\x7f' run on to the closing quote; a character literal is never longer than that.
            close = self.src.find("'", at, at + 10)
            if close < 0:
                raise LexError(f"a character literal that starts at offset {start} never ends")
            at = close
        else:
            at += 1
            if self.src[at : at + 1] != "'":
                raise LexError(f"a character literal that starts at offset {start} never ends")
        self.pos = at + 1
        return Token(CHAR, self.src[start : self.pos], start, self.src[quote_at + 1 : at])

    def _number(self, start: int) -> Token:
        at = start
        while at < len(self.src) and (_ident_continue(self.src[at])):
            at += 1
        # A fraction only when a digit follows the dot: `1..2` is a range and `x.0.1` a field access.
        if self.src[at : at + 1] == "." and self.src[at + 1 : at + 2].isdigit():
            at += 1
            while at < len(self.src) and _ident_continue(self.src[at]):
                at += 1
        self.pos = at
        return Token(NUMBER, self.src[start:at], start)

    def _ident(self, start: int) -> Token:
        at = start
        while at < len(self.src) and _ident_continue(self.src[at]):
            at += 1
        self.pos = at
        return Token(IDENT, self.src[start:at], start, self.src[start:at])
