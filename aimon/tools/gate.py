"""The CI gate of ``aimon run --fail-on``: which detections of this run trip it, against an optional baseline of known
errors, and its verdict as Markdown (for ``$GITHUB_STEP_SUMMARY``).

A baseline is a text file of fingerprints, one per line (``#`` starts a comment), for instance what
``aimon fingerprint --jsonl`` gives for the main branch's test output: with it, "new" means new against main, not
"never seen by this (fresh) state file".

A panic that a ``#[should_panic]`` test provoked on purpose is no error: libtest names each test's thread after the
test (``thread 'tests::rejects_empty' panicked at …``) and reports it ``test tests::rejects_empty - should panic ...
ok`` once it has panicked as expected. A panic group whose every occurrence comes from such a test does not count.
"""

from __future__ import annotations

import json
import mmap
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aimon.errors import UsageError

if TYPE_CHECKING:
    from aimon.state.summary import KeptOccurrences

KINDS = {"new": ("new",), "spike": ("spike",), "any": ("new", "spike", "regression")}


@dataclass(frozen=True)
class Gate:
    """How ``--fail-on`` judges: fingerprints known from a baseline, and a file to append the Markdown verdict to."""

    baseline: frozenset[str] = frozenset()
    summary: Path | None = None


@dataclass
class Verdict:
    """What tripped the gate (``matched``, each a detection's facts) and what the baseline let pass."""

    kind: str
    matched: list[dict[str, Any]] = field(default_factory=list)
    known: int = 0  # detections the baseline names
    expected: int = 0  # panics of #[should_panic] tests that passed

    @property
    def tripped(self) -> bool:
        return bool(self.matched)

    def message(self) -> str | None:
        if not self.matched:
            return None
        counts: dict[str, int] = {}
        for item in self.matched:
            counts[item["kind"]] = counts.get(item["kind"], 0) + 1
        what = ", ".join(f"{count} {kind}" for kind, count in counts.items())
        return f"--fail-on {self.kind}: this run detected {what} (exit code 3)"

    def markdown(self) -> str:
        """The verdict as a Markdown section: a heading, then a table of what tripped it."""
        if not self.matched:
            passed = [f"{self.known} known from the baseline"] if self.known else []
            passed += [f"{self.expected} expected panic(s) of #[should_panic] tests"] if self.expected else []
            known = f" ({', '.join(passed)})" if passed else ""
            return f"### aimon: no {self.kind} errors{known}\n"
        lines = [f"### aimon: {len(self.matched)} {self.kind} error(s) detected", "",
                 "| kind | level | error code | occurrences | fingerprint | template |", "|---|---|---|---|---|---|"]
        for item in self.matched:
            template = str(item.get("template") or "").replace("|", "\\|").replace("\n", " ")[:160]
            lines.append(f"| {item['kind']} | {item['level']} | {item.get('error_code') or ''} | {item['count']} |"
                         f" `{item['fingerprint']}` | {template} |")
        if self.known:
            lines += ["", f"{self.known} more detection(s) are in the baseline and do not count."]
        if self.expected:
            lines += ["", f"{self.expected} panic group(s) of #[should_panic] tests that passed do not count."]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message(), "matched": self.matched, "known": self.known,
                "expected": self.expected}


def load_baseline(path: Path) -> frozenset[str]:
    """The fingerprints of a baseline file (``--baseline``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--baseline {path}: {exc.strerror or exc}. Give a file of fingerprints, one per line.") from None
    found = set()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            found.add(line.split()[0].lower())
    return frozenset(found)


def judge(kind: str, detections: Sequence[dict[str, Any]], baseline: frozenset[str] = frozenset(),
          aliases: dict[str, set[str]] | None = None, expected: frozenset[str] = frozenset()) -> Verdict:
    """The gate's verdict on this run's ``detections`` (each with ``kind`` and ``fingerprint``); ``expected``: the
    fingerprints of panics that only ``#[should_panic]`` tests provoked (:func:`expected_panics`)."""
    verdict = Verdict(kind)
    for item in detections:
        if item["kind"] not in KINDS[kind]:
            continue
        names = {item["fingerprint"], *(aliases or {}).get(item["fingerprint"], set())}
        if names & baseline:
            verdict.known += 1
        elif item["fingerprint"] in expected:
            verdict.expected += 1
        else:
            verdict.matched.append(item)
    return verdict


