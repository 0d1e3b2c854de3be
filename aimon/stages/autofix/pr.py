"""The pull request side of autofix: its text (title, body, comments) and the few GitHub calls it makes.

Every text here mixes our words with untrusted ones (log samples, the model's summary, test output): the caller
redacts them first; here they are escaped or fenced so they stay text and mention nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aimon.markdown import escape, fence, inline_code, shorten
from aimon.remotes.github import make_github, mapped_errors, repo_name

LABELS = ("aimon", "ai-generated")
MARKER = "aimon:fingerprint="  # an HTML comment in the body: lets a human (or a search) find the PR of an error
TITLE_LIMIT = 120
DIFF_LIMIT = 20_000  # characters of diff quoted in the body (GitHub's body limit is 65,536)


@dataclass(frozen=True)
class PullText:
    """What the draft PR says: already redacted by the caller."""

    fingerprint: str
    issue_number: int
    diagnosis: dict[str, Any]
    summary: str
    rationale: str
    files: tuple[str, ...]
    diff: str
    test_command: str
    test_seconds: float
    test_output: str


def pull_title(diagnosis_title: str, summary: str) -> str:
    """The PR title: the model's one-line summary, else the diagnosis title, on one line and short."""
    text = " ".join((summary or diagnosis_title or "fix a logged error").split())
    return shorten(f"aimon autofix: {text}", TITLE_LIMIT)


def pull_body(text: PullText) -> str:
    """The PR body: the diagnosis, what changed and why, the test run, and ``Fixes #N``."""
    d = text.diagnosis
    confidence = float(d.get("confidence") or 0.0)
    lines = [
        f"<!-- {MARKER}{text.fingerprint} -->",
        f"Draft fix proposed by aimon for #{text.issue_number}. It was written by a language model: review it like any "
        "other change before merging; aimon never merges.",
        "",
        "## Diagnosis",
        f"**{escape(str(d.get('title', '')))}** (severity {escape(str(d.get('severity', '?')))}, "
        f"confidence {confidence:.0%})",
        "",
        escape(str(d.get("summary", ""))),
    ]
    if d.get("root_cause"):
        lines += ["", f"Root cause: {escape(str(d['root_cause']))}"]
    lines += [
        "",
        "## What changed and why",
        escape(text.summary),
        "",
        escape(text.rationale),
        "",
        "Files: " + ", ".join(inline_code(path) for path in text.files),
        "",
        fence(shorten(text.diff, DIFF_LIMIT).rstrip("\n"), "diff"),
        "",
        "## Tests",
        f"{inline_code(text.test_command)} passed in the fix branch ({text.test_seconds:.1f} s). End of its output:",
        "",
        fence(text.test_output.strip() or "(no output)"),
        "",
        f"Fixes #{text.issue_number}",
    ]
    return "\n".join(lines) + "\n"


def commit_message(title: str, summary: str, issue_number: int, fingerprint: str) -> str:
    """The fix commit's message (the trailer names the error it fixes)."""
    return f"{title}\n\n{summary}\n\nFixes #{issue_number}\naimon-fingerprint: {fingerprint}\n"


def refusal_comment(reason: str) -> str:
    """The one comment an issue gets when autofix will not (or could not) propose a fix for it."""
    return f"aimon autofix did not open a pull request for this error: {escape(reason)}."


def regression_comment(issue_number: int | None, merged_at: str, seen_at: str) -> str:
    """What the pull request is told when its error comes back after it was merged."""
    text = f"Regression: the error this pull request fixed was detected again at {seen_at} (merged {merged_at})."
    if issue_number is not None:
        text += f" Its issue #{issue_number} carries the report."
    return text + " No other automatic fix is tried before a new diagnosis."


@dataclass(frozen=True)
class PullState:
    """A PR's state as GitHub reports it."""

    state: str  # open | merged | closed
    merged_at: datetime | None


class GitHubPulls:
    """The GitHub calls autofix makes; PyGithub's errors leave as aimon's (:func:`aimon.remotes.github.mapped_errors`)."""

    def __init__(self, settings: Any) -> None:
        self._settings = settings
        self._name = repo_name(settings)
        self._repo: Any = None

    @property
    def repo(self) -> Any:
        if self._repo is None:
            # Built on first use: a pass with nothing to send never imports PyGithub. Lazy objects: no GET /repos/...
            # before each write; the first real call tells us if the repository exists.
            self._repo = make_github(self._settings).withLazy(True).get_repo(self._name)
        return self._repo

    @property
    def owner(self) -> str:
        return str(self._name.split("/", 1)[0])

    def open_draft(self, *, base: str, head: str, title: str, body: str) -> tuple[int, str]:
        """Create a draft PR; ``(number, html_url)``."""
        with mapped_errors("opening the pull request"):
            pull = self.repo.create_pull(base=base, head=head, title=title, body=body, draft=True)
            return int(pull.number), str(pull.html_url)

    def add_labels(self, number: int) -> None:
        """Label a PR ``aimon`` and ``ai-generated`` (through its issue, one request)."""
        with mapped_errors("labelling the pull request"):
            self.repo.get_issue(number).add_to_labels(*LABELS)

    def find_open(self, branch: str) -> tuple[int, str] | None:
        """The open PR whose head is ``branch`` of this repository, if any (recovers one we opened but never recorded)."""
        with mapped_errors("looking for an existing pull request"):
            for pull in self.repo.get_pulls(state="open", head=f"{self.owner}:{branch}"):
                return int(pull.number), str(pull.html_url)
        return None

    def state(self, number: int) -> PullState:
        """Whether PR ``number`` is open, merged or closed."""
        with mapped_errors(f"reading pull request #{number}"):
            pull = self.repo.get_pull(number)  # lazy: the attribute reads below make the one GET
            merged = bool(pull.merged)
            state = "merged" if merged else ("open" if pull.state == "open" else "closed")
            return PullState(state, pull.merged_at if merged else None)

    def comment(self, number: int, body: str) -> None:
        """Comment on pull request ``number`` (GitHub takes PR comments on the issues endpoint)."""
        with mapped_errors(f"commenting on #{number}"):
            self.repo.get_issue(number).create_comment(body)
