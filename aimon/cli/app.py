"""The command line: options → one call into the core → its result as text (rich) or as the ``--json`` envelope.

Commands stay thin: :mod:`aimon.cli.invoke` loads the settings, opens the state, takes the run lock, maps errors to
exit codes; :mod:`aimon.cli.output` prints. Each command imports its core module inside its body, so an idle cron
tick pays only for what it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from aimon.cli.invoke import fail, load, reported, run_core, set_voice, show
from aimon.tools.gate import KINDS

if TYPE_CHECKING:
    from aimon.runtime import Runtime

app = typer.Typer(
    name="aimon",
    help="Watch a service's logs: detect new errors, diagnose them, alert on Discord, file GitHub issues, propose fixes.",
    no_args_is_help=True,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)

JsonOpt = Annotated[
    bool,
    typer.Option("--json", help='Print one JSON document on stdout and nothing else there: {"aimon": 1, "command", "ok", "result"}.'),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Touch nothing outside and change no state; show what would happen.")]
EnvFileOpt = Annotated[Path | None, typer.Option("--env-file", metavar="FILE", help="Read settings from this .env file (default: ./.env if present).")]
DbOpt = Annotated[Path | None, typer.Option("--db", metavar="FILE", help="State file (overrides AIMON_DB).")]


def _version(value: bool) -> None:
    if value:
        from aimon import __version__

        print(f"aimon {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version, help="Print aimon's version and exit.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No notices and no progress on stderr (errors still print; the result says the rest).")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="On an unexpected error, show the whole traceback.")] = False,
) -> None:
    """Watch a service's logs: detect new errors, diagnose them, alert on Discord, file GitHub issues, propose fixes."""
    set_voice(quiet=quiet, verbose=verbose)


@app.command()
def scan(
    invocation: typer.Context,
    paths: Annotated[list[str] | None, typer.Argument(metavar="[PATH]...", help="Log files or globs (default: AIMON_LOG_PATHS).", show_default=False)] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="WHEN", help="Read-only triage of a window: 1h, 30m, 2d, a date (2026-11-24) or an ISO time.")] = None,
    log_format: Annotated[str | None, typer.Option("--format", metavar="FORMAT", help="auto, json or text (default: AIMON_LOG_FORMAT).")] = None,
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
    run_core(
        invocation.obj,
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
    file: Annotated[str, typer.Argument(metavar="[FILE]", help="A log file, or - for standard input.")] = "-",
    log_format: Annotated[str, typer.Option("--format", metavar="FORMAT", help="auto, json, or text (each line is a plain message).")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document: the envelope, its result the list of records.")] = False,
    as_jsonl: Annotated[bool, typer.Option("--jsonl", help="Print JSON Lines: one object per record, in order, no envelope.")] = False,
    env_file: EnvFileOpt = None,
) -> None:
    """Show the fingerprint and template of every record, in order, read as scan reads it: how to debug grouping.

    A record that spans lines (a panic and its message, a text event and its continuation lines) is one result, at
    its first line. With --format text every line is a plain message.

    Example: aimon fingerprint app.log --jsonl
    """
    if as_json and as_jsonl:
        raise fail("fingerprint", "--json and --jsonl: choose one (--jsonl streams a line per record)", as_json=True)
    if log_format not in ("auto", "json", "text"):
        raise fail("fingerprint", f"--format {log_format!r}: use auto, json or text", as_json=as_json)
    with reported("fingerprint", as_json=as_json):
        from aimon.cli.output import print_envelope, print_json_line
        from aimon.tools.fingerprint import fingerprint_stream

        settings = load(env_file, None)
        with _input(file, as_json=as_json) as stream:
            rows = fingerprint_stream(stream, log_format, settings)
            if as_json:
                print_envelope("fingerprint", 0, list(rows))
                return
            for row in rows:
                if as_jsonl:
                    print_json_line(row)
                else:
                    sys.stdout.write(f"{row['fingerprint']}  {row['template']}\n")
            sys.stdout.flush()


@contextmanager
def _input(path: str, *, as_json: bool) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = open(path, "rb")  # noqa: SIM115 (a with below closes it; an error opening it is a usage error)
    except OSError as exc:
        raise fail("fingerprint", f"{path}: {exc.strerror}", as_json=as_json) from None
    with handle:
        yield handle


@app.command()
def diagnose(
    invocation: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="Diagnose at most this many errors.")] = 20,
    as_json: JsonOpt = False,
    dry_run: DryRunOpt = False,
    env_file: EnvFileOpt = None,
    db: DbOpt = None,
) -> None:
    """Diagnose every detected error that has no diagnosis yet (LLM, or the offline diagnoser without a key).

    Example: aimon diagnose --json
    """
    from aimon.stages.diagnose.stage import run_diagnose

    run_core(invocation.obj, "diagnose", lambda ctx: run_diagnose(ctx, limit=limit), as_json=as_json, dry_run=dry_run, env_file=env_file, db=db)


