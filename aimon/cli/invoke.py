"""How a command runs: settings, the state file, the run lock, one core call, its output and its exit code.

This is the only place that turns aimon's errors into exit codes. Heavy imports (the stages, rich) happen inside the
commands, so an idle cron tick pays only for what it runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from aimon.cli.output import ExitCode, print_envelope, print_text, stderr
from aimon.errors import AimonError

if TYPE_CHECKING:
    from aimon.runtime import Runtime

# Stages that read logs or send things: run by hand, they wait for a cron tick holding the run lock.
LOCKED = frozenset({"scan", "diagnose", "notify", "open-issue", "autofix"})
# Commands that only read the state file: they open an in-memory copy, so they never create, migrate or write it.
READ_ONLY = frozenset({"status"})


@dataclass
class _Voice:
    """How much this invocation says on stderr (the global -q / -v options, set once per invocation)."""

    quiet: bool = False
    verbose: bool = False


_VOICE = _Voice()


def set_voice(*, quiet: bool, verbose: bool) -> None:
    """-q: no notices and no progress bar on stderr (an error that ends the command still prints); -v: real tracebacks."""
    _VOICE.quiet, _VOICE.verbose = quiet, verbose


def _notice(message: str, where: str | None = None) -> None:
    if not _VOICE.quiet:
        stderr(message, where)


def _debug() -> bool:
    # With -v (or AIMON_DEBUG, as the tests set it) show real tracebacks instead of friendly one-liners.
    return _VOICE.verbose or bool(os.environ.get("AIMON_DEBUG"))


def fail(command: str, message: str, code: int = ExitCode.USAGE, *, as_json: bool) -> typer.Exit:
    """Say why ``command`` cannot go on (and print its envelope under ``--json``); raise what this returns."""
    stderr(f"aimon: {message}")
    if as_json:
        print_envelope(command, code, None, error=message)
    return typer.Exit(int(code))


@contextmanager
def reported(command: str, *, as_json: bool) -> Iterator[None]:
    """Map aimon's errors to exit codes and messages (and, under ``--json``, to an envelope with ``ok`` false)."""
    try:
        yield
    except AimonError as exc:
        if _debug():
            raise
        raise fail(command, str(exc), exc.exit_code, as_json=as_json) from None
    except KeyboardInterrupt:
        message = "interrupted; nothing half-recorded (every step commits on its own)"
        raise fail(command, message, ExitCode.INTERRUPTED, as_json=as_json) from None


def load(env_file: Path | None, db: Path | None, extra: dict[str, str] | None = None) -> Any:
    """The settings, with ``--db`` and the command's own options over the environment and the env file."""
    from aimon.config import load_settings

    overrides = dict(extra or {})
    if db is not None:
        overrides["AIMON_DB"] = str(db)
    settings = load_settings(env_file=env_file, overrides=overrides)
    for warning in settings.warnings:
        stderr(f"warning: {warning}")
    return settings


def show(command: str, view: str, result: Any, *, as_json: bool) -> None:
    """Print ``result``: the envelope under ``--json``, else its text view; then end with its exit code."""
    code = int(getattr(result, "exit_code", 0))
    if as_json:
        print_envelope(command, code, result.to_json())
    else:
        print_text(view, result)
    if code:
        raise typer.Exit(code)


def run_core(
    runtime: Runtime | None,
    command: str,
    work: Callable[[Any], Any],
    *,
    view: str | None = None,
    as_json: bool,
    dry_run: bool = False,
    env_file: Path | None,
    db: Path | None,
    extra: dict[str, str] | None = None,
    progress: bool = False,
) -> None:
    """Load settings, open the state (an in-memory copy under --dry-run), run one core call, print it, exit.

    ``runtime`` is what the entry point was given as its ``obj`` (a test's clock), or None for the real world.

    ``view`` names the text view (default: ``command`` with ``_`` for ``-``).
    """
    with reported(command, as_json=as_json):
        settings = load(env_file, db, extra)
        with ExitStack() as stack:
            locked = not dry_run and command in LOCKED
            if locked:
                from aimon.run import stage_lock

                stack.enter_context(stage_lock(settings, command))
            result = _work(command, work, settings, runtime, dry_run=dry_run, as_json=as_json, progress=progress, locked=locked)
        show(command, view or command.replace("-", "_"), result, as_json=as_json)


def _work(command: str, work: Callable[[Any], Any], settings: Any, runtime: Runtime | None, *, dry_run: bool, as_json: bool, progress: bool,
          locked: bool = False) -> Any:
    from aimon.clock import Deadline
    from aimon.runtime import Context, Runtime
    from aimon.state.db import open_db

    conn = open_db(settings.db_path, dry_run=dry_run or command in READ_ONLY)
    try:
        ctx = Context(
            settings=settings,
            db=conn,
            dry_run=dry_run,
            deadline=Deadline(settings.tick_budget) if command == "run" else Deadline.unlimited(),
            notice=_notice,
            progress=_progress_bar() if progress and sys.stderr.isatty() and not as_json and not _VOICE.quiet else None,
            runtime=runtime or Runtime(),
            holds_run_lock=locked,
        )
        # Each notice says where it comes from: the stage that runs (under `aimon run`), else the command.
        ctx.notice = lambda message: _notice(message, ctx.stage or command)
        return work(ctx)
    finally:
        conn.close()


def _progress_bar() -> Callable[[str, int, int], None]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), transient=True)
    tasks: dict[str, Any] = {}

    def update(label: str, done: int, total: int) -> None:
        if label not in tasks:
            if not tasks:
                bar.start()
            tasks[label] = bar.add_task(label, total=total)
        bar.update(tasks[label], completed=done, total=total)
        if all(bar.tasks[i].finished for i in range(len(bar.tasks))):
            bar.stop()

    return update
