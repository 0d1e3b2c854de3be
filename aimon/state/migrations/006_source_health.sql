-- Owned by scan: whether each log source could be read on the last scan, since when, and when it last grew. A source
-- that cannot be seen is a monitor that is blind: status, metrics and the exit code say so.
CREATE TABLE source_health (
    source          TEXT PRIMARY KEY,      -- file path, glob pattern or loki:<query>
    up              INTEGER NOT NULL,      -- 1: read fine on the last scan; 0: failing (see problem)
    problem         TEXT,                  -- why it is failing
    since           TEXT NOT NULL,         -- when it became up / failing (wall clock)
    last_growth_at  TEXT,                  -- when new bytes were last read from it
    checked_at      TEXT NOT NULL
);
