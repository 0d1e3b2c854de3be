-- A claim's lease, kept apart from the next attempt: a lease left by a run that did not finish can be told from a
-- back-off and taken over at once by the next run that holds the run lock.
ALTER TABLE deliveries ADD COLUMN lease_until TEXT;
