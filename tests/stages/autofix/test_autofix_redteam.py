"""The red-team corpus (:mod:`tests.stages.autofix.redteam_cases`) through the guard, in the order autofix runs it:
the path rules on the edits as proposed, the edits applied, then the budgets and source rules on the patched text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aimon.stages.autofix import guard
from aimon.stages.autofix.edits import Edit, apply_edits, unified_diff
from aimon.stages.autofix.rules import RULE_IDS
from tests.stages.autofix.redteam_cases import FILES, HONEST, HOSTILE, ORDERS, Case

ORDERS_REPEATED = ORDERS * 40  # 2,520 lines, most of them frequent


def build(root: Path, case: Case) -> Path:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for name, target in case.symlinks.items():
        (root / name).symlink_to(target)
    return root


def judge(root: Path, case: Case, limits: guard.Limits | None = None) -> guard.Refusal | None:
    """What the guard says of the case's patch (None: it would go on to the tests)."""
    limits = limits or guard.Limits(allowed=case.allowed)
    refusal = guard.check_edits(root, case.edits, limits)
    if refusal:
        return refusal
    edits = [Edit(guard.normalize(path) or path, search, replace) for path, search, replace in case.edits]
    originals = {edit.path: (root / edit.path).read_text() for edit in edits}
    return guard.check_patch(originals, apply_edits(originals, edits), limits)


def test_the_corpus_is_big_enough_and_names_real_rules() -> None:
    assert len(HOSTILE) >= 25 and len(HONEST) >= 10
    assert {case.rule for case in HOSTILE} <= set(RULE_IDS)
    assert len({case.name for case in HOSTILE + HONEST}) == len(HOSTILE + HONEST)


@pytest.mark.parametrize("case", HOSTILE, ids=[case.name for case in HOSTILE])
def test_every_hostile_patch_is_refused_by_its_rule(tmp_path: Path, case: Case) -> None:
    refusal = judge(build(tmp_path, case), case)
    assert refusal is not None, "accepted"
    assert refusal.rule == case.rule, refusal.message


@pytest.mark.parametrize("case", HONEST, ids=[case.name for case in HONEST])
def test_every_honest_fix_is_accepted(tmp_path: Path, case: Case) -> None:
    assert judge(build(tmp_path, case), case) is None


@pytest.mark.parametrize("case", [c for c in HOSTILE if c.rule in ("new-crate", "network-access", "not-rust")],
                         ids=lambda case: case.name)
def test_a_rule_turned_off_lets_its_patches_through_to_the_next_rule(tmp_path: Path, case: Case) -> None:
    assert case.rule is not None
    root = build(tmp_path, case)
    loose = guard.Limits(allowed=case.allowed, disabled=frozenset({case.rule}))
    refusal = judge(root, case, loose)
    assert refusal is None or refusal.rule != case.rule


def test_allowed_crates_and_macros_widen_new_crate_and_new_macro(tmp_path: Path) -> None:
    [crate] = [c for c in HOSTILE if c.name == "a new use of a crate"]
    [macro] = [c for c in HOSTILE if c.name == "a new macro from elsewhere"]
    root = build(tmp_path, crate)
    allow = guard.Allowances(crates=frozenset({"regex"}), macros=frozenset({"lazy_static"}))
    assert judge(root, crate, guard.Limits(allow=allow)) is None
    assert judge(root, macro, guard.Limits(allow=allow)) is None


def test_budgets_count_lines_and_characters(tmp_path: Path) -> None:
    before = {"src/a.rs": "fn a() {}\n"}
    one_long_line = {"src/a.rs": "fn a() { let _s = \"" + "x" * 5000 + "\"; }\n"}
    size = guard.changed_size(before, one_long_line)
    assert (size.files, size.lines, size.chars, size.longest_added) == (1, 2, 9 + 5023, 5023)
    refusal = guard.check_size(before, one_long_line, guard.Limits(max_line_chars=10_000))
    assert refusal is not None and refusal.rule == "too-many-chars" and "5032 changed characters" in refusal.message
    assert guard.check_size(before, one_long_line, guard.Limits(max_chars=10_000, max_line_chars=10_000)) is None


def test_the_readme_documents_every_rule() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### autofix: guarded, tested, draft pull requests", 1)[1].split("\n### ", 1)[0]
    documented = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]
    assert documented == list(RULE_IDS)


def test_a_one_line_fix_in_a_long_file_is_a_one_line_change(tmp_path: Path) -> None:
    # difflib's default "junk" heuristic ignores frequent lines (`}`, blanks) in files of 200+ lines: a one-line fix
    # in a long file then counted thousands of changed lines and was refused; the diff shown must stay one hunk.
    before = {"src/a.rs": ORDERS_REPEATED}
    after = {"src/a.rs": ORDERS_REPEATED.replace("    s.parse().unwrap()\n}", "    s.trim().parse().unwrap_or(0)\n}", 1)}
    size = guard.changed_size(before, after)
    assert (size.files, size.lines) == (1, 2)
    assert guard.check_patch(before, after, guard.Limits()) is None
    diff = unified_diff(before, after)
    assert [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        "-    s.parse().unwrap()", "+    s.trim().parse().unwrap_or(0)"]
    assert diff.count("\n@@ ") == 1  # one hunk



@given(st.text(max_size=200), st.text(max_size=200))
def test_the_guard_answers_any_text_with_a_rule_or_a_pass(before: str, after: str) -> None:
    refusal = guard.check_patch({"src/a.rs": before}, {"src/a.rs": after}, guard.Limits())
    assert refusal is None or refusal.rule in RULE_IDS
