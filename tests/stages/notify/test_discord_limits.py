"""Discord's limits and Markdown safety, as properties: whatever the input, the payload is valid and inert."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimon.markdown import ZWSP, discord_code_block, escape, fence, inline_code, shorten, visible_controls
from aimon.stages.delivery import Incident
from aimon.stages.notify.payload import (
    AUTHOR_MAX,
    CONTENT_MAX,
    DESCRIPTION_MAX,
    EMBEDS_MAX,
    FIELD_NAME_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    FOOTER_MAX,
    TITLE_MAX,
    TOTAL_MAX,
    alert_payload,
    digest_payload,
    fit,
    parse_mention,
    total_units,
    units,
)

# Text with what hurts: astral characters (2 UTF-16 units), backticks, mentions, Markdown, newlines.
nasty = st.lists(
    st.one_of(st.characters(codec="utf-8"), st.sampled_from(["`", "```", "@everyone", "*", "_", "\n", "#", "😀", "|", ">"])),
    max_size=1500,
).map("".join)
big = st.one_of(nasty, st.integers(0, 9000).map(lambda n: "😀x`" * n))


def check_limits(payload: dict[str, Any]) -> None:
    assert units(payload.get("content", "")) <= CONTENT_MAX
    embeds = payload.get("embeds", [])
    assert len(embeds) <= EMBEDS_MAX
    for embed in embeds:
        assert units(embed.get("title", "")) <= TITLE_MAX
        assert units(embed.get("description", "")) <= DESCRIPTION_MAX
        assert len(embed.get("fields", [])) <= FIELDS_MAX
        for field in embed.get("fields", []):
            assert 1 <= units(field["name"]) <= FIELD_NAME_MAX
            assert 1 <= units(field["value"]) <= FIELD_VALUE_MAX
        assert units(embed.get("footer", {}).get("text", "")) <= FOOTER_MAX
        assert units(embed.get("author", {}).get("name", "")) <= AUTHOR_MAX
    assert total_units(embeds) <= TOTAL_MAX


field = st.fixed_dictionaries({"name": big, "value": big, "inline": st.booleans()})
embed = st.fixed_dictionaries(
    {"title": big, "description": big, "fields": st.lists(field, max_size=30)},
    optional={"footer": st.fixed_dictionaries({"text": big}), "author": st.fixed_dictionaries({"name": big})},
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(content=big, embeds=st.lists(embed, max_size=12))
def test_fit_always_respects_every_limit(content: str, embeds: list[dict[str, Any]]) -> None:
    payload = fit({"content": content, "embeds": embeds, "allowed_mentions": {"parse": []}})
    check_limits(payload)
    assert payload["allowed_mentions"] == {"parse": []}
    if units(content) > CONTENT_MAX:
        assert payload["content"].endswith("…")


@given(content=st.text(max_size=200), title=st.text(max_size=100), value=st.text(min_size=1, max_size=100))
def test_fit_leaves_a_payload_within_limits_alone(content: str, title: str, value: str) -> None:
    payload = {"content": content, "embeds": [{"title": title, "fields": [{"name": "n", "value": value, "inline": True}]}]}
    assert fit(payload) == payload


def test_the_total_is_cut_from_the_longest_text_first() -> None:
    fields = [{"name": "Count", "value": "3", "inline": True}]
    payload = fit({"embeds": [{"title": "t", "description": "d" * 4000, "fields": fields}, {"description": "e" * 4000}]})
    first, second = payload["embeds"]
    assert total_units(payload["embeds"]) == TOTAL_MAX
    assert first["fields"] == fields
    assert first["description"].endswith("…")
    assert second["description"] == "e" * 4000


def test_a_cut_never_leaves_a_code_block_open() -> None:
    description = "summary\n\n" + discord_code_block("x" * 5000)
    cut = fit({"embeds": [{"description": description}]})["embeds"][0]["description"]
    assert units(cut) <= DESCRIPTION_MAX
    assert cut.count("```") == 2
    assert cut.endswith("…\n```")


def incident(**texts: str) -> Incident:
    base: dict[str, Any] = {
        "detection_id": 1, "kind": "new", "window_start": "w", "window_end": "w", "window_count": 1, "baseline": None,
        "detected_at": "2030-01-01T00:00:00.000000Z", "fingerprint": "0" * 16, "level": "ERROR", "error_code": "E1",
        "target": "t", "template": "tpl", "sample": "s", "file": None, "line": None, "is_panic": False,
        "first_seen": "2030-01-01T00:00:00.000000Z", "last_seen": "2030-01-01T00:00:00.000000Z", "count": 1,
        "state": "active", "state_until": None, "severity": "high", "diagnosis": None, "issue": None, "request_id": "r",
    }
    diagnosis = {key: texts.pop(key) for key in ("title", "summary", "root_cause", "suggested_fix") if key in texts}
    if diagnosis:
        base["diagnosis"] = {"id": 1, "source": "llm", "model": "m", "result": diagnosis}
    return Incident(**{**base, **texts})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(template=big, sample=big, target=nasty, request_id=nasty, title=big, summary=big, root_cause=big, suggested_fix=big)
def test_an_alert_for_any_log_text_is_valid_inert_and_keeps_its_code_block(**texts: str) -> None:
    payload = alert_payload(incident(**texts), "", {"parse": []})
    check_limits(payload)
    assert payload["allowed_mentions"] == {"parse": []}
    embed = payload["embeds"][0]
    assert embed["description"].count("```") == 2  # the sample's block, opened and closed; nothing else
    outside = [payload["content"], embed["title"], embed["description"].split("```")[0], *(f["value"] for f in embed["fields"])]
    for text in outside:
        assert "@everyone" not in text
        assert not re.search(r"(?<!\\)`", text.replace("`0000000000000000`", ""))  # every backtick escaped


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(templates=st.lists(big, min_size=1, max_size=60))
def test_a_digest_of_any_storm_is_valid(templates: list[str]) -> None:
    payload = digest_payload([incident(template=text) for text in templates], "", {"parse": []})
    check_limits(payload)
    lines = payload["embeds"][0]["description"].split("\n")
    assert len(lines) <= len(templates)
    if len(lines) < len(templates):
        assert re.fullmatch(r"… and \d+ more \(`aimon status` lists them\)", lines[-1])


def test_parse_mention_allows_exactly_the_configured_id() -> None:
    assert parse_mention("") == ("", {"parse": []})
    assert parse_mention("<@&123456>") == ("<@&123456>", {"roles": ["123456"]})
    assert parse_mention(" <@!987654> ") == ("<@!987654>", {"users": ["987654"]})


# -- aimon.markdown ----------------------------------------------------------------------------------------------------


@given(nasty)
def test_discord_code_block_cannot_be_closed_from_inside(text: str) -> None:
    block = discord_code_block(text)
    inner = block[4:-4]
    assert block.startswith("```\n") and block.endswith("\n```")
    assert "``" not in inner
    assert inner.replace(ZWSP, "") == (visible_controls(text) if text.strip() else "(empty)").replace(ZWSP, "")


@given(nasty)
def test_fence_is_longer_than_any_backtick_run_inside(text: str) -> None:
    block = fence(text, "text")
    ticks = re.match(r"`+", block).group(0)  # type: ignore[union-attr]
    assert len(ticks) >= 3
    assert all(len(run) < len(ticks) for run in re.findall(r"`+", text))
    assert block == f"{ticks}text\n{visible_controls(text)}\n{ticks}"


@given(nasty)
def test_inline_code_delimiters_outnumber_any_run(text: str) -> None:
    span = inline_code(text)
    ticks = re.match(r"`+", span).group(0)  # type: ignore[union-attr]
    assert "\n" not in span
    assert all(len(run) < len(ticks) for run in re.findall(r"`+", text))


def test_escape_neutralises_markdown_and_mentions() -> None:
    assert escape("@everyone *b* _i_ `c` [l](u) <@1>") == "@\u200beveryone \\*b\\* \\_i\\_ \\`c\\` \\[l\\](u) \\<@\u200b1\\>"
    assert escape("# title\n- item\n> quote\n1. one") == "\\# title\n\\- item\n\\> quote\n1\\. one"


def test_shorten_marks_the_cut() -> None:
    assert shorten("abcdef", 4) == "abc…"
    assert shorten("abc", 4) == "abc"
    assert shorten("abc", 0) == ""
