"""The PR text: the whole diff reaches the reviewer, in one body or in collapsed parts continued in comments."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aimon.stages.autofix.pr import BODY_LIMIT, PullText, pull_parts, split_diff

LINES = st.lists(st.text(max_size=30), max_size=40)


@given(LINES, st.integers(min_value=1, max_value=50))
def test_split_diff_keeps_every_character_in_order_within_the_limit(lines: list[str], limit: int) -> None:
    diff = "".join(line + "\n" for line in lines)
    pieces = split_diff(diff, limit)
    assert "".join(pieces) == diff
    assert all(len(piece) <= limit for piece in pieces)


def test_split_diff_cuts_at_line_ends_when_it_can() -> None:
    assert split_diff("aa\nbb\ncc\n", 6) == ["aa\nbb\n", "cc\n"]
    assert split_diff("x" * 7 + "\n", 4) == ["xxxx", "xxx\n"]


def text(diff: str, rationale: str = "why") -> PullText:
    return PullText("fp", 7, {"title": "t", "confidence": 0.9}, "sum", rationale, ("src/a.rs",), diff, "cargo test", 1.0,
                    "ok", rules=("adds-unsafe",))


def test_a_short_diff_is_one_body() -> None:
    parts = pull_parts(text("--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1 +1 @@\n-a\n+b\n"))
    assert parts.comments == () and "```diff\n--- a/src/a.rs" in parts.body and "<details>" not in parts.body
    assert "The change passed the autofix guard's rules: `adds-unsafe`." in parts.body


def test_when_even_the_first_part_does_not_fit_every_part_goes_to_the_comments() -> None:
    diff = "--- a/src/a.rs\n+++ b/src/a.rs\n" + "+x\n" * 30_000
    parts = pull_parts(text(diff, rationale="r" * 30_000))
    assert len(parts.body) <= BODY_LIMIT and "<details>" not in parts.body
    assert f"all {len(parts.comments)} in the comments below" in parts.body
    assert all(len(comment) <= BODY_LIMIT for comment in parts.comments)
    assert "".join(c.split("```diff\n", 1)[1].split("\n```", 1)[0] + "\n" for c in parts.comments) == diff
