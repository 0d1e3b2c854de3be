"""Templates across lines: the shapes grouping must hold on logs it has never seen, and the over-merging it must avoid.

Every line here is made up, in the shape of what real systems write. Each case goes through the function
``aimon fingerprint`` calls (all lines first, then grouping learns from all of them), so a case fails when the
masking or the structure step misses its shape.
"""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimon.config import load_settings
from aimon.grouping.fingerprint import mask
from aimon.grouping.structure import generalize, matches, shape_key, tokens
from aimon.tools.fingerprint import fingerprint_stream


def groups_of(messages: list[str]) -> list[str]:
    """The group of every message, as ``aimon fingerprint --format text`` gives them."""
    payload = "".join(message + "\n" for message in messages).encode()
    return [row["fingerprint"] for row in fingerprint_stream(io.BytesIO(payload), "text", load_settings())]


def one_group(messages: list[str]) -> bool:
    return len(set(groups_of(messages))) == 1


ONE_EVENT = {
    "a slot whose values differ in shape": [
        "ntp clock synchronized to 10.0.0.7, stratum 2",
        "ntp clock synchronized to LOCAL(0), stratum 10",
        "ntp clock synchronized to #5#, stratum 3",
    ],
    "variable-length runs of values": [
        "could not resolve hosts n14 n15 n16",
        "could not resolve hosts n142 n143",
        "could not resolve hosts n7",
    ],
    "a word-valued slot": [f"inetd is stopping service {name}" for name in ("chargen", "daytime", "echo", "discard")],
    "a relative path with an id glued in": [
        "rrd update failed for nodes/cn304/pkts.rrd",
        "rrd update failed for nodes/cn17/pkts.rrd",
        "rrd update failed for nodes/gpu2a/pkts.rrd",
    ],
    "an id glued in a word": ["lost contact with host io716", "lost contact with host io12"],
    "an id glued in a package name": [
        "error installing pkg~31bf3856ad~amd64~~6.2.9200.1: not applicable",
        "error installing pkg~8a1b2c3d4e~x86~~10.0.1.2: not applicable",
    ],
    "MAC addresses": ["link up on port FF:F2:9F:16:E5:DC", "link up on port 00:1a:2b:3c:4d:5e"],
    "IPv6 addresses": ["route via fe80::1ff:fe23:4567:890a dropped", "route via 2001:db8::8a2e:370:7334 dropped"],
    "an optional parenthetical": ["upload done: 1024 bytes sent", "upload done: 1.1 KB (1024 bytes) sent"],
    "quoted free text in key=\"...\"": [
        'widget refresh failed tag="View Lock"',
        'widget refresh failed tag="sync"',
        'widget refresh failed tag="Inbox (3 unread)"',
    ],
    "quoted free text in an error message": [
        'invalid display name "Zoë ☃" in profile',
        'invalid display name "bob the builder" in profile',
        'invalid display name "x" in profile',
    ],
    "a masked value beside a plain word": ["invalid user admin from 10.0.0.9", "invalid user u812 from 10.0.0.7"],
}


@pytest.mark.parametrize("messages", ONE_EVENT.values(), ids=ONE_EVENT.keys())
def test_one_event_is_one_group(messages: list[str]) -> None:
    assert one_group(messages), groups_of(messages)


KEPT_APART = {
    "a few state names": [f"entity moved to state {state}" for state in ("Active", "Inactive", "Deleted")] * 10,
    "a few quoted state names": [f"entity moved to state '{state}'" for state in ("Active", "Inactive", "Gone")] * 10,
    "a few plain words": [f"session {verb} for user root" for verb in ("opened", "closed", "resumed")] * 10,
    "short messages": [f"connection {word}" for word in ("reset", "refused", "closed", "aborted", "lost")],
    "a quoted request line keeps its method": [
        '10.0.0.1 "GET /v2/servers HTTP/1.1" status: 200 len: 1893',
        '10.0.0.2 "POST /v2/events HTTP/1.1" status: 200 len: 380',
        '10.0.0.3 "DELETE /v2/servers/9 HTTP/1.1" status: 204 len: 203',
    ],
}


