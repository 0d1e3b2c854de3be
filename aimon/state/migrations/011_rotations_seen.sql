-- Owned by scan (state/checkpoints.py): when the last scan of a file source that read its whole plan began. Every
-- rotated file last written before then was either read by such a scan or was history when aimon started; a rotated
-- file written later whose first line was never read is read whole. (The row's updated_at is not that moment: a scan
-- that stopped part-way, or was killed, commits the files it finished and leaves the others for the next tick.)
ALTER TABLE checkpoints ADD COLUMN rotations_seen_at TEXT;
