"""The command line: options → one call into the core → render as text (rich) or ``--json``.

This is the only module that turns errors into exit codes. Heavy imports (the stages, rich) happen inside the
commands, so an idle cron tick pays only for what it runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from aimon.errors import EXIT_USAGE, AimonError

app = typer.Typer(
    name="aimon",
    help="Watch a service's logs: detect new errors, diagnose them, alert on Discord, file GitHub issues, propose fixes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else there.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Touch nothing outside and change no state; show what would happen.")]
EnvFileOpt = Annotated[Path | None, typer.Option("--env-file", help="Read settings from this .env file (default: ./.env if present).")]
DbOpt = Annotated[Path | None, typer.Option("--db", help="State file (overrides AIMON_DB).")]


def _debug() -> bool:
    # Under tests (or when asked) show real tracebacks instead of friendly one-liners.
    return bool(os.environ.get("AIMON_DEBUG"))


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _fail(message: str, code: int) -> typer.Exit:
    _stderr(f"aimon: {message}")
    return typer.Exit(code)


def _dump_json(data: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str).decode())
    sys.stdout.write("\n")
    sys.stdout.flush()


def _render(name: str, result: Any, as_json: bool) -> None:
    if as_json:
        _dump_json(result.to_json())
        return
    from importlib import import_module

    result = _shown(result)
    module = import_module(f"aimon.cli.render.{name}")
    plain = getattr(module, "plain", None)
    text = plain(result) if plain is not None else None
    if text is not None:
        # A one-line summary (an idle cron tick) needs no rich import; "" is nothing to print.
        if text:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from rich.console import Console

    module.render(Console(highlight=False, soft_wrap=True), result)


def _shown(value: Any) -> Any:
    """``value`` (a result, its lists, dicts and dataclasses) with the control characters of every string shown as
    symbols: a log line holding ``ESC[2J`` or an OSC 8 link must not drive the terminal of whoever reads the output."""
    import dataclasses

    from aimon.markdown import visible_controls

    if isinstance(value, str):
        return visible_controls(value)
    if isinstance(value, dict):
        return {key: _shown(item) for key, item in value.items()}
    if isinstance(value, list) or type(value) is tuple:
        return type(value)(_shown(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        import copy

        shown = copy.copy(value)
        for item in dataclasses.fields(value):
            object.__setattr__(shown, item.name, _shown(getattr(value, item.name)))
        return shown
    return value


@contextmanager
def _guard() -> Iterator[None]:
    """Map aimon's errors to exit codes and messages, in this one place."""
    try:
        yield
    except AimonError as exc:
        if _debug():
            raise
        raise _fail(str(exc), exc.exit_code) from None
    except KeyboardInterrupt:
        raise _fail("interrupted; nothing half-recorded (every step commits on its own)", 130) from None


def _settings(env_file: Path | None, db: Path | None, extra: dict[str, str] | None = None) -> Any:
    from aimon.config import load_settings

    overrides = dict(extra or {})
    if db is not None:
        overrides["AIMON_DB"] = str(db)
    return load_settings(env_file=env_file, overrides=overrides)


def _run_stage(
    name: str,
    work: Callable[[Any], Any],
    *,
    as_json: bool,
    dry_run: bool,
    env_file: Path | None,
    db: Path | None,
    extra: dict[str, str] | None = None,
    progress: bool = False,
) -> None:
    """Load settings, open the state (an in-memory copy under --dry-run), run one core call, render, exit."""
    with _guard():
        settings = _settings(env_file, db, extra)
        with ExitStack() as stack:
            if not dry_run and name in _LOCKED_STAGES:
                from aimon.run import stage_lock

                stack.enter_context(stage_lock(settings, name.replace("_", "-")))
            result = _work(name, work, settings, dry_run=dry_run, as_json=as_json, progress=progress)
        _render(name, result, as_json)
        code = int(getattr(result, "exit_code", 0))
    if code:
        raise typer.Exit(code)


# Stages that read logs or send things: run by hand, they wait for a cron tick holding the run lock.
_LOCKED_STAGES = frozenset({"scan", "diagnose", "notify", "open_issue", "autofix"})


def _work(name: str, work: Callable[[Any], Any], settings: Any, *, dry_run: bool, as_json: bool, progress: bool) -> Any:
    from aimon.clock import Deadline
    from aimon.runtime import Context
    from aimon.state.db import open_db

    conn = open_db(settings.db_path, dry_run=dry_run)
    try:
        ctx = Context(
            settings=settings,
            db=conn,
            dry_run=dry_run,
            deadline=Deadline(settings.tick_budget) if name == "run" else Deadline.unlimited(),
            notice=_stderr,
            progress=_progress_bar() if progress and sys.stderr.isatty() and not as_json else None,
        )
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


@app.command()
def scan(
    paths: Annotated[list[str] | None, typer.Argument(help="Log files or globs (default: AIMON_LOG_PATHS).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Read-only triage of a window: 1h, 30m, 2d or an ISO time.")] = None,
    log_format: Annotated[str | None, typer.Option("--format", help="auto, json or text (default: AIMON_LOG_FORMAT).")] = None,
    as_json: JsonOpt = False,
    dry_run: DryRunOpt = False,
    env_file: EnvFileOpt = None,
    db: DbOpt = None,
) -> None:
    """Read the new log lines, group errors by fingerprint and record what is worth telling.

    Under cron it is incremental: only lines written since the last scan are read. With --since it is a read-only
    triage of a time window that moves no checkpoint and records nothing.

    Example: aimon scan /var/log/app/*.log --since 1h
    """
    from aimon.stages.scan.stage import run_scan

    extra = {"AIMON_LOG_FORMAT": log_format} if log_format else None
    _run_stage(
        "scan",
        lambda ctx: run_scan(ctx, paths=paths or None, since=since),
        as_json=as_json,
        dry_run=dry_run or since is not None,
        env_file=env_file,
        db=db,
        extra=extra,
        progress=True,
    )


@app.command()
def fingerprint(
    file: Annotated[str, typer.Argument(help="A log file, or - for standard input.")] = "-",
    log_format: Annotated[str, typer.Option("--format", help="auto, json, or text (each line is a plain message).")] = "auto",
    as_json: JsonOpt = False,
    env_file: EnvFileOpt = None,
) -> None:
    """Show the fingerprint and template of every input line, in order: how to debug grouping.

    Example: grep ERROR app.log | aimon fingerprint --json
    """
    with _guard():
        from aimon.tools.fingerprint import fingerprint_stream

        if log_format not in ("auto", "json", "text"):
            raise _fail(f"--format {log_format!r}: use auto, json or text", EXIT_USAGE)
        settings = _settings(env_file, None)
        stream = sys.stdin.buffer if file == "-" else _open_or_fail(file)
        import orjson

        out = sys.stdout
        for row in fingerprint_stream(stream, log_format, settings):
            if as_json:
                out.write(orjson.dumps(row).decode())
                out.write("\n")
            else:
                out.write(f"{row['fingerprint']}  {row['template']}\n")
        out.flush()


def _open_or_fail(path: str) -> Any:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise _fail(f"{path}: {exc.strerror}", EXIT_USAGE) from None


@app.command()
def diagnose(
    limit: Annotated[int, typer.Option("--limit", min=1, help="Diagnose at most this many errors.")] = 20,
    as_json: JsonOpt = False,
    dry_run: DryRunOpt = False,
    env_file: EnvFileOpt = None,
    db: DbOpt = None,
) -> None:
    """Diagnose every detected error that has no diagnosis yet (LLM, or the offline diagnoser without a key).

    Example: aimon diagnose --json
    """
    from aimon.stages.diagnose.stage import run_diagnose

    _run_stage("diagnose", lambda ctx: run_diagnose(ctx, limit=limit), as_json=as_json, dry_run=dry_run, env_file=env_file, db=db)


@app.command()
def notify(as_json: JsonOpt = False, dry_run: DryRunOpt = False, env_file: EnvFileOpt = None, db: DbOpt = None) -> None:
    """Post pending alerts to the Discord webhook, each exactly once.

    Example: aimon notify --dry-run
    """
    from aimon.stages.notify.stage import run_notify

    _run_stage("notify", run_notify, as_json=as_json, dry_run=dry_run, env_file=env_file, db=db)


@app.command("open-issue")
def open_issue(as_json: JsonOpt = False, dry_run: DryRunOpt = False, env_file: EnvFileOpt = None, db: DbOpt = None) -> None:
    """Open or update exactly one GitHub issue per error fingerprint.

    Example: aimon open-issue --dry-run
    """
    from aimon.stages.issues.stage import run_open_issue

    _run_stage("open_issue", run_open_issue, as_json=as_json, dry_run=dry_run, env_file=env_file, db=db)


@app.command()
def autofix(as_json: JsonOpt = False, dry_run: DryRunOpt = False, env_file: EnvFileOpt = None, db: DbOpt = None) -> None:
    """Open guarded, tested, draft pull requests for errors judged auto-fixable (AIMON_AUTOFIX=pr).

    Example: AIMON_AUTOFIX=dry-run aimon autofix
    """
    from aimon.stages.autofix.stage import run_autofix

    _run_stage("autofix", run_autofix, as_json=as_json, dry_run=dry_run, env_file=env_file, db=db)


@app.command()
def run(
    since: Annotated[str | None, typer.Option("--since", help="Scan this window instead of the new lines.")] = None,
    paths: Annotated[list[str] | None, typer.Option("--log", help="Log file or glob (repeatable; default AIMON_LOG_PATHS).")] = None,
    fail_on: Annotated[str | None, typer.Option("--fail-on", help="Exit 1 when detections of this kind exist: new, spike or any.")] = None,
    as_json: JsonOpt = False,
    dry_run: DryRunOpt = False,
    env_file: EnvFileOpt = None,
    db: DbOpt = None,
) -> None:
    """One cron tick: scan → diagnose → notify → open-issue → autofix.

    A failing stage does not stop the others; the exit code is 1 when one failed. A second run while one is running
    exits 0 at once.

    Example: aimon run --dry-run --log ./app.log --fail-on new
    """
    from aimon.run import run_pipeline

    if fail_on not in (None, "new", "spike", "any"):
        raise _fail(f"--fail-on {fail_on!r}: use new, spike or any", EXIT_USAGE)
    _run_stage(
        "run",
        lambda ctx: run_pipeline(ctx, paths=paths or None, since=since, fail_on=fail_on),
        as_json=as_json,
        dry_run=dry_run,
        env_file=env_file,
        db=db,
    )


@app.command()
def status(as_json: JsonOpt = False, env_file: EnvFileOpt = None, db: DbOpt = None) -> None:
    """Checkpoints and lag, pending and failed deliveries, recent and frequent errors, LLM spend, the last run.

    Example: aimon status --json
    """
    from aimon.tools.status import get_status

    _run_stage("status", get_status, as_json=as_json, dry_run=False, env_file=env_file, db=db)


@app.command()
def ignore(
    fingerprint_id: Annotated[str, typer.Argument(metavar="FINGERPRINT", help="A fingerprint (or a unique prefix).")],
    for_: Annotated[str | None, typer.Option("--for", help="Only for this long (e.g. 24h); default: until resolved.")] = None,
    as_json: JsonOpt = False,
    env_file: EnvFileOpt = None,
    db: DbOpt = None,
) -> None:
    """Silence a fingerprint: no alert, issue or fix for it (for a while, with --for).

    Example: aimon ignore 3fa9c2 --for 24h
    """
    _change_state(fingerprint_id, "ignored", for_, as_json=as_json, env_file=env_file, db=db)


@app.command()
def resolve(
    fingerprint_id: Annotated[str, typer.Argument(metavar="FINGERPRINT", help="A fingerprint (or a unique prefix).")],
    as_json: JsonOpt = False,
    env_file: EnvFileOpt = None,
    db: DbOpt = None,
) -> None:
    """Mark a fingerprint resolved: if it shows up again, that is a regression.

    Example: aimon resolve 3fa9c2
    """
    _change_state(fingerprint_id, "resolved", None, as_json=as_json, env_file=env_file, db=db)


def _change_state(
    fingerprint_id: str, state: str, for_: str | None, *, as_json: bool, env_file: Path | None, db: Path | None
) -> None:
    from aimon.tools.triage import set_fingerprint_state

    _run_stage(
        "state_change",
        lambda ctx: set_fingerprint_state(ctx, fingerprint_id, state, for_),
        as_json=as_json,
        dry_run=False,
        env_file=env_file,
        db=db,
    )


@app.command("check-logs")
def check_logs(
    files: Annotated[list[str] | None, typer.Argument(help="Log files (default: AIMON_LOG_PATHS).")] = None,
    as_json: JsonOpt = False,
    env_file: EnvFileOpt = None,
) -> None:
    """Check log lines against aimon's log specification: what share conforms and what to fix first.

    Example: aimon check-logs /var/log/app/current.log
    """
    with _guard():
        from aimon.tools.checklogs import check_logs as core_check

        settings = _settings(env_file, None)
        result = core_check(settings, files or None)
        _render("check_logs", result, as_json)
        code = int(getattr(result, "exit_code", 0))
    if code:
        raise typer.Exit(code)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
