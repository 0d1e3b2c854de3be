-- Owned by autofix: the guard rule a refusal broke (a short stable id such as `adds-unsafe`), shown by status.
ALTER TABLE autofix_attempts ADD COLUMN rule TEXT;
