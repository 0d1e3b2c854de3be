"""One autofix attempt for one eligible error, and the recorder every outcome (refusals included) goes through.

The order is the safety argument: nothing the model proposed is written before the guard passed, nothing runs before
it is written into a throw-away worktree, nothing is committed before the tests passed, and nothing is pushed in
dry-run. Every way out records its reason (:class:`Recorder`) and is posted once on the issue.
"""

from __future__ import annotations

import json
import os
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aimon.config import VARS
from aimon.errors import RemoteError
from aimon.markdown import shorten
from aimon.remotes.egress import Egress
from aimon.remotes.llm import LLM, LLMInvalid, LLMTransient, LLMUnavailable
from aimon.runtime import Context
from aimon.stages.autofix import guard, prompt, worktree
from aimon.stages.autofix.edits import Edit, EditError, EditsReply, Proposal, apply_edits, unified_diff
from aimon.stages.autofix.eligibility import Candidate, Ineligible
from aimon.stages.autofix.pr import PullText, commit_message, pull_parts, pull_title, refusal_comment
from aimon.state import autofix
from aimon.state.db import transaction

# Outcomes of an attempt that did real work; each is a new row (see eligibility's retry delay).
WORKED = ("refused", "failed", "proposed")


@dataclass
class AttemptReport:
    """What happened to one error in this pass (what ``--json`` shows per error)."""

    fingerprint: str
    outcome: str  # opened | proposed | ineligible | deferred | refused | failed
    reason: str
    issue_number: int | None = None
    rule: str | None = None  # the guard rule a refusal broke
    diff: str | None = None
    branch: str | None = None
    pull_number: int | None = None
    pull_url: str | None = None
    test: dict[str, Any] | None = None
    recorded: bool = False  # a new row in autofix_attempts
    commented: bool = False  # the reason was posted on the issue now
    would_comment: str | None = None  # dry-run: the comment that would be posted
    error: str | None = None  # a follow-up call that failed (labels, comment); the outcome stands
    diff_comments: int = 0  # comments that carry the rest of a diff too long for the PR body

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Recorder:
    """Records outcomes in ``autofix_attempts`` and posts a refusal's reason on the issue once (pr mode only)."""

    def __init__(self, ctx: Context, mode: str, github: Any, now: datetime) -> None:
        self.ctx = ctx
        self.mode = mode
        self.github = github
        self.now = now
        self.redactor = Egress.of(ctx.settings).redactor()

    def refusal(self, item: Ineligible) -> AttemptReport:
        """Record an eligibility refusal (deduplicated) and post it once."""
        return self.record(item.fingerprint, item.outcome, item.reason, diagnosis_id=item.diagnosis_id, issue_number=item.issue_number)

    def record(
        self,
        fingerprint: str,
        outcome: str,
        reason: str,
        *,
        diagnosis_id: int | None = None,
        issue_number: int | None = None,
        diff: str | None = None,
        llm_used: bool = False,
        comment: bool = True,
        rule: str | None = None,
    ) -> AttemptReport:
        """Record one outcome (``rule``: the guard rule a refusal broke); the same reason as last time adds no row
        (unless the model was asked again)."""
        conn = self.ctx.db
        reason = self.redactor.redact(reason)
        last = autofix.last_attempt(conn, fingerprint)
        report = AttemptReport(fingerprint, outcome, reason, issue_number=issue_number, diff=diff, rule=rule)
        # Work that was done (a worktree, a model call) is always a new row: its time is what delays the next try.
        if llm_used or outcome in WORKED or last is None or (last["outcome"], last["reason"]) != (outcome, reason):
            with transaction(conn):
                attempt_id = autofix.insert_attempt(
                    conn, fingerprint, outcome, reason, at=self.now, diagnosis_id=diagnosis_id, diff=diff, llm_used=llm_used,
                    rule=rule,
                )
            report.recorded = True
        else:
            attempt_id = int(last["id"])
        if comment and issue_number is not None:
            self._post_once(report, attempt_id)
        return report

    def _post_once(self, report: AttemptReport, attempt_id: int) -> None:
        conn = self.ctx.db
        if autofix.reason_posted(conn, report.fingerprint, report.reason) or report.issue_number is None:
            return
        body = refusal_comment(report.reason)
        if self.mode != "pr":
            report.would_comment = body
            return
        try:
            self.github.comment(report.issue_number, body)
        except RemoteError as exc:
            report.error = str(exc)  # the row stays uncommented: the next pass posts it
            return
        with transaction(conn):
            autofix.mark_posted(conn, attempt_id)
        report.commented = True


def secret_env_names() -> tuple[str, ...]:
    """Variables the test command never sees: aimon's own credentials, in case they are in the environment."""
    return tuple(var.env for var in VARS if var.secret)


