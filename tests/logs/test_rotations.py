"""Rotation names: a file is a rotation of ``NAME`` only in the shapes logrotate and the common appenders write."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimon.logs.files import expand_paths, rotated_siblings
from aimon.logs.rotations import is_near_name, is_rotation_name, rotation_kind, rotations_among

# The shapes, written down once more as the tools' own name templates: {B} the log's name, {S}/{E} its stem and
# extension, {N} a rotation number, {D} a date as the tools write it, then an optional compression suffix.
SHAPES = ["{B}.{N}", "{B}{sep}{D}", "{S}.{N}.{E}", "{S}{sep}{D}.{E}"]
DATE_FORMATS = [
    "%Y%m%d",  # logrotate dateext (default dateformat -%Y%m%d)
    "%Y%m%d%H",  # logrotate hourly
    "%Y-%m-%d",  # tracing-appender Rotation::DAILY, log4j/logback, Python midnight
    "%Y-%m-%d-%H",  # tracing-appender Rotation::HOURLY
    "%Y-%m-%d-%H-%M",  # tracing-appender Rotation::MINUTELY
    "%Y-%m-%d_%H",  # Python TimedRotatingFileHandler 'H'
    "%Y-%m-%d_%H-%M-%S",  # Python TimedRotatingFileHandler 'S'
]


def oracle(name: str, base: str) -> bool:
    """Whether ``name`` fits one of :data:`SHAPES` for ``base`` (an independent statement of the rule)."""
    stem, _, ext = base.rpartition(".")
    date = r"(\d{8}|\d{10}|\d{12}|\d{14}|\d{4}-\d\d-\d\d([-_]\d\d(-\d\d(-\d\d)?)?)?)(-\d{9,10})?(\.\d{1,5})?"
    fill = {"B": re.escape(base), "S": re.escape(stem), "E": re.escape(ext), "N": r"\d{1,5}", "sep": "[-._]", "D": date}
    shapes = SHAPES if stem and ext else SHAPES[:2]
    for shape in shapes:
        pattern = re.escape(shape)  # the template's dots are literal dots
        for key, value in fill.items():
            pattern = pattern.replace(re.escape("{" + key + "}"), value)
        if re.fullmatch(pattern + r"(\.(gz|xz|bz2|zst|lz4))?", name):
            return name != base
    return False


BASES = st.sampled_from(["app.log", "api.log", "server", "my-svc.out", "shop.api.log", "app_1.log"])
SUFFIX = st.text(alphabet="0123456789.-_gzlogwrkae", max_size=16)


@given(BASES, SUFFIX, st.sampled_from(["base", "stem"]))
def test_a_name_is_a_rotation_only_if_it_fits_a_shape(base: str, suffix: str, start: str) -> None:
    name = (base if start == "base" else base.rpartition(".")[0] or base) + suffix
    assert is_rotation_name(name, base) == oracle(name, base)
    if is_rotation_name(name, base):
        assert not is_near_name(name, base)


@given(BASES, st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)), st.sampled_from(DATE_FORMATS),
       st.integers(1, 9999), st.sampled_from(SHAPES), st.sampled_from(["-", ".", "_"]), st.sampled_from(["", ".gz", ".xz"]))
def test_every_name_the_tools_write_is_a_rotation(base: str, moment: datetime, fmt: str, number: int, shape: str,
                                                  sep: str, compressed: str) -> None:
    stem, _, ext = base.rpartition(".")
    if not stem and "{S}" in shape:
        return
    name = shape.format(B=base, S=stem, E=ext, N=number, sep=sep, D=moment.strftime(fmt)) + compressed
    kind = rotation_kind(name, base)
    assert kind == ("numbered" if "{N}" in shape else "dated", compressed[1:] or None)


@given(BASES, st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8), st.sampled_from(["-", "_", "."]),
       st.sampled_from(["", ".1", ".2.gz", "-20261124", ".2026-11-24"]))
def test_a_neighbour_and_its_rotations_are_never_rotations(base: str, word: str, sep: str, rotated: str) -> None:
    stem, dot, ext = base.rpartition(".")
    other = f"{stem}{sep}{word}{dot}{ext}" if stem else f"{base}{sep}{word}"  # app-worker.log, server-worker
    assert not is_rotation_name(other + rotated, base)
    assert is_near_name(other + rotated, base)


@pytest.mark.parametrize(("name", "base", "kind"), [
    ("app.log.1", "app.log", ("numbered", None)),
    ("app.log.2.gz", "app.log", ("numbered", "gz")),
    ("app.1.log", "app.log", ("numbered", None)),
    ("app.log-20261124", "app.log", ("dated", None)),
    ("app.log-2026112413.gz", "app.log", ("dated", "gz")),
    ("app.log-20261124-1732406400", "app.log", ("dated", None)),  # logrotate dateformat -%Y%m%d-%s
    ("app.log.2026-11-24", "app.log", ("dated", None)),
    ("app.log.2026-11-24-13", "app.log", ("dated", None)),
    ("app.log.2026-11-24.3", "app.log", ("dated", None)),
    ("app-20261124.log", "app.log", ("dated", None)),
    ("app.2026-11-24.log", "app.log", ("dated", None)),  # tracing-appender prefix "app", suffix "log"
    ("app-2026-11-24.log.gz", "app.log", ("dated", "gz")),
    ("app-worker.log", "app.log", None),
    ("app-worker.log.1", "app.log", None),
    ("app.log.bak", "app.log", None),
    ("app.log", "app.log", None),
    ("app-1.log", "app.log", None),
    ("api-access.log", "api.log", None),
    ("server.1", "server", ("numbered", None)),
    (".hidden.1", ".hidden", ("numbered", None)),
])
def test_rotation_names(name: str, base: str, kind: tuple[str, str | None] | None) -> None:
    assert rotation_kind(name, base) == kind


FOLDER = ["app.log", "app.log.1", "app.log.2.gz", "app-20261124.log", "app.log-20261124", "app.log.2026-11-24",
          "app-worker.log", "app-worker.log.1", "api-access.log", "api.log", "app.log.3.xz"]


def test_the_rotations_of_app_log_in_a_shared_folder(isolated: Path) -> None:
    for name in FOLDER:
        (isolated / name).write_text(f"{name}\n")
    rotations = {"app.log.1", "app.log.2.gz", "app-20261124.log", "app.log-20261124", "app.log.2026-11-24"}
    assert {path.name for path in rotated_siblings(isolated / "app.log")} == rotations
    assert {path.name for path in rotated_siblings(isolated / "app.log", unreadable_too=True)} == {*rotations, "app.log.3.xz"}
    assert {path.name for path in rotated_siblings(isolated / "app-worker.log")} == {"app-worker.log.1"}
    assert rotated_siblings(isolated / "api.log") == []
    # A glob watches every log once: the neighbours are sources of their own, the rotations are not.
    assert [path.name for path in expand_paths(["*.log"])] == ["api-access.log", "api.log", "app-worker.log", "app.log"]


_cases = iter(range(10**9))
NAMES = st.lists(st.builds(lambda base, suffix: base + suffix, st.sampled_from(["app.log", "app", "app-worker.log"]), SUFFIX),
                 min_size=1, max_size=12, unique=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(NAMES)
def test_the_siblings_on_disk_are_exactly_the_rotation_shaped_names(isolated: Path, names: list[str]) -> None:
    folder = isolated / f"case{next(_cases)}"
    folder.mkdir()
    for name in names:
        if name not in (".", "..") and "/" not in name:
            (folder / name).write_text("x\n")
    written = {path.name for path in folder.iterdir()}
    expected = {name for name in written if oracle(name, "app.log") and not name.endswith((".xz", ".bz2", ".zst", ".lz4"))}
    assert {path.name for path in rotated_siblings(folder / "app.log")} == expected


MANY_NAMES = st.lists(st.builds(lambda base, suffix: base + suffix, BASES | st.sampled_from(["app", "app-worker.log", ".env"]),
                                SUFFIX), min_size=1, max_size=20, unique=True)


@given(MANY_NAMES)
def test_the_rotations_among_names_are_those_of_some_other_name(names: list[str]) -> None:
    # The linear look-up answers exactly what comparing every pair answers.
    expected = {name for name in names if any(oracle(name, base) for base in names if base != name)}
    assert rotations_among(names) == expected
