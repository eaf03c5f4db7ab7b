-- Sources: where files come from (scheduled imports, CSV triggers) and where exports go: a
-- folder under the server's folder root, or a folder on an SFTP server.
CREATE TABLE sources (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('folder', 'sftp')),
    -- folder: below the folder root; sftp: the remote folder ('' = where the login starts)
    path TEXT NOT NULL,
    host TEXT,
    port INTEGER,
    username TEXT,
    -- Write-only secrets.
    password TEXT,
    private_key TEXT,
    -- SHA256:… fingerprint the server's host key must have; NULL: the first key seen is pinned.
    host_key TEXT,
    -- Scheduled import: files matching the pattern, imported with the mapping (JSON).
    import_pattern TEXT,
    import_mapping TEXT,
    import_schedule TEXT,
    import_next_at INTEGER,
    -- CSV triggers (trigger_{code}_*.csv) looked for every N seconds; NULL: off.
    trigger_poll_secs INTEGER,
    trigger_next_at INTEGER,
    locked_until INTEGER,
    last_error TEXT,
    last_run_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, key),
    UNIQUE (org_id, id)
);

-- Every file a source handed over, by name, size and content hash: a file is never
-- imported twice.
CREATE TABLE source_files (
    org_id INTEGER NOT NULL,
    source_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    import_id INTEGER,
    -- where the file went: archive or failed (NULL while it is being imported)
    moved_to TEXT,
    detail TEXT,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, source_id, name, size, sha256)
);

-- An import may start an automation for the contact of every row it writes (a CSV
-- trigger, or a mapping with an automation): the participations it started.
ALTER TABLE imports ADD COLUMN started INTEGER NOT NULL DEFAULT 0;

-- Export definitions: contacts of a segment with chosen columns, or the activity log
-- from a cursor on; a format, a destination and a schedule.
CREATE TABLE exports (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('contacts', 'activity')),
    segment TEXT,
    columns TEXT NOT NULL,
    -- activity: the kinds exported (JSON array; empty: all) and where the last run stopped
    kinds TEXT NOT NULL DEFAULT '[]',
    cursor TEXT,
    format TEXT NOT NULL CHECK (format IN ('csv', 'jsonl')),
    -- NULL: a download through the API
    source_id INTEGER,
    file_name TEXT NOT NULL,
    schedule TEXT NOT NULL,
    next_run_at INTEGER,
    locked_until INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, id)
);
CREATE INDEX exports_due ON exports (next_run_at) WHERE next_run_at IS NOT NULL;

CREATE TABLE export_runs (
    org_id INTEGER NOT NULL,
    id INTEGER PRIMARY KEY,
    export_id INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    rows INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    file_name TEXT,
    -- a download's file under the data directory
    file_path TEXT,
    error TEXT,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (org_id, id)
);
CREATE INDEX export_runs_by_export ON export_runs (org_id, export_id, id);
