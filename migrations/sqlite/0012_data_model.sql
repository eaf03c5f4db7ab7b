-- The data model: typed collections per organisation (orders, bookings, tickets, …) whose
-- records belong to a contact; and webhook receivers that turn a JSON payload into a contact,
-- records and a started automation in one transaction.

CREATE TABLE collections (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    -- JSON array of {name, type, required}
    fields TEXT NOT NULL,
    -- the field whose value identifies a record
    primary_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, key),
    UNIQUE (org_id, id)
);

-- A record is personal data of its contact: erasing the contact deletes it.
CREATE TABLE records (
    org_id INTEGER NOT NULL,
    collection_id INTEGER NOT NULL,
    -- the primary key's value, as text
    key TEXT NOT NULL,
    contact_id INTEGER NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, collection_id, key),
    FOREIGN KEY (org_id, collection_id) REFERENCES collections (org_id, id) ON DELETE CASCADE
);
CREATE INDEX records_by_contact ON records (org_id, contact_id, collection_id);

CREATE TABLE hooks (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    -- the {id} of POST /hooks/{id}: random, not guessable
    public_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- SHA-256 of the hook's own token (NULL: none; then only an attached token works)
    token_hash TEXT,
    -- an organisation token (scope webhooks:receive) that may call it as well; it keeps
    -- working when that token is rotated (same id, new secret)
    token_id INTEGER,
    -- JSON: contact, records and automation, with JSON pointers into the payload
    mapping TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, id)
);