@dataclass(frozen=True)
class Known:
    """What the state file knows of a fingerprint, for judging a window: its state, and when it was resolved."""

    state: str
    state_until: str | None = None
    resolved_at: str | None = None


def window_detections(found: Sequence[dict[str, Any]], known_as: Callable[[str], Known | None],
                      ignored: Callable[[Known], bool]) -> list[dict[str, Any]]:
    """What ``run --since`` would detect in its window (a read-only read that records nothing): a group the state
    file has never seen is ``new``; a resolved one seen after it was resolved is a ``regression`` (as the incremental
    detector has it); an ignored, active or merely earlier one is nothing. A spike needs the counts that only an
    incremental scan records, so a window has none."""
    detected = []
    for group in found:
        known = known_as(group["fingerprint"])
        if known is None:
            kind = "new"
        elif ignored(known) or known.state != "resolved":
            continue
        elif known.resolved_at is not None and (group.get("last_seen") or "") <= known.resolved_at:
            continue  # every occurrence in the window is from before it was resolved
        else:
            kind = "regression"
        detected.append({"kind": kind, "fingerprint": group["fingerprint"], "count": group["count"],
                         "level": group["level"], "error_code": group.get("error_code"), "template": group["template"]})
    return detected


# libtest's pretty output for a #[should_panic] test that panicked as it should (``ok`` in green on a terminal).
_SHOULD_PANIC_PASSED = re.compile(rb"^test (\S+) - should panic \.\.\. (?:\x1b\[[0-9;]*m)?ok(?:\x1b\[[0-9;]*m)?\r?$",
                                  re.MULTILINE)


def passed_should_panic(source: str) -> frozenset[str]:
    """The names of the ``#[should_panic]`` tests that ``source`` (a test run's output) reports as passed."""
    try:
        with open(source, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return frozenset(found.group(1).decode("utf-8", "replace") for found in _SHOULD_PANIC_PASSED.finditer(data))
    except (OSError, ValueError):  # gone, unreadable, empty (mmap refuses a file of 0 bytes), not a file
        return frozenset()


def expected_panics(panics: Mapping[str, KeptOccurrences],
                    passed_in: Callable[[str], frozenset[str]] = passed_should_panic) -> frozenset[str]:
    """The panic fingerprints every occurrence of which is a ``#[should_panic]`` test's own, passed panic.

    Only a group whose occurrences are all kept (the first and latest three) can be checked: a CI run's expected
    panics are few; a bigger group counts, as does one occurrence in a thread that is no such test, or in a test that
    did not pass."""
    passed: dict[str, frozenset[str]] = {}
    expected = set()
    for fingerprint, occurrences in panics.items():
        if not occurrences.kept or occurrences.count > len(occurrences.kept):
            continue
        threads = [(source, json.loads(record).get("thread")) for source, record in occurrences.kept]
        for source, _ in threads:
            if source not in passed:
                passed[source] = passed_in(source)
        if all(thread and thread in passed[source] for source, thread in threads):
            expected.add(fingerprint)
    return frozenset(expected)


def write_summary(path: Path, verdict: Verdict) -> None:
    """Append the verdict to ``path`` (``$GITHUB_STEP_SUMMARY``, say: each step appends its own section)."""
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(verdict.markdown())
    except OSError as exc:
        raise UsageError(f"--summary {path}: {exc.strerror or exc}; give a writable file.") from None
