-- Owned by scan: sources, error groups, per-minute counts, detections.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE checkpoints (
    source      TEXT PRIMARY KEY,          -- file path, or "loki:<query>"
    inode       INTEGER,
    device      INTEGER,
    head_hash   TEXT,                      -- hash of the first line: tells a new file from the same one
    offset      INTEGER NOT NULL DEFAULT 0,-- byte offset past the last complete line read
    size        INTEGER,                   -- file size when last read
    last_ts     TEXT,                      -- log time of the last record read
    loki_ns     INTEGER,                   -- Loki: last timestamp read, in ns
    loki_seen   TEXT,                      -- Loki: JSON list of line hashes already read at loki_ns
    updated_at  TEXT NOT NULL
);

CREATE TABLE fingerprints (
    fingerprint  TEXT PRIMARY KEY,
    algo         INTEGER NOT NULL,
    level        TEXT NOT NULL,
    error_code   TEXT,
    target       TEXT,
    template     TEXT NOT NULL,
    sample       TEXT NOT NULL,            -- redacted message of one occurrence
    file         TEXT,                     -- source location, when the log gives one
    line         INTEGER,
    is_panic     INTEGER NOT NULL DEFAULT 0,
    first_seen   TEXT NOT NULL,            -- log time
    last_seen    TEXT NOT NULL,
    count        INTEGER NOT NULL DEFAULT 0,
    state        TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'resolved', 'ignored')),
    state_until  TEXT,                     -- ignored until (NULL: for good)
    resolved_at  TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX fingerprints_last_seen ON fingerprints (last_seen);

-- A learned merge: an alias keeps answering for the fingerprint it was merged into, so identities never change.
CREATE TABLE fingerprint_aliases (
    alias        TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL REFERENCES fingerprints (fingerprint),
    created_at   TEXT NOT NULL
);

-- A few occurrences per fingerprint (the first ones and the latest ones), with where they are, for diagnosis context.
CREATE TABLE occurrences (
    id           INTEGER PRIMARY KEY,
    fingerprint  TEXT NOT NULL REFERENCES fingerprints (fingerprint),
    ts           TEXT,
    source       TEXT NOT NULL,            -- file path or loki:<query>
    offset       INTEGER,                  -- byte offset of the record in that file when it was read
    request_id   TEXT,
    record       TEXT NOT NULL             -- the parsed record as JSON (not redacted: never leaves the machine as is)
);
CREATE INDEX occurrences_fingerprint ON occurrences (fingerprint, id);

CREATE TABLE counts (
    fingerprint  TEXT NOT NULL,
    minute       INTEGER NOT NULL,         -- log time, minutes since the epoch
    n            INTEGER NOT NULL,
    PRIMARY KEY (fingerprint, minute)
) WITHOUT ROWID;

CREATE TABLE detections (
    id            INTEGER PRIMARY KEY,
    fingerprint   TEXT NOT NULL REFERENCES fingerprints (fingerprint),
    kind          TEXT NOT NULL CHECK (kind IN ('new', 'spike', 'regression')),
    window_start  TEXT NOT NULL,           -- log time
    window_end    TEXT NOT NULL,
    count         INTEGER NOT NULL,        -- occurrences in the window
    baseline      REAL,                    -- spike: mean per window before it
    created_at    TEXT NOT NULL
);
CREATE INDEX detections_fingerprint ON detections (fingerprint, id);

-- One row per `aimon run` / stage run, for `aimon status` and metrics.
CREATE TABLE runs (
    id           INTEGER PRIMARY KEY,
    command      TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    exit_code    INTEGER,
    summary      TEXT                      -- JSON
);
