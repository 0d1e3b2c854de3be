-- Owned by sinks: the outbox of everything that leaves (Discord alerts, GitHub issues and comments, pull requests)
-- and the link between a fingerprint and its GitHub issue.

-- One row per (detection, channel). A stage sends what is pending and due, then records the outcome with the state
-- change in one transaction. `last_error` holds the last failure, or why a row was skipped.
CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY,
    detection_id     INTEGER NOT NULL REFERENCES detections (id),
    fingerprint      TEXT NOT NULL,
    channel          TEXT NOT NULL CHECK (channel IN ('discord', 'github-issue', 'github-comment', 'pr')),
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,                 -- wall-clock time; NULL: due now
    last_error       TEXT,
    remote_id        TEXT,                 -- Discord message id, issue number, comment id, PR number
    remote_url       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (detection_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (channel, status, next_attempt_at);
CREATE INDEX deliveries_fingerprint ON deliveries (fingerprint, channel, status);

CREATE TABLE issues (
    fingerprint      TEXT PRIMARY KEY,
    number           INTEGER NOT NULL,
    url              TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    labels           TEXT,                 -- JSON list of label names, as last read from GitHub
    last_comment_at  TEXT,
    created_at       TEXT,
    updated_at       TEXT
);

-- Alerts posted to Discord: what each one showed, so that a diagnosis or an issue link that arrives later edits the
-- message instead of posting a second one.
CREATE TABLE discord_messages (
    message_id     TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('alert', 'digest')),
    detection_id   INTEGER,                -- alert: the detection it shows
    fingerprint    TEXT,
    diagnosis_id   INTEGER,                -- the diagnosis shown (NULL: sent without one)
    issue_url      TEXT,                   -- the issue linked (NULL: none yet)
    edit_state     TEXT NOT NULL DEFAULT 'open' CHECK (edit_state IN ('open', 'closed')),
    edits          INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX discord_messages_fingerprint ON discord_messages (fingerprint, created_at);

-- When each issue aimon knows was last read back from GitHub (to notice issues closed by people).
CREATE TABLE issue_polls (
    fingerprint  TEXT PRIMARY KEY,
    checked_at   TEXT NOT NULL
);