@app.command()
def notify(invocation: typer.Context, as_json: JsonOpt = False, dry_run: DryRunOpt = False, env_file: EnvFileOpt = None, db: DbOpt = None) -> None:
    """Post pending alerts to the Discord webhook, each exactly once.

    Example: aimon notify --dry-run
    """
    from aimon.stages.notify.stage import run_notify

    run_core(invocation.obj, "notify", run_notify, as_json=as_json, dry_run=dry_run, env_file=env_file, db=db)


@app.command("open-issue")
def open_issue(invocation: typer.Context, as_json: JsonOpt = False, dry_run: DryRunOpt = False, env_file: EnvFileOpt = None, db: DbOpt = None) -> None:
    """Open or update exactly one GitHub issue per error fingerprint.

    Example: aimon open-issue --dry-run
    """
    from aimon.stages.issues.stage import run_open_issue

    run_core(invocation.obj, "open-issue", run_open_issue, as_json=as_json, dry_run=dry_run, env_file=env_file, db=db)


@app.command()
def autofix(invocation: typer.Context, as_json: JsonOpt = False, dry_run: DryRunOpt = False, env_file: EnvFileOpt = None, db: DbOpt = None) -> None:
    """Open guarded, tested, draft pull requests for errors judged auto-fixable (AIMON_AUTOFIX=pr).

    Example: AIMON_AUTOFIX=dry-run aimon autofix
    """
    from aimon.stages.autofix.stage import run_autofix

    run_core(invocation.obj, "autofix", run_autofix, as_json=as_json, dry_run=dry_run, env_file=env_file, db=db)


@app.command()
def run(
    invocation: typer.Context,
    since: Annotated[str | None, typer.Option("--since", metavar="WHEN", help="Scan this window instead of the new lines (1h, 30m, 2d, a date, an ISO time).")] = None,
    paths: Annotated[list[str] | None, typer.Option("--log", metavar="PATH", help="Log file or glob (repeatable; default AIMON_LOG_PATHS).")] = None,
    fail_on: Annotated[str | None, typer.Option("--fail-on", metavar="KIND", help="Exit 3 when detections of this kind exist: new, spike or any.")] = None,
    baseline: Annotated[Path | None, typer.Option("--baseline", metavar="FILE", help="With --fail-on: fingerprints (one per line) that are known and do not count.")] = None,
    summary: Annotated[Path | None, typer.Option("--summary", metavar="FILE", help="With --fail-on: append the verdict as Markdown (e.g. $GITHUB_STEP_SUMMARY).")] = None,
    as_json: JsonOpt = False,
    dry_run: DryRunOpt = False,
    env_file: EnvFileOpt = None,
    db: DbOpt = None,
) -> None:
    """One cron tick: scan → diagnose → notify → open-issue → autofix.

    A failing stage does not stop the others; the exit code is 1 when one failed, 3 when --fail-on matched (and no
    stage failed). A second run while one is running exits 0 at once.

    Example: aimon run --dry-run --log ./app.log --fail-on new --baseline aimon-baseline.txt
    """
    from aimon.run import run_pipeline
    from aimon.tools.gate import Gate, load_baseline

    if fail_on is not None and fail_on not in KINDS:
        raise fail("run", f"--fail-on {fail_on!r}: use new, spike or any", as_json=as_json)
    if (baseline or summary) and fail_on is None:
        raise fail("run", "--baseline and --summary go with --fail-on (the CI gate)", as_json=as_json)
    with reported("run", as_json=as_json):
        gate = Gate(load_baseline(baseline) if baseline else frozenset(), summary)
    run_core(
        invocation.obj,
        "run",
        lambda ctx: run_pipeline(ctx, paths=paths or None, since=since, fail_on=fail_on, gate=gate),
        as_json=as_json,
        dry_run=dry_run,
        env_file=env_file,
        db=db,
    )


