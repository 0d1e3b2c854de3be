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

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

from aimon.config import Settings
from aimon.errors import AimonError, StateError, UsageError
from aimon.runtime import Context
from aimon.state.db import iso, transaction, utcnow
from aimon.state.groups import ignored_sql

DIAGNOSE_LIMIT = 20  # diagnoses per tick, as `aimon diagnose` does by default
KEEP_RUNS = 7 * 24 * 60  # rows of `runs` kept: a week of minutely ticks (a summary is about a kilobyte)
FAIL_ON_KINDS = {"new": ("new",), "spike": ("spike",), "any": ("new", "spike", "regression")}

# (name, module, function): imported only when the stage runs, so a failing import fails that stage alone.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("scan", "aimon.stages.scan.stage", "run_scan"),
    ("diagnose", "aimon.stages.diagnose.stage", "run_diagnose"),
    ("notify", "aimon.stages.notify.stage", "run_notify"),
    ("open_issue", "aimon.stages.issues.stage", "run_open_issue"),
    ("autofix", "aimon.stages.autofix.stage", "run_autofix"),
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
    metrics_error: str | None = None

    @property
    def exit_code(self) -> int:
        if self.locked:
            return 0
        if any(stage.status == "failed" for stage in self.stages) or self.fail_on_message:
            return 1
        return 0

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

    def to_json(self) -> dict[str, Any]:
        if self.locked:
            return {"skipped": self.locked, "exit_code": 0}
        return {
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "dry_run": self.dry_run,
            "exit_code": self.exit_code,
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
            "fail_on": {"kind": self.fail_on, "message": self.fail_on_message} if self.fail_on else None,
            "metrics_error": self.metrics_error,
        }


def lock_path(db_path: Path) -> Path:
    """The lock file of ``aimon run``: next to the state file, so two state files never block each other."""
    return db_path.with_name(db_path.name + ".lock")


# How much longer than a tick's budget a hand-run stage waits for the run lock.
STAGE_LOCK_GRACE = 10.0


@contextmanager
def stage_lock(settings: Settings, command: str) -> Iterator[None]:
    """Hold the run lock for a stage run by hand, waiting for a cron tick that holds it to finish.

    Two processes reading the same files would each count the lines they read before either commits its checkpoint;
    one lock for ``aimon run`` and every stage command makes that impossible.
    """
    from filelock import FileLock, Timeout

    path = lock_path(settings.db_path)
    wait = settings.tick_budget + STAGE_LOCK_GRACE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path, timeout=wait)
        lock.acquire()
    except Timeout:
        raise StateError(
            f"aimon {command}: another aimon run held {path} for {wait:.0f}s; try again when it has finished."
        ) from None
    except OSError as exc:
        raise StateError(f"cannot create the lock file {path} ({exc.strerror or exc}); make its folder writable.") from None
    try:
        yield
    finally:
        lock.release()


def run_pipeline(ctx: Context, paths: Sequence[str] | None, since: str | None, fail_on: str | None) -> RunResult:
    """Run every stage once, in order, within the tick budget; see the module docstring."""
    if fail_on is not None and fail_on not in FAIL_ON_KINDS:
        raise UsageError(f"--fail-on {fail_on!r}: use new, spike or any.")
    if ctx.dry_run:
        # A dry run changes nothing on disk (not even a lock file) and works on its own in-memory copy.
        return _run(ctx, paths, since, fail_on)
    path = lock_path(ctx.settings.db_path)
    with try_lock(path) as held:
        if not held:
            message = f"another aimon run is in progress (lock {path}); this tick does nothing"
            ctx.notice(message)
            return RunResult(started_at=iso(utcnow()) or "", locked=message)
        return _run(ctx, paths, since, fail_on)


@contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Take the lock file ``path`` without waiting: yields True while holding it, False when another process has it."""
    from filelock import FileLock, Timeout

    lock = FileLock(path, blocking=False)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    except OSError as exc:
        raise StateError(
            f"cannot create the lock file {path} ({exc.strerror or exc}); make its folder writable."
        ) from None
    try:
        yield True
    finally:
        lock.release()


def _run(ctx: Context, paths: Sequence[str] | None, since: str | None, fail_on: str | None) -> RunResult:
    result = RunResult(started_at=iso(utcnow()) or "", dry_run=ctx.dry_run, fail_on=fail_on)
    with transaction(ctx.db):
        run_id = ctx.db.execute(
            "INSERT INTO runs (command, started_at) VALUES ('run', ?)", (result.started_at,)
        ).lastrowid
    first_detection = ctx.db.execute("SELECT coalesce(max(id), 0) FROM detections").fetchone()[0]
    calls: dict[str, Callable[[Any], Any]] = {
        "scan": lambda run: run(ctx, paths=paths, since=since),
        "diagnose": lambda run: run(ctx, limit=DIAGNOSE_LIMIT),
    }
    for name, module, function in STAGES:
        if ctx.deadline.expired():
            result.stages.append(StageOutcome(name, "skipped", error="tick budget spent; left for the next tick"))
            continue
        result.stages.append(_stage(ctx, name, module, function, calls.get(name, lambda run: run(ctx))))
    result.detections = _detections(ctx, first_detection)
    if fail_on is not None:
        result.fail_on_message = _fail_on_message(fail_on, result.detections)
        if result.fail_on_message:
            ctx.notice(result.fail_on_message)
    result.finished_at = iso(utcnow())
    _finish(ctx, run_id, result)
    return result


def _stage(ctx: Context, name: str, module: str, function: str, call: Callable[[Any], Any]) -> StageOutcome:
    """Run one stage; any error is caught, recorded (type and message, secrets masked) and reported as a notice."""
    started = time.monotonic()
    try:
        stage_result = call(getattr(import_module(module), function))
    except AimonError as exc:
        outcome = StageOutcome(name, "failed", error=_describe(ctx, exc))
    except Exception as exc:  # a bug in one stage must not stop the others; the type says it was unexpected
        outcome = StageOutcome(name, "failed", error="unexpected " + _describe(ctx, exc))
    else:
        code = int(getattr(stage_result, "exit_code", 0) or 0)
        error = None if code == 0 else _result_error(ctx, stage_result)
        outcome = StageOutcome(name, "ok" if code == 0 else "failed", result=stage_result, error=error)
    if ctx.db.in_transaction:
        # A stage that raised inside its own transaction handling must not leave ours half-open.
        ctx.db.execute("ROLLBACK")
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


def _detections(ctx: Context, first_id: int) -> dict[str, int]:
    """Detections this run recorded, by kind; fingerprints that are ignored right now do not count."""
    rows = ctx.db.execute(
        "SELECT d.kind, count(*) FROM detections d JOIN fingerprints f ON f.fingerprint = d.fingerprint"
        f" WHERE d.id > ? AND NOT {ignored_sql('f')} GROUP BY d.kind ORDER BY d.kind",
        (first_id, iso(utcnow())),
    ).fetchall()
    return {row[0]: row[1] for row in rows}


def _fail_on_message(fail_on: str, detections: dict[str, int]) -> str | None:
    kinds = FAIL_ON_KINDS[fail_on]
    matched = {kind: detections[kind] for kind in kinds if detections.get(kind)}
    if not matched:
        return None
    what = ", ".join(f"{count} {kind}" for kind, count in matched.items())
    return f"--fail-on {fail_on}: this run detected {what} (exit code 1)"


def _finish(ctx: Context, run_id: int | None, result: RunResult) -> None:
    """Close the ``runs`` row; then write the metrics file (not under --dry-run, which touches no file)."""
    with transaction(ctx.db):
        ctx.db.execute(
            "UPDATE runs SET finished_at = ?, exit_code = ?, summary = ? WHERE id = ?",
            (result.finished_at, result.exit_code, json.dumps(result.summary(), default=str), run_id),
        )
        ctx.db.execute("DELETE FROM runs WHERE command = 'run' AND id <= ?", ((run_id or 0) - KEEP_RUNS,))
        if not ctx.dry_run:
            from aimon.tools.metrics import accumulate

            accumulate(ctx.db, result)
    if ctx.settings.metrics_file is not None and not ctx.dry_run:
        from aimon.tools.metrics import write_metrics

        try:
            write_metrics(ctx, result)
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
