"""The concrete names an error carries — upstream host and status, table and constraint, path, pool and its size —
and what the offline diagnoser says with them.

A rule (:mod:`aimon.stages.diagnose.rules`) knows what a kind of failure usually means; these names make that
specific to the error at hand: "rates.example.com answered 503" instead of "an upstream failed", "unique constraint
users_email_key (table users)" instead of "a unique violation", and the first thing to check names the same thing.
Names are read from what the error says (its message and fields, the request's WARN-or-worse lines, the panic before
it) and from the source around it (a pool's ``max_connections(N)``), all already redacted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

_URL = re.compile(r"\b(?P<scheme>https?|grpc|postgres(?:ql)?|mysql|redis|amqp)://(?:[^@/\s\"')]+@)?(?P<host>[A-Za-z0-9.\-]+)(?::(?P<port>\d{2,5}))?(?P<path>/[^\s\"'?)]*)?")
_HOST_PORT = re.compile(r"\b(?:to|at|connect(?:ing)? to|host)\s+(?P<host>[A-Za-z][A-Za-z0-9.\-]*|\d{1,3}(?:\.\d{1,3}){3}):(?P<port>\d{2,5})\b")
_STATUS = re.compile(r"(?:\bstatus(?: code)?\s*[:=]?\s*|\bHTTP\s+|\breturned\s+|\bresponded(?: with)?\s+|\banswered\s+|\bgot\s+|\()"
                     r"(?P<status>[1-5]\d\d)\b(?P<reason>(?:\s+[A-Z][a-z]+){0,3})")
_CONSTRAINT = re.compile(r"constraint \"?(?P<constraint>[A-Za-z_][\w.]*)\"?|for key '?(?P<key>[\w.]+)'?")
# Where a table is named, most explicit first: the database's own words, then the SQL (keywords in capitals only).
_TABLES = (
    re.compile(r"relation \"(?P<name>[\w.]+)\""),
    re.compile(r"\btable \"?(?P<name>[A-Za-z_][\w.]*)\"?", re.IGNORECASE),
    re.compile(r"\b(?:INSERT INTO|UPDATE|DELETE FROM|FROM|JOIN) \"?(?P<name>[A-Za-z_][\w.]*)\"?"),
)
_COLUMN = re.compile(r"Key \((?P<key>[^)]+)\)=|column \"?(?P<column>[A-Za-z_]\w*)\"?")
_PATH = re.compile(r"(?<![\w:/.])(?P<path>(?:/[\w.\-]+){2,}/?)")
_POOL_SIZE = re.compile(r"\bpool size (?P<a>\d+)|max_connections\((?P<b>\d+)\)|\bmax_size[ =:(]+(?P<c>\d+)|\bpool of (?P<d>\d+)", re.IGNORECASE)
_IN_USE = re.compile(r"\b(?P<n>\d+) in use\b", re.IGNORECASE)
_WAITING = re.compile(r"\b(?P<n>\d+) waiting\b", re.IGNORECASE)
_AFTER = re.compile(r"\b(?:after|elapsed[= ]|timeout(?: of)?[= ])\s*(?P<value>\d+(?:\.\d+)?)\s?(?P<unit>ms|s|secs?|seconds|m)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Names:
    """What an error names (``None``: it does not say)."""

    host: str | None = None
    port: str | None = None
    url_path: str | None = None
    status: str | None = None  # "503 Service Unavailable" or "502"
    constraint: str | None = None
    table: str | None = None
    table_guessed: bool = False  # read from the constraint's name (Postgres names them table_column_key / table_pkey)
    column: str | None = None
    path: str | None = None
    pool_size: str | None = None
    in_use: str | None = None
    waiting: str | None = None
    waited: str | None = None  # "5000ms", "30s"

    @property
    def upstream(self) -> str | None:
        """``host`` or ``host:port``."""
        if self.host is None:
            return None
        return f"{self.host}:{self.port}" if self.port else self.host


def read(texts: Iterable[str], source_lines: Iterable[str] = ()) -> Names:
    """The names in ``texts`` (the error's own text first: its names win) and, for a pool's size, the source lines."""
    found: dict[str, str | bool | None] = {}

    def keep(key: str, value: str | None) -> None:
        if value and found.get(key) is None:
            found[key] = value

    for text in texts:
        _read_one(text, keep)
    for line in source_lines:
        if (match := _POOL_SIZE.search(line)) is not None:
            keep("pool_size", next(group for group in match.groups() if group))
    if found.get("table") is None and isinstance(found.get("constraint"), str):
        table = _table_of_constraint(str(found["constraint"]))
        if table:
            found["table"], found["table_guessed"] = table, True
    return Names(**found)  # type: ignore[arg-type]


def _read_one(text: str, keep: Callable[[str, str | None], None]) -> None:
    if (url := _URL.search(text)) is not None and url.group("scheme").startswith("http"):
        keep("host", url.group("host"))
        keep("port", url.group("port"))
        keep("url_path", url.group("path"))
    elif url is not None:
        keep("host", url.group("host"))
        keep("port", url.group("port"))
    if (pair := _HOST_PORT.search(text)) is not None:
        keep("host", pair.group("host"))
        keep("port", pair.group("port"))
    if (status := _STATUS.search(text)) is not None:
        keep("status", f"{status.group('status')}{status.group('reason') or ''}".strip())
    if (constraint := _CONSTRAINT.search(text)) is not None:
        keep("constraint", constraint.group("constraint") or constraint.group("key"))
    for pattern in _TABLES:
        if (table := pattern.search(text)) is not None:
            keep("table", table.group("name"))
            break
    if (column := _COLUMN.search(text)) is not None:
        keep("column", column.group("key") or column.group("column"))
    if (path := _PATH.search(_URL.sub(" ", text))) is not None:
        keep("path", path.group("path"))
    if (size := _POOL_SIZE.search(text)) is not None:
        keep("pool_size", next(group for group in size.groups() if group))
    if (in_use := _IN_USE.search(text)) is not None:
        keep("in_use", in_use.group("n"))
    if (waiting := _WAITING.search(text)) is not None:
        keep("waiting", waiting.group("n"))
    if (after := _AFTER.search(text)) is not None:
        keep("waited", f"{after.group('value')}{after.group('unit')}")


def _table_of_constraint(name: str) -> str | None:
    for suffix in ("_pkey", "_key", "_fkey", "_check", "_idx", "_excl"):
        if name.endswith(suffix) and len(name) > len(suffix):
            stem = name[: -len(suffix)]
            # table_column_key: the table is the stem's first word (a guess for tables with underscores, said as one).
            return stem if suffix == "_pkey" else stem.split("_")[0]
    return None


@dataclass(frozen=True)
class Specific:
    """What the offline diagnosis says with the names: ``what`` (the title's detail), ``cause`` (a sentence for the
    root cause), ``check`` (the first thing to check)."""

    what: str | None = None
    cause: str | None = None
    check: str | None = None


def specific(rule: str, names: Names) -> Specific:
    """The specific words for a rule's diagnosis of an error with ``names`` (empty when the error names nothing)."""
    describe = _DESCRIBE.get(rule)
    return describe(names) if describe is not None else Specific()


def _upstream(names: Names) -> Specific:
    who = names.upstream or "the upstream service"
    status = f" with status {names.status}" if names.status else ""
    path = f" ({names.url_path})" if names.url_path and names.url_path != "/" else ""
    if names.upstream is None and not names.status:
        return Specific()
    return Specific(what=f"{who} answered{status}" if names.status else f"{who} failing",
                    cause=f"Here {who}{path} answered{status or ' with a server error'}.",
                    check=f"the status and error logs of {who} at that time, and whether every call to it fails or only some")


def _connect(names: Names, verb: str) -> Specific:
    if names.upstream is None:
        return Specific()
    return Specific(what=f"{verb} {names.upstream}", cause=f"Here the connection went to {names.upstream}.",
                    check=f"that {names.upstream} is up and reachable from this host (and its recent restarts)")


def _constraint(names: Names) -> Specific:
    if names.constraint is None:
        return Specific()
    table = ""
    if names.table:
        table = f" (likely table {names.table}, from its name)" if names.table_guessed else f" on table {names.table}"
    column = f" (column {names.column})" if names.column else ""
    return Specific(what=f"constraint {names.constraint}{table}", cause=f"Here the write broke constraint {names.constraint}{table}{column}.",
                    check=f"which code path writes{f' to {names.table}' if names.table else ''} twice for the same key "
                          f"{names.constraint} guards (a retried request, a check-then-insert race)")


def _schema(names: Names) -> Specific:
    if names.table is None and names.column is None:
        return Specific()
    thing = f"table {names.table}" if names.table else f"column {names.column}"
    return Specific(what=f"{thing} is missing", cause=f"Here the query names {thing}.",
                    check=f"whether the migration that creates {thing} ran in this environment (sqlx migrate info)")


def _pool(names: Names) -> Specific:
    size = f"pool size {names.pool_size}" if names.pool_size else None
    busy = ", ".join(part for part in (size, f"{names.in_use} in use" if names.in_use else None,
                                       f"{names.waiting} waiting" if names.waiting else None) if part)
    waited = f" after waiting {names.waited}" if names.waited else ""
    if not busy and not waited:
        return Specific()
    held = f"the {names.pool_size} connections of the pool" if names.pool_size else "the pool's connections"
    return Specific(what=busy or f"no connection{waited}", cause=f"Here the request got no connection{waited}" + (f" ({busy})." if busy else "."),
                    check=f"what holds {held}: slow queries and connections held across .await (the database's active sessions "
                          "at that time), before raising the pool size")


def _path(names: Names) -> Specific:
    if names.path is None:
        return Specific()
    return Specific(what=names.path, cause=f"Here the path is {names.path}.",
                    check=f"{names.path} on this host: whether it exists, its owner and mode versus the service's user, and the mounts")


def _disk(names: Names) -> Specific:
    if names.path is None:
        return Specific()
    return Specific(what=f"writing {names.path}", cause=f"Here the write to {names.path} failed.",
                    check=f"the free space and inodes of the filesystem holding {names.path} (df -h / df -i on it) and what grew there")


def _timeout(names: Names) -> Specific:
    who = names.upstream
    waited = f" after {names.waited}" if names.waited else ""
    if who is None and not waited:
        return Specific()
    target = who or "the dependency"
    return Specific(what=f"{target} did not answer{waited}", cause=f"Here {target} did not answer{waited}.",
                    check=f"{target}'s latency at that time against the timeout{f' ({names.waited})' if names.waited else ''}")


def _rate_limited(names: Names) -> Specific:
    if names.upstream is None:
        return Specific()
    return Specific(what=f"by {names.upstream}", cause=f"Here {names.upstream} answered 429.",
                    check=f"the request rate to {names.upstream} and its quota, and whether retries multiply it")


def _auth(names: Names) -> Specific:
    if names.upstream is None:
        return Specific()
    status = f" {names.status}" if names.status else ""
    return Specific(what=f"by {names.upstream}{status}", cause=f"Here {names.upstream} refused the credentials{status}.",
                    check=f"the credential this service uses for {names.upstream}: expiry, scopes and environment")


def _tls(names: Names) -> Specific:
    if names.upstream is None:
        return Specific()
    return Specific(what=f"with {names.upstream}", cause=f"Here the TLS connection to {names.upstream} failed.",
                    check=f"the certificate {names.upstream} presents (openssl s_client -connect {names.host}:{names.port or 443} "
                          f"-servername {names.host}): dates, names, chain")


def _dns(names: Names) -> Specific:
    if names.host is None:
        return Specific()
    return Specific(what=names.host, cause=f"Here the name is {names.host}.", check=f"resolving {names.host} from this host (getent hosts {names.host})")


_DESCRIBE: dict[str, Callable[[Names], Specific]] = {
    "upstream-5xx": _upstream,
    "connection-refused": lambda names: _connect(names, "connecting to"),
    "connection-reset": lambda names: _connect(names, "connection to"),
    "unique-violation": _constraint,
    "fk-violation": _constraint,
    "not-null-violation": _constraint,
    "missing-relation": _schema,
    "pool-exhausted": _pool,
    "file-not-found": _path,
    "disk-full": _disk,
    "permission-denied": _path,
    "timeout": _timeout,
    "rate-limited": _rate_limited,
    "upstream-auth": _auth,
    "tls": _tls,
    "dns": _dns,
}
