-- Buckets of automation steps (export steps, batched HTTP steps): the contacts that passed
-- the step wait here until the bucket is full or old enough; then a batch of them is cut
-- and a job hands it over (a file through an export, one HTTP request). The step log of
-- each participation says how it went.

CREATE TABLE bucket_batches (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    automation_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    step INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE bucket_entries (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    automation_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    step INTEGER NOT NULL,
    participation_id INTEGER NOT NULL,
    contact_id INTEGER,
    -- NULL while the contact waits in the bucket
    batch_id INTEGER,
    added_at INTEGER NOT NULL
);
CREATE INDEX bucket_entries_open ON bucket_entries (org_id, automation_id, version, step, id) WHERE batch_id IS NULL;
CREATE INDEX bucket_entries_by_batch ON bucket_entries (batch_id);
