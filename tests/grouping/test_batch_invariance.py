"""Stable identity: the groups of a log do not depend on how cron's scans cut it into batches, nor on their order.

Each scan fingerprints its batch with what the state file has learned, records it and learns from it in one
transaction (:mod:`tests.grouping.batches`); the groups are read back at the end. Ten batches of 200 lines and one of
2,000 must give the same groups, on made-up lines of every shape and, when the Loghub samples are present, on every
system of the development set.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from aimon.config import load_settings
from aimon.grouping.fingerprint import ALGO_VERSION, Fingerprinter, fingerprint_id
from aimon.state.db import open_db
from aimon.state.groups import canonical
from tests.conftest import EVALDATA
from tests.grouping.batches import group_in_batches, partition
from tests.grouping.test_structure import KEPT_APART, ONE_EVENT

MADE_UP = [message for messages in (*ONE_EVENT.values(), *KEPT_APART.values()) for message in messages]
MADE_UP += [f"session opened for user {name} by uid={n}" for n, name in enumerate(["ann", "ben", "cid", "dan"] * 3)]
MADE_UP += [f"session closed for user {name}" for name in ["ann", "ben", "cid", "dan", "eve", "fay"]]
MADE_UP += [f"too many failures for {name} [preauth]" for name in ["ann", "ben"]]
MADE_UP += ["no callback registered for null"] * 9 + ["no callback registered for Foo@712d"]


def shuffled(messages: list[str], seed: int) -> tuple[list[str], list[int]]:
    order = list(range(len(messages)))
    random.Random(seed).shuffle(order)
    return [messages[index] for index in order], order


def in_original_order(groups: list[str], order: list[int]) -> list[str]:
    back = [""] * len(groups)
    for position, index in enumerate(order):
        back[index] = groups[position]
    return back


@pytest.mark.parametrize("size", [1, 7, 50])
def test_made_up_lines_group_alike_in_any_batches(tmp_path: Path, size: int) -> None:
    settings = load_settings()
    whole = partition(group_in_batches(MADE_UP, len(MADE_UP), tmp_path / "whole.db", settings))
    assert partition(group_in_batches(MADE_UP, size, tmp_path / "small.db", settings)) == whole
    messages, order = shuffled(MADE_UP, size)
    found = group_in_batches(messages, size, tmp_path / "shuffled.db", settings)
    assert partition(in_original_order(found, order)) == whole


def test_ids_reported_before_a_template_generalised_keep_answering(tmp_path: Path) -> None:
    settings = load_settings()
    first = [f"session closed for user {name}" for name in ["ann", "ben", "cid"]]  # three names: constants, so far
    later = [f"session closed for user {name}" for name in ["dan", "eve"]]
    found = group_in_batches(first + later, 3, tmp_path / "state.db", settings)
    assert len(set(found)) == 1
    conn = open_db(tmp_path / "state.db")
    rows = conn.execute("SELECT fingerprint FROM fingerprints ORDER BY created_at, fingerprint").fetchall()
    assert len(rows) >= 3  # the first batch's three ids were reported on their own…
    assert {canonical(conn, row[0]) for row in rows} == set(found)  # …and now answer for the group


def _systems() -> list[Path]:
    return sorted(EVALDATA.glob("*_2k.log_structured.csv")) if EVALDATA.is_dir() else []


@pytest.mark.skipif(not _systems(), reason="Loghub evaluation data is not present")
@pytest.mark.parametrize("path", _systems(), ids=lambda path: path.name.split("_")[0])
def test_ten_batches_of_200_give_the_groups_of_one_of_2000(tmp_path: Path, path: Path) -> None:
    from tests.grouping.test_fingerprint_eval import load_script

    messages, _truth = load_script().load_system(path)
    assert len(messages) == 2000
    settings = load_settings()
    whole = partition(group_in_batches(messages, 2000, tmp_path / "whole.db", settings))
    assert partition(group_in_batches(messages, 200, tmp_path / "ticks.db", settings)) == whole
    mixed, order = shuffled(messages, 12)
    found = group_in_batches(mixed, 37, tmp_path / "shuffled.db", settings)
    assert partition(in_original_order(found, order)) == whole


@pytest.mark.parametrize(
    ("before", "message"),
    [
        ("link up on port FF:<*>:DC", "link up on port FF:F2:9F:16:E5:DC"),  # a MAC masked only in part
        ('widget refresh failed tag="View Lock"', 'widget refresh failed tag="View Lock"'),  # key="..." text kept
        ("rrd update failed for nodes/cn304/pkts.rrd", "rrd update failed for nodes/cn304/pkts.rrd"),
    ],
)
def test_a_fingerprint_of_the_former_masks_stays_the_group_of_its_error(tmp_path: Path, before: str, message: str) -> None:
    """Where masking now takes a value whole, the id that the former masking gave the error stays canonical: the new
    template is learned as its alias, so the error keeps its issue and memory and is not announced again."""
    old = fingerprint_id(("event", "", "app"), before)
    conn = open_db(tmp_path / "state.db")
    conn.execute(
        "INSERT INTO fingerprints (fingerprint, algo, level, target, template, sample, first_seen, last_seen, count, "
        "created_at) VALUES (?, ?, 'ERROR', 'app', ?, ?, 't', 't', 3, '2026-01-01T00:00:00.000000Z')",
        (old, ALGO_VERSION, before, message),
    )
    conn.commit()
    conn.close()
    assert Fingerprinter().template(message) != before
    assert group_in_batches([message], 1, tmp_path / "state.db", load_settings()) == [old]
