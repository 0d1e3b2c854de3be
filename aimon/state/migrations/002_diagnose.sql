-- Owned by diagnose: one row per diagnosis (the latest per fingerprint is the current one), every LLM call, and the
-- fixes that pattern memory carries into later suggestions.
CREATE TABLE diagnoses (
    id            INTEGER PRIMARY KEY,
    fingerprint   TEXT NOT NULL REFERENCES fingerprints (fingerprint),
    detection_id  INTEGER REFERENCES detections (id),
    source        TEXT NOT NULL CHECK (source IN ('llm', 'heuristic', 'memory')),
    model         TEXT,                     -- the LLM model (source llm), else NULL
    result        TEXT NOT NULL,            -- JSON: title, summary, root_cause, evidence, suggested_fix, severity, ...
    tokens_in     INTEGER NOT NULL DEFAULT 0,
    tokens_out    INTEGER NOT NULL DEFAULT 0,
    cost_usd      REAL NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    memory_of     INTEGER REFERENCES diagnoses (id),  -- source memory: the diagnosis it was taken from
    error_code    TEXT,                     -- the fingerprint's error code when diagnosed (a new code re-diagnoses)
    note          TEXT                      -- why this source: "no API key", "budget spent", "LLM output invalid", ...
);
CREATE INDEX diagnoses_fingerprint ON diagnoses (fingerprint, id);

CREATE TABLE llm_calls (
    id             INTEGER PRIMARY KEY,
    purpose        TEXT NOT NULL,           -- diagnose | diagnose-repair | autofix | ...
    fingerprint    TEXT,
    model          TEXT NOT NULL,
    prompt_hash    TEXT NOT NULL,           -- sha256 of the request messages: the same prompt is recognisable
    tokens_in      INTEGER NOT NULL DEFAULT 0,
    tokens_out     INTEGER NOT NULL DEFAULT 0,
    cached_tokens  INTEGER NOT NULL DEFAULT 0,
    latency_ms     INTEGER NOT NULL DEFAULT 0,
    cost_usd       REAL NOT NULL DEFAULT 0,
    priced         INTEGER NOT NULL DEFAULT 1,  -- 0: the model is not in the price table, cost_usd is 0
    outcome        TEXT NOT NULL,           -- ok | invalid | rate_limited | server_error | timeout | connection | rejected
    error          TEXT,
    created_at     TEXT NOT NULL
);
CREATE INDEX llm_calls_created ON llm_calls (created_at);

CREATE TABLE fixes (
    id           INTEGER PRIMARY KEY,
    fingerprint  TEXT NOT NULL,
    how          TEXT NOT NULL,             -- "issue closed as fixed", "PR merged: <title>", ...
    url          TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX fixes_fingerprint ON fixes (fingerprint);