@pytest.mark.parametrize("messages", KEPT_APART.values(), ids=KEPT_APART.keys())
def test_what_differs_in_a_constant_word_stays_apart(messages: list[str]) -> None:
    found = groups_of(messages)
    assert len(set(found)) == len(set(messages)), found


def test_a_sentinel_stays_apart_while_the_values_beside_it_merge() -> None:
    found = groups_of(
        [*["no callback registered for null"] * 20, "no callback registered for Foo@712d", "no callback registered for x"]
    )
    assert found[0] != found[-1] and found[-1] == found[-2]


def test_many_state_names_are_values() -> None:
    names = ["Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta", "Eta", "Theta"]
    assert one_group([f"worker pool entered state {name}" for name in names])
    assert one_group([f"worker pool entered state '{name}'" for name in names])


def test_masks_take_mac_and_ipv6_addresses_whole() -> None:
    assert mask("link up on FF:F2:9F:16:E5:DC now") == "link up on <*> now"
    assert mask("link up on 00-1A-2B-3C-4D-5E now") == "link up on <*> now"
    assert mask("peer ::1 gone, peer fe80::1ff:fe23:4567:890a too") == "peer <*> gone, peer <*> too"
    assert mask("rrd update failed for nodes/cn304/pkts.rrd") == "rrd update failed for <*>"
    assert mask('refresh failed tag="Inbox (3 unread)", code=\'a b\'') == 'refresh failed tag="<*>", code=\'<*>\''
    assert mask('a "quoted sentence" stays words') == 'a "quoted sentence" stays words'
    assert mask("moved to 'Active' from 'standby'") == "moved to 'Active' from '<*>'"
    # Rust paths and clocks are not addresses; a relative path without a number is a name.
    assert mask("std::io::Error at fmt::Display") == "std::io::Error at fmt::Display"
    assert mask("see docs/guide/intro.md") == "see docs/guide/intro.md"


def test_the_result_does_not_depend_on_order() -> None:
    templates = [mask(message) for messages in ONE_EVENT.values() for message in messages]
    templates += [mask(message) for messages in KEPT_APART.values() for message in set(messages)]
    expected = generalize(templates)
    for seed in range(5):
        shuffled = templates[:]
        random.Random(seed).shuffle(shuffled)
        assert generalize(shuffled) == expected


def test_a_learned_pattern_takes_only_what_learning_would_merge() -> None:
    pattern = shape_key(tokens("no callback registered for <*>"))
    assert matches(pattern, "no callback registered for <*>")
    assert matches(pattern, "no callback registered for widget")
    assert matches(pattern, 'no callback registered for "two words"')
    assert not matches(pattern, "no callback registered for null")
    assert not matches(pattern, "no callback registered for Widget")  # learning decides, from the state file
    assert not matches(pattern, "no callback registered")
    assert matches(shape_key(tokens("sent <*> now")), "sent <*> (<*>) now")


def test_quoted_strings_are_one_word() -> None:
    assert tokens('name "Zoë ☃" tag="View Lock"') == ("name", '"Zoë ☃"', 'tag="View Lock"')
    assert tokens("don't stop 'the music' now") == ("don't", "stop", "'the music'", "now")
    # Masking found values inside: the quoted words keep a structure of their own.
    assert tokens('"GET <*> HTTP/<*>" done') == ('"GET', "<*>", 'HTTP/<*>"', "done")


TEXT = st.text(alphabet=st.sampled_from(list("ab <*>\"'=:(),.é")), max_size=40)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_tokens_keep_every_character(text: str) -> None:
    template = " ".join(text.split())
    assert " ".join(tokens(template)) == template


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_shape_keys_are_stable(text: str) -> None:
    key = shape_key(tokens(" ".join(text.split())))
    assert shape_key(key) == key
    assert matches(key, " ".join(key)) or not key
