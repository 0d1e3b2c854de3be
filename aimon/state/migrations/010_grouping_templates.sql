-- Owned by scan (state/groups.py): every template grouping has seen, as masking made it, per algorithm and context,
-- with the fingerprint its records were counted under. Learned grouping reads its evidence from here, so that what it
-- concludes depends on the set of templates seen, not on how the log was cut into batches or what a merge rewrote.
CREATE TABLE grouping_templates (
    algo        INTEGER NOT NULL,
    context     TEXT NOT NULL,              -- the fingerprint's context, its parts joined by U+001F
    template    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,              -- the id its first records were counted under (follow aliases)
    created_at  TEXT NOT NULL,
    PRIMARY KEY (algo, context, template)
);
