-- An answer that came without `usage` still cost something: its tokens are estimated, and the row says so.
ALTER TABLE llm_calls ADD COLUMN usage_estimated INTEGER NOT NULL DEFAULT 0;
