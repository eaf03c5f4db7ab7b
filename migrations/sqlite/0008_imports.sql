-- Contact imports: the stored copy of the file, its mapping, progress (the resume point) and
-- counts, and the rows that were refused.

CREATE TABLE imports (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    -- api, cli, or where a scheduled import came from
    origin TEXT NOT NULL,
    file_name TEXT NOT NULL,
    -- The copy the import reads, under the data directory.
    file_path TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    file_sha256 TEXT NOT NULL,
    mapping TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    -- Data rows handled and committed: a resumed import starts after them.
    rows_read INTEGER NOT NULL DEFAULT 0,
    inserted INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    subscribed INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    -- A node runs an import under a lease it renews per chunk; a lapsed lease lets another resume it.
    locked_until INTEGER,
    UNIQUE (org_id, id)
);
CREATE INDEX imports_to_run ON imports (status) WHERE status IN ('queued', 'running');

CREATE TABLE import_errors (
    org_id INTEGER NOT NULL,
    import_id INTEGER NOT NULL,
    line INTEGER NOT NULL,
    column_name TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (org_id, import_id, line)
);
