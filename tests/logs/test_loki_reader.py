"""The Loki reader against a Loki-compatible server on 127.0.0.1: paging, boundary de-duplication, auth, failures."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimon.clock import Deadline
from aimon.errors import ConfigError, RemoteError
from aimon.logs.loki import Cursor, Entry, LokiReader, line_hash
from tests.fakes.loki_server import FakeLoki

T0 = 1_770_000_000_000_000_000  # a fixed nanosecond time
QUERY = '{job="app"}'


@pytest.fixture
def loki() -> Iterator[FakeLoki]:
    server = FakeLoki()
    yield server
    server.close()


def reader(server: FakeLoki, **kwargs: Any) -> LokiReader:
    kwargs.setdefault("sleep", lambda seconds: None)
    kwargs.setdefault("timeout", (2.0, 2.0))
    return LokiReader(url=server.url, query=QUERY, **kwargs)


def read_all(loki_reader: LokiReader, cursor: Cursor, end: int) -> tuple[list[Entry], Cursor]:
    entries: list[Entry] = []
    for page in loki_reader.pages(cursor, end, Deadline.unlimited()):
        entries.extend(page.entries)
        cursor = page.cursor
    return entries, cursor


def test_fake_server_speaks_loki_shapes(loki: FakeLoki) -> None:
    body = json.dumps(
        {
            "streams": [
                {
                    "stream": {"job": "app", "host": "a"},
                    "values": [[str(T0), "one"], [str(T0 + 1), "two"], [str(T0 + 2), "three"]],
                }
            ]
        }
    )
    request = urllib.request.Request(
        loki.url + "/loki/api/v1/push", data=body.encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 204
    url = f"{loki.url}/loki/api/v1/query_range?query=%7Bjob%3D%22app%22%7D&start={T0}&end={T0 + 2}&limit=5"
    with urllib.request.urlopen(url) as response:
        doc = json.loads(response.read())
    # start inclusive, end exclusive, default direction backward
    assert doc == {
        "status": "success",
        "data": {
            "resultType": "streams",
            "result": [{"stream": {"job": "app", "host": "a"}, "values": [[str(T0 + 1), "two"], [str(T0), "one"]]}],
            "stats": {},
        },
    }
    assert loki.query_range(QUERY, T0, T0 + 3, limit=2, direction="forward")["result"][0]["values"] == [
        [str(T0), "one"],
        [str(T0 + 1), "two"],
    ]
    assert loki.query_range('{job="app"} |= "t"', T0, T0 + 3, direction="forward")["result"][0]["values"] == [
        [str(T0 + 1), "two"],
        [str(T0 + 2), "three"],
    ]


def test_many_lines_at_one_timestamp_across_page_boundaries(loki: FakeLoki) -> None:
    loki.push(
        {"job": "app"},
        [(T0 - 1, "before")] + [(T0, f"same-{i}") for i in range(25)] + [(T0 + 5, f"after-{i}") for i in range(5)],
    )
    loki.push({"job": "app", "host": "b"}, [(T0, f"same-{i}") for i in range(3)])  # identical text, other stream
    loki.push({"job": "other"}, [(T0, "not ours")])
    entries, cursor = read_all(reader(loki, page_limit=10), Cursor(T0 - 10), T0 + 100)
    lines = [(entry.labels.get("host"), entry.line) for entry in entries]
    assert len(lines) == 1 + 25 + 3 + 5
    assert len(set(lines)) == len(lines)
    assert [entry.ns for entry in entries] == sorted(entry.ns for entry in entries)
    assert cursor.ns == T0 + 5 and len(cursor.seen) == 5
    # every request asked forward, with start at the cursor (inclusive) and the same end
    queries = [request.params for request in loki.requests]
    assert all(params["direction"] == "forward" and params["end"] == str(T0 + 100) for params in queries)
    assert queries[0]["start"] == str(T0 - 10) and queries[0]["limit"] == "10"
    assert all(params["query"] == QUERY for params in queries)


def test_ticks_with_new_lines_in_between_read_each_line_once(loki: FakeLoki) -> None:
    loki.push({"job": "app"}, [(T0 + i // 3, f"first-{i}") for i in range(12)])
    first, cursor = read_all(reader(loki, page_limit=4), Cursor(T0), T0 + 100)
    assert [entry.line for entry in first] == [f"first-{i}" for i in range(12)]
    # a late line at exactly the checkpoint's timestamp, and newer lines
    loki.push(
        {"job": "app"},
        [(cursor.ns, "late at the boundary"), (T0 + 50, "newer"), (T0 + 100, "not yet: end is exclusive")],
    )
    second, cursor = read_all(reader(loki, page_limit=4), cursor, T0 + 100)
    assert [entry.line for entry in second] == ["late at the boundary", "newer"]
    third, cursor = read_all(reader(loki, page_limit=4), cursor, T0 + 200)
    assert [entry.line for entry in third] == ["not yet: end is exclusive"]
    assert read_all(reader(loki, page_limit=4), cursor, T0 + 200)[0] == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(
        st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["a", "b"]), st.integers(0, 40)), max_size=30),
        min_size=1,
        max_size=4,
    ),
    page_limit=st.integers(1, 7),
)
def test_no_line_lost_or_doubled_whatever_the_paging(
    loki: FakeLoki, batches: list[list[tuple[int, str, int]]], page_limit: int
) -> None:
    loki.streams.clear()
    cursor = Cursor(T0)
    read: list[tuple[str, int, str]] = []
    pushed: set[tuple[str, int, str]] = set()
    end = T0
    for batch in batches:
        for offset, host, n in batch:
            ns = end + offset  # new lines may land at the current checkpoint's timestamp or later
            loki.push({"job": "app", "host": host}, [(ns, f"line {n}")])
            pushed.add((host, ns, f"line {n}"))
        end += 7
        entries, cursor = read_all(reader(loki, page_limit=page_limit, max_limit=1000), cursor, end)
        read.extend((entry.labels["host"], entry.ns, entry.line) for entry in entries)
    entries, cursor = read_all(reader(loki, page_limit=page_limit, max_limit=1000), cursor, end + 100)
    read.extend((entry.labels["host"], entry.ns, entry.line) for entry in entries)
    assert len(read) == len(set(read))
    assert set(read) == pushed


def test_tenant_header_and_basic_auth() -> None:
    server = FakeLoki(tenant="team-a", username="aimon", password="s3cret-pass")
    try:
        server.push({"job": "app"}, [(T0, "hello")])
        entries, _ = read_all(reader(server, tenant="team-a", auth=("aimon", "s3cret-pass")), Cursor(T0), T0 + 1)
        assert [entry.line for entry in entries] == ["hello"]
        headers = server.requests[-1].headers
        assert headers["x-scope-orgid"] == "team-a"
        assert headers["authorization"] == "Basic YWltb246czNjcmV0LXBhc3M="
        with pytest.raises(RemoteError, match="refused the request \\(401") as refused:
            read_all(reader(server, tenant="team-a", auth=("aimon", "wrong")), Cursor(T0), T0 + 1)
        assert "wrong" not in str(refused.value)
        with pytest.raises(RemoteError, match="AIMON_LOKI_TENANT"):
            read_all(reader(server, auth=("aimon", "s3cret-pass")), Cursor(T0), T0 + 1)
    finally:
        server.close()


def test_a_500_is_retried_then_read(loki: FakeLoki) -> None:
    loki.push({"job": "app"}, [(T0, "hello")])
    loki.fail(500, times=2)
    pauses: list[float] = []
    entries, _ = read_all(reader(loki, sleep=pauses.append), Cursor(T0), T0 + 1)
    assert [entry.line for entry in entries] == ["hello"]
    assert len(loki.requests) == 3 and pauses == [0.5, 1.0]


def test_loki_down_raises_and_the_next_read_loses_nothing(loki: FakeLoki) -> None:
    loki.push({"job": "app"}, [(T0 + i, f"line {i}") for i in range(10)])
    loki_reader = reader(loki, page_limit=4)
    got: list[str] = []
    cursor = Cursor(T0)
    pages = loki_reader.pages(cursor, T0 + 100, Deadline.unlimited())
    first = next(pages)
    got.extend(entry.line for entry in first.entries)
    cursor = first.cursor
    loki.fail(503, times=3)  # the second page fails on every attempt
    with pytest.raises(RemoteError, match="HTTP 503"):
        next(pages)
    rest, cursor = read_all(loki_reader, cursor, T0 + 100)
    got.extend(entry.line for entry in rest)
    assert got == [f"line {i}" for i in range(10)]


def test_timeout_raises_remote_error(loki: FakeLoki) -> None:
    loki.push({"job": "app"}, [(T0, "hello")])
    loki.fail(200, delay=0.4, times=2)
    with pytest.raises(RemoteError, match="timed out"):
        read_all(reader(loki, timeout=(1.0, 0.1), retries=1), Cursor(T0), T0 + 1)
    entries, _ = read_all(reader(loki), Cursor(T0), T0 + 1)
    assert [entry.line for entry in entries] == ["hello"]


def test_bad_query_is_a_config_error(loki: FakeLoki) -> None:
    bad = LokiReader(url=loki.url, query="job=app", sleep=lambda s: None)
    with pytest.raises(ConfigError, match="AIMON_LOKI_QUERY"):
        read_all(bad, Cursor(T0), T0 + 1)


def test_more_lines_at_one_timestamp_than_loki_returns_are_reported(loki: FakeLoki) -> None:
    loki.push({"job": "app"}, [(T0, f"same-{i}") for i in range(8)] + [(T0 + 1, "next")])
    pages = list(reader(loki, page_limit=3, max_limit=5).pages(Cursor(T0), T0 + 10, Deadline.unlimited()))
    lines = [entry.line for page in pages for entry in page.entries]
    assert lines == [f"same-{i}" for i in range(5)] + ["next"]
    assert sum(page.skipped for page in pages) == 1


def test_long_gaps_are_read_in_day_windows(loki: FakeLoki) -> None:
    day = 24 * 3600 * 10**9
    loki.push({"job": "app"}, [(T0 + 3 * day + 5, "three days later")])
    entries, cursor = read_all(reader(loki), Cursor(T0), T0 + 4 * day)
    assert [entry.line for entry in entries] == ["three days later"]
    assert [int(r.params["end"]) - int(r.params["start"]) <= day for r in loki.requests] == [True] * 4
    assert cursor.ns == T0 + 3 * day + 5


def test_line_hash_depends_on_stream_and_text() -> None:
    assert line_hash({"job": "a"}, "x") == line_hash({"job": "a"}, "x")
    assert line_hash({"job": "a"}, "x") != line_hash({"job": "b"}, "x")
    assert line_hash({"job": "a"}, "x") != line_hash({"job": "a"}, "y")
    assert Cursor.load(5, Cursor(5, frozenset({"h"})).seen_json()) == Cursor(5, frozenset({"h"}))


def test_messages_never_show_credentials_written_into_the_url() -> None:
    from aimon.logs.loki import LokiReader

    reader = LokiReader(url="https://aimon:s3cr3t-pass@loki.example.com", query='{job="app"}')
    assert reader.shown_url == "https://***@loki.example.com"
    assert "s3cr3t" not in repr(reader.shown_url)
