"""``aimon run``: one cron tick — scan → diagnose → notify → open-issue → autofix.

Each stage is idempotent over the state file, so the pipeline only has to call them in order and keep going: a stage
that fails (a bad webhook, GitHub down, a bug) is recorded with its error and the next stages still run; the exit code
is 1 when one failed. Three more things belong to the tick as a whole:

- one instance at a time: a lock file next to the state file, tried without waiting; a second ``aimon run`` while one
  runs returns at once (exit 0), so a slow tick never piles up cron processes;
- the tick budget (``AIMON_TICK_BUDGET``): every stage gets ``ctx.deadline`` and leaves slow remote work pending; a
  stage that has not started when the budget is spent is skipped until the next tick;
- a record of the run in ``runs`` (for ``aimon status``) and, when ``AIMON_METRICS_FILE`` is set, Prometheus metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aimon.config import Settings
from aimon.errors import AimonError, ConfigError, ExitCode, StateError, UsageError
from aimon.lock import lock_path, try_lock
from aimon.runtime import Context
from aimon.state import groups, runs, summary
from aimon.state.db import iso, transaction, utcnow
from aimon.tools.gate import KINDS, Gate, Known, Verdict, expected_panics, judge, window_detections, write_summary

if TYPE_CHECKING:
    from aimon.tools.metrics import RunFigures

DIAGNOSE_LIMIT = 20  # diagnoses per tick, as `aimon diagnose` does by default
KEEP_RUNS = 7 * 24 * 60  # rows of `runs` kept: a week of minutely ticks (a summary is about a kilobyte)


@dataclass(frozen=True)
class Tick:
    """What this run was asked to do beyond the settings: which logs (None: ``AIMON_LOG_PATHS``) and which window."""

    paths: Sequence[str] | None = None
    since: str | None = None


# Each stage imports its module only when it runs: an idle tick pays for nothing else, and a stage whose import fails
# fails alone.


def _scan(ctx: Context, tick: Tick) -> Any:
    from aimon.stages.scan.stage import run_scan

    return run_scan(ctx, paths=tick.paths, since=tick.since)


def _diagnose(ctx: Context, tick: Tick) -> Any:
    from aimon.stages.diagnose.stage import run_diagnose

    return run_diagnose(ctx, limit=DIAGNOSE_LIMIT)


def _notify(ctx: Context, tick: Tick) -> Any:
    from aimon.stages.notify.stage import run_notify

    return run_notify(ctx)


def _open_issue(ctx: Context, tick: Tick) -> Any:
    from aimon.stages.issues.stage import run_open_issue

    return run_open_issue(ctx)


def _autofix(ctx: Context, tick: Tick) -> Any:
    from aimon.stages.autofix.stage import run_autofix

    return run_autofix(ctx)


Stage = Callable[[Context, Tick], Any]
STAGES: tuple[tuple[str, Stage], ...] = (
    ("scan", _scan),
    ("diagnose", _diagnose),
    ("notify", _notify),
    ("open_issue", _open_issue),
    ("autofix", _autofix),
)


@dataclass
class StageOutcome:
    """How one stage went: ``ok``, ``failed`` (with the error, secrets masked) or ``skipped`` (with why)."""

    name: str
    status: str
    duration_s: float = 0.0
    result: Any = None
    error: str | None = None

    def counts(self) -> dict[str, float]:
        """The numbers of the stage's result (top-level numbers, list lengths, numbers one level down)."""
        if self.result is None or not hasattr(self.result, "to_json"):
            return {}
        return _numbers(self.result.to_json())

    def summary(self) -> dict[str, Any]:
        """What goes into ``runs.summary`` for this stage."""
        return {
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "counts": self.counts(),
            "error": self.error,
        }


