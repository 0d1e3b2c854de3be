"""The detectors' fast paths find exactly what their full patterns find.

Case-insensitive detectors look for a lower-case keyword first and match their full pattern only there (a scan for a
few words is an order of magnitude faster than trying a pattern at every position of a prompt): these properties
check that the keyword scan never misses a place the full pattern would match.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from aimon.redact import forms, shapes
from aimon.redact.redactor import Redactor

_case_flips = st.lists(st.booleans(), min_size=40, max_size=40)


def _flip(text: str, flips: list[bool]) -> str:
    return "".join(char.upper() if flip else char for char, flip in zip(text, flips * (len(text) // 40 + 1), strict=False))


@settings(max_examples=300)
@given(key=st.from_regex(re.compile(forms.SECRET_KEY), fullmatch=True).filter(lambda k: len(k) < 40), flips=_case_flips,
       sep=st.sampled_from(["=", ": ", '":"', "\\\":\\\"", " => ", '="', "='"]),
       before=st.sampled_from(["", " ", "x ", "{", "\\n", "::"]))
def test_the_pair_keyword_scan_finds_every_pair_the_full_pattern_finds(key: str, flips: list[bool], sep: str, before: str) -> None:
    text = f"{before}{_flip(key, flips)}{sep}Zq9-value-Xy7 tail"
    full = [match.span() for match in forms._PAIR.finditer(text)]
    fast = [match.span() for match in forms._pair_matches(text)]
    assert fast == full


@settings(max_examples=200)
@given(name=st.sampled_from(["authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie", "private-token", "x-vault-token"]),
       flips=_case_flips, sep=st.sampled_from([": ", "=", '":"']), scheme=st.sampled_from(["", "Bearer ", "basic ", "Token "]))
def test_the_header_keyword_scan_finds_every_header(name: str, flips: list[bool], sep: str, scheme: str) -> None:
    text = f"GET / {_flip(name, flips)}{sep}{scheme}Zq9valueXy7 next"
    assert [span[:2] for span in shapes.headers(text)] == [(text.index("Zq9"), text.index(" next"))]


@settings(max_examples=100)
@given(text=st.text(alphabet=st.sampled_from(list("İıẞßKkSs ")), max_size=30), tail=st.sampled_from(["password=hunter2x", "Bearer abcdef123456"]))
def test_characters_that_change_length_when_lowered_keep_the_positions(text: str, tail: str) -> None:
    out = Redactor().redact(text + " " + tail)
    assert out.startswith(text + " ") and "hunter2x" not in out and "abcdef123456" not in out
