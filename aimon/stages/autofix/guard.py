"""The autofix guard: an allowlist a proposed patch must fit before anything is written, built or pushed.

The model's answer is untrusted (it read log lines an attacker can write), so the guard does not look for what is bad;
it accepts only the shape of a small fix: edits to existing Rust files inside the allowed paths, within a line *and*
a character budget, that make the code do nothing it did not do before (no ``unsafe``, processes, FFI, secrets,
network, files, includes, new crates or macros, test-harness changes). It runs twice: on the paths the model named,
before any edit is applied (:func:`check_edits`), then on the patched text (:func:`check_patch`), where the Rust
source of each file is read with :mod:`~aimon.stages.autofix.rustlex` before and after. Every refusal names its rule
(:mod:`~aimon.stages.autofix.rules`); a repository widens them in ``aimon.toml`` (``[autofix.guard]``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aimon.config.settings import AutofixSettings
from aimon.errors import ConfigError
from aimon.stages.autofix import facts
from aimon.stages.autofix.edits import matcher
from aimon.stages.autofix.paths import check_path, glob_match, normalize
from aimon.stages.autofix.rules import RULE_IDS, RULES, Allowances, Refusal, check_placeholders, check_source
from aimon.stages.autofix.rustlex import LexError

__all__ = ["Limits", "Refusal", "changed_size", "check_edits", "check_patch", "check_path", "glob_match", "normalize"]


@dataclass(frozen=True)
class Limits:
    """What a change may touch and how big it may be: the guard's policy for one repository."""

    allowed: tuple[str, ...] = ("src/**",)
    max_lines: int = 40
    max_files: int = 3
    max_chars: int = 4000
    max_line_chars: int = 200
    allow: Allowances = field(default_factory=Allowances)
    disabled: frozenset[str] = frozenset()

    @classmethod
    def of(cls, settings: AutofixSettings) -> Limits:
        """The policy from the settings: the environment's paths and budgets, widened or tightened by aimon.toml."""
        g = settings.guard
        unknown = sorted(set(g.disable) - set(RULE_IDS))
        fixed = sorted(rule.id for rule in RULES if rule.fixed and rule.id in g.disable)
        if unknown or fixed:
            raise ConfigError(
                f"[autofix.guard] disable: {', '.join(unknown + fixed)} "
                f"{'is not a rule that may be turned off' if len(unknown + fixed) == 1 else 'are not rules that may be turned off'}"
                f" (see the autofix section of the README for the rule ids)."
            )
        return cls(
            allowed=(*settings.paths, *g.paths),
            max_lines=g.max_lines or settings.max_lines,
            max_files=g.max_files or settings.max_files,
            max_chars=g.max_chars,
            max_line_chars=g.max_line_chars,
            allow=Allowances(crates=frozenset(g.crates), macros=frozenset(g.macros)),
            disabled=frozenset(g.disable),
        )

    def rules(self) -> list[str]:
        """The ids of the rules in force (what the PR body lists as passed)."""
        return [rule for rule in RULE_IDS if rule not in self.disabled]


def check_edits(root: Path, edits: Iterable[tuple[str, str, str]], limits: Limits) -> Refusal | None:
    """The path rules over ``(path, search, replace)`` edits, before any of them is applied."""
    for path, _search, _replace in edits:
        refusal = check_path(root, path, limits.allowed, limits.disabled)
        if refusal:
            return refusal
    return None


def check_patch(originals: Mapping[str, str], updated: Mapping[str, str], limits: Limits) -> Refusal | None:
    """The size budgets over the whole patch, then the source rules file by file (``updated``: the changed files)."""
    refusal = check_size(originals, updated, limits)
    if refusal:
        return refusal
    for path in sorted(updated):
        refusal = _check_file(path, originals[path], updated[path], limits)
        if refusal:
            return refusal
    return None


def _check_file(path: str, before: str, after: str, limits: Limits) -> Refusal | None:
    if "redaction-placeholder" not in limits.disabled:
        refusal = check_placeholders(path, before, after)
        if refusal:
            return refusal
    if not path.endswith(".rs"):
        return None  # only when `not-rust` is turned off: nothing more can be read of it
    try:
        after_facts = facts.facts(after)
    except LexError as exc:
        return Refusal("unreadable-source", f"{path}: the patched file does not read as Rust ({exc})")
    try:
        before_facts = facts.facts(before)
    except LexError:
        before_facts = facts.facts("")  # a file we could not read before: everything in it counts as new
    return check_source(path, before_facts, after_facts, limits.allow, limits.disabled)


@dataclass(frozen=True)
class Size:
    """How big a patch is: files, lines added plus removed, characters on those lines, and its longest added line."""

    files: int
    lines: int
    chars: int
    longest_added: int


def changed_size(originals: Mapping[str, str], updated: Mapping[str, str]) -> Size:
    """The size of the change from ``originals`` to ``updated`` (both counted on the changed lines only)."""
    files = lines = chars = longest = 0
    for path, text in updated.items():
        if originals.get(path) == text:
            continue
        files += 1
        before, after = originals.get(path, "").splitlines(), text.splitlines()
        for tag, i1, i2, j1, j2 in matcher(before, after).get_opcodes():
            if tag == "equal":
                continue
            removed, added = before[i1:i2], after[j1:j2]
            lines += len(removed) + len(added)
            chars += sum(map(len, removed)) + sum(map(len, added))
            longest = max([longest, *map(len, added)])
    return Size(files, lines, chars, longest)


def changed_lines(before: str, after: str) -> int:
    """Lines added plus lines removed between two versions of a file."""
    return changed_size({"f": before}, {"f": after}).lines


def check_size(originals: Mapping[str, str], updated: Mapping[str, str], limits: Limits) -> Refusal | None:
    """The budgets: files, changed lines, changed characters (a 60,000-character line is one line) and line length."""
    size = changed_size(originals, updated)
    over = (
        ("too-many-files", size.files, limits.max_files,
         f"the change touches {size.files} files, more than the {limits.max_files} allowed (AIMON_AUTOFIX_MAX_FILES)"),
        ("too-many-lines", size.lines, limits.max_lines,
         f"the change has {size.lines} changed lines, more than the {limits.max_lines} allowed (AIMON_AUTOFIX_MAX_LINES)"),
        ("too-many-chars", size.chars, limits.max_chars,
         f"the change has {size.chars} changed characters, more than the {limits.max_chars} allowed "
         "([autofix.guard] max_chars)"),
        ("long-line", size.longest_added, limits.max_line_chars,
         f"the change adds a line of {size.longest_added} characters, longer than the {limits.max_line_chars} allowed "
         "([autofix.guard] max_line_chars)"),
    )
    for rule, value, limit, message in over:
        if value > limit and rule not in limits.disabled:
            return Refusal(rule, message)
    return None