@dataclass
class RunResult:
    """The outcome of ``aimon run``; ``exit_code`` 1 when a stage failed or ``--fail-on`` matched."""

    started_at: str
    dry_run: bool = False
    locked: str | None = None  # set when another run holds the lock: nothing was done
    finished_at: str | None = None
    stages: list[StageOutcome] = field(default_factory=list)
    detections: dict[str, int] = field(default_factory=dict)  # kind → detections recorded by this run
    fail_on: str | None = None
    fail_on_message: str | None = None
    verdict: Verdict | None = None
    metrics_error: str | None = None

    @property
    def exit_code(self) -> ExitCode:
        if self.locked:
            return ExitCode.OK
        if any(stage.status == "failed" for stage in self.stages):
            return ExitCode.STAGE_FAILED
        if self.fail_on_message:
            return ExitCode.FAIL_ON
        return ExitCode.OK

    def stage(self, name: str) -> StageOutcome | None:
        return next((stage for stage in self.stages if stage.name == name), None)

    def summary(self) -> dict[str, Any]:
        """The JSON stored in ``runs.summary``."""
        return {
            "dry_run": self.dry_run,
            "stages": {stage.name: stage.summary() for stage in self.stages},
            "detections": self.detections,
            "fail_on": self.fail_on_message,
        }

    def figures(self) -> RunFigures:
        """What the metrics file needs to know about this run."""
        from aimon.tools.metrics import RunFigures, StageFigures, scan_figures

        scan = self.stage("scan")
        scan_json = scan.result.to_json() if scan is not None and hasattr(scan.result, "to_json") else None
        return RunFigures(
            started_at=self.started_at,
            finished_at=self.finished_at,
            exit_code=int(self.exit_code),
            stages=tuple(StageFigures(stage.name, stage.duration_s, stage.status == "failed") for stage in self.stages),
            scan=scan_figures(scan_json),
        )

    def to_json(self) -> dict[str, Any]:
        if self.locked:
            return {"skipped": self.locked, "exit_code": 0}
        return {
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "dry_run": self.dry_run,
            "exit_code": int(self.exit_code),
            "stages": {
                stage.name: {
                    **stage.summary(),
                    "result": stage.result.to_json()
                    if stage.result is not None and hasattr(stage.result, "to_json")
                    else None,
                }
                for stage in self.stages
            },
            "detections": self.detections,
            "fail_on": self.verdict.to_json() if self.verdict is not None else None,
            "metrics_error": self.metrics_error,
        }


# How much longer than a tick's budget a hand-run stage waits for the run lock.
STAGE_LOCK_GRACE = 10.0


@contextmanager
def stage_lock(settings: Settings, command: str) -> Iterator[None]:
    """Hold the run lock for a stage run by hand, waiting for a cron tick that holds it to finish.

    Two processes reading the same files would each count the lines they read before either commits its checkpoint;
    one lock for ``aimon run`` and every stage command makes that impossible.
    """
    path = lock_path(settings.db_path)
    wait = settings.tick_budget + STAGE_LOCK_GRACE
    with try_lock(path, wait=wait, holder=command) as held:
        if not held:
            raise StateError(
                f"aimon {command}: another aimon run held {path} for {wait:.0f}s; try again when it has finished."
            )
        yield


def run_pipeline(ctx: Context, paths: Sequence[str] | None, since: str | None, fail_on: str | None,
                 gate: Gate | None = None) -> RunResult:
    """Run every stage once, in order, within the tick budget; see the module docstring. ``gate``: the baseline and
    the Markdown summary file of ``--fail-on``."""
    if fail_on is not None and fail_on not in KINDS:
        raise UsageError(f"--fail-on {fail_on!r}: use new, spike or any.")
    gate = gate or Gate()
    settings = ctx.settings
    if settings.sources.kind == "file" and not paths and not settings.sources.log_paths:
        # Found before any stage runs: a tick that watches nothing is a setting to fix, not a stage that failed.
        raise ConfigError("no log files to watch: set AIMON_LOG_PATHS in .env (comma-separated paths or globs), pass "
                          "--log PATH, or set AIMON_SOURCE=loki.")
    tick = Tick(paths=paths, since=since)
    if ctx.dry_run:
        # A dry run changes nothing on disk (not even a lock file) and works on its own in-memory copy.
        return _run(ctx, tick, fail_on, gate)
    path = lock_path(ctx.settings.db_path)
    with try_lock(path, holder="run") as held:
        if not held:
            message = f"another aimon run is in progress (lock {path}); this tick does nothing"
            ctx.notice(message)
            return RunResult(started_at=iso(utcnow()) or "", locked=message)
        ctx.holds_run_lock = True
        try:
            return _run(ctx, tick, fail_on, gate)
        finally:
            ctx.holds_run_lock = False


def _run(ctx: Context, tick: Tick, fail_on: str | None, gate: Gate) -> RunResult:
    result = RunResult(started_at=iso(utcnow()) or "", dry_run=ctx.dry_run, fail_on=fail_on)
    with transaction(ctx.db):
        run_id = runs.begin(ctx.db, result.started_at)
    first_detection = summary.newest_detection_id(ctx.db)
    for name, stage in STAGES:
        if ctx.deadline.expired():
            result.stages.append(StageOutcome(name, "skipped", error="tick budget spent; left for the next tick"))
            continue
        result.stages.append(_stage(ctx, name, stage, tick))
    result.detections = summary.detections_after(ctx.db, first_detection, utcnow())
    if fail_on is not None:
        found = _window_found(ctx, result) if tick.since is not None else [
            dict(row) for row in summary.detected_after(ctx.db, first_detection, utcnow())]
        aliases: dict[str, set[str]] = {}
        for alias, target in groups.alias_targets(ctx.db).items():
            aliases.setdefault(target, set()).add(alias)
        panics = summary.kept_occurrences(ctx.db, {item["fingerprint"] for item in found if item["level"] == "PANIC"})
        result.verdict = judge(fail_on, found, gate.baseline, aliases, expected_panics(panics))
        result.fail_on_message = result.verdict.message()
        if result.fail_on_message:
            ctx.notice(result.fail_on_message)
        if gate.summary is not None:
            write_summary(gate.summary, result.verdict)
    result.finished_at = iso(utcnow())
    _finish(ctx, run_id, result)
    return result


