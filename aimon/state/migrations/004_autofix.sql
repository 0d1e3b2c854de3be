-- Owned by autofix: the draft pull requests it opened, and every attempt (with why it stopped).
CREATE TABLE pulls (
    id            INTEGER PRIMARY KEY,
    fingerprint   TEXT NOT NULL,
    number        INTEGER NOT NULL UNIQUE,
    url           TEXT NOT NULL,
    branch        TEXT NOT NULL,
    title         TEXT NOT NULL DEFAULT '',
    issue_number  INTEGER,                 -- the issue the PR fixes (Fixes #N)
    state         TEXT NOT NULL CHECK (state IN ('open', 'merged', 'closed')),
    created_at    TEXT NOT NULL,
    merged_at     TEXT,                    -- as GitHub reports it
    checked_at    TEXT,                    -- last time the state was read back from GitHub
    regressed_at  TEXT                     -- when the error came back after the merge and we said so (once)
);
CREATE INDEX pulls_fingerprint ON pulls (fingerprint, id);

CREATE TABLE autofix_attempts (
    id            INTEGER PRIMARY KEY,
    fingerprint   TEXT NOT NULL,
    diagnosis_id  INTEGER,                 -- the diagnosis the attempt worked from
    outcome       TEXT NOT NULL CHECK (outcome IN ('opened', 'ineligible', 'deferred', 'refused', 'failed', 'proposed', 'regression')),
    reason        TEXT NOT NULL,
    diff          TEXT,                    -- the proposed change, when there was one
    llm_used      INTEGER NOT NULL DEFAULT 0,
    commented     INTEGER NOT NULL DEFAULT 0, -- the reason was posted on the issue
    created_at    TEXT NOT NULL
);
CREATE INDEX autofix_attempts_fingerprint ON autofix_attempts (fingerprint, id);
