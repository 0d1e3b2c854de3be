"""Built-in knowledge of what a Rust web service (tokio, hyper/axum, sqlx/diesel, reqwest, serde) really runs into.

Each :class:`Rule` recognises one failure by its message and says what usually causes it and what to do first. The
rules are ordered from the most specific to the most generic: the first match wins (a ``Result::unwrap()`` panic is
classified again by the error inside it). See :mod:`aimon.stages.diagnose.heuristics` for how a rule becomes a diagnosis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aimon.model import Category, Severity


@dataclass(frozen=True)
class Rule:
    """One known failure: how to recognise it and what to say about it."""

    name: str
    pattern: re.Pattern[str]
    category: Category
    title: str
    root_cause: str
    fix: str
    severity: Severity = "medium"
    confidence: float = 0.6
    auto_fixable: bool = False  # only for local code changes, and only when the location is known
    auto_reason: str = "The fix is outside the code (configuration, capacity or another service) or needs a design decision."


def _r(text: str) -> re.Pattern[str]:
    return re.compile(text, re.IGNORECASE)


_LOCAL = "A small local change at the panic site: handle the case instead of panicking."

RULES: tuple[Rule, ...] = (
    # -- tokio runtime misuse (exact panic texts from tokio's sources) ------------------------------------------------
    Rule("tokio-no-reactor", _r(r"there is no reactor running|must be called from the context of a Tokio 1\.x runtime"),
         "runtime-misuse", "Tokio API used outside a Tokio runtime",
         "A Tokio API (tokio::spawn, time::sleep, net::TcpStream, a reqwest/sqlx call…) ran on a thread that has no runtime: "
         "a std::thread, a synchronous callback or a Drop impl, code run before #[tokio::main] starts, or a future polled by another executor.",
         "Run it inside the runtime: keep a tokio::runtime::Handle and call handle.spawn(...) or let _g = handle.enter(); "
         "from plain threads use handle.block_on(...). Check the panicking frame in the backtrace to find the caller.",
         "high", 0.8),
    Rule("tokio-nested-runtime", _r(r"Cannot start a runtime from within a runtime"), "runtime-misuse",
         "Runtime started from within a runtime (block_on inside async code)",
         "Code running on a Tokio worker called block_on (Runtime::block_on, Handle::block_on, futures::executor::block_on "
         "or a blocking client such as reqwest::blocking) which would block the thread that drives async tasks.",
         "Make the caller async and .await the future. If a sync API must call async code, run it in "
         "tokio::task::spawn_blocking, or use tokio::task::block_in_place on the multi-thread runtime. Replace reqwest::blocking with the async client.",
         "high", 0.85),
    Rule("tokio-drop-runtime", _r(r"Cannot drop a runtime in a context where blocking is not allowed"), "runtime-misuse",
         "Tokio runtime dropped inside async code",
         "A Runtime value (often created lazily inside a library or a test helper) is dropped from an async context; dropping "
         "waits for its worker threads, which blocking is not allowed to do there.",
         "Create the runtime once at startup and keep it for the program's life, drop it from a plain thread, or call "
         "runtime.shutdown_background() instead of dropping it in async code.", "high", 0.85),
    Rule("tokio-disabled-driver", _r(r"timers are disabled|IO is disabled|enable_time|enable_io"), "configuration",
         "Tokio runtime built without the time or IO driver",
         "The runtime was built with tokio::runtime::Builder without enable_time()/enable_io() (or enable_all()), so "
         "tokio::time and tokio::net panic the first time they are used.",
         "Add .enable_all() (or the missing enable_time()/enable_io()) to the runtime builder.",
         "high", 0.85, True, "A one-line change to the runtime builder."),
    Rule("tokio-shutdown", _r(r"context was found, but it is being shutdown|thread-local variable has been destroyed|"
                              r"Thread Local Storage value during or after destruction"), "runtime-misuse",
         "Work scheduled while the runtime shuts down",
         "Tasks or Drop impls still run (spawn, timers, I/O) after the runtime began shutting down, typically at process exit or on SIGTERM.",
         "Shut down gracefully: stop accepting work, signal tasks (a CancellationToken or a watch channel), await their "
         "JoinHandles, then let main return; avoid spawning from Drop impls.", "low", 0.7),
    Rule("tokio-spawn-local", _r(r"`spawn_local` called from outside of a `task::LocalSet`"), "runtime-misuse",
         "spawn_local called outside a LocalSet",
         "tokio::task::spawn_local needs a LocalSet (or LocalRuntime) on the current thread, and none is running.",
         "Run that code inside LocalSet::run_until / LocalSet::block_on, or use tokio::spawn if the future is Send.", "high", 0.85),
    Rule("block-in-place", _r(r"can call blocking only when running on the multi-threaded runtime|"
                              r"Cannot block the current thread from within a runtime"), "runtime-misuse",
         "Blocking call on the current-thread runtime",
         "block_in_place or a blocking call ran on a current_thread runtime (the default of #[tokio::test]), which has no other thread to hand work to.",
         "Use spawn_blocking, or the multi-thread flavor (#[tokio::main(flavor = \"multi_thread\")]).", "high", 0.8),
    # -- panics with a known shape ------------------------------------------------------------------------------------
    Rule("unwrap-none", _r(r"called `Option::unwrap\(\)` on a `None` value"), "panic", "Panic: unwrap() on a None value",
         "The code assumes a value is present (a map lookup, a header, a query parameter, a row, a config key) and calls .unwrap() on an Option that is None for some input.",
         "Handle the None case at the panic site: return an error (`.ok_or(...)?` / `.ok_or_else(...)?`), use a default, or "
         "answer 4xx when the value came from the request. Add a test with the input that has no value.",
         "high", 0.7, True, _LOCAL),
    Rule("index-oob", _r(r"index out of bounds: the len is \d+ but the index is \d+"), "panic", "Panic: index out of bounds",
         "A slice or Vec is indexed with v[i] where i >= len: an empty result set, an off-by-one, or input longer/shorter than assumed.",
         "Use v.get(i) and handle None (or check the length first); fix the off-by-one if the index is computed.",
         "high", 0.75, True, _LOCAL),
    Rule("slice-range", _r(r"range (?:start|end) index \d+ out of range|slice index starts at \d+ but ends at|"
                           r"byte index \d+ is (?:not a char boundary|out of bounds)"), "panic",
         "Panic: slice or string range out of bounds",
         "A slice or &str is cut with a range that does not fit: input shorter than expected, or a string cut at a byte "
         "offset inside a multi-byte UTF-8 character (non-ASCII input).",
         "Use .get(a..b) and handle None; for text, cut on char boundaries (char_indices, is_char_boundary) instead of byte offsets.",
         "high", 0.75, True, _LOCAL),
    Rule("overflow", _r(r"attempt to (?:add|subtract|multiply|negate|shift left|shift right|neg) with overflow|"
                        r"attempt to (?:add|subtract|multiply) .*overflow"), "panic", "Panic: arithmetic overflow",
         "An integer operation overflowed (debug build, or overflow-checks on): a subtraction below zero on an unsigned "
         "type (e.g. len - 1 on an empty collection, end - start with end < start) or a too small type.",
         "Use checked_*/saturating_* arithmetic and handle the edge, or a wider type; validate inputs that feed the arithmetic.",
         "high", 0.75, True, _LOCAL),
    Rule("divide-by-zero", _r(r"attempt to (?:divide|calculate the remainder) (?:by zero|with a divisor of zero)"), "panic",
         "Panic: division by zero", "An integer division or remainder by zero: an empty count, a zero rate or page size from input or config.",
         "Guard the divisor (checked_div / if n == 0 { ... }) and reject zero where it comes from input.",
         "high", 0.8, True, _LOCAL),
    Rule("stack-overflow", _r(r"has overflowed its stack"), "panic", "Stack overflow",
         "Unbounded recursion (a recursive data structure, a Display/Debug impl calling itself) or a large value on the "
         "stack of a thread with a small stack (tokio workers default to 2 MiB).",
         "Find the recursion in the backtrace and bound it or make it iterative; Box large values; raise thread_stack_size only as a last resort.",
         "critical", 0.7),
    Rule("mutex-poisoned", _r(r"PoisonError|poisoned lock|another user of this Mutex panicked"), "concurrency",
         "Mutex poisoned by an earlier panic",
         "A thread panicked while holding a std::sync::Mutex/RwLock; every later lock().unwrap() fails. The first panic is the real bug.",
         "Find and fix the earlier panic (look before this error in the log). Then recover with lock().unwrap_or_else(|e| e.into_inner()) "
         "where the data stays consistent, or use parking_lot / tokio::sync locks, which do not poison.", "high", 0.75),
    Rule("refcell", _r(r"already (?:mutably )?borrowed|BorrowMutError|BorrowError"), "concurrency", "RefCell borrowed twice",
         "A RefCell is borrowed mutably while another borrow is alive (re-entrant call, a borrow held across a callback or an .await).",
         "Shorten the borrow's scope (clone out the data, drop the guard before calling out), or restructure to avoid re-entrancy.",
         "high", 0.75, True, _LOCAL),
    # -- tasks and channels ---------------------------------------------------------------------------------------------
    Rule("join-error", _r(r"JoinError|task \d+ (?:panicked|was cancelled)|join error|task .* panicked|"
                          r"should not poll after abort"), "concurrency",
         "Spawned task panicked or was cancelled",
         "A tokio task ended with a JoinError: either it panicked (the panic message is logged separately, usually just "
         "before) or it was aborted/cancelled (JoinHandle::abort, runtime shutdown, a dropped JoinSet).",
         "Look for the task's own panic earlier in the log and fix that; handle JoinError::is_cancelled() separately from is_panic(); "
         "do not abort tasks that must finish (use a cancellation token and await them).", "high", 0.65),
    Rule("channel-closed", _r(r"channel closed|sending on a closed channel|receiving on a closed channel|SendError|RecvError|"
                              r"oneshot canceled|receiver dropped|sender dropped|Closed\(\.\.\)"), "concurrency",
         "Channel closed: the other side is gone",
         "A send or receive on a tokio/std channel failed because the other half was dropped: the receiving (or sending) task "
         "ended, panicked, or was never started, or it was shut down before this one.",
         "Find why the peer task stopped (its panic or its exit path, usually logged earlier); treat a closed channel as "
         "shutdown where that is expected; keep the receiver alive for as long as senders exist.", "high", 0.65),
    Rule("cancelled", _r(r"\b(?:operation was canceled|cancell?ed)\b"), "concurrency", "Operation cancelled",
         "A future was dropped before it completed: the client went away (axum drops the handler future on disconnect), a "
         "timeout fired, or a select! picked another branch.",
         "If this is a client disconnect it is not a server error: log it below ERROR. Otherwise make the work cancellation-safe "
         "or move it into a spawned task that outlives the request.", "low", 0.55),
    # -- databases --------------------------------------------------------------------------------------------------------
    Rule("pool-exhausted", _r(r"pool timed out|PoolTimedOut|timed out while waiting for an open connection|"
                              r"Timed out in bb8|pool (?:is )?exhausted|no connections? available|connection pool.*timed? ?out|"
                              r"deadpool.*timeout|Timeout\(Wait\)|(?:timed? ?out|timeout)[^.]{0,40}\bconnections?\b[^.]{0,20}\bpool\b|"
                              r"\bpool\b[^.]{0,30}(?:timed? ?out|timeout|exhausted)"), "resource-exhaustion",
         "Database connection pool exhausted",
         "Every connection of the pool is busy for longer than the acquire timeout: slow queries or a database under load, "
         "connections held across .await points or long transactions, a pool too small for the concurrency, or a leak (a "
         "connection kept in a long-lived task).",
         "Check the database's slow-query log and active connections first; keep connections only for the query (no "
         "transaction across external calls); size max_connections for the peak concurrency (and within the server's limit); "
         "set acquire_timeout short and return 503 on timeout.", "high", 0.75),
    Rule("too-many-connections", _r(r"too many (?:connections|clients)|remaining connection slots are reserved|53300"),
         "resource-exhaustion", "Database refuses new connections (connection limit)",
         "The database reached max_connections: pools of all instances together open more connections than it allows.",
         "Lower each instance's pool size so that instances × pool ≤ the server's limit, or put a pooler (PgBouncer) in front.",
         "high", 0.8),
    Rule("unique-violation", _r(r"duplicate key value violates unique constraint|UNIQUE constraint failed|\b23505\b|"
                                r"Duplicate entry .* for key"), "database", "Unique constraint violation on insert",
         "An INSERT/UPDATE wrote a value that already exists under a unique constraint: a retried or doubled request "
         "(double submit, client retry, at-least-once message), a check-then-insert race, or an id/slug generated twice.",
         "Make the write idempotent: INSERT ... ON CONFLICT DO NOTHING/UPDATE, or catch the unique violation and answer 409 "
         "Conflict (or return the existing row) instead of 500; use an idempotency key for retried requests.", "medium", 0.8),
    Rule("fk-violation", _r(r"violates foreign key constraint|\b23503\b|FOREIGN KEY constraint failed|Cannot (?:add or update a child|delete or update a parent) row"),
         "database", "Foreign key violation",
         "A write references a row that does not exist (or deletes one that others still reference): the parent was deleted "
         "or never created, the writes run in the wrong order, or an id from the request names nothing.",
         "Check that the referenced row exists before the write (or create both in one transaction, parent first); answer "
         "4xx when the id came from the request; for deletes, decide ON DELETE CASCADE/SET NULL deliberately.", "medium", 0.8),
    Rule("not-null-violation", _r(r"violates not-null constraint|\b23502\b|NOT NULL constraint failed|violates check constraint|\b23514\b|"
                                  r"CHECK constraint failed"), "database", "Write violates a NOT NULL or CHECK constraint",
         "A row was written with a value the schema forbids: a missing field mapped to NULL, a new column without a default, "
         "or a value out of the range a CHECK allows — usually unvalidated input or a code/schema mismatch after a migration.",
         "Validate the value before the write (4xx for request input), or give the column a default; compare the code's "
         "struct with the migration that added the constraint.", "medium", 0.8),
    Rule("deadlock", _r(r"deadlock detected|\b40P01\b|Deadlock found when trying to get lock"), "database", "Database deadlock",
         "Two transactions lock the same rows in opposite orders (or a lock escalation) and the database aborted one.",
         "Lock rows in a consistent order (e.g. ORDER BY id ... FOR UPDATE), keep transactions short, and retry the "
         "aborted transaction a bounded number of times.", "medium", 0.8),
    Rule("serialization-failure", _r(r"could not serialize access|\b40001\b|serialization failure"), "database",
         "Serializable transaction conflict",
         "A transaction at REPEATABLE READ/SERIALIZABLE isolation conflicted with a concurrent one; the database expects the client to retry.",
         "Retry the whole transaction on SQLSTATE 40001 (bounded, with jitter); reduce contention on the hot rows.", "medium", 0.8),
    Rule("sqlite-busy", _r(r"database is locked|SQLITE_BUSY"), "database", "SQLite database locked",
         "Another connection holds the SQLite write lock longer than the busy timeout: concurrent writers, a long write transaction, or no busy_timeout set.",
         "Set a busy_timeout, enable WAL mode, keep write transactions short, and serialize writers.", "medium", 0.8),
    Rule("missing-relation", _r(r"relation \"?[^\"\s]+\"? does not exist|no such table|Table '[^']+' doesn't exist|\b42P01\b|"
                                r"column \"?[^\"\s]+\"? (?:of relation \"?[^\"\s]+\"? )?does not exist|no such column|\b42703\b|"
                                r"Unknown column"), "database", "Query references a missing table or column",
         "The code expects a schema that the database does not have: a migration was not applied (or applied after the "
         "deploy), a rollback, a wrong database/schema/search_path, or a typo in a raw query.",
         "Compare the applied migrations with the code (sqlx migrate info / diesel migration list); run the missing "
         "migration before deploying code that needs it; check DATABASE_URL and search_path.", "high", 0.8),
    Rule("db-auth", _r(r"password authentication failed|\b28P01\b|\b28000\b|Access denied for user|database \"[^\"]+\" does not exist|"
                       r"\b3D000\b"), "configuration", "Database rejects the connection settings",
         "The database refused the credentials or the database name: a rotated password, a wrong DATABASE_URL for this environment, or a missing database.",
         "Check DATABASE_URL (user, password, database name) in this environment's secrets, and the role's rights.", "critical", 0.8),
    Rule("db-row-not-found", _r(r"RowNotFound|no rows returned by a query that expected to return at least one row|NotFound.*diesel"),
         "logic", "Query expected a row and found none",
         "fetch_one / get_result ran for a key that has no row: a deleted or never-created record, or an id from the request that does not exist.",
         "Use fetch_optional / .optional() and answer 404 (or handle the absence) instead of treating it as a server error.",
         "medium", 0.75, True, "A local change: fetch_optional and a 404 instead of an error."),
    Rule("db-closed", _r(r"(?:server|connection) closed the connection unexpectedly|terminating connection due to administrator command|"
                         r"\b57P01\b|the database system is (?:starting up|shutting down|in recovery mode)|PoolClosed"), "database",
         "Database connection dropped (restart or failover)",
         "The database closed connections: a restart, a failover, maintenance, or an idle timeout in a proxy/load balancer.",
         "Expect it around maintenance; make sure the pool tests connections (test_before_acquire) and that idle_timeout is below the proxy's.",
         "medium", 0.7),
    # -- resources and the OS ---------------------------------------------------------------------------------------------
    Rule("oom", _r(r"memory allocation of \d+ bytes failed|out of memory|Cannot allocate memory|os error 12\b|OOMKilled|capacity overflow"),
         "memory", "Out of memory",
         "The process could not allocate memory: a leak, an unbounded buffer or cache (reading a whole body or result set into memory), or a container limit too low.",
         "Check the memory graph for a steady climb (leak) versus a spike (one huge allocation); bound body sizes "
         "(DefaultBodyLimit), stream large results, cap caches and channels; then adjust the container limit.", "critical", 0.75),
    Rule("disk-full", _r(r"No space left on device|os error 28\b|ENOSPC|disk (?:is )?full|quota exceeded|Disk quota"), "storage",
         "Disk full", "A write failed because the filesystem is full (or the quota is reached): logs, temp files, uploads or database files grew.",
         "Free space now (rotate/compress logs, clean temp files), then add log rotation and an alert on disk usage.", "critical", 0.85),
    Rule("too-many-files", _r(r"Too many open files|os error 24\b|EMFILE"), "resource-exhaustion", "Too many open files",
         "The process hit its file-descriptor limit: a connection or file-handle leak, or a limit (ulimit -n / LimitNOFILE) too low for the load.",
         "Check open descriptors (ls /proc/PID/fd | wc -l) over time for a leak; raise LimitNOFILE; bound concurrent connections.", "high", 0.8),
    # ``kind: X`` / ``Kind(X)``: how std::io::Error's Debug names its ErrorKind (``Custom { kind: NotFound, error: … }``).
    Rule("permission-denied", _r(r"Permission denied|os error 13\b|EACCES|Operation not permitted|os error 1\b|EPERM|"
                                 r"\bkind: PermissionDenied\b|\bKind\(PermissionDenied\)"), "permission",
         "Permission denied", "The service's user may not read/write a file or directory, bind a port below 1024, or run an operation: a deploy changed ownership or the service runs as another user.",
         "Check the path in the message: its owner and mode versus the service's user (and SELinux/AppArmor, read-only mounts).", "high", 0.75),
    Rule("file-not-found", _r(r"No such file or directory|os error 2\b|ENOENT|\bkind: NotFound\b|\bKind\(NotFound\)"), "configuration",
         "File or directory not found",
         "A path the service opens does not exist in this environment: a missing config/certificate/template file, a wrong working directory, or a volume not mounted.",
         "Check the path in the message against the deployment (working directory, mounted volumes, env vars that name paths).", "high", 0.7),
    Rule("addr-in-use", _r(r"Address already in use|os error 98\b|EADDRINUSE"), "configuration", "Port already in use",
         "The server cannot bind its port: another instance (or the previous one, still shutting down) holds it.",
         "Stop the other process or change the port; for restarts, set SO_REUSEADDR or wait for the old instance to exit.", "high", 0.85),
    # -- network --------------------------------------------------------------------------------------------------------
    Rule("connection-refused", _r(r"Connection refused|ECONNREFUSED|os error 111\b|ConnectionRefused"), "connectivity",
         "Connection refused by a dependency",
         "Nothing listens at the address the service connects to: the dependency (database, cache, upstream API) is down "
         "or restarting, the port or host in the configuration is wrong, or it is not reachable from this network.",
         "Check that the dependency runs and listens on the configured host:port (from this host), and its recent restarts; "
         "retry connects with backoff at startup instead of failing once.", "high", 0.75),
    Rule("dns", _r(r"failed to lookup address information|Name or service not known|nodename nor servname|no record found for|"
                   r"dns error|Temporary failure in name resolution|NXDOMAIN|resolve.*(?:host|address)"), "dns", "DNS resolution failed",
         "A host name could not be resolved: a typo or wrong environment in the configured URL, a service that does not "
         "exist (yet) in service discovery, or a DNS outage.",
         "Check the host name in the configured URL for this environment and resolve it from the host/container (getent hosts NAME).", "high", 0.8),
    Rule("tls", _r(r"certificate|\bTLS\b|\bSSL\b|handshake|UnknownIssuer|invalid peer certificate|CertificateExpired|NotValidForName|"
                   r"self[- ]signed|unable to get local issuer|InvalidCertificate|rustls|native-tls|openssl"), "tls", "TLS failure",
         "A TLS connection failed: an expired or not-yet-valid certificate, a certificate not valid for the host name, a "
         "private CA missing from the trust store (rustls uses webpki-roots or the OS roots depending on features), or a protocol mismatch.",
         "Inspect the peer's certificate (openssl s_client -connect HOST:443 -servername HOST): dates, names, chain. Add the "
         "private CA to the client's roots rather than disabling verification.", "high", 0.7),
    Rule("connection-reset", _r(r"Connection reset by peer|ECONNRESET|os error 104\b|Broken pipe|os error 32\b|EPIPE|"
                                r"connection closed before message completed|IncompleteMessage|unexpected EOF|"
                                r"error reading a body from connection|REFUSED_STREAM|GOAWAY|stream (?:was )?reset"), "connectivity",
         "Connection reset or closed by the peer",
         "The other side closed a connection while it was in use. Very often a pooled keep-alive connection that the "
         "server (or a load balancer) had already closed for being idle; also restarts of the peer or client disconnects.",
         "Set the client's pool idle timeout below the server's/load balancer's keep-alive timeout (reqwest: "
         "pool_idle_timeout), retry idempotent requests once, and check whether the peer restarted at that time.", "medium", 0.65),
    Rule("timeout", _r(r"timed? ?out|deadline has elapsed|\bElapsed\b|DeadlineExceeded|os error 110\b|ETIMEDOUT|operation timed out"),
         "timeout", "Timeout waiting for a dependency",
         "A call did not complete within its timeout: the dependency (database, upstream API) is slow or overloaded, a lock "
         "or queue is contended, or the timeout is shorter than the operation's normal latency.",
         "Check the dependency's latency at that time and which call timed out (the trail shows what the request did "
         "before); fix the slow path or raise the timeout deliberately, and make the caller degrade gracefully.", "medium", 0.6),
    # -- remote services ------------------------------------------------------------------------------------------------
    Rule("rate-limited", _r(r"\b429\b|Too Many Requests|rate[- ]?limit(?:ed)?|throttl"), "rate-limit", "Rate limited by an upstream service",
         "An upstream API answered 429: this service sends more requests than its quota allows (a burst, a retry storm, or a shared key).",
         "Honour Retry-After, add client-side rate limiting and backoff with jitter, cache responses, and check whether retries multiply the load.",
         "medium", 0.75),
    Rule("upstream-auth", _r(r"\b401 Unauthorized|\b403 Forbidden|status(?: code)?[:= ]+40[13]\b|invalid api key|invalid[_ ]token|"
                             r"token (?:has )?expired|unauthorized|forbidden"), "configuration", "Rejected by an upstream service (401/403)",
         "A dependency refused this service's credentials: an expired or rotated token/key, a missing scope, or the wrong environment's key.",
         "Check the credential the service uses for that upstream (expiry, scopes, environment) and how it is refreshed.", "high", 0.65),
    Rule("upstream-5xx", _r(r"Bad Gateway|Service Unavailable|Gateway Timeout|HTTP status server error|upstream[^.]{0,60}\b5\d\d\b|"
                            r"\b5\d\d\b[^.]{0,60}upstream|(?:returned|responded|response|answered|received|got)[^.]{0,40}\b50[0-4]\b|"
                            r"upstream (?:error|failed|unavailable)|\b(?:failed|error|errored)\b[^.]{0,40}\bstatus(?: code)?[:= ]*5\d\d\b|"
                            r"\bstatus(?: code)?[:=] ?5\d\d\b"), "upstream",
         "Upstream service failing (5xx)",
         "A dependency answered with a server error: it is down, overloaded or deploying, or a proxy in between cannot reach it. "
         "This service is the messenger, unless its own requests trigger the failures.",
         "Check the upstream's status and error logs for the same time; add bounded retries with backoff for idempotent "
         "calls and a circuit breaker/fallback so this service degrades instead of failing.", "medium", 0.65),
    # -- data -----------------------------------------------------------------------------------------------------------
    Rule("serde", _r(r"Failed to deserialize|Failed to parse the request body as JSON|missing field `|unknown field `|unknown variant `|"
                     r"invalid type: |invalid value: |expected value at line|trailing characters at line|EOF while parsing|"
                     r"serde|invalid length \d+, expected|data did not match any variant"), "serialization",
         "JSON (de)serialization failed: data does not match the expected type",
         "A JSON document does not match the Rust type it is read into: a client or upstream API sends a different shape "
         "(a field renamed, added as required, null where a value is expected, a new enum variant), or the body is not JSON at all.",
         "Compare the type with the payload at the position in the message; make optional fields Option<T> or #[serde(default)], "
         "accept unknown variants (#[serde(other)]), and version the API. If the payload comes from clients, answer 4xx and log below ERROR.",
         "medium", 0.7),
    Rule("parse-number", _r(r"invalid digit found in string|cannot parse integer from empty string|number too (?:large|small) to fit|"
                            r"ParseIntError|ParseFloatError|invalid float literal"), "validation", "Number parsing failed",
         "A string that should hold a number does not (empty, has a unit or whitespace, or is out of range for the type): usually user input, a header, or an env var.",
         "Validate and report the bad value (4xx for request input) instead of failing; trim input; pick a type wide enough.",
         "medium", 0.7, True, "A local change: validate the value and return an error instead of failing."),
    Rule("utf8", _r(r"invalid utf-8|FromUtf8Error|Utf8Error|stream did not contain valid UTF-8"), "validation", "Invalid UTF-8 input",
         "Bytes that are not UTF-8 were read as a String: a binary body, a file in another encoding, or a header with raw bytes.",
         "Use String::from_utf8_lossy or handle the error (4xx for request input); read binary data as bytes.", "medium", 0.7),
    Rule("body-limit", _r(r"length limit exceeded|payload too large|body (?:too large|limit)|\b413\b|Failed to buffer the request body"),
         "validation", "Request body too large or cut off",
         "A request body exceeded the configured limit (axum's DefaultBodyLimit is 2 MB) or the client disconnected while sending it.",
         "If large bodies are legitimate, raise DefaultBodyLimit for that route; otherwise answer 413 and log below ERROR.", "low", 0.65),
    Rule("bad-input", _r(r"\binvalid (?:request|input|argument|parameter|payload|query|body)\b|\bbad request\b|\bvalidation (?:failed|error)|"
                         r"\bmust (?:not )?be (?:positive|negative|empty|non-empty|at least|at most|between|greater|less)|"
                         r"\bmissing required (?:field|parameter|header)|\bunsupported (?:value|currency|format)"), "validation",
         "Request rejected as invalid input",
         "The service received input it does not accept (a client bug, an old client, or a user typing something unexpected) "
         "and reported it as an error of its own. That is the client's mistake, unless valid input is being rejected.",
         "Check which client sends it (user agent, version) and whether the rule is right; answer 4xx with the reason and "
         "log it below ERROR, so that it stops paging.", "low", 0.6),
    Rule("route-config", _r(r"Overlapping method route|Path segments must not start with|Invalid route|Overlapping routes"), "configuration",
         "Router misconfiguration at startup",
         "The axum router rejects a route definition: two handlers for the same method and path, or the old :param path syntax (axum 0.8 uses {param}).",
         "Fix the route in the router setup: remove the duplicate, or rewrite /:id as /{id}.", "high", 0.85, True, "A local change in the router setup."),
)

# The generic panic, used when no specific rule says more.
PANIC_RULE = Rule(
    "panic", _r(r"panicked at|\bpanic"), "panic", "Panic",
    "The code hit a panic! (an explicit panic!, unreachable!, assert!, or an .expect(...) whose message is shown) for some input or state it did not handle.",
    "Read the panic message and the code at the location; return an error instead of panicking for input-dependent cases.",
    "high", 0.45, True, _LOCAL,
)

UNWRAP_ERR = re.compile(r"called `Result::unwrap\(\)` on an `Err` value:\s*(?P<inner>.*)", re.IGNORECASE | re.DOTALL)
EXPECT_ERR = re.compile(r"^(?P<msg>[^:\n]{3,120}):\s+(?P<inner>\S.*)$", re.DOTALL)
