-- Diagnoses people can trust.
-- What pattern memory only suggests ("looks like #N"): similar past errors, kept apart from the diagnosis itself.
ALTER TABLE diagnoses ADD COLUMN similar TEXT;  -- JSON list of {fingerprint, diagnosis_id, diagnosed_at, title, why, issue}
-- The references a diagnosis cites, resolved to the lines its prompt showed (line NULL: cited but never shown).
ALTER TABLE diagnoses ADD COLUMN cited TEXT;  -- JSON list of {ref, line}

-- The characters a prompt had, next to the tokens the provider reported for it: the measured chars-per-token ratio.
ALTER TABLE llm_calls ADD COLUMN prompt_chars INTEGER NOT NULL DEFAULT 0;

-- Owned by scan (state/groups.py): an error-level event that only follows the root error of its request is counted
-- here, on the root's fingerprint, instead of becoming a group (and an alert, an issue, an LLM call) of its own.
CREATE TABLE symptoms (
    fingerprint  TEXT NOT NULL,            -- the root error's (canonical) fingerprint
    kind         TEXT NOT NULL,            -- failed-response | later-error
    count        INTEGER NOT NULL DEFAULT 0,
    first_seen   TEXT,
    last_seen    TEXT,
    sample       TEXT,                     -- one redacted message of the symptom
    PRIMARY KEY (fingerprint, kind)
);

-- The root error of each recent request, so that a symptom read in a later tick still finds its root.
CREATE TABLE request_roots (
    request_id   TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,
    ts           REAL                      -- log time of the root (epoch seconds): old rows are pruned by it
);
CREATE INDEX request_roots_ts ON request_roots (ts);
