"""Search/replace edits as the model proposes them, applied exactly or not at all, and shown as a unified diff."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class EditReply(BaseModel):
    """One search/replace edit as the model writes it."""

    model_config = ConfigDict(strict=True, extra="forbid")

    path: str = Field(description="Repository-relative path of a file given above.")
    search: str = Field(description="Exact text of that file, matching once.")
    replace: str = Field(description="The text that takes its place.")


class EditsReply(BaseModel):
    """The model's whole answer: what the change does, why, and the edits (the shape the LLM is asked for)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    summary: str = Field(description="One line: what the change does.")
    rationale: str = Field(description="Why this fixes the diagnosed error.")
    edits: list[EditReply]


class EditError(Exception):
    """An edit cannot be applied as given (its search text matches zero or several times, or is empty)."""


@dataclass(frozen=True)
class Edit:
    """Replace the one occurrence of ``search`` in the file at ``path`` with ``replace``."""

    path: str
    search: str
    replace: str


@dataclass(frozen=True)
class Proposal:
    """What the model proposed: a one-line summary, why, and the edits."""

    summary: str
    rationale: str
    edits: tuple[Edit, ...]

    @classmethod
    def from_reply(cls, reply: EditsReply) -> Proposal:
        edits = tuple(Edit(path=item.path, search=item.search, replace=item.replace) for item in reply.edits)
        return cls(summary=reply.summary.strip(), rationale=reply.rationale.strip(), edits=edits)


def apply_edits(originals: Mapping[str, str], edits: Sequence[Edit]) -> dict[str, str]:
    """The new text of every file the edits touch, applying them in order.

    ``originals`` maps each path to its current text. Each search text must occur exactly once in the file as it is
    at that point (earlier edits to the same file included); otherwise :class:`EditError` says which edit and why.
    """
    updated: dict[str, str] = {}
    for number, edit in enumerate(edits, start=1):
        if edit.path not in originals:
            raise EditError(f"edit {number} targets {edit.path}, which is not a file the model was shown")
        text = updated.get(edit.path, originals[edit.path])
        if not edit.search:
            raise EditError(f"edit {number} ({edit.path}) has an empty search text")
        if edit.search == edit.replace:
            raise EditError(f"edit {number} ({edit.path}) replaces a text with itself")
        found = text.count(edit.search)
        if found == 0:
            raise EditError(f"edit {number}: its search text does not occur in {edit.path}")
        if found > 1:
            raise EditError(f"edit {number}: its search text occurs {found} times in {edit.path}; it must match exactly once")
        updated[edit.path] = text.replace(edit.search, edit.replace, 1)
    return {path: text for path, text in updated.items() if text != originals[path]}


def unified_diff(originals: Mapping[str, str], updated: Mapping[str, str]) -> str:
    """A ``git diff``-style unified diff of the changed files (``a/`` and ``b/`` prefixes, sorted by path)."""
    chunks: list[str] = []
    for path in sorted(updated):
        lines = _file_diff(originals[path].splitlines(keepends=True), updated[path].splitlines(keepends=True), path)
        for line in lines:
            chunks.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(chunks)


def matcher(before: Sequence[str], after: Sequence[str]) -> difflib.SequenceMatcher[str]:
    """A line matcher without difflib's "junk" heuristic, which in a file of 200 lines or more ignores every line that
    is frequent (``}``, blank lines) and so turns a one-line fix into a diff of hundreds of lines."""
    return difflib.SequenceMatcher(None, before, after, autojunk=False)


def _file_diff(before: list[str], after: list[str], path: str, context: int = 3) -> Iterator[str]:
    groups = list(matcher(before, after).get_grouped_opcodes(context))
    if not groups:
        return
    yield f"--- a/{path}\n"
    yield f"+++ b/{path}\n"
    for group in groups:
        first, last = group[0], group[-1]
        yield f"@@ -{_span(first[1], last[2])} +{_span(first[3], last[4])} @@\n"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                yield from (" " + line for line in before[i1:i2])
                continue
            if tag in ("replace", "delete"):
                yield from ("-" + line for line in before[i1:i2])
            if tag in ("replace", "insert"):
                yield from ("+" + line for line in after[j1:j2])


def _span(start: int, stop: int) -> str:
    # As unified diffs write a range: `3` for one line, `3,4` for four, `2,0` for none after line 2.
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"
