"""The one SQLite state file every stage shares.

WAL mode and a busy timeout so that a cron tick and a hand-run ``aimon status`` never trip over each other; schema
changes are append-only SQL files in ``migrations/``, applied in name order and recorded in ``_migrations``.
``--dry-run`` works on an in-memory copy, so a stage runs unchanged and nothing on disk moves.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from aimon.clock import utcnow
from aimon.errors import StateError, StateUnusable

__all__ = ["BUSY_TIMEOUT_MS", "iso", "migrate", "open_db", "parse_iso", "transaction", "utcnow"]

BUSY_TIMEOUT_MS = 10_000


def iso(moment: datetime | float | None) -> str | None:
    """A timestamp as the ISO-8601 UTC text stored in the state file (``2026-01-02T03:04:05.123456Z``)."""
    if moment is None:
        return None
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str | None) -> datetime | None:
    """The inverse of :func:`iso`."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _migrations() -> list[tuple[str, str]]:
    folder = resources.files("aimon.state") / "migrations"
    found = [(entry.name, entry.read_text(encoding="utf-8")) for entry in folder.iterdir() if entry.name.endswith(".sql")]
    return sorted(found)


def migrate(conn: sqlite3.Connection, path: Path | None = None) -> list[str]:
    """Apply every migration not applied yet, each in its own transaction; returns the names applied.

    Before the first write it reads what the file holds: another program's database, or one a newer aimon migrated,
    raises :class:`~aimon.errors.StateUnusable` (``path`` names the file in the message) and nothing is written.
    """
    label = path or _main_path(conn)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "_migrations" not in tables:
        shown = ", ".join(sorted(tables)[:5])
        raise StateUnusable(
            f"state file {label} is another program's SQLite database (tables: {shown}), not aimon's; nothing was "
            "written to it. Point AIMON_DB (or --db) at aimon's own state file, or at a new path."
        )
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")} if tables else set()
    _refuse_newer(label, done)
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    applied = []
    for name, sql in _migrations():
        if name in done:
            continue
        with transaction(conn):
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, iso(utcnow())))
        applied.append(name)
    return applied


def _statements(sql: str) -> Iterator[str]:
    # executescript() would commit behind our back; split on complete statements instead.
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer
            buffer = ""
    if buffer.strip():
        yield buffer


def _configure(conn: sqlite3.Connection) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")


def _memory_copy(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    if not path.is_file():
        return conn
    wal = path.with_name(path.name + "-wal")
    if not wal.exists():
        # Everything is in the main file: copy its bytes, so not even an empty -wal/-shm appears beside it.
        image = bytearray(path.read_bytes())
        if len(image) >= 20:
            # Header bytes 18-19 say "WAL" (2); an in-memory image cannot use WAL, so mark it rollback-journal (1).
            image[18:20] = b"\x01\x01"
        conn.deserialize(bytes(image))
        return conn
    # A writer is active (or died): its WAL holds committed pages, so read through SQLite to see them.
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        source.backup(conn)
    finally:
        source.close()
    return conn


_SQLITE_HEADER = b"SQLite format 3\x00"


def _unusable(path: Path, why: str) -> StateUnusable:
    return StateUnusable(
        f"state file {path} is not a usable aimon state file ({why}); nothing was written to it. Move it aside "
        f"(mv {path} {path}.broken) and run again: aimon starts a new one. What is lost is what it remembered: read "
        "positions (the logs are read again from their start, so known errors are detected and alerted again), "
        "diagnoses, the LLM spend of this month and the sent-message ledger. GitHub issues are not duplicated: aimon "
        "finds its issues again by the marker in their body."
    )


def _check_header(path: Path) -> None:
    """Refuse a file that is not SQLite before any statement could write to it."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StateError(f"state file {path}: {exc.strerror or exc}. Make it readable, or set AIMON_DB to another path.") from exc
    if head and head != _SQLITE_HEADER:
        raise _unusable(path, "it is not an SQLite database")


def _refuse_newer(path: Path | str, done: set[str]) -> None:
    newer = sorted(done - {name for name, _sql in _migrations()})
    if newer:
        raise StateUnusable(
            f"state file {path} was written by a newer aimon (it has migration {newer[-1]}, which this one does not "
            "know); it was not touched. Upgrade aimon, or point AIMON_DB at another file."
        )


def open_db(path: Path, *, dry_run: bool = False) -> sqlite3.Connection:
    """Open (and create, and migrate) the state file.

    With ``dry_run`` the file is copied into memory when it exists and never written: the caller may change the copy
    freely (read-only commands open it so, and a missing file stays missing). The connection is in autocommit mode;
    group writes with :func:`transaction`. A file that is not a usable state file raises
    :class:`~aimon.errors.StateUnusable` before anything is written to it.
    """
    _check_header(path)
    try:
        if dry_run:
            conn = _memory_copy(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        _configure(conn)
        migrate(conn, path)  # reads first: a file that is not aimon's (or is a newer aimon's) is refused untouched
        if not dry_run:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and not _damaged(exc):
            raise StateError(f"state file {path}: {exc}. Check that its folder is writable and has free space.") from exc
        raise _unusable(path, str(exc)) from exc
    except sqlite3.Error as exc:
        raise StateError(f"state file {path}: {exc}. Check that its folder is writable and has free space.") from exc
    except OSError as exc:
        raise StateError(f"state file {path}: {exc.strerror or exc}. Set AIMON_DB to a writable path.") from exc
    return conn


def _damaged(exc: sqlite3.Error) -> bool:
    """SQLite's own word that the file's bytes are wrong, as opposed to a folder or lock problem."""
    return str(getattr(exc, "sqlite_errorname", "")).startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


# SQLite results that mean the state file cannot be written (disk full, I/O error, read-only, gone), as opposed to a
# bug in a statement: they become a StateError that says what to do.
_STORAGE_ERRORS = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK`` on any exception): one stage step, all or nothing.

    A full disk or an I/O error while writing raises :class:`~aimon.errors.StateError` (the step is rolled back).
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # After SQLITE_FULL or an I/O error SQLite may have rolled back already: a second ROLLBACK would raise
            # "no transaction is active" and hide the error that says what happened.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError as exc:
        if not str(getattr(exc, "sqlite_errorname", "")).startswith(_STORAGE_ERRORS):
            raise
        raise StateError(
            f"state file {_main_path(conn)}: {exc} ({exc.sqlite_errorname}). Free space on its disk (or make it "
            "writable); this step was rolled back and the next run does it again."
        ) from exc


def _main_path(conn: sqlite3.Connection) -> str:
    try:
        return str(conn.execute("PRAGMA database_list").fetchone()[2] or "(in memory)")
    except sqlite3.Error:
        return "(unknown)"