def _window_found(ctx: Context, result: RunResult) -> list[dict[str, Any]]:
    """``run --since --fail-on``: the groups of the window, judged against what the state file knows."""
    scan = next((stage.result for stage in result.stages if stage.name == "scan" and stage.result is not None), None)

    def known_as(fingerprint: str) -> Known | None:
        row = groups.age_and_state(ctx.db, groups.canonical(ctx.db, fingerprint))
        return None if row is None else Known(row["state"], row["state_until"], row["resolved_at"])

    now = utcnow()
    return window_detections(scan.groups if scan is not None else [], known_as,
                             lambda known: groups.is_ignored(known.state, known.state_until, now))


def _stage(ctx: Context, name: str, stage: Stage, tick: Tick) -> StageOutcome:
    """Run one stage; any error is caught, recorded (type and message, secrets masked) and reported as a notice."""
    started = time.monotonic()
    ctx.stage = name.replace("_", "-")
    try:
        stage_result = stage(ctx, tick)
    except AimonError as exc:
        outcome = StageOutcome(name, "failed", error=_describe(ctx, exc))
    except Exception as exc:  # a bug in one stage must not stop the others; the type says it was unexpected
        outcome = StageOutcome(name, "failed", error="unexpected " + _describe(ctx, exc))
    else:
        code = int(getattr(stage_result, "exit_code", 0) or 0)
        error = None if code == 0 else _result_error(ctx, stage_result)
        outcome = StageOutcome(name, "ok" if code == 0 else "failed", result=stage_result, error=error)
    finally:
        ctx.stage = None
    if ctx.db.in_transaction:
        # A stage that raised inside its own transaction handling must not leave ours half-open.
        ctx.db.rollback()
    outcome.duration_s = time.monotonic() - started
    if outcome.status == "failed":
        ctx.notice(f"{name} failed: {outcome.error}")
    return outcome


def _describe(ctx: Context, exc: BaseException) -> str:
    from aimon.tools.status import secret_scrubber

    return f"{type(exc).__name__}: {secret_scrubber(ctx.settings)(str(exc)) or '(no message)'}"


def _result_error(ctx: Context, stage_result: Any) -> str:
    """A stage that returned exit code 1 (part of its work failed): its own words, secrets masked."""
    from aimon.tools.status import secret_scrubber

    data = stage_result.to_json() if hasattr(stage_result, "to_json") else {}
    data = data if isinstance(data, dict) else {}
    said = [data["error"]] if isinstance(data.get("error"), str) and data["error"] else []
    said += [str(error) for error in data.get("errors") or [] if error]
    said += [
        str(item.get("error")) for item in data.get("failed") or [] if isinstance(item, dict) and item.get("error")
    ]
    if not said:
        return "part of its work failed (see its result)"
    return secret_scrubber(ctx.settings)("; ".join(dict.fromkeys(said[:3]))) or "part of its work failed"


def _finish(ctx: Context, run_id: int, result: RunResult) -> None:
    """Close the ``runs`` row; then write the metrics file (not under --dry-run, which touches no file)."""
    figures = None if ctx.dry_run else result.figures()
    with transaction(ctx.db):
        runs.finish(ctx.db, run_id, finished_at=result.finished_at, exit_code=int(result.exit_code), summary=result.summary())
        runs.prune(ctx.db, run_id, KEEP_RUNS)
        if figures is not None:
            from aimon.tools.metrics import accumulate

            accumulate(ctx.db, figures)
    if figures is not None and ctx.settings.metrics_file is not None:
        from aimon.tools.metrics import write_metrics

        try:
            write_metrics(ctx, figures)
        except AimonError as exc:
            result.metrics_error = str(exc)
            ctx.notice(str(exc))


def _numbers(data: Any) -> dict[str, float]:
    numbers: dict[str, float] = {}
    if not isinstance(data, dict):
        return numbers
    for key, value in data.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            numbers[key] = value
        elif isinstance(value, list):
            numbers[key] = len(value)
        elif isinstance(value, dict):
            for inner, inner_value in value.items():
                if isinstance(inner_value, int | float) and not isinstance(inner_value, bool):
                    numbers[f"{key}.{inner}"] = inner_value
    return numbers
