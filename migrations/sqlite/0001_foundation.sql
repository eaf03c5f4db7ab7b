-- Foundation schema (SQLite). Timestamps are unix milliseconds (UTC) in INTEGER columns.
-- Every tenant table carries org_id and every key leads with it.

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    default_language TEXT NOT NULL DEFAULT 'nl',
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'marketer')),
    created_at INTEGER NOT NULL,
    removed_at INTEGER,
    UNIQUE (org_id, id),
    UNIQUE (org_id, email)
);

CREATE TABLE api_tokens (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    name TEXT,
    scopes TEXT NOT NULL,
    allowed_ips TEXT NOT NULL DEFAULT '',
    user_id INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    last_used_at INTEGER,
    revoked_at INTEGER,
    replaced_by INTEGER,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);

CREATE TABLE contacts (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    guid TEXT NOT NULL,
    email TEXT NOT NULL,
    external_id TEXT,
    first_name TEXT,
    name_prefix TEXT,
    last_name TEXT,
    organisation TEXT,
    gender INTEGER NOT NULL DEFAULT 105,
    street TEXT,
    house_number TEXT,
    zipcode TEXT,
    city TEXT,
    country TEXT,
    mobile TEXT,
    phone TEXT,
    mail_format TEXT NOT NULL DEFAULT 'html' CHECK (mail_format IN ('html', 'text')),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    language TEXT,
    source TEXT,
    import_code TEXT,
    sync_id TEXT,
    attributes TEXT NOT NULL DEFAULT '{}',
    score INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, id),
    UNIQUE (org_id, email),
    UNIQUE (org_id, guid),
    UNIQUE (org_id, external_id)
);

CREATE TABLE contact_tags (
    org_id INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (org_id, contact_id, tag),
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_tags_by_tag ON contact_tags (org_id, tag);

CREATE TABLE lists (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    number INTEGER NOT NULL,
    double_optin BOOLEAN NOT NULL DEFAULT TRUE,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at INTEGER NOT NULL,
    archived_at INTEGER,
    UNIQUE (org_id, id),
    UNIQUE (org_id, key),
    UNIQUE (org_id, number)
);

CREATE TABLE list_texts (
    org_id INTEGER NOT NULL,
    list_id INTEGER NOT NULL,
    language TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    optin_text TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (org_id, list_id, language),
    FOREIGN KEY (org_id, list_id) REFERENCES lists (org_id, id) ON DELETE CASCADE
);

CREATE TABLE subscriptions (
    org_id INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    list_id INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'subscribed', 'unsubscribed', 'refused')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    confirmed_at INTEGER,
    unsubscribed_at INTEGER,
    PRIMARY KEY (org_id, contact_id, list_id),
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, list_id) REFERENCES lists (org_id, id)
);
CREATE INDEX subscriptions_by_list ON subscriptions (org_id, list_id, status);

-- The consent ledger: append-only, hash-chained per organisation. contact_id is kept without a
-- foreign key so that proof survives the erasure of a contact. The personal data (email, ip,
-- user_agent) is covered by the chain through pii_digest, so erasing it (setting all three to
-- NULL) is the one update the guard allows.
CREATE TABLE consent_events (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    seq INTEGER NOT NULL,
    contact_id INTEGER,
    list_id INTEGER,
    email TEXT,
    action TEXT NOT NULL,
    source TEXT NOT NULL,
    actor TEXT NOT NULL,
    token_id INTEGER,
    ip TEXT,
    user_agent TEXT,
    text_shown TEXT,
    occurred_at INTEGER NOT NULL,
    pii_digest TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (org_id, seq)
);
CREATE INDEX consent_events_by_contact ON consent_events (org_id, contact_id);

CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
WHEN NOT (NEW.email IS NULL AND NEW.ip IS NULL AND NEW.user_agent IS NULL
    AND NEW.org_id IS OLD.org_id AND NEW.seq IS OLD.seq AND NEW.contact_id IS OLD.contact_id AND NEW.list_id IS OLD.list_id AND NEW.action IS OLD.action
    AND NEW.source IS OLD.source AND NEW.actor IS OLD.actor AND NEW.token_id IS OLD.token_id AND NEW.text_shown IS OLD.text_shown AND NEW.occurred_at IS OLD.occurred_at AND NEW.pii_digest IS OLD.pii_digest AND NEW.prev_hash IS OLD.prev_hash AND NEW.hash IS OLD.hash)
BEGIN
    SELECT RAISE(ABORT, 'consent_events is append-only; only personal data may be erased');
END;
CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
BEGIN
    SELECT RAISE(ABORT, 'consent_events is append-only');
END;

CREATE TABLE consent_heads (
    org_id INTEGER PRIMARY KEY REFERENCES organizations (id),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE suppressions (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    email TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('blacklist', 'hard_bounce', 'complaint')),
    note TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, email, reason)
);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    org_id INTEGER,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'dead')),
    run_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    locked_until INTEGER,
    locked_by TEXT,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX jobs_ready ON jobs (status, run_at);