@dataclass
class Attempt:
    """Try to fix one eligible error (see the module docstring for the order of steps)."""

    ctx: Context
    candidate: Candidate
    repo: Path
    mode: str
    github: Any
    recorder: Recorder
    now: datetime
    limits: guard.Limits = field(init=False)

    def __post_init__(self) -> None:
        self.limits = guard.Limits.of(self.ctx.settings.autofix)

    def _record(self, outcome: str, reason: str, **kwargs: Any) -> AttemptReport:
        c = self.candidate
        return self.recorder.record(
            c.fingerprint, outcome, reason, diagnosis_id=c.diagnosis_id, issue_number=c.issue_number, **kwargs
        )

    def run(self) -> AttemptReport:
        """The whole attempt; the worktree is gone when this returns, whatever happened."""
        llm = LLM(self.ctx)
        unavailable = llm.unavailable_reason
        if unavailable:
            return self._record("deferred", f"the LLM is unavailable ({unavailable.split(': using')[0]})")
        if self.ctx.dry_run:
            # --dry-run sends nothing anywhere, the LLM included; AIMON_AUTOFIX=dry-run is the way to preview a fix.
            return self._record("deferred", "dry run: the LLM is not asked for a fix (AIMON_AUTOFIX=dry-run previews one)", comment=False)
        base, commit = worktree.default_branch(self.repo, fetch=not self.ctx.dry_run)
        branch = None
        if self.mode == "pr":
            branch, recovered = self._branch()
            if recovered is not None:
                return recovered
        try:
            with worktree.worktree(self.repo, commit) as tree:
                return self._in_tree(tree, llm, base, branch)
        except worktree.GitError as exc:
            return self._record("failed", f"git failed in the fix worktree: {exc}")

    def _branch(self) -> tuple[str, AttemptReport | None]:
        """A branch name not used yet; or a PR we opened but never recorded (a crash after creating it)."""
        fp = self.candidate.fingerprint
        prefix = f"aimon/fix-{fp[:8]}"
        remote = worktree.remote_branches(self.repo, prefix)
        known = autofix.pull_branches(self.ctx.db, fp)
        for orphan in sorted(remote - known)[:3]:
            found = self.github.find_open(orphan)
            if found is not None:
                number, url = found
                self._save_pull(number, url, orphan, "", None, "recovered an open pull request opened earlier")
                return orphan, AttemptReport(fp, "opened", f"recovered open pull request #{number}", self.candidate.issue_number,
                                             branch=orphan, pull_number=number, pull_url=url, recorded=True)
        name, n = prefix, 1
        while name in remote or name in known:
            n += 1
            name = f"{prefix}-{n}"
        return name, None

    def _in_tree(self, tree: Path, llm: LLM, base: str, branch: str | None) -> AttemptReport:
        c = self.candidate
        redactor = Egress.of(self.ctx.settings).redactor()
        files, problem = prompt.gather(tree, self._places(), self.limits, redactor)
        if problem:
            # Found only now, in the worktree: recorded as a refusal so the next tick does not redo the work for it.
            rule = problem.rule if isinstance(problem, guard.Refusal) else None
            return self._record("refused", str(problem), rule=rule)
        try:
            answer = llm.structured(
                purpose="autofix", fingerprint=c.fingerprint, system=prompt.system_prompt(self.limits),
                user=prompt.user_prompt(c, files, redactor), schema_name="autofix_edits", answer=EditsReply,
            )
        except LLMUnavailable as exc:
            return self._record("deferred", f"the LLM is unavailable ({str(exc).split(': using')[0]})")
        except LLMTransient as exc:
            return self._record("deferred", f"the LLM did not answer: {exc}", comment=False)
        except LLMInvalid as exc:
            return self._record("failed", f"the model's answer was unusable: {exc}", llm_used=True)
        proposal = Proposal.from_reply(answer.data)
        return self._apply(tree, proposal, {f.path for f in files}, base, branch)

    def _places(self) -> list[tuple[str, int | None]]:
        c = self.candidate
        places: list[tuple[str, int | None]] = [(str(c.file), c.line)]
        record = autofix.latest_record(self.ctx.db, c.fingerprint)
        if record is not None:
            # A record we cannot read adds no context; the error's own file is enough.
            with suppress(ValueError, TypeError):
                places += prompt.backtrace_files(json.loads(record))
        return places

    def _apply(self, tree: Path, proposal: Proposal, shown: set[str], base: str, branch: str | None) -> AttemptReport:
        if not proposal.edits:
            why = shorten(" ".join(proposal.rationale.split()), 300) or "no reason given"
            return self._record("failed", f"the model proposed no change ({why})", llm_used=True)
        refusal = guard.check_edits(tree, [(e.path, e.search, e.replace) for e in proposal.edits], self.limits)
        if refusal:
            return self._record("refused", f"guard: {refusal}", llm_used=True, rule=refusal.rule)
        edits = [Edit(guard.normalize(e.path) or e.path, e.search, e.replace) for e in proposal.edits]
        originals = {path: prompt.read_text(tree / path) or "" for path in sorted(shown)}
        try:
            updated = apply_edits(originals, edits)
        except EditError as exc:
            return self._record("failed", f"the edit does not apply: {exc}", llm_used=True)
        if not updated:
            return self._record("failed", "the model's edits change nothing", llm_used=True)
        diff = unified_diff(originals, updated)
        refusal = guard.check_patch(originals, updated, self.limits)
        if refusal:
            return self._record("refused", f"guard: {refusal}", diff=diff, llm_used=True, rule=refusal.rule)
        for path, text in updated.items():
            with open(tree / path, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
        return self._verify_and_ship(tree, proposal, diff, updated, base, branch)

    def _verify_and_ship(
        self, tree: Path, proposal: Proposal, diff: str, updated: dict[str, str], base: str, branch: str | None
    ) -> AttemptReport:
        settings = self.ctx.settings
        test = None
        if settings.autofix.test_cmd.strip():
            env = worktree.test_environment(os.environ, settings.autofix.test_env, secret_env_names())
            test = worktree.run_tests(tree, settings.autofix.test_cmd, settings.autofix.test_timeout, env)
            if not test.passed:
                how = f"timed out after {settings.autofix.test_timeout:g} s" if test.timed_out else f"exited with {test.exit_code}"
                report = self._record("failed", f"the test command {settings.autofix.test_cmd!r} {how} with the fix applied",
                                      diff=diff, llm_used=True)
                report.test = {**test.to_json(), "output_tail": self.recorder.redactor.redact(test.output_tail)}
                return report
            rewritten = _rewritten(tree, updated)
            if rewritten:
                # What would be committed is no longer what the guard passed (a formatter, or the code under test).
                return self._record("failed", f"the test command changed {', '.join(rewritten)} after the guard passed it",
                                    diff=diff, llm_used=True)
        if self.mode != "pr":
            note = "tests passed" if test else "not tested: AIMON_AUTOFIX_TEST_CMD is not set"
            report = self._record("proposed", f"dry-run: would open a draft pull request ({note})", diff=diff,
                                  llm_used=True, comment=False)
            report.test = test.to_json() if test else None
            return report
        assert test is not None and branch is not None  # pr mode requires a test command (checked up front)
        return self._ship(tree, proposal, diff, sorted(updated), base, branch, test)

    def _ship(self, tree: Path, proposal: Proposal, diff: str, paths: list[str], base: str, branch: str,
              test: worktree.TestRun) -> AttemptReport:
        c = self.candidate
        r = Egress.of(self.ctx.settings).redactor()
        title = r.redact(pull_title(str(c.diagnosis.get("title", "")), proposal.summary))
        text = PullText(
            fingerprint=c.fingerprint, issue_number=c.issue_number, diagnosis=r.redact_obj(c.diagnosis),
            summary=r.redact(proposal.summary), rationale=r.redact(proposal.rationale), files=tuple(paths),
            diff=r.redact(diff), test_command=r.redact(test.command), test_seconds=test.seconds, test_output=r.redact(test.output_tail),
            rules=tuple(self.limits.rules()),
        )
        parts = pull_parts(text)
        worktree.commit_paths(tree, self.ctx.settings.autofix.git_author,
                              commit_message(title, r.redact(proposal.summary), c.issue_number, c.fingerprint), paths)
        try:
            worktree.push(tree, branch)
            try:
                number, url = self.github.open_draft(base=base, head=branch, title=title, body=parts.body)
            except RemoteError:
                worktree.delete_remote_branch(tree, branch)  # ours, seconds old: leave no orphan behind
                raise
        except RemoteError as exc:
            # Recorded so that the next ticks do not pay the model again at once (retried after an hour).
            self._record("deferred", str(exc), diff=diff, llm_used=True, comment=False)
            raise
        self._save_pull(number, url, branch, title, diff, f"draft pull request #{number}")
        report = AttemptReport(c.fingerprint, "opened", f"draft pull request #{number}", c.issue_number, diff=diff,
                               branch=branch, pull_number=number, pull_url=url, test=test.to_json(), recorded=True)
        try:
            self.github.add_labels(number)
        except RemoteError as exc:
            report.error = str(exc)
        try:
            for comment in parts.comments:  # the rest of a diff too long for the body, in order
                self.github.comment(number, comment)
                report.diff_comments += 1
        except RemoteError as exc:
            report.error = f"{exc} (the diff is continued in {report.diff_comments} of {len(parts.comments)} comments)"
        return report

    def _save_pull(self, number: int, url: str, branch: str, title: str, diff: str | None, reason: str) -> None:
        c = self.candidate
        with transaction(self.ctx.db) as conn:
            autofix.insert_pull(conn, c.fingerprint, number, url, branch, title, c.issue_number, self.now)
            autofix.insert_attempt(conn, c.fingerprint, "opened", reason, at=self.now, diagnosis_id=c.diagnosis_id, diff=diff,
                                   llm_used=diff is not None)


def _rewritten(tree: Path, updated: dict[str, str]) -> list[str]:
    """The patched files whose text in the worktree is no longer the text the guard checked."""
    return [path for path, text in sorted(updated.items()) if prompt.read_text(tree / path) != text]