@app.command()
def status(invocation: typer.Context, as_json: JsonOpt = False, env_file: EnvFileOpt = None, db: DbOpt = None) -> None:
    """Checkpoints and lag, pending and failed deliveries, recent and frequent errors, LLM spend, the last run.

    Example: aimon status --json
    """
    from aimon.tools.status import get_status

    run_core(invocation.obj, "status", get_status, as_json=as_json, env_file=env_file, db=db)


@app.command()
def ignore(
    invocation: typer.Context,
    fingerprint_id: Annotated[str, typer.Argument(metavar="FINGERPRINT", help="A fingerprint (or a unique prefix).")],
    for_: Annotated[str | None, typer.Option("--for", metavar="DURATION", help="Only for this long (e.g. 24h); default: until resolved.")] = None,
    as_json: JsonOpt = False,
    env_file: EnvFileOpt = None,
    db: DbOpt = None,
) -> None:
    """Silence a fingerprint: no alert, issue or fix for it (for a while, with --for).

    Example: aimon ignore 3fa9c2 --for 24h
    """
    _change_state(invocation, "ignore", fingerprint_id, "ignored", for_, as_json=as_json, env_file=env_file, db=db)


@app.command()
def resolve(
    invocation: typer.Context,
    fingerprint_id: Annotated[str, typer.Argument(metavar="FINGERPRINT", help="A fingerprint (or a unique prefix).")],
    as_json: JsonOpt = False,
    env_file: EnvFileOpt = None,
    db: DbOpt = None,
) -> None:
    """Mark a fingerprint resolved: if it shows up again, that is a regression.

    Example: aimon resolve 3fa9c2
    """
    _change_state(invocation, "resolve", fingerprint_id, "resolved", None, as_json=as_json, env_file=env_file, db=db)


def _change_state(
    invocation: typer.Context,
    command: str,
    fingerprint_id: str,
    state: str,
    for_: str | None,
    *,
    as_json: bool,
    env_file: Path | None,
    db: Path | None,
) -> None:
    from aimon.tools.triage import set_fingerprint_state

    run_core(
        invocation.obj,
        command,
        lambda ctx: set_fingerprint_state(ctx, fingerprint_id, state, for_),
        view="state_change",
        as_json=as_json,
        env_file=env_file,
        db=db,
    )


@app.command("check-logs")
def check_logs(
    files: Annotated[list[str] | None, typer.Argument(metavar="[FILE]...", help="Log files (default: AIMON_LOG_PATHS).", show_default=False)] = None,
    as_json: JsonOpt = False,
    env_file: EnvFileOpt = None,
) -> None:
    """Check log lines against aimon's log specification: what share conforms and what to fix first.

    Example: aimon check-logs /var/log/app/current.log
    """
    with reported("check-logs", as_json=as_json):
        from aimon.tools.checklogs import check_logs as core_check

        show("check-logs", "check_logs", core_check(load(env_file, None), files or None), as_json=as_json)


def main(runtime: Runtime | None = None) -> None:
    """Console-script entry point; ``runtime`` wires in another outside world (a test harness's clock)."""
    app(obj=runtime)


if __name__ == "__main__":
    main()
